"""Faults, injected or real: kills at random moments, SIGTERM, two processes on one run directory, out of
memory at every allocation site, a full or read-only disk, a changed graph, damaged run files. Each must
end in a completed run or a one-line error, with nothing already written lost. GPU tests at the bottom
(marked ``gpu``) run where CUDA exists."""
from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from naomi_nb import files, memory as M, rundir, trainer as T
from naomi_nb.objectives import base as objective_base
from naomi_nb.objectives.seed import Seed
from naomi_nb.__main__ import main
from naomi_nb.config import TrainConfig
from naomi_nb.graph import Graph, Vocabulary, tiny_graph

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--embedding-dim", "4", "--max-dims", "8", "--expand-interval", "2", "--expand-by", "4", "--dynamic-dims",
         "--batch-size", "64", "--min-batch-size", "8", "--no-analyze", "--checkpoint-seconds", "0", "--device", "cpu",
         "--objective", "seed"]
TIMING = ("seconds", "train_seconds", "edges_per_s")
HANG = 15 * 60  # seconds: the bound on a child process, for hangs only


def cfg_for(tmp_path, name="run", **kw):
    base = dict(output_dir=str(tmp_path / name), epochs=4, batch_size=64, min_batch_size=8, embedding_dim=4,
                max_dims=12, expand_interval=2, expand_by=4, dynamic_dims=True, analyze=False, patience=100,
                checkpoint_seconds=0.0, sparsity_weight=0.01, device="cpu", objective="seed")
    base.update(kw)
    return TrainConfig(**base)


def one_line_error(err: str, *needles) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def temporaries(path: Path) -> list:
    return [p for p in path.rglob("*.tmp")]


def without_timing(history):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history]


