"""The errors a user sees as one line, and how an out-of-memory error is recognised: the bottom floor,
imported by every layer and importing nothing (torch's CUDA error is known by its class name).

Each is a `ValueError` whose message is the whole story for the user; the command line prints it and
exits 2, the notebooks show it as one line.
"""
from __future__ import annotations

import errno


class ConfigError(ValueError):
    """A configuration the trainer refuses; the message is one line for the user."""


class RunDirError(ValueError):
    """A run directory that cannot be created, resumed or read; one line for the user."""


class DeviceError(ConfigError):
    """A device name this machine cannot honour; the message is one line for the user (a configuration error)."""


# texts of the allocators' errors: CUDA's caching allocator, the CPU allocator (c10's DefaultCPUAllocator),
# C++'s std::bad_alloc surfaced by pybind11, cuBLAS/cuDNN workspaces, and the OS refusing a fork or mmap
OOM_TEXTS = ("out of memory", "can't allocate memory", "cannot allocate memory", "bad_alloc", "std::bad_alloc",
             "cublas_status_alloc_failed", "cudnn_status_alloc_failed", "not enough memory", "failed to allocate")


def is_oom(err: BaseException | None) -> bool:
    """An out-of-memory failure, also when wrapped (torch.compile's errors carry the allocator's as cause).

    >>> is_oom(RuntimeError("std::bad_alloc")), is_oom(RuntimeError("shape mismatch"))
    (True, False)
    """
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, MemoryError) or any(c.__name__ == "OutOfMemoryError" for c in type(err).__mro__):
            return True
        if isinstance(err, OSError) and err.errno == errno.ENOMEM:
            return True
        if isinstance(err, (RuntimeError, OSError)) and any(t in str(err).lower() for t in OOM_TEXTS):
            return True
        err = err.__cause__ or err.__context__
    return False


__all__ = ["ConfigError", "DeviceError", "RunDirError", "is_oom"]
