"""A fault pass: stops at random moments, damaged run files, fuzzed flags, memory limits, two processes on
one run, a full and a read-only disk, on the real WordNet mammal subgraph; counts what each ended in.

    python tools/fault_pass.py [--out DIR] [--chains 4] [--fuzz 60] [--seed 0]

Every case must end in one of: the right result (a resumed run equal to the uninterrupted one, bit for bit
with eager kernels), or a one-line error with a non-zero exit and no file of the run changed. Anything else
(a traceback, a silent exit 0 on damaged input, a changed file after a refusal, a run that differs) is
counted as a failure and printed. docs/reliability.md keeps the counts of the last pass.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TORCHDYNAMO_DISABLE": "1", "TQDM_DISABLE": "1"}
HANG = 600  # seconds: a bound for hangs only
SCRATCH = Path("/tmp/naomi_fault_pass_cwd")  # the commands' working directory (`main` sets it under --out)
# the mammal subgraph at 16 -> 32 dims with an expansion, small batches (an epoch of many steps), analysis on
COMMON = ["--embedding-dim", "16", "--max-dims", "32", "--dynamic-dims", "--expand-interval", "2",
          "--expand-by", "16", "--batch-size", "128", "--min-batch-size", "64", "--epochs", "8", "--patience",
          "100", "--checkpoint-seconds", "0", "--device", "cpu", "--objective", "negatives"]
RUN_FILES = ["config.json", "graph.json", "metrics.json", "vocabulary.json", "embeddings.npy", "history.jsonl",
             "checkpoints/last.pt", "checkpoints/best.pt"]


def cli(*args, env=None, limit_kib=None):
    """``python -m naomi_nb ARGS``, under an address-space limit of ``limit_kib`` KiB when given."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (limit_kib * 1024, limit_kib * 1024))

    pre = limit if limit_kib else None
    SCRATCH.mkdir(parents=True, exist_ok=True)  # a fuzzed relative path lands here, not in the checkout
    return subprocess.Popen([sys.executable, "-m", "naomi_nb", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or ENV, preexec_fn=pre, cwd=SCRATCH)


def finish(proc) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=HANG)
    return proc.returncode, out, err


def one_line(err: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


def snapshot(path: Path) -> dict:
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != ".lock"}


def history_without_timing(run: Path) -> list:
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]
    for row in rows:
        for key in ("seconds", "train_seconds", "edges_per_s"):
            row.pop(key, None)
    return rows


def same_run(a: Path, b: Path) -> bool:
    return (np.array_equal(np.load(a / "embeddings.npy"), np.load(b / "embeddings.npy"))
            and history_without_timing(a) == history_without_timing(b))


def same_contents(a: Path, b: Path) -> bool:
    """Two checkpoints hold the same tensors and values (their zip files may differ in unread bytes)."""
    import torch

    def same(x, y):
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            return isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and torch.equal(x, y)
        if isinstance(x, dict) and isinstance(y, dict):
            return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            return len(x) == len(y) and all(map(same, x, y))
        return x == y

    try:
        return same(torch.load(a, weights_only=True), torch.load(b, weights_only=True))
    except Exception:  # unreadable: not the same
        return False


class Tally:
    def __init__(self):
        self.counts, self.failures = Counter(), []

    def add(self, cls: str, outcome: str, ok: bool, detail: str = ""):
        self.counts[(cls, outcome, ok)] += 1
        if not ok:
            self.failures.append(f"{cls}: {outcome}: {detail}"[:400])
            print(f"  FAIL {cls}: {outcome}: {detail[:300]}", flush=True)

    def table(self) -> str:
        lines = ["| class | outcome | cases | as it must be |", "|---|---|---|---|"]
        for (cls, outcome, ok), n in sorted(self.counts.items()):
            lines.append(f"| {cls} | {outcome} | {n} | {'yes' if ok else '**no**'} |")
        return "\n".join(lines)


