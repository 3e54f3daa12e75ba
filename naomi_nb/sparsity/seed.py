"""The seed's sparsity (``--sparsity-mode seed``): ``sparsity_weight * mean(|E|)`` added to the loss; its
gradient, the dense ``sparsity_weight / numel * sign(E)``, is written into the gradient buffer before the
objective adds its own. It makes no exact zeros.
"""
from __future__ import annotations

from ..components import knob, register
from . import SparsityMode


@register("sparsity")
class Seed(SparsityMode):
    """Add sparsity_weight * mean|E| to the loss (no exact zeros)."""

    name = "seed"
    order = 0  # the default first in --help and the panel
    knobs = {
        "sparsity_weight": knob(0.001, "weight of the L1 term sparsity_weight*mean|E| added to the loss in seed "
                                       "mode (the Sparsity loss figure uses it in every mode)",
                                range=">= 0", search=(1e-4, 1e-1, "log")),
    }

    @property
    def l1_weight(self) -> float:
        return self.cfg.sparsity_weight

    def label(self) -> str:
        return f"L1 {self.cfg.sparsity_weight:g}"
