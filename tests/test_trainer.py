"""The training core against a plain autograd formulation, and its promises: expansion, batch size,
early stopping, exact resume, OOM survival, NaN handling."""
import json
import threading

import numpy as np
import pytest
import torch

from naomi_nb import dims as D
from naomi_nb import rundir
from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.graph import tiny_graph
from naomi_nb.objectives.seed import Seed

from helpers import cfg_for


def reference_run(graph, cfg):
    """The seed's loss through autograd, torch.optim.Adam, the trainer's RNG order; returns per-epoch losses and E."""
    gen = torch.Generator().manual_seed(cfg.seed)
    V = graph.vocab.size
    E = (torch.randn(V, cfg.embedding_dim, generator=gen) * cfg.init_scale).requires_grad_(True)
    opt = torch.optim.Adam([E], lr=cfg.lr)
    tr, va = graph.split(cfg.seed, cfg.val_fraction)

    def edges(ix):
        return (torch.from_numpy(graph.src[ix].astype(np.int64)), torch.from_numpy(graph.dst[ix].astype(np.int64)),
                torch.from_numpy(graph.targets[graph.rel[ix]]), torch.from_numpy(graph.conf[ix]))

    s, d, t, c = edges(tr)
    vs, vd, vt, vc = edges(va)
    n, batch, out = len(s), min(cfg.batch_size, len(tr)), []
    for epoch in range(1, cfg.epochs + 1):
        perm, dist_sum = torch.randperm(n, generator=gen), 0.0
        for start in range(0, n, batch):
            i = perm[start:start + batch]
            dist = torch.linalg.vector_norm(E[s[i]] - E[d[i]], dim=1)
            dist_loss = (c[i] * (dist - t[i]) ** 2).mean()
            loss = dist_loss + cfg.sparsity_weight * E.abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            dist_sum += dist_loss.item() * len(i)
        with torch.no_grad():
            val = (vc * (torch.linalg.vector_norm(E[vs] - E[vd], dim=1) - vt) ** 2).mean().item()
            activity = (E.abs() > cfg.activity_eps).double().mean(0).numpy()
        out.append({"train_distance": dist_sum / n, "val_distance": val, "dims": E.shape[1], "batch": batch})
        if (cfg.dynamic_dims and epoch % cfg.expand_interval == 0 and E.shape[1] < cfg.max_dims
                and D.should_expand(activity, cfg.saturation_threshold)):
            old, new = E.shape[1], D.expanded_dims(E.shape[1], cfg.expand_by, cfg.max_dims)
            extra = torch.randn(V, new - old, generator=gen) * cfg.expand_init_scale
            E2 = torch.cat([E.detach(), extra], 1).requires_grad_(True)
            opt2 = torch.optim.Adam([E2], lr=cfg.lr)
            if cfg.optimizer_on_expand == "carry":
                st = opt.state[E]
                pad = torch.zeros(V, new - old)
                opt2.state[E2] = {"step": st["step"].clone(), "exp_avg": torch.cat([st["exp_avg"], pad], 1),
                                  "exp_avg_sq": torch.cat([st["exp_avg_sq"], pad], 1)}
            E, opt = E2, opt2
            batch = D.adapted_batch_size(cfg.batch_size, cfg.embedding_dim, new, cfg.min_batch_size, n)
            out[-1]["dims"] = new
            out[-1]["batch"] = batch
    return out, E.detach()


@pytest.mark.parametrize("mode", ["carry", "reset"])
def test_same_losses_as_autograd_formulation_with_expansion(tmp_path, mode):
    graph = tiny_graph()
    cfg = cfg_for(tmp_path, optimizer_on_expand=mode, epochs=5)
    result = T.train(cfg, graph=graph)
    ref, ref_E = reference_run(graph, cfg)
    assert [r["dims"] for r in result.history] == [r["dims"] for r in ref] == [4, 8, 8, 12, 12]
    assert [r["batch_size"] for r in result.history] == [r["batch"] for r in ref]
    for mine, theirs in zip(result.history, ref):
        assert mine["train_distance"] == pytest.approx(theirs["train_distance"], rel=1e-4)
        assert mine["val_distance"] == pytest.approx(theirs["val_distance"], rel=1e-4)
    last = torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=True)
    torch.testing.assert_close(last["embeddings"], ref_E, rtol=1e-4, atol=1e-6)


def test_loss_falls_on_tiny_graph(tmp_path):
    result = T.train(cfg_for(tmp_path, epochs=25, dynamic_dims=False, embedding_dim=8), graph=tiny_graph())
    first, last = result.history[0], result.history[-1]
    assert last["train_distance"] < 0.3 * first["train_distance"]
    assert last["val_distance"] < 0.5 * first["val_distance"]


