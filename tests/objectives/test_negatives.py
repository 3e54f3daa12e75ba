"""The negatives objective: its hand-written gradient against autograd, its masking, its validation
negatives, and whole runs with it (repeatable, resumable, spreading unrelated senses)."""
import types

import numpy as np
import pytest
import torch

from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.edges import EdgeSet, unpack
from naomi_nb.graph import tiny_graph
from naomi_nb.objectives.negatives import Negatives, fixed_negatives
from naomi_nb.sparsity import l1_gradient, l1_coefficient


def make(k, sampler="uniform", both=False, margin=0.8, weight=0.7, graph=None):
    """A negatives objective on ``graph`` (default: the tiny graph) with these settings."""
    graph = graph or tiny_graph()
    cfg = TrainConfig(negatives=k, negative_sampler=sampler, corrupt_source=both, negative_margin=margin,
                      negative_weight=weight, device="cpu")
    idx = np.arange(graph.n_edges)
    return Negatives(cfg, graph, idx, EdgeSet(graph, idx, torch.device("cpu")), torch.device("cpu"))


def gradient(objective, E, rows, l1):
    """What the trainer's step leaves in the gradient buffer (without the optimizer step)."""
    W, G = E.detach(), torch.zeros_like(E)
    buf = objective.buffers(rows.shape[0], E.shape[1], E.device)
    l1_gradient(W, G, l1_coefficient(l1, W))
    sums = objective.step(W, G, rows, buf)
    return G, sums


def reference_gradient(E0, rows, neg, l1_coef, draws):
    """The same loss through autograd: the seed's distance term, the L1 term, and the squared hinge over
    the chunk pairs the negatives form (``draws``: the uniform draws, one (m, k) tensor per side: draw i of
    chunk j is at i * m + j)."""
    E = E0.clone().requires_grad_(True)
    n = rows.shape[0]
    rows = rows.index_select(0, torch.argsort(rows[:, 0]))
    s, d, t, c = unpack(rows)
    dist = torch.linalg.vector_norm(E[s] - E[d], dim=1)
    loss = (c * (dist - t) ** 2).mean() + l1_coef * E.abs().sum()
    C = neg.k + 1
    m = n // C
    # chunk j: rows j, j + m, ... of the sorted batch, as (m, C) here
    S, Dd = s[:m * C].view(C, m).t(), d[:m * C].view(C, m).t()
    hinge = 0.0
    batch = not neg.sampler.gathers
    if batch:
        pairs = [(S, Dd)]
    else:
        pairs = [(S, draws[0])] + ([(Dd, draws[1])] if neg.both else [])
    for anchors, cands in pairs:
        diff = E[anchors][:, :, None, :] - E[cands][:, None, :, :]
        dd = torch.linalg.vector_norm(diff, dim=-1)
        if batch:
            mask = (Dd[:, None, :] != Dd[:, :, None]) & (Dd[:, None, :] != S[:, :, None])
        else:
            mask = (cands[:, None, :] != S[:, :, None]) & (cands[:, None, :] != Dd[:, :, None])
        hinge = hinge + ((torch.clamp(neg.margin - dd, min=0) ** 2) * mask).sum()
    loss = loss + neg.weight * hinge / (n * neg.k * neg.sides)
    loss.backward()
    return E.grad


@pytest.mark.parametrize("sampler, both", [("batch", False), ("uniform", False), ("uniform", True),
                                           ("degree", True)])
@pytest.mark.slow
def test_negative_gradient_matches_autograd(sampler, both):
    graph = tiny_graph()
    V = graph.vocab.size
    torch.manual_seed(0)
    E0 = torch.randn(V, 6) * 0.2  # close enough that many pairs are inside the margin
    edges = EdgeSet(graph, np.arange(graph.n_edges), torch.device("cpu"))
    rows = edges.rows[:40]  # 40 edges: chunks of 4, with no remainder, and 36 with k=5 (a remainder)
    for k in (1, 3, 5):  # k = 1: the batch sampler by shifts
        neg = make(k, sampler, both, graph=graph)
        neg.start_epoch(torch.Generator().manual_seed(1))
        # the draws the step will make, from a twin generator
        twin = make(k, sampler, both, graph=graph)
        twin.start_epoch(torch.Generator().manual_seed(1))
        m = rows.shape[0] // (k + 1)
        draws = [twin.sampler.draw(m * k).view(k, m).t() for _ in range(twin.sides)] if sampler != "batch" else []
        l1 = 1e-3
        G, (_, neg_sum) = gradient(neg, E0.clone(), rows, l1)
        assert float(neg_sum) > 0
        torch.testing.assert_close(G, reference_gradient(E0, rows, neg, l1, draws), rtol=1e-4, atol=1e-6)


