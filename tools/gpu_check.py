"""The Python side of ``tools/gpu_check.sh``: one command that records peak GPU memory, and the check's JSON.

  python tools/gpu_check.py peak FILE -- ARGS...
      ``python -m naomi_nb ARGS`` in this process, then FILE gets its exit code and
      ``torch.cuda.max_memory_allocated()`` (None without CUDA), also when it stops on a signal
  python tools/gpu_check.py report WORK OUT --graph DIR [--quick] [--no-analyze]
      gathers what the steps left in WORK (steps.tsv, pytest.xml, bench.json, run/, train_peak.json, logs)
      into one JSON at OUT and copies the logs beside it

Reading the steps' files is kept apart from torch (`build_report` takes plain figures), so the JSON's
shape is tested on any machine. A missing or broken file never stops the report: its section says why.
"""
from __future__ import annotations

import json
import re
import statistics
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

STEPS = ("tests", "bench", "train")
LOGS = ("tests.log", "bench.log", "train.log")
LOG_LIMIT = 256 * 1024  # bytes of each log kept beside the JSON (the end, where the figures and errors are)


# ---------------------------------------------------------------- reading the steps' files

def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_steps(path: Path) -> dict:
    """``steps.tsv``: one line per step, ``name<TAB>exit code<TAB>seconds<TAB>time limit``."""
    steps = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return steps
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 4:
            name, rc, seconds, limit = parts
            steps[name] = {"rc": int(rc), "seconds": round(float(seconds), 1), "limit_s": int(limit)}
    return steps


def count_tests(junit: Path) -> dict | None:
    """passed / failed / skipped / errors (collection errors included) and the names of what did not pass,
    from pytest's ``--junitxml`` file; None when there is none."""
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return None
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    not_passed = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag for child in case}
        if "error" in kinds:
            counts["errors"] += 1
            not_passed.append(name)
        elif "failure" in kinds:
            counts["failed"] += 1
            not_passed.append(name)
        elif "skipped" in kinds:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    counts["not_passed"] = not_passed
    return counts


def history(run_dir: Path) -> list[dict]:
    """The run's epoch records (history.jsonl; lines that are not epoch records are left out)."""
    try:
        lines = (Path(run_dir) / "history.jsonl").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict) and "epoch" in r and "train_seconds" in r:
            out.append(r)
    return out


def said_estimate(train_log: Path) -> str | None:
    """The trainer's own start-up memory line (``memory: about ...``), as it printed it."""
    try:
        text = Path(train_log).read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r"memory: about [^\n]*", text)
    return m.group(0) if m else None


def objective_spec(config: dict) -> str | None:
    """A run's objective as bench writes it (``seed``, ``uniform:1``, ``graded``): `naomi_nb.bench.objective_spec`,
    which asks the objective's class whether it draws negatives; its bare name where the kit cannot say, None
    without a configuration."""
    if not config:
        return None
    try:
        from naomi_nb.bench import objective_spec as spec
        return spec(config)
    except Exception:  # noqa: BLE001 - the report is still written, with the name alone
        return config.get("objective")


# ---------------------------------------------------------------- the JSON

def _ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def bench_section(bench: dict | None, estimate) -> dict | None:
    """The bench's rows: seconds per epoch against the bound, and peak GPU memory against ``estimate(row)``."""
    if not bench:
        return None
    rows = []
    for r in bench.get("results", []):
        est = estimate(r)
        rows.append({
            "dims": r["dims"], "objective": r["objective"], "batch_size": r["batch_size"],
            "train_seconds_per_epoch": r["train_seconds_per_epoch"], "bound_seconds": r.get("bound_seconds"),
            "x_bound": _ratio(r["train_seconds_per_epoch"], r.get("bound_seconds")),
            "x_seed": _ratio(r.get("vs_seed"), 1), "t4_bound_seconds": r.get("t4_bound_seconds"),
            "first_epoch_seconds": r.get("first_epoch_seconds"), "peak_rss_bytes": r.get("peak_rss_bytes"),
            "peak_gpu_bytes": r.get("peak_gpu_bytes"),
            "estimate_bytes": est, "peak_vs_estimate": _ratio(r.get("peak_gpu_bytes"), est)})
    bandwidth = next((r.get("bandwidth_bytes_per_s") for r in bench.get("results", [])), None)
    return {"bandwidth_gb_s": round(bandwidth / 1e9, 1) if bandwidth else None, "torch": bench.get("torch"),
            "rows": rows}