def stops(out: Path, graph: Path, ref: Path, ref_seconds: float, chains: int, rng: random.Random, tally: Tally):
    """Chains of five signals (SIGKILL, SIGTERM, SIGINT at random) at random moments of a process's life
    (start-up, epochs, checkpoint writes, the analysis), each followed by a resume, then one to the end."""
    for c in range(chains):
        run, sent = out / f"stops{c}", 0
        while True:
            args = ["--resume", run] if (run / "config.json").exists() else \
                ["--training-data", graph, "--output-dir", run, *COMMON]
            proc = cli("train", *args)
            if sent < 5:
                sig = rng.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
                moment = rng.uniform(0.3, 0.9 * ref_seconds)
                deadline = time.monotonic() + moment
                while proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                if proc.poll() is None:
                    proc.send_signal(sig)
                    code, _, err = finish(proc)
                    sent += 1
                    name = sig.name
                    if sig == signal.SIGKILL:
                        tally.add("stop", f"{name}: killed, resumed", code == -9, err[-300:])
                    elif code == 0:  # the signal came after training, in the analysis or the last lines
                        tally.add("stop", f"{name}: after training (finished)", "Traceback" not in err, err[-300:])
                    elif code == -sig:  # the default action, once the command has ended
                        tally.add("stop", f"{name}: after the command ended (exit -{int(sig)})", "Traceback" not in err,
                                  err[-300:])
                    else:
                        graceful = code == 128 + sig and "Traceback" not in err
                        tally.add("stop", f"{name}: graceful exit {128 + sig}", graceful, f"exit {code}: {err[-300:]}")
                    continue
            code, _, err = finish(proc)
            tally.add("stop", "final resume to the end" if sent == 5 else "the process ended before its signal",
                      code == 0, err[-300:])
            break
        temporaries = [p for p in run.rglob("*.tmp")]
        tally.add("stop", "chain ends equal to the uninterrupted run, no temporary",
                  code == 0 and same_run(run, ref) and not temporaries, f"chain {c}, temporaries {temporaries}")


def damage(path: Path, kind: str, rng: random.Random):
    data = bytearray(path.read_bytes())
    if kind == "bit flip":
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    elif kind == "truncated":
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))


# what each command reads, and so must verify; the rest it does not open (a resume rebuilds history.jsonl from
# last.pt and writes metrics.json and vocabulary.json again at its end)
READS = {"resume": {"config.json", "graph.json", "checkpoints/last.pt", "checkpoints/best.pt", "embeddings.npy",
                    "metrics.json", "vocabulary.json"},
         "analyze": {"config.json", "metrics.json", "vocabulary.json", "embeddings.npy", "history.jsonl"},
         "describe": {"metrics.json", "vocabulary.json", "embeddings.npy"},
         "export": {"metrics.json", "vocabulary.json", "embeddings.npy"}}


def damaged_files(out: Path, ref: Path, rng: random.Random, tally: Tally, files=None):
    """Each run file damaged two ways (a bit flipped at a random place, cut in half); a resume (of the
    finished run, nothing to train), analyze, describe and export on each copy. Exit 0 is right only where
    the command does not read the file, or where it repaired it (a resume) or said so (analyze, history)."""
    for name in files or RUN_FILES:
        for kind in ("bit flip", "truncated"):
            for command in ("resume", "analyze", "describe", "export"):
                run = out / "damaged" / f"{name.replace('/', '_')}-{kind.replace(' ', '_')}-{command}"
                shutil.rmtree(run, ignore_errors=True)
                shutil.copytree(ref, run)
                damage(run / name, kind, rng)
                before = snapshot(run)
                target = out / "damaged" / f"{run.name}.txt"
                target.unlink(missing_ok=True)
                args = {"resume": ["train", "--resume", run, "--no-analyze"],
                        "analyze": ["analyze", run], "describe": ["describe", run, "dog"],
                        "export": ["export", run, "--output", target]}[command]
                code, out_text, err = finish(cli(*args))
                what = f"{name} {kind}"
                if code != 0:
                    unchanged = snapshot(run) == before and not target.exists()
                    tally.add("damaged file", f"{command}: one-line error, nothing written",
                              one_line(err) and unchanged, f"{what}: exit {code}: {err[-300:]}")
                elif name == "history.jsonl" and command == "resume":
                    tally.add("damaged file", "resume: history.jsonl rebuilt from last.pt",
                              history_without_timing(run) == history_without_timing(ref), what)
                elif name == "history.jsonl" and command == "analyze":
                    tally.add("damaged file", "analyze: history.jsonl damage warned (no checksum)",
                              "warning:" in out_text + err, f"{what}: analyze exit 0 without a warning")
                elif command == "resume" and name == "metrics.json":  # a finished run's: written again, said
                    whole = json.loads((run / name).read_text()).get("epochs_run") == \
                        json.loads((ref / name).read_text()).get("epochs_run")
                    tally.add("damaged file", "resume: metrics.json written again, with a warning",
                              whole and "warning:" in out_text + err, f"{what}: resume exit 0")
                elif command == "resume" and name.endswith(".pt"):  # a flip in the zip's padding is no damage
                    tally.add("damaged file", f"resume: {name} holds what it held",
                              same_contents(run / name, ref / name), f"{what}: resume exit 0, the damage left in place")
                elif command == "resume" and name in READS["resume"]:
                    tally.add("damaged file", f"resume: {name} written again, as it was",
                              (run / name).read_bytes() == (ref / name).read_bytes(),
                              f"{what}: resume exit 0, the damage left in place")
                else:
                    tally.add("damaged file", f"{command}: exit 0, the file not read", name not in READS[command],
                              f"{what}: {command} exit 0")
                shutil.rmtree(run, ignore_errors=True)
                target.unlink(missing_ok=True)


