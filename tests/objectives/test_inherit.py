"""The inherit objective: its pairs, its hand-written gradient against autograd, its validation sums, and whole
runs with it under the non-negative sparsity mode (no negative value, exact zeros, hyponyms above hypernyms)."""
import numpy as np
import pytest
import torch

from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.edges import EdgeSet
from naomi_nb.graph import tiny_graph
from naomi_nb.objectives.inherit import Inherit
from naomi_nb.objectives.negatives import Negatives

CPU = torch.device("cpu")


def make(cls=Inherit, graph=None, idx=None, val=None, **kw):
    graph = graph or tiny_graph()
    cfg = TrainConfig(device="cpu", negatives=3, negative_weight=0.7, inherit_weight=2.5, inherit_pairs=0.5, **kw)
    idx = np.arange(graph.n_edges) if idx is None else idx
    val = idx if val is None else val
    return cls(cfg, graph, idx, EdgeSet(graph, val, CPU), CPU)


def test_validation_pairs_come_from_the_validation_edges_only():
    graph = tiny_graph()
    hyper = np.flatnonzero(graph.rel == graph.relations.index("hypernym"))
    down = np.flatnonzero(graph.rel == graph.relations.index("hyponym"))
    val = np.concatenate([hyper[:5], down[10:13], np.flatnonzero(graph.rel == 0)[:7]])
    obj = make(val=val)
    got = {tuple(p) for p in obj.val_pairs.tolist()}
    root = graph.vocab.size - 1
    want = {(int(graph.src[i]), root) for i in hyper[:5]} | {(int(graph.dst[i]), root) for i in down[10:13]}
    assert got == want


@pytest.mark.slow
def test_inherit_gradient_matches_autograd():
    """The step's gradient is the negatives objective's plus the order term's, checked against autograd on
    the pairs the step draws (the same generator state)."""
    graph = tiny_graph()
    torch.manual_seed(0)
    E0 = torch.rand(graph.vocab.size, 6) * 0.3  # non-negative, with many order violations
    rows = EdgeSet(graph, np.arange(graph.n_edges), CPU).rows[:40]
    inh, neg = make(), make(Negatives)
    inh.start_epoch(torch.Generator().manual_seed(1))
    neg.start_epoch(torch.Generator().manual_seed(1))  # the same draws for the negative term
    g = torch.Generator()
    g.set_state(inh.gen.get_state())
    h = int(40 * inh.share)
    pick = torch.sort(torch.randint(0, len(inh.pairs), (h,), generator=g)).values
    pairs = inh.pairs[pick]

    def grad(obj):
        G = torch.zeros_like(E0)
        sums = obj.step(E0.clone(), G, rows, obj.buffers(40, 6, CPU))
        return G, sums

    G_inh, sums = grad(inh)
    G_neg, _ = grad(neg)
    E = E0.clone().requires_grad_(True)
    order = torch.clamp(E[pairs[:, 1]] - E[pairs[:, 0]], min=0)
    (inh.pair_weight * (order ** 2).sum() / h).backward()
    assert float(sums[2]) == pytest.approx(float((order.detach() ** 2).sum()), rel=1e-5) and float(sums[2]) > 0
    torch.testing.assert_close(G_inh - G_neg, E.grad, rtol=1e-4, atol=1e-6)


def test_validation_sums_and_means_name_three_terms():
    graph = tiny_graph()
    obj = make()
    E = torch.rand(graph.vocab.size, 4)
    val = EdgeSet(graph, np.arange(graph.n_edges), CPU)
    sums = [float(x) for x in obj.validation_sums(E, val, obj.buffers(16, 4, CPU))]
    means = obj.means(sums, len(val), "val")
    assert list(means) == list(obj.terms) == ["distance", "negative", "inherit"]
    pairs = obj.val_pairs
    direct = float((torch.clamp(E[pairs[:, 1]] - E[pairs[:, 0]], min=0) ** 2).sum())
    assert sums[2] == pytest.approx(direct, rel=1e-5) and means["inherit"] == pytest.approx(2.5 * direct / len(pairs))


def cfg_for(tmp_path, name, **kw):
    base = dict(output_dir=str(tmp_path / name), epochs=40, batch_size=64, min_batch_size=8, embedding_dim=8,
                dynamic_dims=False, analyze=False, patience=100, checkpoint_seconds=0.0, device="cpu",
                objective="inherit", sparsity_mode="nonneg", proximal_strength=0.1, lr=0.02)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_nonneg_runs_have_no_negative_value_and_exact_zeros(tmp_path):
    graph = tiny_graph()
    res = T.train(cfg_for(tmp_path, "a"), graph=graph)
    emb = res.embeddings
    assert emb.min() >= 0.0 and (emb == 0).mean() > 0.2
    assert all(r["zeros_pct"] > 0 for r in res.history)  # from the first epoch on


@pytest.mark.slow
def test_inherit_puts_hyponyms_above_their_hypernym(tmp_path):
    """The order term: after training, the hypernym's features are (nearly) all held by its hyponyms; without
    it (weight 0) they are not."""
    graph = tiny_graph()
    root = graph.vocab.size - 1

    def violation(result):
        emb = result.embeddings
        return float(np.clip(emb[root] - emb[:36], 0, None).sum(1).mean())

    with_order = T.train(cfg_for(tmp_path, "a", inherit_weight=20.0), graph=graph)
    without = T.train(cfg_for(tmp_path, "b", inherit_weight=0.0), graph=graph)
    assert violation(with_order) < 0.1 * violation(without)
