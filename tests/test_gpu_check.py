"""The GPU check's plumbing without a GPU: the JSON it builds from the steps' files, the peak-memory wrapper,
the bench's bound that the JSON compares against, and the one-line refusal of a missing graph."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from naomi_nb.bench import negative_rows, traffic_bytes

ROOT = Path(__file__).resolve().parents[1]
HANG = 15 * 60  # seconds: the bound on a child process, for hangs only
_spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "tools" / "gpu_check.py")
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_reliability" name="test_a"/>
<testcase classname="tests.test_reliability" name="test_b"><failure message="boom"/></testcase>
<testcase classname="tests.test_reliability" name="test_c"><skipped message="needs a CUDA device"/></testcase>
<testcase classname="tests.test_other" name="tests.test_other"><error message="collection failure"/></testcase>
</testsuite></testsuites>"""


def bench_json(bandwidth=1e9):
    rows = []
    for objective, seconds, vs in (("seed", 0.2, 1.0), ("uniform:1", 0.3, 1.5)):
        rows.append({"dims": 128, "objective": objective, "batch_size": 1000, "train_seconds_per_epoch": seconds,
                     "bound_seconds": 0.1, "vs_seed": vs, "t4_bound_seconds": 0.3, "first_epoch_seconds": 2.0,
                     "peak_gpu_bytes": 150, "n_train": 900, "vocab": 50, "bandwidth_bytes_per_s": bandwidth})
    return {"results": rows, "torch": "2.x"}


def write_work(work: Path, steps="tests\t0\t12.5\t100\nbench\t0\t60.0\t140\ntrain\t0\t90.0\t210\n"):
    run = work / "run"
    run.mkdir(parents=True)
    (work / "steps.tsv").write_text(steps)
    (work / "pytest.xml").write_text(JUNIT)
    (work / "bench.json").write_text(json.dumps(bench_json()))
    (run / "config.json").write_text(json.dumps({"objective": "negatives", "negative_sampler": "uniform",
                                                  "negatives": 1, "embedding_dim": 8, "max_dims": 16,
                                                  "expand_by": 8, "dynamic_dims": True, "batch_size": 1000}))
    (run / "metrics.json").write_text(json.dumps({
        "stopped": "early_stop", "epochs_run": 3, "best_epoch": 2, "best_val": 0.1, "minutes": 1.234,
        "dims_reached": 16, "batch_sizes": [1000], "seconds_per_epoch": 0.5, "n_train": 900, "n_val": 100,
        "vocab_size": 50, "memory": {"peak_bytes": 2000000, "measured": "GPU allocated", "estimate_bytes": 1000000,
                                     "peak_vs_estimate": 2.0}}))
    (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (
        {"epoch": 1, "train_seconds": 0.4, "dims": 8, "batch_size": 1000},
        {"event": "start"},
        {"epoch": 2, "train_seconds": 0.5, "dims": 16, "batch_size": 1000},
        {"epoch": 3, "train_seconds": 0.6, "dims": 16, "batch_size": 1000})))
    (run / "report.json").write_text(json.dumps({"validation": {"hypernym_ranking": {"mrr": 0.31, "hits@10": 0.8}}}))
    (work / "train_peak.json").write_text(json.dumps({"rc": 0, "peak_gpu_bytes": 2 * 10**6, "peak_rss_bytes": 1}))
    (work / "train.log").write_text("x" * (G.LOG_LIMIT + 100) + "\n  memory: about 1.0 GB at 8 dims\nend\n")
    (work / "tests.log").write_text("5 passed\n")
    return work


def test_test_counts_from_junit(tmp_path):
    (tmp_path / "p.xml").write_text(JUNIT)
    counts = G.count_tests(tmp_path / "p.xml")
    assert {k: counts[k] for k in ("passed", "failed", "skipped", "errors")} == \
        {"passed": 1, "failed": 1, "skipped": 1, "errors": 1}
    assert counts["not_passed"] == ["tests.test_reliability::test_b", "tests.test_other::tests.test_other"]
    assert G.count_tests(tmp_path / "missing.xml") is None


