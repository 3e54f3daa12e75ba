"""Proximal sparsity (``--sparsity-mode proximal``): no L1 term in the gradient; after every optimizer step
each value moves ``proximal_strength * lr`` toward zero and stops at exactly zero (`soft_threshold_`).
"""
from __future__ import annotations

from ..components import knob, register
from . import SparsityMode, soft_threshold_


@register("sparsity")
class Proximal(SparsityMode):
    """Soft-threshold after every step (exact zeros)."""

    name = "proximal"
    order = 50  # after the default, before nonneg (which builds on it)
    knobs = {
        "proximal_strength": knob(0.1, "proximal and nonneg modes: after every Adam step each value moves "
                                       "proximal_strength*lr toward 0 and stops at exactly 0; a value survives only "
                                       "if its gradient keeps earning more than this fraction of a full Adam step",
                                  range=">= 0", search=(0.01, 0.5, "log")),
    }

    def after_step(self, E, lr, scratch=None):
        tau = lr * self.cfg.proximal_strength
        if tau:
            soft_threshold_(E, tau, scratch=scratch)

    def label(self) -> str:
        return f"{self.name} {self.cfg.proximal_strength:g}"
