"""Memory: recognising an out-of-memory error in every form the allocators raise it, estimating what a run
needs before it allocates, and turning an allocation that cannot succeed into one line for the user.

Where the trainer allocates and what it does when that fails:
  start-up     matrix, Adam moments, gradient, best copy    refused before allocating when the estimate does
                                                            not fit (`check_fits`); an OOM anyway: one line
  batch        work buffers, the step's temporaries         the batch halves and the step runs again
  validation   buffer-sized chunks                          the chunk halves and validation runs again
  statistics   a pass over the matrix                       runs again in row blocks
  expansion    the wider matrix and moments                 the run goes on at the old width (an ``oom`` event)
"""
from __future__ import annotations

import resource
from contextlib import contextmanager
from pathlib import Path

import torch

from . import device as DV
from .errors import is_oom  # noqa: F401 - the trainer and geometries ask memory for it
from .fmt import fmt_bytes as gb


class NotEnoughMemory(ValueError):
    """A run that cannot fit in memory, or an allocation that failed where nothing smaller can be tried; one line."""


def training_bytes(n_senses: int, dims: int, batch: int, n_edges: int, dtype_bytes: int = 4,
                   buffers: float = 2, matrices: int = 0) -> dict[str, int]:
    """What a run holds at one width: the matrix, Adam's two moments, the gradient, the best model's copy
    (each V x D), the objective's ``buffers`` (batch x D) work buffers (`Objective.buffer_units`: 2 for the
    seed's, 4 for one uniform or batch negative), the temporaries a step's sorts and small kernels make and
    what the allocator cannot reuse (one more such buffer: left out, a run that passed the estimate could
    still halve its batch again and again), the packed edges (16 bytes each) and one epoch's permutation plus
    a batch's int64 indices and sorted copies; and the objective's own whole-matrix temporaries (``matrices``, `Objective.matrices`: the tree objective's vectors
    and their gradient)."""
    matrix = n_senses * dims * dtype_bytes
    return {"embeddings": matrix, "adam_moments": 2 * matrix, "gradient": matrix, "best_copy": matrix,
            "objective_matrices": matrices * matrix,
            "batch_buffers": int(buffers * batch * dims * dtype_bytes), "step_temporaries": batch * dims * dtype_bytes,
            "edges": 16 * n_edges + 8 * n_edges + 64 * batch}


def expansion_peak_bytes(n_senses: int, old: int, new: int, dtype_bytes: int = 4) -> int:
    """During an expansion: the old matrix, moments and best copy (the gradient and buffers are freed first)
    and the new matrix and moments."""
    return n_senses * dtype_bytes * (4 * old + 3 * new)


def run_estimate(cfg, V: int, n_train: int, n_val: int, dims: int, batch: int, buffers: float = 2,
                 matrices: int = 0) -> dict:
    """The memory a run needs, in bytes: ``start`` (at ``dims`` with ``batch``), and with dynamic dimensions
    ``widest`` (at ``max_dims`` with the batch adapted to it) and ``expansion`` (the last expansion's peak);
    ``peak`` is the largest, ``parts`` the breakdown of the point that sets it."""
    from .dims import adapted_batch_size

    start = training_bytes(V, dims, batch, n_train + n_val, buffers=buffers, matrices=matrices)
    out = {"start": sum(start.values()), "parts": start}
    if cfg.dynamic_dims and cfg.max_dims > dims:
        wide_batch = min(batch, adapted_batch_size(cfg.batch_size, cfg.embedding_dim, cfg.max_dims,
                                                   cfg.min_batch_size, n_train))
        widest = training_bytes(V, cfg.max_dims, wide_batch, n_train + n_val, buffers=buffers, matrices=matrices)
        out.update(widest=sum(widest.values()),
                   expansion=expansion_peak_bytes(V, max(dims, cfg.max_dims - cfg.expand_by), cfg.max_dims))
        if out["widest"] > out["start"]:
            out["parts"] = widest
    out["peak"] = max(out["start"], out.get("widest", 0), out.get("expansion", 0))
    return out


def check_fits(needed: dict[str, int], device: torch.device, what: str, hint: str, available=None) -> int:
    """Refuse in one line, before allocating anything, a run whose start-up needs more memory than there is.

    Returns the total estimate in bytes.
    """
    total = sum(needed.values())
    room = (available or DV.available_bytes)(device)
    if room is not None and total > room:
        parts = ", ".join(f"{k.replace('_', ' ')} {gb(v)}" for k, v in needed.items() if v >= total / 20)
        raise NotEnoughMemory(f"{what} needs about {gb(total)} on {device} ({parts}) but {gb(room)} is "
                              f"available; {hint}")
    return total