def medium_graph(seed: int = 0, n_senses: int = 3000, n_edges: int = 60000) -> Graph:
    """A random graph large enough that an epoch takes a few milliseconds (kills land inside epochs)."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n_senses, n_edges).astype(np.int32)
    dst = ((src + rng.integers(1, n_senses, n_edges)) % n_senses).astype(np.int32)
    rel = rng.integers(0, 4, n_edges).astype(np.int16)
    return Graph(src, dst, rel, np.ones(n_edges, np.float32), ["synonym", "hypernym", "hyponym", "antonym"],
                 np.array([0.1, 0.3, 0.3, 1.0], np.float32), Vocabulary([f"s{i}.n.01.s{i}" for i in range(n_senses)]),
                 {"source": "medium test graph"})


def cli(*args, env=None, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "naomi_nb", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=kw.pop("cwd", None), **kw)


# ---------------------------------------------------------------- kills at random moments

@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    """kill -9 at seeded random moments (start-up, inside epochs, checkpoint writes, the final save), each
    followed by a resume (or a fresh start when the directory did not get its config.json yet)."""
    data = tmp_path / "g"
    medium_graph().save(data)
    common = ["--training-data", str(data), "--embedding-dim", "16", "--max-dims", "32", "--dynamic-dims",
              "--expand-interval", "2", "--expand-by", "8", "--batch-size", "4096", "--min-batch-size", "1024",
              "--epochs", "10", "--patience", "100", "--checkpoint-seconds", "0", "--no-analyze", "--device", "cpu"]
    env = {"TORCHDYNAMO_DISABLE": "1"}  # eager kernels: a process start-up costs no compile (same arithmetic)
    t0 = time.perf_counter()
    ref = cli("train", "--output-dir", str(tmp_path / "ref"), *common, env=env)
    assert ref.wait(timeout=HANG) == 0, ref.stderr.read()
    full_seconds = time.perf_counter() - t0
    run, rng, kills, moments = tmp_path / "run", random.Random(12), 0, []
    while True:
        args = (["--resume", str(run)] if (run / "config.json").exists() else ["--output-dir", str(run), *common])
        proc = cli("train", *args, env=env)
        if kills < 5:  # five kills (start-up, epochs, checkpoint writes, the final save), then let it finish
            moments.append(rng.uniform(0.2, min(3.0, 0.5 * full_seconds)))
            time.sleep(moments[-1])
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                proc.wait(timeout=HANG)
                continue
        out, err = proc.communicate(timeout=HANG)
        assert proc.returncode == 0, err
        break
    assert kills >= 4, moments
    assert not temporaries(run)  # a killed writer's temporary is removed by the next holder of the lock
    assert np.array_equal(np.load(run / "embeddings.npy"), np.load(tmp_path / "ref" / "embeddings.npy"))
    ours, theirs = (rundir.read_history(d) for d in (run, tmp_path / "ref"))
    assert without_timing(ours) == without_timing(theirs) and len(ours) == 10
    a, b = (torch.load(d / "checkpoints" / "last.pt", weights_only=True) for d in (run, tmp_path / "ref"))
    for key in ("embeddings", "exp_avg", "exp_avg_sq", "rng"):
        assert torch.equal(a[key], b[key]), key


def test_stopped_before_the_first_checkpoint_resumes_from_the_start(tmp_path):
    """A directory with only config.json (killed during start-up, or by an older version) is not dead."""
    graph = tiny_graph()
    full = T.train(cfg_for(tmp_path, "full", epochs=3), graph=graph)
    run = tmp_path / "dead"
    run.mkdir()
    cfg_for(tmp_path, "dead", epochs=3).save(run / "config.json")  # what a kill at start-up leaves
    resumed = T.train(cfg_for(tmp_path, "ignored", epochs=3), graph=graph, resume=run)
    assert resumed.run_dir == run and len(resumed.history) == 3
    assert np.array_equal(resumed.embeddings, full.embeddings)
    assert without_timing(resumed.history) == without_timing(full.history)
    assert (run / "graph.json").exists()  # a run without a fingerprint gets one


# ---------------------------------------------------------------- SIGTERM

@pytest.mark.slow
def test_sigterm_stops_gracefully_exits_143_and_resumes(tmp_path):
    data = tmp_path / "g"
    medium_graph().save(data)
    run = tmp_path / "run"
    proc = cli("train", "--training-data", str(data), "--output-dir", str(run), "--embedding-dim", "16",
               "--batch-size", "2048", "--epochs", "200", "--patience", "1000", "--no-analyze", "--device", "cpu",
               env={"TORCHDYNAMO_DISABLE": "1"})
    for line in proc.stdout:  # wait for a finished epoch, then ask it to stop as a preempting scheduler would
        if line.startswith("Epoch 2/"):
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 143, err
    assert "Training stopped after" in out and f"resume with --resume {run}" in out
    assert "Training completed" not in out and "Traceback" not in err
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert last["epoch"] >= 1 and not temporaries(run)
    assert json.loads((run / "metrics.json").read_text())["signal"] == "SIGTERM"
    done = subprocess.run([sys.executable, "-m", "naomi_nb", "train", "--resume", str(run), "--epochs",
                           str(last["epoch"] + 2)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TORCHDYNAMO_DISABLE": "1"})
    assert done.returncode == 0, done.stderr
    assert [r["epoch"] for r in rundir.read_history(run)] == list(range(1, last["epoch"] + 3))


def test_sigterm_in_process_is_a_graceful_stop_and_the_handler_comes_back(tmp_path):
    before = signal.getsignal(signal.SIGTERM)

    def cb(record):
        if record.get("epoch") == 2 and record.get("kind") == "epoch":
            os.kill(os.getpid(), signal.SIGTERM)

    result = T.train(cfg_for(tmp_path, epochs=6), graph=tiny_graph(), callbacks=[cb])
    assert result.metrics["stopped"] == "interrupted" and result.metrics["signal"] == "SIGTERM"
    assert len(result.history) == 2 and signal.getsignal(signal.SIGTERM) == before
    assert torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 2


class OnTerminal:
    """``python -m naomi_nb ARGS`` with stderr on a pseudo-terminal (so the trainer draws its per-epoch bar:
    the test sees how far an epoch has got) and stdout on a pipe, both read by threads, so every wait has a
    bound and no full pipe stalls the child."""

    BAR = re.compile(r"epoch (\d+):\s+\d+%\|[^|\r]*\|\s*([\d.]+)([kM]?)/([\d.]+)([kM]?)")

    def __init__(self, *args, env=None):
        import pty

        master, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a bar needs a width
        self.proc = subprocess.Popen([sys.executable, "-m", "naomi_nb", *args], stdout=subprocess.PIPE,
                                     stderr=terminal, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        os.close(terminal)
        self.out, self.err, self.cond = [], [], threading.Condition()
        self.threads = [threading.Thread(target=self._lines, daemon=True),
                        threading.Thread(target=self._terminal, args=(master,), daemon=True)]
        for t in self.threads:
            t.start()

    def _lines(self):
        for line in self.proc.stdout:
            with self.cond:
                self.out.append(line.decode())
                self.cond.notify_all()

    def _terminal(self, master):
        try:
            while data := os.read(master, 65536):
                with self.cond:
                    self.err.append(data.decode(errors="replace"))
                    self.cond.notify_all()
        except OSError:  # EIO: the child closed its end
            pass
        finally:
            os.close(master)
            with self.cond:
                self.cond.notify_all()

    def bar(self) -> tuple[int, int, int]:
        """(epoch, edges done, edges in the epoch) of the last bar drawn; (0, 0, 0) before the first. The bar
        rounds ("15.0k" for 14,976): edges done is the least value it can stand for."""
        scale = {"": 1, "k": 10**3, "M": 10**6}

        def least(text, unit):
            decimals = len(text.split(".")[1]) if "." in text else 0
            rounded = bool(unit or decimals)  # a plain whole number is exact
            return max(0, int((float(text) - (0.5 * 10**-decimals if rounded else 0)) * scale[unit]))

        found = (0, 0, 0)
        for m in self.BAR.finditer("".join(self.err)):
            found = (int(m.group(1)), least(m.group(2), m.group(3)), int(float(m.group(4)) * scale[m.group(5)]))
        return found

    def wait_for_bar(self, first_epoch: int, share: float, timeout: float) -> tuple[int, int]:
        """Wait until the bar of an epoch at or after ``first_epoch`` shows at least ``share`` of its edges
        done (and at least one batch); returns (that epoch, the edges it showed), (0, 0) when the child ended
        or the time ran out."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                epoch, done, total = self.bar()
                if epoch >= first_epoch and done > 0 and done >= share * total:
                    return epoch, done
                if time.monotonic() > deadline or not self.threads[1].is_alive():
                    return 0, 0
                self.cond.wait(0.5)

    def finish(self, timeout: float) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=timeout)
        for t in self.threads:
            t.join(timeout=60)
        return code, "".join(self.out), "".join(self.err)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)


