"""Decisions of the training loop as small functions: batch size, saturation,
expansion, early stopping, embedding statistics, the proximal step.

Everything here is a pure function of numbers (or of one tensor), so it is
unit-testable without a model or a run.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

SATURATED_SHARE = 0.8  # expand when at least this share of dimensions is saturated
SMALL = 0.01  # |x| below this counts toward the seed's "Sparsity: X%"


def adapted_batch_size(initial_batch: int, initial_dims: int, dims: int, min_batch: int, n_train: int) -> int:
    """The seed's rule: ``max(min_batch, int(initial_batch * initial_dims / dims))``, capped at the training set.

    >>> adapted_batch_size(1048576, 128, 256, 32768, 10**9)
    524288
    """
    size = max(min_batch, int(initial_batch * initial_dims / dims))
    return max(1, min(size, n_train))


def should_expand(activity: np.ndarray, saturation_threshold: float, share: float = SATURATED_SHARE) -> bool:
    """True when at least ``share`` of the dimensions are active in >= ``saturation_threshold`` of the words.

    Args:
        activity: per-dimension share of words whose value is active, in [0, 1].
    """
    activity = np.asarray(activity)
    if activity.size == 0:
        return False
    return float((activity >= saturation_threshold).mean()) >= share


def expanded_dims(dims: int, expand_by: int, max_dims: int) -> int:
    """Width after one expansion: ``dims + expand_by``, never above ``max_dims``."""
    return max(dims, min(dims + expand_by, max_dims))


def dimension_classes(activity: np.ndarray) -> dict[str, int]:
    """Counts of unused (<10% of words active), sparse (10-30%), moderate (30-70%), saturated (>=70%) dimensions."""
    a = np.asarray(activity)
    return {
        "unused": int((a < 0.1).sum()),
        "sparse": int(((a >= 0.1) & (a < 0.3)).sum()),
        "moderate": int(((a >= 0.3) & (a < 0.7)).sum()),
        "saturated": int((a >= 0.7).sum()),
    }


@dataclass
class EarlyStopping:
    """Early stopping on a loss that should fall: improvement means ``loss < best - min_delta``."""

    patience: int = 10
    min_delta: float = 0.0001
    best: float = float("inf")
    best_epoch: int = 0
    bad_epochs: int = 0

    def update(self, loss: float, epoch: int) -> bool:
        """Record one epoch's loss; return True when it is a new best."""
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = loss, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        # patience 0 behaves as 1: stop at the first epoch without improvement
        return self.bad_epochs >= max(self.patience, 1)

    def state_dict(self) -> dict:
        """The counters (patience and min_delta are settings: a resumed run takes them from its config)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]


def is_oom(err: BaseException) -> bool:
    """An out-of-memory failure: CUDA's own error, Python's MemoryError, or a CPU allocator that could not allocate."""
    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def compiled(fn):
    """``fn`` through ``torch.compile`` (one fused pass instead of several), or ``fn`` itself where compiling
    is not possible here (no C++ compiler, an unsupported device): same results, only slower."""
    state = {"fn": None}

    def call(*args):
        if state["fn"] is None:
            try:
                state["fn"] = torch.compile(fn, dynamic=True)
                return state["fn"](*args)
            except Exception as err:  # noqa: BLE001 - any compiler failure means: run it eagerly
                if is_oom(err):
                    state["fn"] = None  # not the compiler's fault: let the trainer halve the batch
                    raise
                warnings.warn(f"torch.compile unavailable ({err.__class__.__name__}); {fn.__name__} runs eagerly")
                state["fn"] = fn
        return state["fn"](*args)

    call.__name__ = fn.__name__
    return call


def _stats_kernel(E: torch.Tensor, eps: float, small: float):
    a = E.abs()
    active = (a > eps).to(E.dtype)
    return (a.sum(1), (a < small).to(E.dtype).sum(1), (E != 0).to(E.dtype).sum(1), active.sum(1), active.sum(0))


_stats = compiled(_stats_kernel)


@torch.no_grad()
def embedding_stats(E: torch.Tensor, eps: float) -> dict:
    """One pass over the embedding matrix: sparsity, exact zeros, L1 mean, per-dimension and per-word activity.

    Args:
        E: (V, D) embeddings.
        eps: a value is active when ``|x| > eps``.

    Returns:
        dict with ``sparsity_pct`` (share of |x| < 0.01, in %), ``zeros_pct``, ``l1_mean``,
        ``activity`` (np.ndarray, share of words active per dimension), ``active_per_word`` (median count,
        the lower middle value for an even vocabulary).
    """
    V, D = E.shape
    row_l1, row_small, row_nonzero, row_active, col_active = _stats(E, float(eps), SMALL)
    # per-row partial sums are exact small integers (at most D); the totals are taken in float64
    sums = torch.stack([row_small.sum(dtype=torch.float64), row_nonzero.sum(dtype=torch.float64),
                        row_l1.sum(dtype=torch.float64)])
    small, nonzero, l1 = sums.tolist()  # one device sync
    total = V * D
    return {
        "sparsity_pct": 100.0 * small / total,
        "zeros_pct": 100.0 * (total - nonzero) / total,
        "l1_mean": l1 / total,
        "activity": (col_active.double() / V).cpu().numpy(),
        "active_per_word": float(row_active.median().item()),
    }


@torch.no_grad()
def soft_threshold_(E: torch.Tensor, tau: float, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """Proximal step of ``tau * |x|`` in place: every value moves ``tau`` toward 0; values that would cross zero become 0.

    Args:
        scratch: optional buffer of E's shape (the gradient buffer will do: it is rewritten every step).
    """
    if tau > 0:
        shrunk = torch.abs(E, out=scratch) if scratch is not None else E.abs()
        shrunk.sub_(tau).clamp_(min=0)
        # E changes in one operation, so an interrupt can never leave it half-updated
        E.copy_(torch.copysign(shrunk, E, out=shrunk))
    return E
