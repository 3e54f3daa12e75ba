"""The negative term: its hand-written gradient against autograd, its samplers, and whole runs with it."""
import numpy as np
import pytest
import torch

from naomi_nb import objective as O
from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.graph import tiny_graph


class NoStep:
    """Stands in for Adam: the test reads the gradient the step leaves in G."""

    def step(self):
        pass


def reference_gradient(E0, rows, neg, l1_coef, draws):
    """The same loss through autograd: the seed's distance term, the L1 term, and the squared hinge over
    the chunk pairs the negatives form (``draws``: the uniform draws, one (m, k) tensor per side)."""
    E = E0.clone().requires_grad_(True)
    n = rows.shape[0]
    rows = rows.index_select(0, torch.argsort(rows[:, 0]))
    rows = rows.index_select(0, O.chunk_order(n, neg.k + 1, rows.device))
    s, d, t, c = O.unpack(rows)
    dist = torch.linalg.vector_norm(E[s] - E[d], dim=1)
    loss = (c * (dist - t) ** 2).mean() + l1_coef * E.abs().sum()
    C = neg.k + 1
    m = n // C
    S, Dd = s[:m * C].view(m, C), d[:m * C].view(m, C)
    hinge = 0.0
    if neg.sampler == "batch":
        pairs = [(S, Dd)]
    else:
        pairs = [(S, draws[0])] + ([(Dd, draws[1])] if neg.both else [])
    for anchors, cands in pairs:
        diff = E[anchors][:, :, None, :] - E[cands][:, None, :, :]
        dd = torch.linalg.vector_norm(diff, dim=-1)
        if neg.sampler == "batch":
            mask = (Dd[:, None, :] != Dd[:, :, None]) & (Dd[:, None, :] != S[:, :, None])
        else:
            mask = (cands[:, None, :] != S[:, :, None]) & (cands[:, None, :] != Dd[:, :, None])
        hinge = hinge + ((torch.clamp(neg.margin - dd, min=0) ** 2) * mask).sum()
    loss = loss + neg.weight * hinge / (n * neg.k * neg.sides)
    loss.backward()
    return E.grad


@pytest.mark.parametrize("sampler, both", [("batch", False), ("uniform", False), ("uniform", True),
                                           ("degree", True)])
def test_negative_gradient_matches_autograd(sampler, both):
    graph = tiny_graph()
    V = graph.vocab.size
    torch.manual_seed(0)
    E0 = torch.randn(V, 6) * 0.2  # close enough that many pairs are inside the margin
    edges = O.EdgeSet(graph, np.arange(graph.n_edges), torch.device("cpu"))
    rows = edges.rows[:40]  # 40 edges: chunks of 4, with no remainder, and 36 with k=5 (a remainder)
    for k in (3, 5):
        neg = O.Negatives(k, sampler, 0.8, 0.7, both, V, torch.device("cpu"), degree=np.arange(V) + 1.0)
        neg.reseed(torch.Generator().manual_seed(1))
        # the draws the step will make, from a twin generator
        twin = O.Negatives(k, sampler, 0.8, 0.7, both, V, torch.device("cpu"), degree=np.arange(V) + 1.0)
        twin.reseed(torch.Generator().manual_seed(1))
        m = rows.shape[0] // (k + 1)
        draws = [twin.draw(m * k).view(m, k) for _ in range(twin.sides)] if sampler != "batch" else []
        E = E0.clone().requires_grad_(True)
        G = torch.zeros_like(E)
        buf = O.Buffers(rows.shape[0], 6, torch.device("cpu"), negatives=True)
        l1 = 1e-3
        _, _, neg_sum = O.train_step_negatives(E, G, NoStep(), rows, buf, l1, neg)
        assert float(neg_sum) > 0
        torch.testing.assert_close(G, reference_gradient(E0, rows, neg, l1, draws), rtol=1e-4, atol=1e-6)


def test_uniform_draws_are_masked_where_they_hit_their_own_edge():
    """A chunk's negative that equals one of its edges' ends adds nothing for that edge."""
    V = 4
    neg = O.Negatives(1, "uniform", 0.8, 1.0, False, V, torch.device("cpu"))
    # two edges (one chunk of k + 1 = 2): 0 -> 1 and 2 -> 3, all rows at the same point (every pair in the margin)
    rows = torch.tensor([[0, 1, 0, 0], [2, 3, 0, 0]], dtype=torch.int32)
    rows[:, 2] = torch.tensor([0.3, 0.3]).view(torch.int32)
    rows[:, 3] = torch.tensor([1.0, 1.0]).view(torch.int32)
    E = torch.zeros(V, 2).requires_grad_(True)
    E.data[:, 0] = torch.tensor([0.0, 0.1, 0.2, 0.3])
    for drawn, counted in ((1, 1), (3, 1), (0, 1), (2, 1)):  # the drawn sense is an end of exactly one edge
        neg.draw = lambda n, drawn=drawn: torch.full((n,), drawn, dtype=torch.int64)
        buf = O.Buffers(2, 2, torch.device("cpu"), negatives=True)
        _, _, total = O.train_step_negatives(E, torch.zeros_like(E), NoStep(), rows, buf, 0.0, neg)
        anchors = [0, 2]
        expected = sum((0.8 - abs(float(E.data[a, 0]) - float(E.data[drawn, 0]))) ** 2
                       for a, edge_ends in zip(anchors, ((0, 1), (2, 3))) if drawn not in edge_ends)
        assert float(total) == pytest.approx(expected, rel=1e-5) and expected > 0


