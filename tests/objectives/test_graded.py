"""The graded objective: its targets, its hand-written gradient against autograd, its
validation pairs, and a run with it (ancestors nearer than strangers, farther the more links up)."""
import numpy as np
import pytest
import torch

from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.edges import EdgeSet, unpack
from naomi_nb.graph import Graph, Vocabulary
from naomi_nb.objectives.graded import Graded, graded_target
from naomi_nb.objectives.negatives import Negatives

CPU = torch.device("cpu")


def chain_graph(length=6, width=3):
    """``width`` hypernym chains of ``length`` senses (sense i*length + j is below i*length + j + 1), each link
    as a hypernym edge and its hyponym edge."""
    rels = ["synonym", "hypernym", "hyponym"]
    src, dst, rel = [], [], []
    for i in range(width):
        for j in range(length - 1):
            a, b = i * length + j, i * length + j + 1
            src += [a, b]
            dst += [b, a]
            rel += [1, 2]
    n = width * length
    return Graph(np.array(src, np.int32), np.array(dst, np.int32), np.array(rel, np.int16), np.ones(len(src), np.float32),
                 rels, np.array([0.1, 0.3, 0.3], np.float32), Vocabulary([f"s{k}.n.01.s{k}" for k in range(n)]),
                 {"source": "chains"})


def test_targets_grow_with_links_and_stay_inside_the_margin():
    t = graded_target(np.arange(1, 9), 0.3, 0.8)
    assert t[0] == pytest.approx(0.3) and np.all(np.diff(t) > 0) and np.all(t < 0.8)
    np.testing.assert_allclose(t[:4], [0.3, 0.4875, 0.6047, 0.6779], atol=1e-4)


def make(cls=Graded, graph=None, idx=None, **kw):
    graph = graph or chain_graph()
    cfg = TrainConfig(device="cpu", negatives=2, graded_weight=1.7, inherit_pairs=0.5, graded_hops=4, **kw)
    idx = np.arange(graph.n_edges) if idx is None else idx
    return cls(cfg, graph, idx, EdgeSet(graph, idx, CPU), CPU)


def test_validation_pairs_are_those_only_validation_edges_make():
    graph = chain_graph()
    held = [k for k in range(graph.n_edges) if (graph.src[k], graph.dst[k]) in {(2, 3), (3, 2)}]
    train = np.setdiff1d(np.arange(graph.n_edges), held)
    obj = make(graph=graph, idx=train)
    val = {tuple(p) for p in obj.val_pairs[:, :2].tolist()}
    # chain 0 is cut between 2 and 3: the pairs across the cut, at 2 to 4 links, are validation's
    assert val == {(1, 3), (2, 4), (0, 3), (1, 4), (2, 5), (0, 4), (1, 5)}
    train_pairs = {tuple(p) for p in obj.pairs[:, :2].tolist()}
    assert not val & train_pairs and (6, 8) in train_pairs


@pytest.mark.slow
def test_graded_gradient_matches_autograd():
    graph = chain_graph()
    torch.manual_seed(0)
    E0 = torch.randn(graph.vocab.size, 5) * 0.3
    rows = EdgeSet(graph, np.arange(graph.n_edges), CPU).rows[:24]
    obj, neg = make(), make(Negatives)
    obj.start_epoch(torch.Generator().manual_seed(4))
    neg.start_epoch(torch.Generator().manual_seed(4))
    g = torch.Generator()
    g.set_state(obj.gen.get_state())
    h = int(24 * obj.share)
    picked = obj.pairs[torch.sort(torch.randint(0, len(obj.pairs), (h,), generator=g)).values]

    def grad(o):
        G = torch.zeros_like(E0)
        return G, o.step(E0.clone(), G, rows, o.buffers(24, 5, CPU))

    G_obj, sums = grad(obj)
    G_neg, _ = grad(neg)
    s, d, t, _ = unpack(picked)
    E = E0.clone().requires_grad_(True)
    err = torch.linalg.vector_norm(E[s] - E[d], dim=1) - t
    (1.7 * (err ** 2).mean()).backward()
    assert float(sums[2]) == pytest.approx(float((err.detach() ** 2).sum()), rel=1e-5)
    torch.testing.assert_close(G_obj - G_neg, E.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_graded_runs_place_ancestors_by_their_links(tmp_path):
    """Along chains of hypernym links, the graded term puts an ancestor h links up near its target (0.30, 0.49,
    0.60, 0.68); without it (weight 0) distances keep growing with every link, past the negatives' margin."""
    graph = chain_graph(length=6, width=3)

    def distances(weight):
        cfg = TrainConfig(output_dir=str(tmp_path / f"g{weight}"), epochs=150, batch_size=64, min_batch_size=8,
                          embedding_dim=8, dynamic_dims=False, analyze=False, patience=1000, checkpoint_seconds=0.0,
                          device="cpu", objective="graded", negatives=2, inherit_pairs=1.0, lr=0.02,
                          lr_schedule="constant", graded_weight=weight)
        emb = T.train(cfg, graph=graph).embeddings
        return {h: np.mean([np.linalg.norm(emb[i * 6 + j] - emb[i * 6 + j + h]) for i in range(3) for j in range(6 - h)])
                for h in (1, 2, 3, 4)}

    graded, plain = distances(1.0), distances(0.0)
    assert graded[1] < graded[2] < graded[3] < graded[4] < 0.8
    for h in (2, 3, 4):
        assert graded[h] == pytest.approx(graded_target(h, 0.3, 0.8), abs=0.1)
    assert plain[4] > 0.85 and plain[4] > graded[4] + 0.15