def test_expand_keeps_old_values_device_and_dtype():
    for dtype in (torch.float32, torch.float64):
        E = torch.randn(50, 6, dtype=dtype).requires_grad_(True)
        opt = T.make_optimizer(E, 0.01)
        E.grad = torch.randn_like(E)
        opt.step()
        m, v, step = T.adam_state(opt, E)
        cfg = TrainConfig(optimizer_on_expand="carry")
        E2, opt2 = T.expand(E, opt, 10, torch.Generator().manual_seed(0), cfg)
        assert E2.shape == (50, 10) and E2.dtype == dtype and E2.device == E.device and E2.requires_grad
        assert torch.equal(E2[:, :6], E.detach())  # bit for bit
        assert E2[:, 6:].abs().max() < 0.1 and E2[:, 6:].abs().min() > 0
        m2, v2, step2 = T.adam_state(opt2, E2)
        assert torch.equal(m2[:, :6], m) and torch.equal(v2[:, :6], v) and step2 == step == 1
        assert not m2[:, 6:].any() and not v2[:, 6:].any()
        E3, opt3 = T.expand(E, opt, 10, torch.Generator().manual_seed(0), cfg.replace(optimizer_on_expand="reset"))
        assert T.adam_state(opt3, E3)[2] == 0 and torch.equal(E3, E2)


def test_early_stop_at_the_right_epoch_restores_best(tmp_path, monkeypatch):
    scripted = iter([5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 3.05, 3.0, 2.0])
    seen = []
    real = Seed.validation_sums

    def fake(self, E, edges, buf):
        seen.append(E.clone())
        return [s * 0 + next(scripted) * len(edges) for s in real(self, E, edges, buf)]

    monkeypatch.setattr(Seed, "validation_sums", fake)
    result = T.train(cfg_for(tmp_path, epochs=20, patience=3, dynamic_dims=False), graph=tiny_graph())
    assert len(result.history) == 6 and result.metrics["stopped"] == "early_stop"
    assert result.metrics["best_epoch"] == 3
    assert [e["type"] for e in result.history[-1]["events"]] == ["early_stop"]
    np.testing.assert_array_equal(result.embeddings, seen[2].numpy())
    np.testing.assert_array_equal(np.load(result.run_dir / "embeddings.npy"), seen[2].numpy())


def _stop_after(epoch, event):
    def cb(record):
        if record.get("epoch") == epoch and "train_total" in record:
            event.set()
    return cb


def test_resume_after_expansion_matches_an_uninterrupted_run(tmp_path):
    graph = tiny_graph()
    full = T.train(cfg_for(tmp_path, "full", epochs=6), graph=graph)
    stop = threading.Event()
    part = T.train(cfg_for(tmp_path, "part", epochs=6), graph=graph, callbacks=[_stop_after(3, stop)], stop_event=stop)
    assert part.metrics["stopped"] == "interrupted" and len(part.history) == 3
    assert part.history[1]["dims"] == 8  # an expansion happened before the stop
    resumed = T.train(cfg_for(tmp_path, "ignored", epochs=6), graph=graph, resume=part.run_dir)
    assert resumed.run_dir == part.run_dir and len(resumed.history) == 6
    for a, b in zip(full.history, resumed.history):
        for key in ("train_distance", "val_distance", "dims", "batch_size", "best_epoch"):
            assert a[key] == pytest.approx(b[key], rel=1e-6), key
    np.testing.assert_allclose(np.load(resumed.run_dir / "embeddings.npy"), full.embeddings, rtol=1e-6, atol=1e-7)
    assert len((resumed.run_dir / "history.jsonl").read_text().splitlines()) == 6