def check_run(cfg, V: int, n_train: int, n_val: int, ckpt: dict | None, device: torch.device, say,
              hint: str, buffers: float = 2, matrices: int = 0) -> dict:
    """Refuse, before allocating, a run whose widest point cannot fit; say what it needs. Returns
    `run_estimate`."""
    dims = ckpt["embeddings"].shape[1] if ckpt is not None else cfg.embedding_dim
    batch = ckpt["batch_size"] if ckpt is not None else min(cfg.batch_size, n_train)
    est = run_estimate(cfg, V, n_train, n_val, dims, batch, buffers, matrices)
    widest = cfg.max_dims if "widest" in est else dims
    parts = dict(est["parts"])
    if est["peak"] > sum(parts.values()):  # the expansion's peak sets it
        parts = {"expansion": est["peak"]}
    check_fits(parts, device, f"a {V:,} x {widest} run", hint)
    say(f"  memory: about {gb(est['start'])} at {dims} dims"
        + (f", {gb(est['peak'])} at its widest ({cfg.max_dims} dims)" if "widest" in est else ""))
    return est


# what the process held when the peak was last reset, by device type: on a CPU the resident set of Python,
# torch and the loaded graph before the run allocates anything (`peak_report` sets the run's own part apart)
_baseline: dict[str, int] = {}


def _resident_bytes() -> int | None:
    """The process's resident set now (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak(device: torch.device) -> None:
    """Start measuring a peak here: CUDA's peak-allocation statistics on a GPU; on a CPU (Linux) the process's
    peak resident set (VmHWM: writing 5 to /proc/self/clear_refs sets it to the current resident set). What
    the process holds at this moment is kept as the baseline `peak_report` measures the run's growth from."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        _baseline["cuda"] = int(torch.cuda.memory_allocated(device))
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux, or not allowed: the peak then counts from the process's start
    resident = _resident_bytes()
    if resident is not None:
        _baseline[device.type] = resident


def peak_bytes(device: torch.device) -> int:
    """The peak since `reset_peak`: bytes PyTorch allocated on the GPU, or the process's resident set on a CPU
    (everything it holds: the interpreter, the libraries, the graph, and the run)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def peak_report(device: torch.device, estimate: dict) -> dict:
    """metrics.json's ``memory``: the measured peak against the start-up estimate (`run_estimate`), and
    ``baseline_bytes``, what the process held when the peak was reset (`reset_peak`; on a CPU the
    interpreter, torch and the graph), where it is known."""
    peak = peak_bytes(device)
    out = {"peak_bytes": peak, "measured": "GPU allocated" if device.type == "cuda" else "resident",
           "estimate_bytes": int(estimate["peak"]), "peak_vs_estimate": peak / max(1, estimate["peak"])}
    if device.type in _baseline:
        out["baseline_bytes"] = min(peak, _baseline[device.type])
    return out


# below this the run's own memory is lost in the process's (and in the allocator's rounding): no ratio
SMALL_RUN_BYTES = 64 * 2**20


def peak_line(memory: dict) -> str:
    """The log's memory line from `peak_report`'s figures. On a CPU the resident peak counts the whole
    process, whose baseline (Python, torch, the graph: about half a GiB) dwarfs a small run: the line sets
    the baseline apart and compares the run's growth above it with the estimate; for a run estimated under
    `SMALL_RUN_BYTES` it gives no ratio at all and says why."""
    peak, estimate = memory["peak_bytes"], memory["estimate_bytes"]
    line = f"memory: peak {gb(peak)} {memory['measured']}"
    base = memory.get("baseline_bytes")
    if base is None or memory["measured"] != "resident":
        return line + f", {peak / max(1, estimate):.2f}x the start-up estimate ({gb(estimate)})"
    grown = max(0, peak - base)
    line += f" = {gb(base)} before the run (Python, torch, the graph) + {gb(grown)} the run added"
    if estimate < SMALL_RUN_BYTES:
        return line + f" (estimated {gb(estimate)}: a run too small to compare with a whole process's memory)"
    return line + f", {grown / max(1, estimate):.2f}x the start-up estimate ({gb(estimate)})"


@contextmanager
def allocating(what: str, hint: str):
    """Turn an out-of-memory error inside the block into `NotEnoughMemory` (one line), for allocations that
    have no smaller fallback."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - only out-of-memory errors are translated; the rest propagate
        if not is_oom(err):
            raise
        DV.release_cached()
        raise NotEnoughMemory(f"out of memory allocating {what}; {hint}") from None
