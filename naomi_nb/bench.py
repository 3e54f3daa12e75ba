"""``python -m naomi_nb bench``: seconds per epoch, edges/s, peak memory, and how far from the memory-traffic bound.

Each setting trains a few epochs of the real trainer (``train()``, fixed width, the seed's loss and Adam) on
the full graph in a throw-away run directory. The first epoch pays for page faults and warm-up, so the
figures are medians of the epochs after it.

Memory-traffic lower bound of one epoch (float32, N training edges, V senses, D dims, S steps):
  per edge      8 row transfers: two rows gathered (read, written to the batch) and the gradient
                scattered to two rows (read, written)                          -> 8 * N * D * 4 bytes
  per negative  4 row transfers: the row gathered (read, written) and its gradient scattered (read,
                written). uniform and degree draw k senses per chunk of k + 1 edges and per corrupted
                end, so an epoch moves R = sides * k * floor(B / (k + 1)) such rows per batch of B
                edges (about sides * k / (k + 1) per edge); batch negatives are the batch's own rows
                and add none                                                    -> 4 * R * D * 4 bytes
  per pair      graded and inherit draw inherit_pairs x N (sense, ancestor) pairs an epoch: 8 row
                transfers each, as an edge. (tree's two products by the hierarchy's closure per step
                are not counted.)
  per step      Adam reads parameters, gradient and both moments and writes parameters and both moments
                (7 matrix transfers); the L1 term reads the matrix once (1)     -> 8 * S * V * D * 4 bytes
divided by the bandwidth of a large copy measured on the spot (and, for comparison, a T4's 320 GB/s).
The bound counts what must cross memory; the kernels' own reads and writes of the batch buffers, the
sorts and the reordering copies come on top, so a ratio near 1 is out of reach and the ratios of one
objective to another compare their extra traffic.
"""
from __future__ import annotations

import json
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from . import components as C
from . import memory as M
from .config import ConfigError, TrainConfig
from .graph import load_graph
from .device import pick as pick_device
from .files import atomic_write_bytes, check_writable_file
from .trainer import train

T4_BANDWIDTH = 320e9  # bytes/s, NVIDIA's figure for the T4's GDDR6


def measure_bandwidth(device: torch.device, nbytes: int = 1 << 29, repeats: int = 10) -> float:
    """Bytes per second of a large tensor copy (each copy reads and writes ``nbytes``), best of ``repeats``."""
    n = nbytes // 4
    src = torch.ones(n, device=device)
    dst = torch.empty(n, device=device)
    dst.copy_(src)  # touch the pages once
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = math.inf
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        dst.copy_(src)
        sync()
        best = min(best, time.perf_counter() - t0)
    return 2 * nbytes / best


def draws_negatives(settings: dict) -> bool:
    """Whether a run with ``settings`` (``objective``, ``negative_sampler``) gathers negative rows: its objective
    reads ``negatives`` (one of its knobs) and its sampler ``gathers`` (batch negatives are the batch's rows)."""
    if "negatives" not in C.knobs_of(C.get("objective", settings["objective"])):
        return False
    return bool(C.get("sampler", settings["negative_sampler"]).gathers)


def pair_rows(settings: dict, n_edges: int) -> int:
    """The hierarchy pairs an epoch draws beside the edges: ``inherit_pairs`` x the edges for an objective that
    reads that knob (graded, inherit), else none; ``settings``: a run's configuration (defaults where it lacks)."""
    knobs = C.knobs_of(C.get("objective", _with_defaults(settings)["objective"]))
    if "inherit_pairs" not in knobs:
        return 0
    return int(settings.get("inherit_pairs", knobs["inherit_pairs"].default) * n_edges)