def train_section(metrics: dict | None, config: dict | None, epochs: list[dict], report: dict | None,
                  peak: dict | None, estimate: dict | None, said: str | None, bound) -> dict | None:
    """The aggressive run: epochs, best epoch, minutes, MRR when analysed, seconds per epoch against the
    bound (``bound(record)``: seconds at that epoch's width and batch, or None), peak memory against the
    start-up estimate."""
    if metrics is None and not epochs:
        return None
    metrics = metrics or {}
    ranking = ((report or {}).get("validation") or {}).get("hypernym_ranking") or {}
    bounds = [(r["train_seconds"], bound(r)) for r in epochs]
    ratios = [t / b for t, b in bounds if b]
    peak_bytes = (peak or {}).get("peak_gpu_bytes")
    est = (estimate or {}).get("start_bytes")
    return {
        "stopped": metrics.get("stopped"), "epochs": metrics.get("epochs_run", len(epochs)),
        "best_epoch": metrics.get("best_epoch"), "best_val": metrics.get("best_val"),
        "minutes": round(metrics["minutes"], 2) if "minutes" in metrics else None,
        "dims_reached": metrics.get("dims_reached", max((r.get("dims", 0) for r in epochs), default=None)),
        "batch_sizes": metrics.get("batch_sizes"),
        "objective": objective_spec(config or {}),
        "seconds_per_epoch": metrics.get("seconds_per_epoch"),
        "train_seconds_per_epoch": statistics.median(t for t, _ in bounds) if bounds else None,
        "bound_seconds_per_epoch": statistics.median(b for _, b in bounds if b) if ratios else None,
        "x_bound": round(statistics.median(ratios), 3) if ratios else None,
        "analyzed": report is not None, "mrr": ranking.get("mrr"), "hits@10": ranking.get("hits@10"),
        "peak_gpu_bytes": peak_bytes, "peak_rss_bytes": (peak or {}).get("peak_rss_bytes"),
        "estimate": estimate, "estimate_said": said,
        "peak_vs_estimate": _ratio(peak_bytes, est),
        "trainer_memory": metrics.get("memory"),  # the trainer's own peak against its estimate (metrics.json)
    }


def failures(steps: dict, tests: dict | None, bench: dict | None, train: dict | None,
             analyzed_wanted: bool) -> list[str]:
    """One line per thing that went wrong: a step's exit code or time-out; for a step that ended well,
    failed tests or a missing figure."""
    out = []
    missing = {
        "tests": None if tests is None else
        (f"{tests['failed']} failed, {tests['errors']} errors: " + ", ".join(tests["not_passed"])
         if tests["failed"] or tests["errors"] else
         "no gpu tests collected" if tests["passed"] + tests["skipped"] == 0 else ""),
        "bench": "" if bench is not None else None,
        "train": None if train is None else
        "no analysis (report.json missing)" if analyzed_wanted and not train["analyzed"] else "",
    }
    absent = {"tests": "no pytest results", "bench": "no bench.json", "train": "no run directory"}
    for name in STEPS:
        s = steps.get(name)
        if s is None:
            out.append(f"{name}: did not run")
        elif s["rc"] in (124, 137):
            out.append(f"{name}: timed out after {s['limit_s']} s")
        elif s["rc"] != 0:
            out.append(f"{name}: exit code {s['rc']} (see {name}.log)")
        elif missing[name] is None:
            out.append(f"{name}: {absent[name]}")
        elif missing[name]:
            out.append(f"{name}: {missing[name]}")
    if tests is not None and (tests["failed"] or tests["errors"]) and steps.get("tests", {}).get("rc", 0) != 0:
        out.append(f"tests: {missing['tests']}")
    return out


def build_report(steps: dict, tests: dict | None, bench: dict | None, train: dict | None, device: dict,
                 quick: bool, graph: str, analyzed_wanted: bool = True) -> dict:
    """The check's JSON: ``ok`` only when every step ended with 0, no test failed and the figures exist."""
    failed = failures(steps, tests, bench, train, analyzed_wanted)
    return {"ok": not failed, "failed": failed, "quick": quick, "graph": graph, "device": device,
            "steps": steps, "tests": tests, "bench": bench, "train": train}


# ---------------------------------------------------------------- torch and the kit, at the edges

def device_facts() -> dict:
    import torch

    facts = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": None, "gpu_memory_bytes": None}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        facts.update(gpu=p.name, gpu_memory_bytes=int(p.total_memory))
    return facts


