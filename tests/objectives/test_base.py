"""What every objective shares: the distance term's hand-written gradient against autograd, its chunked
validation sum, the compiled kernel that does not recompile per batch size, the row scatter, and the work
buffers an objective asks for."""
import numpy as np
import pytest
import torch

from naomi_nb import device as DV
from naomi_nb.edges import Buffers, EdgeSet, unpack
from naomi_nb.graph import tiny_graph
from naomi_nb.objectives.base import (Objective, _distance_grad_kernel, distance_grad, distance_sum, distance_terms,
                                      scatter_rows, sorted_by_source)


def rows(n=50, dims=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    a, b = (torch.randn(n, dims, generator=g, dtype=torch.float64) for _ in range(2))
    return a, b, torch.rand(n, generator=g, dtype=torch.float64), torch.rand(n, generator=g, dtype=torch.float64) + 0.5


def test_distance_gradient_matches_autograd():
    a, b, t, c = rows()
    b[3] = a[3]  # a zero distance: zero gradient, as autograd's norm gives, never NaN
    ga, total = distance_terms(a, b, t, c)
    A, B = a.clone().requires_grad_(), b.clone().requires_grad_()
    err = torch.linalg.vector_norm(A - B, dim=1) - t
    ((c * err * err).sum() / len(a)).backward()
    torch.testing.assert_close(ga, A.grad)
    assert torch.isfinite(ga).all() and not ga[3].any()
    torch.testing.assert_close(total, (c * err * err).sum().detach())


def test_distance_grad_writes_both_ends_in_place():
    a, b, t, c = rows()
    want, want_total = distance_terms(a, b, t, c)
    total = distance_grad(a, b, t, c, a, b)  # the gathered rows become their gradients
    torch.testing.assert_close(a, want)
    torch.testing.assert_close(b, -want)
    torch.testing.assert_close(total, want_total)


def test_the_validation_sum_in_chunks_is_the_whole_sum():
    graph = tiny_graph()
    edges = EdgeSet(graph, np.arange(graph.n_edges), torch.device("cpu"))
    W = torch.randn(graph.vocab.size, 5, generator=torch.Generator().manual_seed(1))
    s, d, t, c = unpack(edges.rows)
    err = torch.linalg.vector_norm(W[s] - W[d], dim=1).double() - t.double()
    got = distance_sum(W, edges, Buffers(7, 5, torch.device("cpu")))  # 7 rows a chunk, a short last chunk
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx((c.double() * err * err).sum().item(), rel=1e-5)


def test_scatter_rows_adds_every_row_repeated_ids_included():
    G = torch.zeros(5, 3)
    ids = torch.tensor([4, 0, 4, 2, 4])
    grad = torch.arange(15, dtype=torch.float32).reshape(5, 3)
    scatter_rows(G, ids, grad, torch.empty(5, 3))
    want = torch.zeros(5, 3).index_add_(0, ids, grad)
    assert torch.equal(G, want) and torch.equal(G[4], grad[0] + grad[2] + grad[4])


def test_sorted_by_source_keeps_every_row():
    r = torch.tensor([[3, 0, 7, 1], [1, 2, 8, 1], [2, 1, 9, 1], [1, 0, 6, 1]], dtype=torch.int32)
    out = sorted_by_source(r)
    assert out[:, 0].tolist() == [1, 1, 2, 3]
    assert sorted(map(tuple, out.tolist())) == sorted(map(tuple, r.tolist()))


class Drawing(Objective):
    """Buffers a, b and a quarter-size one, as an objective that draws k negatives per k + 1 edges asks."""

    buffer_names = ("a", "b", "neg")

    @classmethod
    def buffer_plan(cls, cfg):
        return {"a": 1.0, "b": 1.0, "neg": 0.25}


def test_an_objective_gets_the_buffers_its_plan_names():
    obj = Drawing(None, None, None, None, torch.device("cpu"))
    assert Objective.buffer_units(None) == 2 and Drawing.buffer_units(None) == 2.25
    buf = obj.buffers(10, 4, torch.device("cpu"))
    assert buf.a.shape == buf.b.shape == (10, 4) and buf.neg.shape == (3, 4)  # rounded up: never too small
    assert obj.means([6.0], 3, "val") == {"distance": 2.0}  # each term's sum over the edges
    W = torch.ones(2, 2)
    assert obj.vectors(W) is W


@pytest.mark.slow
def test_kernels_take_sizes_from_shapes_and_do_not_recompile_per_batch():
    import torch._dynamo

    torch._dynamo.reset()
    kernel = DV.compiled(_distance_grad_kernel)
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    for n in (64, 100, 333, 1000, 4097, 9000, 12000, 20000, 30001, 40000):
        a, b = torch.randn(n, 8), torch.randn(n, 8)
        kernel(a, b, torch.rand(n), torch.ones(n), a, b)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - before <= 2
