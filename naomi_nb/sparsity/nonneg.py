"""Non-negative sparsity (``--sparsity-mode nonneg``): as proximal, but every value moves
``proximal_strength * lr`` down and is clamped at zero (`nonneg_threshold_`): no value is ever negative, so a
dimension is a feature a sense has or lacks.
"""
from __future__ import annotations

from ..components import register
from . import nonneg_threshold_
from .proximal import Proximal


@register("sparsity")
class NonNegative(Proximal):
    """Move every value down after every step and clamp at zero (exact zeros, never negative)."""

    name = "nonneg"
    order = 60  # after proximal, which it builds on

    def after_step(self, E, lr, scratch=None):
        nonneg_threshold_(E, lr * self.cfg.proximal_strength, scratch=scratch)  # clamps even at strength 0
