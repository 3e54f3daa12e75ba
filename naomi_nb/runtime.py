"""The process around one `naomi_nb.trainer.train` call: what it holds (a run directory's lock, the
deterministic-algorithms setting) is released however the call ends, a failed call leaves no tensors
alive on the GPU behind the exception a notebook keeps, and a signal stops it at a batch boundary.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import signal
import threading
import traceback

from . import device as DV

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
                DV.release_cached()
                raise
            finally:
                _held.reset(token)
    return call


# ---------------------------------------------------------------- stopping cleanly

class Stopped(Exception):
    """Raised at a batch boundary when a stop was asked for (Ctrl-C, a notebook's interrupt, ``stop_event``)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM where it cannot wait for a batch boundary (a second SIGTERM, or outside the loop)."""


class StopOnInterrupt:
    """While active (main thread only), Ctrl-C, a notebook's interrupt button or SIGTERM (what Colab, SLURM
    and Kubernetes send before they take a machine back) sets a flag instead of raising at whatever line
    runs: the loop stops at the next batch boundary, never with a matrix half updated, and writes its
    checkpoint. A second signal raises at once. ``stop_event`` (another thread's Stop) counts too.
    ``signal``: the name of the signal that stopped the run (``SIGINT``, ``SIGTERM``), or None."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, stop_event: threading.Event | None = None):
        self.event = threading.Event()
        self.stop_event = stop_event
        self.signal: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.event.is_set():
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        self.event.set()

    def check(self) -> None:
        """Raise `Stopped` when a stop was asked for."""
        if self.event.is_set() or (self.stop_event is not None and self.stop_event.is_set()):
            raise Stopped

    def __enter__(self) -> "StopOnInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}
