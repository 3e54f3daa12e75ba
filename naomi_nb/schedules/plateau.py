"""Plateau (``--lr-schedule plateau``): the rate halves after every ``lr_patience`` epochs in a row without
improvement of the validation loss."""
from __future__ import annotations

from ..components import knob, register
from . import Schedule

FACTOR = 0.5  # the rate is multiplied by this on a plateau


@register("schedule")
class Plateau(Schedule):
    """Halve the lr after --lr-patience epochs without improvement."""

    name = "plateau"
    knobs = {
        "lr_patience": knob(2, "plateau schedule (and auto where it means plateau): epochs without improvement "
                               "before the lr is halved", range=">= 1", search=[1, 2, 3, 5]),
    }

    def after_epoch(self, lr, improved, bad_epochs):
        if not improved and bad_epochs > 0 and bad_epochs % self.cfg.lr_patience == 0:
            return lr * FACTOR
        return lr