BAD = ["-1", "0", "nan", "inf", "1e30", "nope", "", "2.5", "-0.5"]


def fuzzed_flags(out: Path, graph: Path, n: int, rng: random.Random, tally: Tally):
    """Train, search, bench and export with a flag set to a random odd value: exit 0 with a run (the value is
    valid) or a one-line error with exit 2 and nothing written."""
    sys.path.insert(0, str(ROOT))
    from naomi_nb.__main__ import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    cases = []
    for command in ("train", "search", "bench", "export", "analyze", "prepare-wordnet", "sparsify"):
        for action in subs[command]._actions:
            if action.option_strings and action.nargs != 0 and action.dest not in ("help", "resume"):
                cases.append((command, action.option_strings[-1]))
    for i in range(n):
        command, flag = rng.choice(cases)
        value = rng.choice(BAD)
        target = out / "fuzz" / (f"{i}.out" if command in ("bench", "export") else f"{i}")  # a file or a run
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        base = {"train": ["--training-data", graph, "--output-dir", target, "--epochs", "1", "--no-analyze",
                          "--device", "cpu", "--embedding-dim", "4"],
                "search": ["--training-data", graph, "--output-dir", target, "--n-trials", "1", "--epochs", "1",
                           "--embedding-dim", "4", "--device", "cpu", "--param", "lr=0.001:0.01"],
                "bench": ["--training-data", graph, "--output", target, "--epochs", "1", "--dims", "8",
                          "--device", "cpu"],
                "export": [out / "ref", "--output", target],
                "analyze": [out / "ref"],
                "prepare-wordnet": ["--output", target, "--root", "mammal.n.01"],
                "sparsify": [out / "ref", "--output-dir", target, "--sparse-code-epochs", "1"]}[command]
        before = snapshot(out / "ref")
        code, _, err = finish(cli(command, *base, flag, value))
        if code == 0:
            tally.add("fuzzed flag", f"{command}: accepted (exit 0)", "Traceback" not in err, f"{flag}={value!r}")
        else:
            tally.add("fuzzed flag", f"{command}: one-line error, nothing written",
                      code == 2 and one_line(err) and snapshot(out / "ref") == before and not target.exists(),
                      f"{flag}={value!r}: exit {code}: {err[-300:]}")
        shutil.rmtree(target, ignore_errors=True)
        if target.is_file():
            target.unlink()


def memory_limits(out: Path, full: Path, tally: Tally):
    """Full WordNet at 512 dims under an address-space limit: refused in one line, no run directory."""
    if not (full / "manifest.json").exists():
        print(f"  (no {full}: memory limits skipped)")
        return
    for gib in (1, 2, 3, 4):
        run = out / f"memory{gib}"
        shutil.rmtree(run, ignore_errors=True)
        code, _, err = finish(cli("train", "--training-data", full, "--output-dir", run, "--embedding-dim", "512",
                                  "--epochs", "1", "--device", "cpu", limit_kib=gib * 1024 * 1024))
        tally.add("memory limit", f"ulimit -v {gib} GiB: one-line error, no run directory",
                  code != 0 and one_line(err) and not (run / "checkpoints").exists(), f"exit {code}: {err[-300:]}")


