"""The memory estimate: what a run holds at its widest, the objective's buffers counted, refused before allocating."""
import pytest
import torch

from naomi_nb import memory as M
from naomi_nb.config import TrainConfig


def test_the_estimate_reaches_the_widest_point_and_counts_the_objectives_buffers():
    cfg = TrainConfig(dynamic_dims=True, embedding_dim=128, max_dims=512, expand_by=64, batch_size=1 << 20,
                      min_batch_size=32768)
    V, n_train, n_val = 206_978, 1_326_694, 147_410
    seed = M.run_estimate(cfg, V, n_train, n_val, 128, 1 << 20, buffers=2)
    neg = M.run_estimate(cfg, V, n_train, n_val, 128, 1 << 20, buffers=6)
    matrix_512 = V * 512 * 4
    assert seed["widest"] > seed["start"] and seed["peak"] == max(seed["start"], seed["widest"], seed["expansion"])
    assert seed["parts"]["embeddings"] == matrix_512  # the widest point sets the peak
    # four more (batch x dims) buffers: the batch adapted to 512 dims is 262,144
    assert neg["widest"] - seed["widest"] == 4 * 262_144 * 512 * 4
    fixed = M.run_estimate(cfg.replace(dynamic_dims=False), V, n_train, n_val, 128, 1 << 20)
    assert fixed["peak"] == fixed["start"] and "widest" not in fixed


def test_a_run_that_fits_at_its_start_but_not_at_its_widest_is_refused(monkeypatch):
    cfg = TrainConfig(dynamic_dims=True, embedding_dim=8, max_dims=4096, expand_by=8, batch_size=64)
    est = M.run_estimate(cfg, 1000, 500, 50, 8, 64)
    lines = []
    M.check_fits(est["parts"], torch.device("cpu"), "x", "h", available=lambda d: est["peak"])  # fits exactly
    monkeypatch.setattr(M.DV, "available_bytes", lambda device: (est["start"] + est["peak"]) // 2)
    with pytest.raises(M.NotEnoughMemory, match="a 1,000 x 4096 run needs about"):
        M.check_run(cfg, 1000, 500, 50, None, torch.device("cpu"), lines.append, "use a smaller --max-dims")
    assert not lines  # nothing said before the refusal


@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_the_peak_counts_from_its_reset_and_sees_what_was_touched():
    cpu = torch.device("cpu")
    M.reset_peak(cpu)
    before = M.peak_bytes(cpu)
    x = torch.ones(64 << 20)  # 256 MB of float32, every page touched
    during = M.peak_bytes(cpu)
    del x
    assert during - before >= 200 << 20
    assert M.peak_bytes(cpu) >= during - (16 << 20)  # a peak stays after the memory is freed (the kernel's
    # resident counters are approximate by a few pages per CPU)
    M.reset_peak(cpu)
    assert M.peak_bytes(cpu) < during  # ... until it is reset


def test_a_run_records_its_peak_against_the_estimate(tmp_path):
    from naomi_nb.graph import tiny_graph
    from naomi_nb.trainer import train

    lines = []
    cfg = TrainConfig(training_data="(in memory)", output_dir=str(tmp_path / "run"), embedding_dim=8, epochs=2,
                      batch_size=64, analyze=False, device="cpu")
    result = train(cfg, graph=tiny_graph(), log=lines.append)
    memory = result.metrics["memory"]
    assert memory["measured"] == "resident" and memory["peak_bytes"] > 0 and memory["estimate_bytes"] > 0
    assert memory["peak_vs_estimate"] == pytest.approx(memory["peak_bytes"] / memory["estimate_bytes"])
    (line,) = [line for line in lines if line.startswith("  memory: peak ")]
    assert "before the run" in line and "estimated" in line  # a tiny run: its growth, not a whole process's ratio
    import json

    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["memory"] == memory


def test_memory_is_said_in_binary_units_and_a_small_run_apart_from_the_process():
    """On a CPU the resident peak counts the whole process: on a small run its baseline (Python, torch, the
    graph) is nearly all of it, and a ratio to the run's own estimate would read as a fault."""
    small = {"peak_bytes": 644 * 2**20, "measured": "resident", "estimate_bytes": 7 * 2**20,
             "peak_vs_estimate": 92.0, "baseline_bytes": 634 * 2**20}
    line = M.peak_line(small)
    assert line.startswith("memory: peak 0.6 GiB resident = 0.6 GiB before the run (Python, torch, the graph) + "
                           "10 MiB the run added (estimated 7 MiB: a run too small")
    assert "x the start-up estimate" not in line
    big = {**small, "peak_bytes": 6 * 2**30, "estimate_bytes": 5 * 2**30, "baseline_bytes": 2**30}
    assert M.peak_line(big).endswith("+ 5.0 GiB the run added, 1.00x the start-up estimate (5.0 GiB)")
    gpu = {"peak_bytes": 3 * 2**30, "measured": "GPU allocated", "estimate_bytes": 2 * 2**30, "peak_vs_estimate": 1.5}
    assert M.peak_line(gpu) == "memory: peak 3.0 GiB GPU allocated, 1.50x the start-up estimate (2.0 GiB)"


def test_the_baseline_is_what_the_process_held_at_the_reset():
    cpu = torch.device("cpu")
    M.reset_peak(cpu)
    report = M.peak_report(cpu, {"peak": 2**20})
    assert 0 < report["baseline_bytes"] <= report["peak_bytes"]  # torch and the interpreter alone: hundreds of MiB
