"""Cosine decay (``--lr-schedule cosine``): from ``lr`` at the first epoch to ``lr * FLOOR`` at ``--epochs``,
``lr * (FLOOR + (1 - FLOOR) * (1 + cos(pi * (epoch - 1) / (epochs - 1))) / 2)``."""
from __future__ import annotations

import math

from ..components import register
from . import Schedule

FLOOR = 0.01  # the rate at the last epoch, as a share of the starting one


@register("schedule")
class Cosine(Schedule):
    """Decay to lr/100 over --epochs."""

    name = "cosine"

    def epoch_lr(self, lr, epoch):
        """>>> from types import SimpleNamespace as C
        >>> s = Cosine(C(lr=0.01, epochs=11)); s.epoch_lr(0.01, 1), round(s.epoch_lr(0.01, 11), 6)
        (0.01, 0.0001)
        """
        progress = (epoch - 1) / max(1, self.cfg.epochs - 1)
        return self.cfg.lr * (FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)))