@pytest.mark.slow
def test_sigint_and_sigterm_inside_epochs_then_resume_is_bit_identical(tmp_path):
    """Ctrl-C and SIGTERM, alternating, at five seeded random points inside epochs (on a quiet machine one in
    each of epochs 2 to 6, an expansion among them), each followed by ``--resume``: every stop exits 130 or
    143 with last.pt holding its place inside the epoch, every resume goes on from there, and the run ends
    bit-identical to the uninterrupted one: embeddings.npy, every figure of history.jsonl but its timings,
    Adam's moments and the generator. Eager kernels. A point is a seeded share of an epoch's edges, read off
    the epoch's bar (stderr on a pseudo-terminal): the signal goes when the bar shows it. On a loaded
    machine the child may run on past its epoch before the signal lands (then the stop is in a later epoch,
    or at an epoch's end): the test follows wherever it lands, and asks for three stops inside epochs."""
    data = tmp_path / "g"
    medium_graph().save(data)
    common = ["--training-data", str(data), "--embedding-dim", "16", "--max-dims", "32", "--dynamic-dims",
              "--expand-interval", "2", "--expand-by", "8", "--batch-size", "128", "--min-batch-size", "64",
              "--epochs", "8", "--patience", "100", "--no-analyze", "--device", "cpu",
              "--objective", "negatives"]  # its negatives' draws go on from the saved generators
    # eager kernels; one thread: on a shared 2-core machine a second thread waits for a busy core at every
    # kernel (an epoch of 1 s took 5 to 50 s), and both runs do the same arithmetic either way
    env = {"TORCHDYNAMO_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    children = [OnTerminal("train", "--output-dir", str(tmp_path / "ref"), *common, env=env)]
    try:
        code, _, err = children[0].finish(HANG)
        assert code == 0, err
        run, rng, stops, first_epoch = tmp_path / "run", random.Random(7), [], 2
        n_train = json.loads((tmp_path / "ref" / "metrics.json").read_text())["n_train"]
        finished = False
        for sig in [signal.SIGINT, signal.SIGTERM] * 2 + [signal.SIGINT]:
            child = OnTerminal("train", *(["--resume", str(run)] if stops else ["--output-dir", str(run), *common]),
                               env=env)
            children.append(child)
            share = rng.uniform(0.05, 0.7)
            epoch, shown = child.wait_for_bar(first_epoch, share, HANG)
            if shown:
                child.proc.send_signal(sig)
            code, out, err = child.finish(HANG)
            if code == 0:  # it trained to the end first (a machine slow to read its bar): no more stops
                finished = True
                break
            last = rundir.load_last(run)  # where it stopped
            inside = last.get("inside") if last["partial"] else None
            stops.append((sig.name, epoch, round(share, 2), shown, inside and inside["edges_done"]))
            assert code == 128 + sig, (stops, out, err)
            assert "Traceback" not in err and "error" not in err, err
            assert f"Training stopped after {last['epoch']} epochs" in out and "Training completed" not in out, out
            assert json.loads((run / "metrics.json").read_text())["signal"] == sig.name
            if inside:  # inside the epoch: at or after the batch the bar showed (a busy machine may go further)
                assert inside["epoch"] == last["epoch"] + 1 and 0 < inside["edges_done"] < n_train, stops
                assert inside["epoch"] != epoch or shown <= inside["edges_done"], stops
            assert len(rundir.read_history(run)) == last["epoch"] and not temporaries(run)
            first_epoch = last["epoch"] + 2  # the resume goes on inside the next epoch, the stop is in a later one
        if not finished:
            children.append(child := OnTerminal("train", "--resume", str(run), env=env))
            code, out, err = child.finish(HANG)
            assert code == 0 and "Traceback" not in err, err
            assert "Training completed" in out, out
            if inside:
                assert f"stopped inside epoch {inside['epoch']} after " in out, out
    finally:
        for child in children:
            child.kill()
    # on a quiet machine all five land inside epochs 2 to 6; a loaded one may let a child outrun its bar
    assert len(stops) >= 3 and sum(s[4] is not None for s in stops) >= 3, stops
    assert np.array_equal(np.load(run / "embeddings.npy"), np.load(tmp_path / "ref" / "embeddings.npy")), stops
    ours, theirs = (rundir.read_history(d) for d in (run, tmp_path / "ref"))
    assert len(ours) == 8 and without_timing(ours) == without_timing(theirs), stops
    assert any(e["type"] == "expand" for r in ours[1:6] for e in r["events"])
    a, b = (rundir.load_last(d) for d in (run, tmp_path / "ref"))
    for key in ("embeddings", "exp_avg", "exp_avg_sq", "rng"):
        assert torch.equal(a[key], b[key]), key


# ---------------------------------------------------------------- one process per run directory

def test_a_locked_run_directory_is_refused_naming_the_holder(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2", *SMALL]) == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    with rundir.RunLock(run):  # another training process holds it
        assert main(["train", "--resume", str(run), "--epochs", "4"]) == 2
        one_line_error(capsys.readouterr().err, "is in use by another training run", f"pid {os.getpid()}")
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        with rundir.RunLock(fresh):
            assert main(["train", "--training-data", str(tiny), "--output-dir", str(fresh), *SMALL]) == 2
            one_line_error(capsys.readouterr().err, "is in use")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert main(["train", "--resume", str(run), "--epochs", "4"]) == 0  # released: it goes on


@pytest.mark.slow
def test_two_fresh_runs_started_together_exactly_one_trains(tiny, tmp_path):
    for attempt in range(2):
        run = tmp_path / f"run{attempt}"
        procs = [cli("train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "3", *SMALL,
                     env={"TORCHDYNAMO_DISABLE": "1"}) for _ in range(2)]
        results = [(p.wait(timeout=HANG), p.stderr.read()) for p in procs]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results
        err = next(e for code, e in results if code == 2)
        assert err.count("\n") == 1 and ("in use by another training run" in err or "already holds a run" in err)
        assert len(rundir.read_history(run)) == 3 and not temporaries(run)


def test_lock_is_released_when_training_fails(tmp_path, monkeypatch):
    def step(*a, **k):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(T, "train_step", step)
    cfg = cfg_for(tmp_path)
    with pytest.raises(RuntimeError):
        T.train(cfg, graph=tiny_graph())
    monkeypatch.undo()
    T.train(cfg, graph=tiny_graph(), resume=tmp_path / "run")  # the lock went with the failure


# ---------------------------------------------------------------- out of memory at every allocation site

OOM_ERRORS = {
    "cuda": lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    "cpu_allocator": lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"),
    "bad_alloc": lambda: RuntimeError("std::bad_alloc"),
    "memory_error": lambda: MemoryError(),
}


@pytest.mark.parametrize("kind", list(OOM_ERRORS))
def test_is_oom_knows_every_form(kind):
    assert M.is_oom(OOM_ERRORS[kind]())
    wrapped = RuntimeError("BackendCompilerFailed: backend='inductor' raised: see above")
    wrapped.__cause__ = OOM_ERRORS[kind]()
    assert M.is_oom(wrapped) and M.is_oom(OSError(errno.ENOMEM, "Cannot allocate memory"))
    assert not M.is_oom(RuntimeError("shape mismatch")) and not M.is_oom(ValueError("memory"))


@pytest.mark.parametrize("kind", list(OOM_ERRORS))
def test_oom_at_start_up_is_one_line(tiny, tmp_path, monkeypatch, capsys, kind):
    def make(*a, **k):
        raise OOM_ERRORS[kind]()

    monkeypatch.setattr(T, "make_optimizer", make)  # the optimizer's state, made eagerly at start-up
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), *SMALL]) == 2
    one_line_error(capsys.readouterr().err, "out of memory allocating the 37 x 4 embeddings", "--embedding-dim")


