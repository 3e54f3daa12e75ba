"""The process around one `naomi_nb.trainer.train` call: what it holds (a run directory's lock, the
deterministic-algorithms setting) is released however the call ends, and a failed call leaves no tensors
alive on the GPU behind the exception a notebook keeps; plus the device's synchronisation point.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import traceback

import torch

from . import memory as M

_held: contextvars.ContextVar = contextvars.ContextVar("naomi_nb_train_resources")


def hold(resource):
    """Enter a context manager (a run directory's lock, the deterministic setting) until the current
    `train()` call returns or fails; returns what it gives."""
    return _held.get().enter_context(resource)


def releasing(fn):
    """`train()`'s wrapper: what it `hold`s is released however it ends; after a failure the failed frames'
    tensors are dropped and CUDA's cache emptied, so a notebook that keeps the exception does not keep the
    matrix, the Adam moments and the buffers on the GPU."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        with contextlib.ExitStack() as stack:
            token = _held.set(stack)
            try:
                return fn(*args, **kwargs)
            except BaseException as err:
                traceback.clear_frames(err.__traceback__)
                M.release_cached()
                raise
            finally:
                _held.reset(token)
    return call


@contextlib.contextmanager
def deterministic_algorithms(on: bool, device: torch.device):
    """``torch.use_deterministic_algorithms`` for the run (``--deterministic``), restored afterwards. On CUDA
    this makes ``index_add_`` (the gradient scatter) add in a fixed order instead of with atomics."""
    before = torch.are_deterministic_algorithms_enabled()
    if on:
        if device.type == "cuda":
            M.cuda_deterministic_env()
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def synchronizer(device: torch.device):
    """Waits for ``device``'s queued work (CUDA), for honest epoch timings; a no-op on the CPU."""
    if device.type == "cuda":
        return functools.partial(torch.cuda.synchronize, device)
    return lambda: None