def test_report_gathers_every_figure_and_copies_the_logs(tmp_path):
    work = write_work(tmp_path / "work")
    out = tmp_path / "out" / "gpu_check.json"
    G.report(work, out, str(ROOT / "data" / "nowhere"), quick=False, analyzed_wanted=True)
    r = json.loads(out.read_text())
    assert r["steps"]["train"] == {"rc": 0, "seconds": 90.0, "limit_s": 210}
    assert r["tests"]["failed"] == 1 and not r["ok"]
    assert r["failed"] == ["tests: 1 failed, 1 errors: tests.test_reliability::test_b, "
                           "tests.test_other::tests.test_other"]
    assert [row["x_bound"] for row in r["bench"]["rows"]] == [2.0, 3.0]
    assert r["bench"]["bandwidth_gb_s"] == 1.0 and r["bench"]["rows"][1]["x_seed"] == 1.5
    t = r["train"]
    assert (t["epochs"], t["best_epoch"], t["minutes"], t["mrr"], t["hits@10"]) == (3, 2, 1.23, 0.31, 0.8)
    assert t["objective"] == "uniform:1" and t["analyzed"] and t["estimate_said"] == "memory: about 1.0 GB at 8 dims"
    # each epoch against the bound at its own width, from the bench's measured bandwidth
    bounds = [traffic_bytes(900, 50, d, 900, negative_rows(900, 900, "uniform:1")) / 1e9 for d in (8, 16, 16)]
    assert t["bound_seconds_per_epoch"] == pytest.approx(bounds[1])
    assert t["x_bound"] == pytest.approx(sorted(s / b for s, b in zip((0.4, 0.5, 0.6), bounds))[1], abs=1e-3)
    est = t["estimate"]
    assert est["start_bytes"] == max(est["start_training_bytes"], est["expansion_bytes"] or 0,
                                     est["widest_bytes"] or 0) > 0
    assert t["peak_vs_estimate"] == pytest.approx(2e6 / est["start_bytes"], abs=1e-3)
    assert t["trainer_memory"]["peak_vs_estimate"] == 2.0  # the trainer's own figure, as metrics.json has it
    assert r["logs"] == ["tests.log", "train.log", "bench.json"]
    kept = (out.parent / "train.log").read_text()
    assert kept.startswith("[... cut") and kept.endswith("end\n") and len(kept) < G.LOG_LIMIT + 100


def test_a_step_that_timed_out_or_is_missing_is_named():
    steps = {"tests": {"rc": 0, "seconds": 1.0, "limit_s": 100}, "train": {"rc": 124, "seconds": 210.0, "limit_s": 210}}
    tests = {"passed": 5, "failed": 0, "skipped": 0, "errors": 0, "not_passed": []}
    train = G.train_section(None, None, [{"epoch": 1, "train_seconds": 1.0, "dims": 128, "batch_size": 10}], None,
                            None, None, None, lambda r: None)
    r = G.build_report(steps, tests, None, train, {"gpu": None}, quick=False, graph="g")
    assert not r["ok"] and r["failed"] == ["bench: did not run", "train: timed out after 210 s"]
    assert r["train"]["epochs"] == 1 and r["train"]["x_bound"] is None
    ok = G.build_report({k: {"rc": 0, "seconds": 1.0, "limit_s": 9} for k in G.STEPS}, tests, {"rows": []},
                        dict(train, analyzed=True), {}, quick=True, graph="g")
    assert ok["ok"] and ok["failed"] == []
    steps = {k: {"rc": 0, "seconds": 1.0, "limit_s": 9} for k in G.STEPS}
    steps["tests"]["rc"] = 1
    bad = G.build_report(steps, dict(tests, failed=1, not_passed=["t::x"]), {"rows": []}, train, {}, False, "g")
    assert bad["failed"] == ["tests: exit code 1 (see tests.log)", "train: no analysis (report.json missing)",
                             "tests: 1 failed, 0 errors: t::x"]