def test_a_run_that_cannot_fit_is_refused_before_allocating(tiny, tmp_path, capsys):
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), "--device", "cpu",
                 "--embedding-dim", "1000000000"]) == 2
    one_line_error(capsys.readouterr().err, "a 37 x 1000000000 run needs about", "is available", "--embedding-dim")
    assert not (tmp_path / "r").exists()


def test_memory_estimate_counts_the_matrices():
    need = M.training_bytes(1000, 10, 100, 500)
    assert need["embeddings"] == 40000 and need["adam_moments"] == 80000 and need["best_copy"] == 40000
    assert need["batch_buffers"] == 2 * 100 * 10 * 4
    with pytest.raises(M.NotEnoughMemory, match="needs about"):
        M.check_fits(need, torch.device("cpu"), "x", "hint", available=lambda d: 1000)
    assert M.check_fits(need, torch.device("cpu"), "x", "hint", available=lambda d: None) == sum(need.values())


def test_adam_state_is_made_eagerly():
    E = torch.randn(5, 3, requires_grad=True)
    opt = T.make_optimizer(E, 0.01)
    assert set(opt.state[E]) == {"step", "exp_avg", "exp_avg_sq"} and float(opt.state[E]["step"]) == 0
    E.grad = torch.ones_like(E)
    ref = torch.optim.Adam([E2 := E.detach().clone().requires_grad_(True)], lr=0.01)
    E2.grad = torch.ones_like(E2)
    opt.step()
    ref.step()
    assert torch.equal(E.detach(), E2.detach())  # the same step as Adam's lazily made state


