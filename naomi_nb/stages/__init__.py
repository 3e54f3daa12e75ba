"""Post-training stages, one module each, found by name (``--stage NAME``; `naomi_nb.components` kind
``stage``): what happens to the trained vectors before a run saves and measures them.

A stage is a subclass of `Stage` registered with ``@register("stage")``; its ``knobs`` become flags. ``none``
keeps the trained vectors as they are.
"""
from __future__ import annotations

import numpy as np


class Stage:
    """The identity: the trained vectors are the run's. Subclasses set ``name`` and override `apply`."""

    name = ""
    knobs: dict = {}

    def __init__(self, cfg):
        self.cfg = cfg
        self.named: dict[int, str] = {}  # dimensions `apply` gave a name of their own (a subtree's synset)

    def apply(self, vectors: np.ndarray, graph, device, log=None) -> np.ndarray:
        """The run's vectors made from the trained ones ((senses, dims) float32; another width is fine)."""
        return vectors


def stage_entry(stage: Stage, trained: np.ndarray, out: np.ndarray, seconds: float, **more) -> dict:
    """What metrics.json says of a stage that made ``out`` from the ``trained`` vectors: its name, both widths,
    the share of exact zeros, its time, the dimensions it named (``named_dims``: {dim: name}, JSON keys as
    text) and ``more``."""
    entry = {"name": stage.name, **more, "trained_dims": int(trained.shape[1]), "dims": int(out.shape[1]),
             "zeros_pct": 100.0 * float(np.count_nonzero(out == 0)) / max(1, out.size),
             "seconds": round(seconds, 2)}
    if stage.named:
        entry["named_dims"] = {str(dim): name for dim, name in sorted(stage.named.items())}
    return entry


__all__ = ["Stage", "stage_entry"]