def test_bench_bound_counts_the_negatives_rows():
    # 10 edges, batch 4: steps of 4, 4 and 2 edges
    assert negative_rows(10, 4, "seed") == negative_rows(10, 4, "batch:1") == 0
    assert negative_rows(10, 4, "uniform:1") == 2 + 2 + 1  # one negative per chunk of 2 edges
    assert negative_rows(10, 4, "degree:3", corrupt_source=True) == 2 * 3 * (1 + 1 + 0)
    seed = traffic_bytes(10, 5, 2, 4)
    assert seed == (8 * 10 + 8 * 3 * 5) * 2 * 4
    assert traffic_bytes(10, 5, 2, 4, 5) - seed == 4 * 5 * 2 * 4
    # an objective by name takes the default negatives (one uniform); graded's pairs count as edges
    assert negative_rows(10, 4, "graded") == negative_rows(10, 4, "uniform:1")
    assert traffic_bytes(10, 5, 2, 4, 5, pairs=3) - traffic_bytes(10, 5, 2, 4, 5) == 8 * 3 * 2 * 4


@pytest.mark.slow
def test_peak_wrapper_runs_the_cli_and_records_its_exit(tiny, tmp_path):
    out = tmp_path / "peak.json"
    cmd = [sys.executable, str(ROOT / "tools" / "gpu_check.py"), "peak", str(out), "--", "train",
           "--training-data", str(tiny), "--output-dir", str(tmp_path / "run"), "--epochs", "1", "--no-analyze",
           "--device", "cpu", "--embedding-dim", "4", "--batch-size", "64"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1", "TORCHDYNAMO_DISABLE": "1"})
    assert done.returncode == 0, done.stderr
    assert "Training completed" in done.stdout and (tmp_path / "run" / "metrics.json").exists()
    peak = json.loads(out.read_text())
    assert peak["rc"] == 0 and peak["peak_gpu_bytes"] is None and peak["peak_rss_bytes"] > 0


def test_check_refuses_a_missing_graph_in_one_line(tmp_path):
    done = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--graph", str(tmp_path / "none"),
                           "--device", "cpu", "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("error: no prepared graph")
    assert not (tmp_path / "x.json").exists()


# the packages a bare GPU machine lacks (it has torch, numpy, scipy, matplotlib, tqdm and pytest)
ABSENT = ("nltk", "papermill", "nbformat", "nbmake", "ipywidgets", "optuna", "playwright", "IPython", "ipykernel",
          "jupyterlab", "psycopg")
BLOCKED_CLI = """
import runpy, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Block())
sys.argv = ["naomi_nb"] + sys.argv[1:]
runpy.run_module("naomi_nb", run_name="__main__", alter_sys=True)
""".format(absent=ABSENT)


@pytest.mark.slow
def test_train_and_bench_run_without_the_notebook_and_search_packages(tiny, tmp_path):
    # torch.compile off: the kernels are not what this test is about, and compiling costs most of its time
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1", "TORCHDYNAMO_DISABLE": "1"}

    def cli(*args):
        done = subprocess.run([sys.executable, "-c", BLOCKED_CLI, *args], capture_output=True, text=True,
                              timeout=HANG, cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    out = cli("train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "run"), "--epochs", "2",
              "--embedding-dim", "4", "--batch-size", "64", "--device", "cpu", "--analyze")
    assert "Training completed" in out and (tmp_path / "run" / "report.json").exists()
    out = cli("bench", "--training-data", str(tiny), "--dims", "4", "--epochs", "2", "--batch-size", "64",
              "--objectives", "seed,uniform:1,batch:1", "--device", "cpu", "--output", str(tmp_path / "b.json"))
    header = next(line for line in out.splitlines() if "x bound" in line)
    rows = json.loads((tmp_path / "b.json").read_text())["results"]
    assert [r["objective"] for r in rows] == ["seed", "uniform:1", "batch:1"] and "x seed" in header
    assert all(r["bound_seconds"] > 0 and r["ratio_to_bound"] > 0 for r in rows)
    assert rows[1]["traffic_bytes"] > rows[0]["traffic_bytes"] == rows[2]["traffic_bytes"]