@pytest.mark.parametrize("kind", list(OOM_ERRORS))
def test_oom_in_the_batch_buffers_halves_the_batch(tmp_path, monkeypatch, kind):
    real = objective_base.Buffers

    def buffers(rows, dims, device, *a, **k):
        if rows > 32:
            raise OOM_ERRORS[kind]()
        return real(rows, dims, device, *a, **k)

    monkeypatch.setattr(objective_base, "Buffers", buffers)
    result = T.train(cfg_for(tmp_path, epochs=2, dynamic_dims=False), graph=tiny_graph())
    oom = [e for e in result.history[0]["events"] if e["type"] == "oom"]
    assert oom[0]["new_batch"] == 32 and result.metrics["stopped"] == "epochs"


def test_oom_at_batch_size_one_is_one_line(tiny, tmp_path, monkeypatch, capsys):
    def step(*a, **k):
        raise OOM_ERRORS["bad_alloc"]()

    monkeypatch.setattr(T, "train_step", step)
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), *SMALL]) == 2
    one_line_error(capsys.readouterr().err, "even at batch size 1")
    assert (tmp_path / "r" / "config.json").exists()  # resumable once memory is freed


@pytest.mark.parametrize("kind", list(OOM_ERRORS))
def test_oom_in_the_expansion_keeps_the_width_and_goes_on(tmp_path, monkeypatch, capsys, kind):
    def expand(*a, **k):
        raise OOM_ERRORS[kind]()

    monkeypatch.setattr(T, "expand", expand)
    from naomi_nb.__main__ import LogPrinter

    printer = LogPrinter()
    result = T.train(cfg_for(tmp_path, epochs=4), graph=tiny_graph(), callbacks=[printer])
    assert [r["dims"] for r in result.history] == [4, 4, 4, 4] and result.metrics["stopped"] == "epochs"
    oom = [e for e in result.history[1]["events"] if e["type"] == "oom"]
    assert oom == [{"type": "oom", "site": "expand", "old_dims": 4, "new_dims": 8, "old_batch": 64, "new_batch": 64}]
    assert "Out of memory adding dimensions (4 -> 8): training goes on with 4" in capsys.readouterr().out


