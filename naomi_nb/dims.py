"""Decisions of the training loop as small pure functions of numbers: batch size, saturation, expansion,
early stopping, and the named thresholds every module uses for "active", "saturated" and "near zero".

Nothing here touches a model, so all of it is unit-testable without a run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# activity bands of a dimension: the share of words whose value is active (|x| > activity_eps)
UNUSED_BELOW = 0.1  # unused: active in fewer than 10% of words
SPARSE_BELOW = 0.3  # sparse: 10-30%; moderate: 30-70%
DENSE_FROM = 0.7  # dense: active in at least 70% of words
SATURATED_SHARE = 0.8  # expand when at least this share of dimensions is saturated (>= saturation_threshold)
NEAR_ZERO = 0.01  # |x| below this counts toward the seed's "Sparsity: X%"
SPARSITY_TARGET = (40.0, 70.0)  # the seed's target band for that percentage


def adapted_batch_size(initial_batch: int, initial_dims: int, dims: int, min_batch: int, n_train: int) -> int:
    """The seed's rule: ``max(min_batch, int(initial_batch * initial_dims / dims))``, capped at the training set.

    >>> adapted_batch_size(1048576, 128, 256, 32768, 10**9)
    524288
    """
    size = max(min_batch, int(initial_batch * initial_dims / dims))
    return max(1, min(size, n_train))


def should_expand(activity: np.ndarray, saturation_threshold: float, share: float = SATURATED_SHARE) -> bool:
    """True when at least ``share`` of the dimensions are saturated: active in >= ``saturation_threshold`` of words.

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


def dimension_classes(activity: np.ndarray, saturation_threshold: float | None = None) -> dict[str, int]:
    """Counts of dimensions per activity band: unused (<10% of words active), sparse (10-30%), moderate
    (30-70%), dense (>=70%); with ``saturation_threshold`` also ``saturated``, the count `should_expand` uses."""
    a = np.asarray(activity)
    out = {
        "unused": int((a < UNUSED_BELOW).sum()),
        "sparse": int(((a >= UNUSED_BELOW) & (a < SPARSE_BELOW)).sum()),
        "moderate": int(((a >= SPARSE_BELOW) & (a < DENSE_FROM)).sum()),
        "dense": int((a >= DENSE_FROM).sum()),
    }
    if saturation_threshold is not None:
        out["saturated"] = int((a >= saturation_threshold).sum())
    return out


def lower_median(values) -> float:
    """The median as the trainer's log takes it: the lower middle value of an even count (an integer for counts)."""
    values = np.sort(np.asarray(values).ravel())
    return float(values[(len(values) - 1) // 2]) if len(values) else 0.0


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