def concurrency(out: Path, graph: Path, tally: Tally):
    """Two fresh runs into one directory started together, and a resume while a run trains."""
    for i in range(3):
        run = out / f"two{i}"
        shutil.rmtree(run, ignore_errors=True)
        procs = [cli("train", "--training-data", graph, "--output-dir", run, *COMMON, "--no-analyze")
                 for _ in range(2)]
        results = [finish(p) for p in procs]
        codes = sorted(r[0] for r in results)
        loser = next((r for r in results if r[0] != 0), (0, "", ""))
        tally.add("concurrency", "two fresh runs: one trains, one one-line error",
                  codes[0] == 0 and codes[1] != 0 and one_line(loser[2]), str([(r[0], r[2][-200:]) for r in results]))


def full_and_read_only(out: Path, graph: Path, tally: Tally):
    """A 1 MiB tmpfs and a read-only bind mount (root only; skipped elsewhere)."""
    if os.geteuid() != 0:
        print("  (not root: full and read-only disks skipped)")
        return
    for what, opts in (("full disk (1 MiB tmpfs)", ["-t", "tmpfs", "-o", "size=1m", "tmpfs"]),
                       ("read-only file system", ["-o", "bind,ro", str(out / "ro_src")])):
        mnt = out / ("mnt_" + what.split()[0])
        mnt.mkdir(parents=True, exist_ok=True)
        (out / "ro_src").mkdir(exist_ok=True)
        if subprocess.run(["mount", *opts, str(mnt)], capture_output=True).returncode != 0:
            print(f"  (mount failed: {what} skipped)")
            continue
        try:
            code, _, err = finish(cli("train", "--training-data", graph, "--output-dir", mnt / "run", *COMMON))
            left = [p for p in mnt.rglob("*.tmp")]
            tally.add("disk", f"{what}: one-line error, no temporary", code != 0 and one_line(err) and not left,
                      f"exit {code}: {err[-300:]}")
        finally:
            subprocess.run(["umount", str(mnt)], capture_output=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/naomi_fault_pass"))
    ap.add_argument("--chains", type=int, default=6, help="chains of five stops, each resumed")
    ap.add_argument("--fuzz", type=int, default=60, help="fuzzed flag cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--files", default=None, help="comma-separated run files to damage (default: all)")
    ap.add_argument("--only", default=None, help="comma-separated classes to run (stops, damaged files, ...)")
    ap.add_argument("--full", type=Path, default=ROOT / "data" / "wordnet_training",
                    help="full WordNet, for the memory limits")
    args = ap.parse_args(argv)
    global SCRATCH
    out, rng, tally = args.out.resolve(), random.Random(args.seed), Tally()
    SCRATCH = out / "cwd"
    out.mkdir(parents=True, exist_ok=True)
    graph = out / "mammals"
    if not (graph / "manifest.json").exists():
        code, _, err = finish(cli("prepare-wordnet", "--root", "mammal.n.01", "--output", graph))
        if code:
            sys.exit(f"error: could not build the mammal subgraph: {err.strip().splitlines()[-1]}")
    ref = out / "ref"
    shutil.rmtree(ref, ignore_errors=True)
    t0 = time.perf_counter()
    code, _, err = finish(cli("train", "--training-data", graph, "--output-dir", ref, *COMMON))
    if code:
        sys.exit(f"error: the uninterrupted run failed: {err.strip().splitlines()[-1]}")
    seconds = time.perf_counter() - t0
    print(f"uninterrupted run: {seconds:.1f} s (training and analysis)", flush=True)
    for name, step in [("stops", lambda: stops(out, graph, ref, seconds, args.chains, rng, tally)),
                       ("damaged files", lambda: damaged_files(out, ref, rng, tally, args.files and args.files.split(","))),
                       ("fuzzed flags", lambda: fuzzed_flags(out, graph, args.fuzz, rng, tally)),
                       ("memory limits", lambda: memory_limits(out, args.full, tally)),
                       ("concurrency", lambda: concurrency(out, graph, tally)),
                       ("disks", lambda: full_and_read_only(out, graph, tally))]:
        if args.only and name not in args.only.split(","):
            continue
        t = time.perf_counter()
        print(f"{name}...", flush=True)
        step()
        print(f"  {name}: {time.perf_counter() - t:.0f} s", flush=True)
    print(tally.table())
    total = sum(tally.counts.values())
    print(f"{total} cases, {len(tally.failures)} not as they must be")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