@pytest.mark.parametrize("kind", list(OOM_ERRORS))
def test_oom_in_validation_halves_the_chunks(tmp_path, monkeypatch, kind):
    real = Seed.validation_sums

    def validation(self, E, edges, buf):
        if buf.rows > 16:
            raise OOM_ERRORS[kind]()
        return real(self, E, edges, buf)

    monkeypatch.setattr(Seed, "validation_sums", validation)
    result = T.train(cfg_for(tmp_path, epochs=2, dynamic_dims=False), graph=tiny_graph())
    sites = [(e["site"], e["new_batch"]) for e in result.history[0]["events"] if e["type"] == "oom"]
    assert sites == [("validation", 32), ("validation", 16)] and result.metrics["stopped"] == "epochs"


@pytest.mark.parametrize("kind", list(OOM_ERRORS))
def test_oom_in_the_statistics_runs_them_in_blocks(tmp_path, monkeypatch, kind):
    real, blocks = T.embedding_stats, []

    def stats(E, eps, block=None):
        blocks.append(block)
        if block is None:
            raise OOM_ERRORS[kind]()
        return real(E, eps, block)

    monkeypatch.setattr(T, "embedding_stats", stats)
    plain = T.train(cfg_for(tmp_path, "plain", epochs=3), graph=tiny_graph())
    result = T.train(cfg_for(tmp_path, epochs=3), graph=tiny_graph())
    assert blocks[:2] == [None, 37 // 8]
    assert without_timing(result.history) == without_timing(plain.history)  # blocks give the same figures


def test_statistics_in_blocks_equal_one_pass():
    E = torch.randn(101, 7)
    E[E.abs() < 0.5] = 0
    a, b = T.embedding_stats(E, 1e-6), T.embedding_stats(E, 1e-6, block_rows=10)
    assert {k: v for k, v in a.items() if k != "activity"} == {k: v for k, v in b.items() if k != "activity"}
    assert np.array_equal(a["activity"], b["activity"])


# ---------------------------------------------------------------- a full or read-only disk

def _enospc_save(obj, f):
    """What torch.save does on a full disk: the OSError of its write inside its own RuntimeError."""
    try:
        f.write(b"x" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 768 vs 662")


def test_disk_full_in_a_checkpoint_is_one_line_leaves_no_temporary_and_resumes(tiny, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    real, saves = torch.save, {"n": 0}

    def save(obj, f, *a, **k):
        saves["n"] += 1
        if saves["n"] == 4:  # best.pt + last.pt of epoch 1, best.pt of epoch 2, then last.pt of epoch 2
            return _enospc_save(obj, f)
        return real(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save)
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "4", *SMALL]) == 2
    one_line_error(capsys.readouterr().err, f"cannot write {run}/checkpoints/last.pt", "No space left on device")
    assert not temporaries(run)
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(torch, "save", real)
    assert main(["train", "--resume", str(run)]) == 0
    assert [r["epoch"] for r in rundir.read_history(run)] == [1, 2, 3, 4]


def test_atomic_open_on_a_real_full_file_system(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        (small / "last.pt").write_bytes(b"old")
        with pytest.raises(files.WriteError, match="No space left on device"):
            rundir.save_checkpoint(small / "last.pt", {"e": torch.zeros(1000, 1000)})
        assert sorted(p.name for p in small.iterdir()) == ["last.pt"]  # no temporary, old content kept
        assert (small / "last.pt").read_bytes() == b"old"
    finally:
        subprocess.run(["umount", str(small)])


def test_a_read_only_directory_is_one_line(tiny, tmp_path, monkeypatch, capsys):
    def refuse(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), *SMALL]) == 2
    one_line_error(capsys.readouterr().err, "cannot write", "Read-only file system")


def test_history_write_failure_is_one_line(tiny, tmp_path, monkeypatch, capsys):
    class FullDisk:
        def __init__(self, f):
            self.f, self.lines = f, 0

        def write(self, text):
            self.lines += 1
            if self.lines == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(text)

        def flush(self):
            self.f.flush()

        def close(self):
            self.f.close()

    from naomi_nb import history

    monkeypatch.setattr(history, "open", lambda *a, **k: FullDisk(open(*a, **k)), raising=False)
    run = tmp_path / "r"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), *SMALL]) == 2
    one_line_error(capsys.readouterr().err, f"cannot write {run}/history.jsonl", "No space left")
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0
    assert [r["epoch"] for r in rundir.read_history(run)] == [1, 2, 3]