def test_the_step_never_touches_the_weights():
    """An objective writes the gradient; the optimizer step is the trainer's."""
    graph = tiny_graph()
    neg = make(2, graph=graph)
    neg.start_epoch(torch.Generator().manual_seed(0))
    E = torch.randn(graph.vocab.size, 4) * 0.1
    before = E.clone()
    gradient(neg, E, EdgeSet(graph, np.arange(30), torch.device("cpu")).rows, 0.0)
    assert torch.equal(E, before)


def test_uniform_draws_are_masked_where_they_hit_their_own_edge():
    """A chunk's negative that equals one of its edges' ends adds nothing for that edge."""
    V = 4
    fake = types.SimpleNamespace(vocab=types.SimpleNamespace(size=V), src=np.array([0, 2]), dst=np.array([1, 3]),
                                 n_edges=2)
    cfg = TrainConfig(negatives=1, negative_weight=1.0, negative_margin=0.8, device="cpu")
    neg = Negatives.__new__(Negatives)  # built by hand: a 4-sense fake graph, no validation set needed
    neg.cfg, neg.device, neg.k, neg.margin, neg.weight, neg.both = cfg, torch.device("cpu"), 1, 0.8, 1.0, False
    from naomi_nb import components

    neg.sampler = components.get("sampler", "uniform")(fake, np.arange(2), torch.device("cpu"))
    # two edges (one chunk of k + 1 = 2): 0 -> 1 and 2 -> 3, all rows at the same point (every pair in the margin)
    rows = torch.tensor([[0, 1, 0, 0], [2, 3, 0, 0]], dtype=torch.int32)
    rows[:, 2] = torch.tensor([0.3, 0.3]).view(torch.int32)
    rows[:, 3] = torch.tensor([1.0, 1.0]).view(torch.int32)
    E = torch.zeros(V, 2)
    E[:, 0] = torch.tensor([0.0, 0.1, 0.2, 0.3])
    for drawn in (1, 3, 0, 2):  # the drawn sense is an end of exactly one edge
        neg.sampler.draw = lambda n, drawn=drawn: torch.full((n,), drawn, dtype=torch.int64)
        _, (_, total) = gradient(neg, E, rows, 0.0)
        anchors = [0, 2]
        expected = sum((0.8 - abs(float(E[a, 0]) - float(E[drawn, 0]))) ** 2
                       for a, edge_ends in zip(anchors, ((0, 1), (2, 3))) if drawn not in edge_ends)
        assert float(total) == pytest.approx(expected, rel=1e-5) and expected > 0


def test_fixed_validation_negatives_never_equal_their_edge():
    graph = tiny_graph()
    edges = EdgeSet(graph, np.arange(graph.n_edges), torch.device("cpu"))
    ids = fixed_negatives(edges, 10, graph.vocab.size, seed=3)
    s, d = edges.rows[:, 0].long(), edges.rows[:, 1].long()
    assert ids.shape == (graph.n_edges, 10)
    assert not (ids == s[:, None]).any() and not (ids == d[:, None]).any()
    assert torch.equal(ids, fixed_negatives(edges, 10, graph.vocab.size, seed=3))  # the same every epoch