def _kit_estimates(graph_dir: Path):
    """``estimate(bench row)`` and ``run_estimate(config, metrics)`` from naomi_nb.memory, and
    ``bound(record)`` from naomi_nb.bench; each gives None (and says why once) where the kit's API differs."""
    try:
        from naomi_nb import components
        from naomi_nb import memory as M
        from naomi_nb.bench import negative_rows, pair_rows, traffic_bytes
    except Exception as err:  # noqa: BLE001 - the report is still written, without these figures
        print(f"gpu_check: naomi_nb's estimates unavailable ({err})", file=sys.stderr)
        return (lambda r: None), (lambda c, m: None), (lambda bw, c, m: lambda r: None)
    manifest = read_json(graph_dir / "manifest.json") or {}
    n_edges = manifest.get("n_edges")

    def estimate(r):
        try:
            from naomi_nb.bench import objective_settings
            from naomi_nb.config import TrainConfig

            # bench's objective specs: an objective's name, SAMPLER:K for negatives, or OBJECTIVE:SAMPLER:K
            cfg = TrainConfig(**objective_settings(r["objective"]))
            return sum(M.training_bytes(r["vocab"], r["dims"], min(r["batch_size"], r["n_train"]),
                                        n_edges or r["n_train"],
                                        buffers=components.get("objective", cfg.objective).buffer_units(cfg)).values())
        except Exception:  # noqa: BLE001
            return None

    def run_estimate(config, metrics):
        try:
            from naomi_nb.config import TrainConfig

            cfg = TrainConfig.from_dict(config)
            buffers = components.get("objective", cfg.objective).buffer_units(cfg)
            n = metrics["n_train"]
            est = M.run_estimate(cfg, metrics["vocab_size"], n, metrics["n_val"], cfg.embedding_dim,
                                 min(cfg.batch_size, n), buffers)
            return {"start_dims": cfg.embedding_dim, "start_training_bytes": est["start"],
                    "expansion_bytes": est.get("expansion"), "widest_bytes": est.get("widest"),
                    "start_bytes": est["peak"]}
        except Exception:  # noqa: BLE001
            return None

    def bound(bandwidth, config, metrics):
        spec = objective_spec(config or {})

        def seconds(r):
            try:
                n = metrics["n_train"]
                batch = min(r["batch_size"], n)
                rows = negative_rows(n, batch, spec, bool(config.get("corrupt_source")))
                pairs = pair_rows(config, n)  # graded's and inherit's hierarchy pairs, edge-like rows
                return traffic_bytes(n, metrics["vocab_size"], r["dims"], batch, rows, pairs) / bandwidth
            except Exception:  # noqa: BLE001
                return None
        return seconds if bandwidth else (lambda r: None)

    return estimate, run_estimate, bound


def measured_bandwidth(device: str) -> float | None:
    """The bench's copy bandwidth on ``device``, for a report whose bench step left none."""
    try:
        import torch

        from naomi_nb.bench import measure_bandwidth

        return measure_bandwidth(torch.device(device))
    except Exception:  # noqa: BLE001 - then the run has no bound
        return None


def copy_logs(work: Path, dest: Path) -> list[str]:
    """The steps' logs (their last `LOG_LIMIT` bytes) and bench.json beside the JSON."""
    copied = []
    for name in LOGS + ("bench.json",):
        src = work / name
        if not src.is_file():
            continue
        data = src.read_bytes()
        if len(data) > LOG_LIMIT:
            data = b"[... cut: the last %d bytes follow]\n" % LOG_LIMIT + data[-LOG_LIMIT:]
        (dest / name).write_bytes(data)
        copied.append(name)
    return copied


def report(work: Path, out: Path, graph: str, quick: bool, analyzed_wanted: bool) -> dict:
    run = work / "run"
    estimate, run_estimate, bound = _kit_estimates(Path(graph))
    bench_raw = read_json(work / "bench.json")
    bandwidth = next((r.get("bandwidth_bytes_per_s") for r in (bench_raw or {}).get("results", [])), None)
    metrics, config = read_json(run / "metrics.json"), read_json(run / "config.json")
    if bandwidth is None and metrics and metrics.get("device"):
        bandwidth = measured_bandwidth(metrics["device"])
    train = train_section(metrics, config, history(run), read_json(run / "report.json"),
                          read_json(work / "train_peak.json"),
                          run_estimate(config, metrics) if metrics and config else None,
                          said_estimate(work / "train.log"), bound(bandwidth, config or {}, metrics or {}))
    if train is not None:
        train["bandwidth_gb_s"] = round(bandwidth / 1e9, 1) if bandwidth else None
    result = build_report(read_steps(work / "steps.tsv"), count_tests(work / "pytest.xml"),
                          bench_section(bench_raw, estimate), train, device_facts(), quick, graph, analyzed_wanted)
    out.parent.mkdir(parents=True, exist_ok=True)
    result["logs"] = copy_logs(work, out.parent)
    out.write_text(json.dumps(result, indent=1))
    return result


def peak(out: Path, argv: list[str]) -> int:
    """``python -m naomi_nb ARGV`` here, then its exit code, the peak GPU memory and the peak resident set
    into ``out``."""
    import resource
    import runpy

    import torch

    code = 0
    sys.argv = ["naomi_nb"] + argv
    try:
        runpy.run_module("naomi_nb", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        Path(out).write_text(json.dumps({
            "rc": code, "peak_gpu_bytes": torch.cuda.max_memory_allocated() if cuda else None,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    return code


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 3 and argv[0] == "peak" and argv[2] == "--":
        return peak(Path(argv[1]), argv[3:])
    if argv and argv[0] == "report":
        import argparse

        p = argparse.ArgumentParser(prog="gpu_check.py report")
        p.add_argument("work")
        p.add_argument("out")
        p.add_argument("--graph", required=True)
        p.add_argument("--quick", action="store_true")
        p.add_argument("--no-analyze", action="store_true")
        a = p.parse_args(argv[1:])
        r = report(Path(a.work), Path(a.out), a.graph, a.quick, not a.no_analyze)
        print(f"gpu check: {'ok' if r['ok'] else 'FAILED: ' + '; '.join(r['failed'])}")
        print(f"figures written to {a.out}")
        return 0 if r["ok"] else 1
    print("usage: gpu_check.py peak FILE -- ARGS... | report WORK OUT --graph DIR [--quick] [--no-analyze]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