def test_a_second_interrupt_during_a_checkpoint_write_removes_the_temporary(tmp_path, monkeypatch):
    def save(obj, f, *a, **k):
        f.write(b"partial")
        try:
            raise KeyboardInterrupt  # the second Ctrl-C lands inside torch.save's write callback
        except KeyboardInterrupt:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(KeyboardInterrupt):
        rundir.save_checkpoint(tmp_path / "last.pt", {"a": 1})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the graph a run resumes on

@pytest.mark.parametrize("change", ["edges", "smaller", "larger"])
def test_resume_on_another_graph_is_refused(tmp_path, capsys, change):
    data = tmp_path / "g"
    tiny_graph().save(data)
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(data), "--output-dir", str(run), "--epochs", "2", *SMALL]) == 0
    g = tiny_graph(seed=1) if change == "edges" else medium_graph(n_senses={"smaller": 30, "larger": 50}[change],
                                                                   n_edges=400)
    g.save(data)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "4"]) == 2
    one_line_error(capsys.readouterr().err, str(data), "start a new run")
    assert len(rundir.read_history(run)) == 2


# ---------------------------------------------------------------- damaged run files and bad input

@pytest.mark.parametrize("seed", ["-1", str(2**70)])
def test_bad_seed_is_one_line(tiny, tmp_path, capsys, seed):
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), "--seed", seed]) == 2
    one_line_error(capsys.readouterr().err, "--seed")


@pytest.mark.parametrize("field, value", [("lr", "fast"), ("epochs", None), ("batch_size", 1.5),
                                          ("dynamic_dims", "yes"), ("device", None)])
def test_config_json_with_wrong_types_or_nulls_is_one_line(tiny, tmp_path, capsys, field, value):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2", *SMALL]) == 0
    config = json.loads((run / "config.json").read_text())
    config[field] = value
    (run / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 2
    one_line_error(capsys.readouterr().err, "config.json", "--" + field.replace("_", "-"))


def test_a_checkpoint_missing_keys_is_one_line(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2", *SMALL]) == 0
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    del last["exp_avg_sq"]
    last["sha256"] = rundir.checkpoint_digest(last)  # a well-formed file, written by another version
    torch.save(last, run / "checkpoints" / "last.pt")
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 2
    one_line_error(capsys.readouterr().err, "last.pt lacks exp_avg_sq")


def _strict(text):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def nan_after_every_step(monkeypatch) -> None:
    """Every training step leaves the whole matrix NaN (so no epoch ends with a finite loss)."""
    real = T.train_step

    def step(E, *rest):
        out = real(E, *rest)
        with torch.no_grad():
            E.fill_(float("nan"))
        return out

    monkeypatch.setattr(T, "train_step", step)


def test_nan_before_any_good_epoch_says_so_and_analyze_refuses(tiny, tmp_path, monkeypatch, capsys):
    nan_after_every_step(monkeypatch)
    run = tmp_path / "r"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "3", *SMALL]) == 1
    captured = capsys.readouterr()
    one_line_error(captured.err, "NaN at epoch 1", "no epoch finished with a finite loss")
    assert "best model (epoch 0)" not in captured.out + captured.err
    assert "no trained model" in captured.out
    metrics = _strict((run / "metrics.json").read_text())
    assert metrics["trained"] is False and metrics["best_val"] is None  # inf -> null: strict JSON
    for line in (run / "history.jsonl").read_text().splitlines():
        _strict(line)
    assert main(["analyze", str(run)]) == 2
    one_line_error(capsys.readouterr().err, "holds no trained model")


def test_an_interrupt_is_not_called_completed(tiny, tmp_path, monkeypatch, capsys):
    real, calls = T.train_step, {"n": 0}

    def step(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)

    monkeypatch.setattr(T, "train_step", step)
    run = tmp_path / "r"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "5", *SMALL]) == 130
    out = capsys.readouterr().out
    assert "Training completed" not in out
    assert "Training stopped after 1 epochs (interrupted" in out and f"resume with --resume {run}" in out


