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

    def apply(self, vectors: np.ndarray, graph, device, log=None) -> np.ndarray:
        """The run's vectors made from the trained ones ((senses, dims) float32; another width is fine)."""
        return vectors


__all__ = ["Stage"]