def negative_rows(n_edges: int, batch: int, objective: str, corrupt_source: bool = False) -> int:
    """Rows the negatives gather (and scatter back) in one epoch of ``objective`` (a bench spec: ``seed``,
    ``uniform:1``): k per chunk of k + 1 edges and per corrupted end; none where `draws_negatives` says so. A
    plain objective (`naomi_nb.objectives.plain`, ``ranking``) gathers its ``draws_per_edge`` rows for every edge."""
    spec = _with_defaults(objective_settings(objective))
    per_edge = getattr(C.get("objective", spec["objective"]), "draws_per_edge", 0)
    if per_edge:
        return per_edge * n_edges
    if not draws_negatives(spec):
        return 0
    k, sides = spec["negatives"], 2 if corrupt_source else 1
    full, rest = divmod(n_edges, batch)
    return sides * k * (full * (batch // (k + 1)) + rest // (k + 1))


def traffic_bytes(n_edges: int, vocab: int, dims: int, batch: int, negatives: int = 0, pairs: int = 0) -> int:
    """The memory traffic one epoch cannot avoid (the module's formula); ``negatives``: `negative_rows`;
    ``pairs``: the hierarchy pairs an objective draws beside the edges (8 row transfers each, like an edge)."""
    steps = math.ceil(n_edges / batch)
    return (8 * (n_edges + pairs) + 4 * negatives + 8 * steps * vocab) * dims * 4


def bound_figures(result: dict, bandwidth: float, seed_seconds: float | None) -> dict:
    """A bench row's bound at ``bandwidth`` and at a T4's, its ratio to the bound and to the seed's epoch."""
    train_s = result["train_seconds_per_epoch"]
    bound = result["traffic_bytes"] / bandwidth
    return {"bandwidth_bytes_per_s": bandwidth, "bound_seconds": bound, "ratio_to_bound": train_s / bound,
            "t4_bound_seconds": result["traffic_bytes"] / T4_BANDWIDTH,
            "vs_seed": train_s / seed_seconds if seed_seconds else None}


SPEC_KEYS = ("objective", "negative_sampler", "negatives")  # the settings a bench spec names


def _with_defaults(settings: dict) -> dict:
    """``settings``' `SPEC_KEYS`, the defaults where it lacks one."""
    defaults = TrainConfig()
    return {key: settings.get(key, getattr(defaults, key)) for key in SPEC_KEYS}


def objective_settings(spec: str) -> dict:
    """``seed`` -> the seed's objective; ``SAMPLER:K`` (``batch:5``) -> negatives from that sampler; another
    objective's name (``graded``) -> that objective with its defaults (one uniform negative);
    ``OBJECTIVE:SAMPLER:K`` (``graded:degree:3``) -> that objective with those negatives."""
    objectives = C.names("objective")
    if spec in objectives:
        return {"objective": spec}
    head, _, rest = spec.partition(":")
    objective, negatives = (head, rest) if head in objectives else ("negatives", spec)
    sampler, _, k = negatives.partition(":")
    return {"objective": objective, "negative_sampler": sampler, "negatives": int(k or 5)}


def objective_spec(config: dict) -> str:
    """The shortest bench spec of a run's settings (`objective_settings` read backwards): ``SAMPLER:K`` for
    negatives, the objective's name where its negatives are the defaults or it draws none (``seed``,
    ``graded``), else ``OBJECTIVE:SAMPLER:K``. The negatives count only where the objective reads them."""
    want = _with_defaults(config)
    keys = SPEC_KEYS if "negatives" in C.knobs_of(C.get("objective", want["objective"])) else ("objective",)
    negatives = f"{want['negative_sampler']}:{want['negatives']}"
    for spec in (negatives, want["objective"]):
        got = _with_defaults(objective_settings(spec))
        if all(got[key] == want[key] for key in keys):
            return spec
    return f"{want['objective']}:{negatives}"


def setting_config(output_dir: str, dims: int, batch: int, epochs: int, device: str, objective: str = "seed",
                   deterministic: bool = False) -> TrainConfig:
    """The configuration one bench setting trains with (`bench_setting`; `check_args` builds each first)."""
    return TrainConfig(training_data="(in memory)", output_dir=output_dir, embedding_dim=dims, batch_size=batch,
                       epochs=epochs, patience=epochs + 1, analyze=False, checkpoint_seconds=1e9, device=device,
                       deterministic=deterministic, **objective_settings(objective))


def bench_setting(graph, dims: int, batch: int, epochs: int, device: str, objective: str = "seed",
                  deterministic: bool = False) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="naomi-bench-"))
    dev = pick_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    M.reset_peak(torch.device("cpu"))  # the process's resident set, on a GPU too
    try:
        cfg = setting_config(str(tmp / "run"), dims, batch, epochs, device, objective, deterministic)
        result = train(cfg, graph=graph)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    h = result.history
    later = h[1:] if len(h) > 1 else h
    train_s = statistics.median(r["train_seconds"] for r in later)
    epoch_s = statistics.median(r["seconds"] for r in later)
    n_train = result.metrics["n_train"]
    out = {
        "dims": dims, "objective": objective, "batch_size": batch, "epochs": len(h), "device": str(dev),
        "train_seconds_per_epoch": train_s, "epoch_seconds": epoch_s, "first_epoch_seconds": h[0]["seconds"],
        "edges_per_second": n_train / train_s, "n_train": n_train, "vocab": graph.vocab.size,
        "peak_rss_bytes": M.peak_bytes(torch.device("cpu")),
        "negative_rows": negative_rows(n_train, min(batch, n_train), objective, cfg.corrupt_source),
        "val_total_last": h[-1]["val_total"], "deterministic": deterministic,
    }
    # graded and inherit draw inherit_pairs x the batch of hierarchy pairs per step: edge-like rows
    pairs = pair_rows(cfg.to_dict(), n_train)
    out["traffic_bytes"] = traffic_bytes(n_train, graph.vocab.size, dims, min(batch, n_train), out["negative_rows"],
                                         pairs)
    if dev.type == "cuda":
        out["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
    return out


def check_args(args, dims_list: list[int]) -> list[str]:
    """Everything a bench is given, checked before the first measurement (which can take an hour): the
    results file can be written, and every objective at every width makes a configuration the trainer takes.
    Returns the objectives.

    Raises:
        ConfigError, WriteError: one line.
    """
    check_writable_file(args.output)
    objectives = [x.strip() for x in str(args.objectives).split(",") if x.strip()]
    if not objectives:
        raise ConfigError(f"--objectives {args.objectives!r} names no objective")
    if not dims_list:
        raise ConfigError(f"--dims {args.dims!r} names no width")
    for objective in objectives:
        for dims in dims_list:
            try:
                setting_config("(checked)", dims, args.batch_size, args.epochs, args.device, objective,
                               getattr(args, "deterministic", False))
            except (ConfigError, ValueError) as err:
                raise ConfigError(f"--objectives {objective} at --dims {dims}: {err} (a spec is an objective's "
                                  "name, SAMPLER:K or OBJECTIVE:SAMPLER:K)") from None
    return objectives


def run_bench(args) -> list[dict]:
    dims_list = [int(x) for x in str(args.dims).split(",") if x.strip()]
    device = pick_device(args.device)
    objectives = check_args(args, dims_list)
    graph = load_graph(args.training_data)
    bandwidth = measure_bandwidth(device)
    name = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"naomi-nb bench: {graph.vocab.size:,} senses, {graph.n_edges:,} edges, device {device}{name}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}"
          + (", deterministic algorithms" if getattr(args, "deterministic", False) else ""))
    print(f"measured copy bandwidth: {bandwidth / 1e9:.1f} GB/s")
    header = (f"{'dims':>5} {'objective':>10} {'batch':>8} {'train s/ep':>10} {'epoch s':>8} {'edges/s':>9} {'peak RSS':>9} "
              f"{'traffic':>8} {'bound s':>8} {'x bound':>7} {'T4 bound s':>10} {'x seed':>7}")
    print(header)
    results = []
    for dims in dims_list:
        seed_s = None
        for objective in objectives:
            r = bench_setting(graph, dims, args.batch_size, args.epochs, args.device, objective,
                              getattr(args, "deterministic", False))
            if objective == "seed":
                seed_s = r["train_seconds_per_epoch"]
            r.update(bound_figures(r, bandwidth, seed_s))
            results.append(r)
            print(f"{dims:>5} {objective:>10} {args.batch_size:>8} {r['train_seconds_per_epoch']:>10.3f} "
                  f"{r['epoch_seconds']:>8.3f} {r['edges_per_second'] / 1e6:>8.2f}M "
                  f"{r['peak_rss_bytes'] / 2**30:>7.2f}GB {r['traffic_bytes'] / 1e9:>6.1f}GB "
                  f"{r['bound_seconds']:>8.3f} {r['ratio_to_bound']:>6.2f}x {r['t4_bound_seconds']:>10.4f} "
                  + (f"{r['vs_seed']:>6.2f}x" if r["vs_seed"] else f"{'-':>7}")
                  + (f"  peak GPU {r['peak_gpu_bytes'] / 2**30:.2f}GB" if "peak_gpu_bytes" in r else ""), flush=True)
    print("first epochs (warm-up, not in the medians): "
          + ", ".join(f"{r['dims']} dims {r['objective']} {r['first_epoch_seconds']:.2f} s" for r in results))
    atomic_write_bytes(args.output, json.dumps({"results": results, "torch": torch.__version__,
                                                "threads": torch.get_num_threads()}, indent=1).encode())
    print(f"results written to {args.output}")
    return results