def test_help_offers_no_mps_and_names_deterministic(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "mps" not in out and "--deterministic" in out


def test_deterministic_is_on_during_the_run_and_restored_after(tmp_path):
    seen = []
    before = torch.are_deterministic_algorithms_enabled()
    a = T.train(cfg_for(tmp_path, "a", epochs=3, deterministic=True), graph=tiny_graph(),
                callbacks=[lambda r: seen.append(torch.are_deterministic_algorithms_enabled())])
    b = T.train(cfg_for(tmp_path, "b", epochs=3), graph=tiny_graph())
    assert seen == [True] * 3 and torch.are_deterministic_algorithms_enabled() == before
    assert np.array_equal(a.embeddings, b.embeddings)  # the CPU path is deterministic either way


def test_a_failed_run_releases_its_tensors(tmp_path, monkeypatch):
    """The exception a notebook keeps (sys.last_value) must not keep the matrix and Adam's moments alive."""
    refs = []
    real = T.train_step

    def step(E, G, opt, *rest):
        if not refs:
            refs.extend([weakref.ref(E), weakref.ref(opt.state[E]["exp_avg"]), weakref.ref(G)])
            raise RuntimeError("a bug")
        return real(E, G, opt, *rest)

    monkeypatch.setattr(T, "train_step", step)
    try:
        T.train(cfg_for(tmp_path), graph=tiny_graph())
    except RuntimeError as err:
        kept = err  # noqa: F841 - held like a notebook holds the last exception
        assert all(r() is None for r in refs)


# ---------------------------------------------------------------- on a GPU

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@gpu
def test_gpu_expansion_keeps_everything_on_the_device(tmp_path):
    result = T.train(cfg_for(tmp_path, epochs=5, device="cuda"), graph=tiny_graph())
    assert result.metrics["device"].startswith("cuda") and [r["dims"] for r in result.history][-1] == 12
    E = torch.randn(50, 6, device="cuda", requires_grad=True)
    opt = T.make_optimizer(E, 0.01)
    E2, opt2 = T.expand(E, opt, 10, torch.Generator().manual_seed(0), TrainConfig())
    assert E2.device == E.device and opt2.state[E2]["exp_avg"].device == E.device
    assert torch.equal(E2[:, :6], E.detach())


@pytest.mark.gpu
@gpu
def test_gpu_oom_halves_the_batch(tmp_path, monkeypatch):
    real = T.train_step

    def step(E, G, opt, s, *rest):
        if s.shape[0] > 32:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(E, G, opt, s, *rest)

    monkeypatch.setattr(T, "train_step", step)
    result = T.train(cfg_for(tmp_path, epochs=2, dynamic_dims=False, device="cuda"), graph=tiny_graph())
    assert all(r["batch_size"] == 32 for r in result.history) and np.isfinite(result.embeddings).all()


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("deterministic", [False, True])
def test_gpu_resume_matches_within_tolerance_and_exactly_when_deterministic(tmp_path, deterministic):
    graph = medium_graph(n_senses=500, n_edges=20000)
    kw = dict(epochs=6, device="cuda", batch_size=2048, min_batch_size=256, deterministic=deterministic)
    full = T.train(cfg_for(tmp_path, "full", **kw), graph=graph)
    stop = threading.Event()

    def cb(record):
        if record.get("epoch") == 3:
            stop.set()

    T.train(cfg_for(tmp_path, "part", **kw), graph=graph, callbacks=[cb], stop_event=stop)
    resumed = T.train(cfg_for(tmp_path, "x", **kw), graph=graph, resume=tmp_path / "part")
    if deterministic:
        assert np.array_equal(resumed.embeddings, full.embeddings)
    else:  # index_add_ adds with atomics: the last bits differ from run to run
        np.testing.assert_allclose(resumed.embeddings, full.embeddings, rtol=1e-3, atol=1e-5)
    for a, b in zip(full.history, resumed.history):
        assert a["val_distance"] == pytest.approx(b["val_distance"], rel=1e-3)


@pytest.mark.gpu
@gpu
def test_gpu_memory_is_released_after_a_failed_run(tmp_path, monkeypatch):
    def step(*a, **k):
        raise RuntimeError("a bug")

    monkeypatch.setattr(T, "train_step", step)
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    try:
        T.train(cfg_for(tmp_path, device="cuda", embedding_dim=64, max_dims=64), graph=medium_graph())
    except RuntimeError as err:
        kept = err  # noqa: F841
        assert torch.cuda.memory_allocated() == before