def test_fixed_validation_negatives_never_equal_their_edge():
    graph = tiny_graph()
    edges = O.EdgeSet(graph, np.arange(graph.n_edges), torch.device("cpu"))
    ids = O.fixed_negatives(edges, 10, graph.vocab.size, seed=3)
    s, d = edges.rows[:, 0].long(), edges.rows[:, 1].long()
    assert ids.shape == (graph.n_edges, 10)
    assert not (ids == s[:, None]).any() and not (ids == d[:, None]).any()
    assert torch.equal(ids, O.fixed_negatives(edges, 10, graph.vocab.size, seed=3))  # the same every epoch


def test_degree_sampler_follows_degree():
    degree = np.array([1, 1, 1, 1000])
    neg = O.Negatives(2, "degree", 0.8, 1.0, False, 4, torch.device("cpu"), degree=degree)
    neg.reseed(torch.Generator().manual_seed(0))
    draws = neg.draw(20000)
    share = float((draws == 3).double().mean())
    expected = 1000 ** 0.75 / (3 + 1000 ** 0.75)
    assert share == pytest.approx(expected, abs=0.02)


def cfg_for(tmp_path, name="run", **kw):
    base = dict(output_dir=str(tmp_path / name), epochs=4, batch_size=64, min_batch_size=8, embedding_dim=4,
                max_dims=12, expand_interval=2, expand_by=4, dynamic_dims=True, analyze=False, patience=100,
                checkpoint_seconds=0.0, device="cpu", objective="negatives", negatives=3)
    base.update(kw)
    return TrainConfig(**base)


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


def test_seed_objective_log_has_no_negative_field(tmp_path, tiny, capsys):
    from naomi_nb.__main__ import main

    args = ["train", "--training-data", str(tiny), "--epochs", "1", "--batch-size", "64", "--embedding-dim", "4",
            "--no-analyze", "--device", "cpu"]
    assert main(args + ["--output-dir", str(tmp_path / "a"), "--objective", "seed"]) == 0
    out = capsys.readouterr().out
    assert "Negative:" not in out and any(line.startswith("  Train - Total: ") for line in out.splitlines())
    assert main(args + ["--output-dir", str(tmp_path / "b"), "--objective", "negatives"]) == 0
    lines = capsys.readouterr().out.splitlines()
    train_line = next(line for line in lines if line.startswith("  Train - Total: "))
    assert ", Distance: " in train_line and ", Negative: " in train_line and ", Sparsity: " in train_line


# ---------------------------------------------------------------- the learning-rate schedule

def test_schedules_as_pure_functions():
    from naomi_nb import dims as D

    assert D.epoch_lr("constant", 0.01, 0.005, 7, 10) == 0.005  # keeps the current rate
    cos = [D.epoch_lr("cosine", 0.01, 0.01, e, 11) for e in range(1, 12)]
    assert cos[0] == pytest.approx(0.01) and cos[-1] == pytest.approx(0.0001)
    assert all(a > b for a, b in zip(cos, cos[1:]))
    assert cos[5] == pytest.approx(0.01 * (0.01 + 0.99 * 0.5))  # half way: the mean of start and floor
    assert D.plateau_lr("plateau", 0.01, improved=False, bad_epochs=2, patience=2) == 0.005
    assert D.plateau_lr("plateau", 0.01, improved=False, bad_epochs=3, patience=2) == 0.01
    assert D.plateau_lr("plateau", 0.01, improved=True, bad_epochs=0, patience=2) == 0.01
    assert D.plateau_lr("constant", 0.01, improved=False, bad_epochs=2, patience=2) == 0.01


def test_plateau_lowers_the_lr_says_so_and_resumes_with_it(tmp_path, monkeypatch):
    import threading

    scripted = iter([5.0, 4.0, 4.5, 4.6, 4.7, 4.8, 4.9, 5.0, 5.1])
    real = T.distance_loss_sum

    def fake(E, edges, buf):
        return real(E, edges, buf) * 0 + next(scripted) * len(edges)

    monkeypatch.setattr(T, "distance_loss_sum", fake)
    kw = dict(objective="seed", dynamic_dims=False, lr=0.04, lr_schedule="plateau", lr_patience=2, epochs=6)
    full = T.train(cfg_for(tmp_path, "full", **kw), graph=tiny_graph())
    lrs = [r["lr"] for r in full.history]
    assert lrs == [0.04, 0.04, 0.04, 0.04, 0.02, 0.02]  # bad epochs 1, 2 -> halved for epoch 5
    events = [e for r in full.history for e in r["events"] if e["type"] == "lr"]
    assert events == [{"type": "lr", "old_lr": 0.04, "new_lr": 0.02}]
    scripted = iter([5.0, 4.0, 4.5, 4.6, 4.7, 4.8, 4.9, 5.0, 5.1])
    stop = threading.Event()
    part = T.train(cfg_for(tmp_path, "part", **kw), graph=tiny_graph(),
                   callbacks=[lambda r: r.get("epoch") == 4 and stop.set()], stop_event=stop)
    assert len(part.history) == 4
    resumed = T.train(cfg_for(tmp_path, "x", **kw), graph=tiny_graph(), resume=part.run_dir)
    assert [r["lr"] for r in resumed.history] == lrs
    np.testing.assert_array_equal(resumed.embeddings, full.embeddings)