def test_validation_sums_and_means_name_both_terms():
    graph = tiny_graph()
    neg = make(3, graph=graph, weight=0.5)
    E = torch.randn(graph.vocab.size, 4) * 0.1
    val = EdgeSet(graph, np.arange(graph.n_edges), torch.device("cpu"))
    sums = [float(x) for x in neg.validation_sums(E, val, neg.buffers(16, 4, E.device))]
    means = neg.means(sums, len(val), "val")
    assert list(means) == list(neg.terms) == ["distance", "negative"]
    assert means["negative"] == pytest.approx(0.5 * sums[1] / (len(val) * 3)) and sums[1] > 0


def cfg_for(tmp_path, name="run", **kw):
    base = dict(output_dir=str(tmp_path / name), epochs=4, batch_size=64, min_batch_size=8, embedding_dim=4,
                max_dims=12, expand_interval=2, expand_by=4, dynamic_dims=True, analyze=False, patience=100,
                checkpoint_seconds=0.0, device="cpu", objective="negatives", negatives=3)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["batch", "uniform"])
def test_negative_runs_repeat_and_resume_exactly(tmp_path, sampler):
    import threading

    graph = tiny_graph()
    a = T.train(cfg_for(tmp_path, "a", negative_sampler=sampler, epochs=5), graph=graph)
    b = T.train(cfg_for(tmp_path, "b", negative_sampler=sampler, epochs=5), graph=graph)
    assert np.array_equal(a.embeddings, b.embeddings)
    assert all(r["train_negative"] > 0 and r["val_negative"] >= 0 for r in a.history)
    assert a.history[0]["train_total"] == pytest.approx(
        a.history[0]["train_distance"] + a.history[0]["train_negative"] + a.history[0]["train_sparsity"])
    stop = threading.Event()

    def stop_after_3(record):
        if record.get("epoch") == 3 and record.get("kind") == "epoch":
            stop.set()

    part = T.train(cfg_for(tmp_path, "c", negative_sampler=sampler, epochs=5), graph=graph,
                   callbacks=[stop_after_3], stop_event=stop)
    assert len(part.history) == 3
    resumed = T.train(cfg_for(tmp_path, "x", negative_sampler=sampler, epochs=5), graph=graph, resume=part.run_dir)
    assert [r["train_total"] for r in resumed.history] == [r["train_total"] for r in a.history]
    assert np.array_equal(resumed.embeddings, a.embeddings)


@pytest.mark.slow
def test_negatives_spread_unrelated_senses(tmp_path):
    """On the tiny graph's planted groups: with negatives, senses of unrelated groups end up farther apart."""
    graph = tiny_graph()

    def spread(result):
        emb = result.embeddings
        group = np.arange(36) // 6
        d = np.linalg.norm(emb[:36, None] - emb[None, :36], axis=-1)
        unrelated = (group[:, None] // 2 != group[None, :] // 2)  # neither the same group nor its antonym group
        return float(d[unrelated].mean())

    kw = dict(epochs=60, dynamic_dims=False, embedding_dim=8, lr=0.02)
    seed = T.train(cfg_for(tmp_path, "s", objective="seed", **kw), graph=graph)
    neg = T.train(cfg_for(tmp_path, "n", **kw), graph=graph)
    # the seed's loss leaves groups as far apart as their hypernym links make them (about 2 * 0.3); the
    # negatives push them toward the margin (0.8)
    assert spread(seed) < 0.7 < spread(neg) and spread(neg) > spread(seed) + 0.1
    # and it still learns the linked distances (on 37 senses many negatives are kin, so not as well as the seed)
    assert neg.history[-1]["val_distance"] < 0.7 * neg.history[0]["val_distance"]


def test_the_draws_buffers_hold_k_rows_for_every_k_plus_one_edges():
    """What the memory estimate counts is what is allocated: one uniform negative draws half a batch."""
    for k, sampler, units in ((1, "uniform", 4.0), (3, "uniform", 3 + 2 * 0.75), (1, "batch", 4.0)):
        neg = make(k, sampler)
        buf = neg.buffers(100, 4, torch.device("cpu"))
        assert neg.buffer_units(neg.cfg) == pytest.approx(units)
        assert buf.a.shape == (100, 4) and buf.ga.shape == (100, 4)
        if sampler != "batch":
            assert buf.n.shape[0] == buf.gn.shape[0] == -(-100 * k // (k + 1))
