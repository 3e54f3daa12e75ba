"""The device: which one a run uses, waiting for it, how much memory it has free, and when kernels are compiled.

One owner for what differs between a GPU and a CPU: `pick` (``auto`` is CUDA when present, else the CPU; no
Apple MPS, which lacks the float64 the epoch sums use), `kind` (the same question answered without touching a
GPU's memory), `synchronizer` (honest timings), `available_bytes` and `release_cached` (free memory),
`deterministic_algorithms` (``--deterministic``) and `compiled` (the compile policy of the hand-written kernels).
"""
from __future__ import annotations

import contextlib
import functools
import os
import resource
import warnings
from pathlib import Path

import torch

from .errors import DeviceError, is_oom  # noqa: F401 - DeviceError is imported from here too


def kind(name: str = "auto") -> str:
    """'cuda' or 'cpu' for a config's device string (``auto`` asks torch whether CUDA is present)."""
    name = (name or "auto").lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name.split(":")[0]


def pick(name: str = "auto") -> torch.device:
    """The device a run uses: ``auto`` (CUDA when present, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        DeviceError: one line, for a name that is no device, or one this machine does not have.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"--device {name!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"--device {name}: only cpu and cuda are supported")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                          f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    return device


def synchronizer(device: torch.device):
    """Waits for ``device``'s queued work (CUDA), for honest epoch timings; a no-op on the CPU."""
    if device.type == "cuda":
        return functools.partial(torch.cuda.synchronize, device)
    return lambda: None


# ---------------------------------------------------------------- free memory

def release_cached() -> None:
    """Give CUDA's cached blocks back (a no-op on the CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None


def _address_space_available() -> int | None:
    """Room left under ``ulimit -v`` (``prlimit --as``), if one is set."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return soft - int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return soft


def available_bytes(device: torch.device) -> int | None:
    """Memory a new allocation can get: free GPU memory (plus what our own cache holds) on CUDA; on the CPU the
    smallest of MemAvailable, the cgroup's room and the room under an address-space limit. None if unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    known = [x for x in (_meminfo_available(), _cgroup_available(), _address_space_available()) if x is not None]
    return max(0, min(known)) if known else None


# ---------------------------------------------------------------- determinism and compiling

def cuda_deterministic_env() -> None:
    """cuBLAS needs a fixed workspace for deterministic results; set it unless the user did."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@contextlib.contextmanager
def deterministic_algorithms(on: bool, device: torch.device):
    """``torch.use_deterministic_algorithms`` for the run (``--deterministic``), restored afterwards. On CUDA
    this makes ``index_add_`` (the gradient scatter) add in a fixed order instead of with atomics."""
    before = torch.are_deterministic_algorithms_enabled()
    if on:
        if device.type == "cuda":
            cuda_deterministic_env()
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        # only when it changed: the call imports the compiler, which a signal may have cut off mid-import
        if torch.are_deterministic_algorithms_enabled() != before:
            torch.use_deterministic_algorithms(before)


# Inductor's CPU code decides from the sizes of the call that compiles a kernel whether a loop, and a sum, is
# split across threads (fewer than cpp.min_chunk_size elements per thread run on one), and `dynamic=True` keeps
# that kernel for every later size. A resumed process compiles at its first epoch's sizes, the uninterrupted
# run at epoch 1's, so the two could add a batch's losses in different orders (8 threads: a batch of 4096 rows
# split, one of 2730 not; the loss then differs in its last digits). With the thread count read when the
# kernel runs, every kernel splits its loops across the threads, whatever sizes compiled it.
COMPILE_OPTIONS = {"cpp.dynamic_threads": True}


def compiled(fn):
    """``fn`` through ``torch.compile`` (one fused pass instead of several), or ``fn`` itself where compiling
    is not possible here (no C++ compiler, an unsupported device): same results, only slower.

    Decided per call: an out-of-memory error (while compiling or running) goes to the caller, which shrinks
    its batch and calls again, compiled; any other failure of the compiled version switches to ``fn`` for
    good, with a warning (a real error of the computation then comes back from ``fn`` itself).
    """
    state = {"fn": None}

    def call(*args):
        if state["fn"] is None:
            state["fn"] = torch.compile(fn, dynamic=True, options=COMPILE_OPTIONS)
        if state["fn"] is fn:
            return fn(*args)
        try:
            return state["fn"](*args)
        except Exception as err:  # noqa: BLE001 - any compiler failure means: run it eagerly
            if is_oom(err):
                raise  # not the compiler's fault: memory; the next call compiles again
            warnings.warn(f"torch.compile unavailable ({err.__class__.__name__}); {fn.__name__} runs eagerly")
            state["fn"] = fn
        return fn(*args)

    call.__name__ = fn.__name__
    return call