def test_stop_inside_an_epoch_keeps_a_resumable_run(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = T.train_step
    stop = threading.Event()

    def step(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:  # inside epoch 2 (3 steps per epoch)
            stop.set()
        return real(*a, **k)

    monkeypatch.setattr(T, "train_step", step)
    part = T.train(cfg_for(tmp_path, epochs=4), graph=tiny_graph(), stop_event=stop)
    assert part.metrics["stopped"] == "interrupted" and len(part.history) == 1
    last = torch.load(part.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["epoch"] == 1 and last["partial"]
    assert (part.run_dir / "embeddings.npy").exists() and (part.run_dir / "checkpoints" / "best.pt").exists()
    monkeypatch.setattr(T, "train_step", real)
    resumed = T.train(cfg_for(tmp_path, "x", epochs=4), graph=tiny_graph(), resume=part.run_dir)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]


LOSSES = ("train_total", "val_total", "train_distance", "val_distance", "train_sparsity", "val_sparsity")


@pytest.mark.parametrize("objective, extra", [
    ("seed", {}),
    ("graded", {}),  # its negatives' and pairs' draws go on from the saved generators
    ("negatives", {"geometry": "tree", "sparsity_mode": "proximal", "proximal_strength": 0.2,
                   "lr_schedule": "cosine", "negatives": 2}),
])
def test_a_stop_inside_an_epoch_resumes_at_the_next_batch_bit_for_bit(tmp_path, monkeypatch, objective, extra):
    """Stops after step 2, 5 and 9 (epochs of 3 steps, dimensions growing), each resumed: embeddings, every loss
    figure and the events equal an uninterrupted run's, on the eager path (the kernels compiled once per
    process would add their own last digits)."""
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    graph = tiny_graph()
    kw = dict(epochs=5, objective=objective, **extra)
    full = T.train(cfg_for(tmp_path, "full", **kw), graph=graph)
    real, calls, stop = T.train_step, {"n": 0}, threading.Event()
    stops = {2, 5, 9}

    def step(*a, **k):
        out = real(*a, **k)
        calls["n"] += 1
        if calls["n"] in stops:
            stop.set()
        return out

    monkeypatch.setattr(T, "train_step", step)
    run = cfg_for(tmp_path, "stopped", **kw)
    result = T.train(run, graph=graph, stop_event=stop)
    resumes = 0
    while result.metrics["stopped"] == "interrupted":
        last = torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=False)
        assert last["partial"] and last["inside"]["edges_done"] > 0
        stop.clear()
        resumes += 1
        result = T.train(run, graph=graph, stop_event=stop, resume=result.run_dir)
    assert resumes == len(stops)
    np.testing.assert_array_equal(result.embeddings, full.embeddings)
    assert [[r[k] for k in LOSSES] for r in result.history] == [[r[k] for k in LOSSES] for r in full.history]
    assert [r["events"] for r in result.history] == [r["events"] for r in full.history]
    assert [r["dims"] for r in result.history] == [r["dims"] for r in full.history]


@pytest.mark.parametrize("error", [
    lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"),
])
def test_oom_halves_the_batch_and_retries_the_step(tmp_path, monkeypatch, error):
    real = T.train_step
    sizes = []

    def step(E, G, opt, s, *rest):
        if s.shape[0] > 32:
            raise error()
        sizes.append(s.shape[0])
        return real(E, G, opt, s, *rest)

    monkeypatch.setattr(T, "train_step", step)
    graph = tiny_graph()
    result = T.train(cfg_for(tmp_path, epochs=3, dynamic_dims=False), graph=graph)
    first = result.history[0]
    assert [e for e in first["events"] if e["type"] == "oom"] == [{"type": "oom", "old_batch": 64, "new_batch": 32}]
    assert all(r["batch_size"] == 32 for r in result.history)
    n_train = len(graph.split(0, 0.1)[0])
    assert sum(sizes) == 3 * n_train  # every edge of every epoch was trained, none twice
    assert result.metrics["stopped"] == "epochs" and np.isfinite(result.embeddings).all()


def test_unrelated_runtime_errors_are_not_swallowed(tmp_path, monkeypatch):
    def step(*a, **k):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(T, "train_step", step)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        T.train(cfg_for(tmp_path), graph=tiny_graph())


def test_nan_stops_and_keeps_the_last_good_model(tmp_path, monkeypatch):
    real = T.train_step
    calls = {"n": 0}

    def step(E, *rest):
        calls["n"] += 1
        out = real(E, *rest)
        if calls["n"] == 7:  # first step of epoch 3
            with torch.no_grad():
                E[0, 0] = float("nan")
        return out

    monkeypatch.setattr(T, "train_step", step)
    result = T.train(cfg_for(tmp_path, epochs=6, dynamic_dims=False), graph=tiny_graph())
    assert result.metrics["stopped"] == "nan" and result.metrics["nan_epoch"] == 3
    assert len(result.history) == 3 and result.history[-1]["events"][0]["type"] == "nan"
    assert np.isfinite(np.load(result.run_dir / "embeddings.npy")).all()
    best = rundir.load_best(result.run_dir)
    assert best["epoch"] == 2 and torch.isfinite(best["embeddings"]).all()


def test_history_records_are_complete_and_json(tmp_path):
    import json

    result = T.train(cfg_for(tmp_path, epochs=3), graph=tiny_graph())
    lines = [json.loads(x) for x in (result.run_dir / "history.jsonl").read_text().splitlines()]
    assert lines == json.loads(json.dumps(result.history))
    for key in ("train_total", "val_total", "sparsity_pct", "dims", "batch_size", "lr", "seconds", "edges_per_s"):
        assert key in lines[0]
    vocab = json.loads((result.run_dir / "vocabulary.json").read_text())
    assert vocab["embedding_dim"] == 8 and vocab["starting_dim"] == 4 and vocab["dynamic_dims_enabled"] is True
    for name in ("best.pt", "last.pt"):
        assert (result.run_dir / "checkpoints" / name).exists()
    assert not list(result.run_dir.rglob("*.tmp"))


# ---------------------------------------------------------------- proximal sparsity

def test_max_active_runs_keep_at_most_k_values_per_sense(tmp_path):
    graph = tiny_graph()
    result = T.train(cfg_for(tmp_path, epochs=6, embedding_dim=4, max_dims=12, max_active=3, expand_interval=2,
                             expand_by=4), graph=graph)
    emb = result.embeddings
    assert emb.shape[1] > 4  # expansion still fires
    assert ((emb != 0).sum(1) <= 3).all() and ((emb != 0).sum(1) == 3).mean() > 0.5
    assert all(r["active_per_word"] <= 3 for r in result.history)


def test_ctrl_c_stops_at_a_batch_boundary_and_restores_the_handler(tmp_path):
    import os
    import signal

    before = signal.getsignal(signal.SIGINT)

    def press_ctrl_c(record):
        if record.get("epoch") == 2 and "train_total" in record:
            os.kill(os.getpid(), signal.SIGINT)

    result = T.train(cfg_for(tmp_path, epochs=6), graph=tiny_graph(), callbacks=[press_ctrl_c])
    assert result.metrics["stopped"] == "interrupted" and len(result.history) == 2
    last = torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["epoch"] == 2 and not last["partial"]  # stopped before a step of epoch 3 was taken
    assert signal.getsignal(signal.SIGINT) is before


def test_stop_before_the_first_step_leaves_a_resumable_run(tmp_path):
    stop = threading.Event()
    stop.set()
    part = T.train(cfg_for(tmp_path, epochs=3), graph=tiny_graph(), stop_event=stop)
    assert part.metrics["stopped"] == "interrupted" and part.history == []
    resumed = T.train(cfg_for(tmp_path, "x", epochs=3), graph=tiny_graph(), resume=part.run_dir)
    full = T.train(cfg_for(tmp_path, "full", epochs=3), graph=tiny_graph())
    assert [r["train_distance"] for r in resumed.history] == pytest.approx([r["train_distance"] for r in full.history])


def test_resume_takes_the_new_patience(tmp_path):
    graph = tiny_graph()
    first = T.train(cfg_for(tmp_path, epochs=40, patience=1, min_delta=10.0, dynamic_dims=False), graph=graph)
    assert first.metrics["stopped"] == "early_stop" and len(first.history) == 2
    more = T.train(cfg_for(tmp_path, "x", epochs=40, patience=4, dynamic_dims=False, min_delta=10.0), graph=graph,
                   resume=first.run_dir)
    assert len(more.history) == 1 + 4  # the best epoch, then 4 without improvement
    assert json.loads((first.run_dir / "config.json").read_text())["patience"] == 4


def test_train_reports_progress_inside_epochs(tmp_path):
    from naomi_nb.graph import tiny_graph
    from naomi_nb.trainer import train

    calls = []
    cfg = TrainConfig(output_dir=str(tmp_path / "run"), epochs=2, embedding_dim=8, batch_size=64, min_batch_size=16,
                      analyze=False)
    train(cfg, tiny_graph(), progress=lambda epoch, done, total: calls.append((epoch, done, total)))
    assert [c[0] for c in calls if c[1] == c[2]] == [1, 2]  # each epoch ends with a call at 100%
    assert all(0 < done <= total for _, done, total in calls)


# ---------------------------------------------------------------- the learning-rate schedule

def test_plateau_lowers_the_lr_says_so_and_resumes_with_it(tmp_path, monkeypatch):
    import threading

    scripted = iter([5.0, 4.0, 4.5, 4.6, 4.7, 4.8, 4.9, 5.0, 5.1])
    real = Seed.validation_sums

    def fake(self, E, edges, buf):
        return [s * 0 + next(scripted) * len(edges) for s in real(self, E, edges, buf)]

    monkeypatch.setattr(Seed, "validation_sums", fake)
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
