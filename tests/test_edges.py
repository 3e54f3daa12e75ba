"""Edges on the device: one packed int32 row per edge that unpacks to the graph's source, destination, target
and confidence, and the preallocated work buffers a step fills."""
import numpy as np
import torch

from naomi_nb.edges import Buffers, EdgeSet, unpack
from naomi_nb.graph import tiny_graph

CPU = torch.device("cpu")


def test_packed_rows_unpack_to_the_graphs_edges():
    graph = tiny_graph()
    graph.conf[:] = np.linspace(0.25, 1.0, graph.n_edges, dtype=np.float32)  # every edge its own confidence
    index = np.array([5, 0, graph.n_edges - 1, 17])
    edges = EdgeSet(graph, index, CPU)
    assert len(edges) == 4 and edges.rows.dtype == torch.int32 and edges.rows.shape == (4, 4)
    s, d, t, c = unpack(edges.rows)
    assert s.tolist() == graph.src[index].tolist() and d.tolist() == graph.dst[index].tolist()
    assert np.array_equal(t.numpy(), graph.targets[graph.rel[index]])  # bit for bit, through the int32 view
    assert np.array_equal(c.numpy(), graph.conf[index])


def test_unpacked_columns_are_contiguous_int64_ids_and_float32_values():
    edges = EdgeSet(tiny_graph(), np.arange(10), CPU)
    s, d, t, c = unpack(edges.rows[2:9])
    assert s.dtype == d.dtype == torch.int64 and t.dtype == c.dtype == torch.float32
    assert all(x.is_contiguous() and x.shape == (7,) for x in (s, d, t, c))


def test_an_empty_edge_set():
    edges = EdgeSet(tiny_graph(), np.zeros(0, np.int64), CPU)
    assert len(edges) == 0 and edges.rows.shape == (0, 4)


def test_buffers_have_their_names_and_sizes_and_fit_smaller_batches():
    buf = Buffers(8, 3, CPU, names=("a", "b", "neg"), sizes={"neg": 2})
    assert buf.a.shape == buf.b.shape == (8, 3) and buf.neg.shape == (2, 3) and buf.a.dtype == torch.float32
    assert buf.a.data_ptr() != buf.b.data_ptr()
    assert buf.fits(8, 3) and buf.fits(5, 3)
    assert not buf.fits(9, 3) and not buf.fits(8, 4)  # more rows, or another width: new buffers
    assert not hasattr(Buffers(4, 2, CPU), "neg") and Buffers(4, 2, CPU, dtype=torch.float64).a.dtype == torch.float64
