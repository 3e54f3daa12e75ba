"""``--lr-schedule auto``: the objective's own schedule (`naomi_nb.objectives.Objective.auto_lr_schedule`:
plateau with the objectives that draw negatives, constant with the seed's). The configuration resolves it
(``cfg.schedule``) before a schedule is made; it reads the plateau's knobs, since it may mean plateau."""
from __future__ import annotations

from ..components import register
from .plateau import Plateau


@register("schedule")
class Auto(Plateau):
    """Plateau with the objectives that draw negatives, constant with --objective seed."""

    name = "auto"
    order = 0  # the default first in --help and the panel

    def __init__(self, cfg):
        raise TypeError("'auto' is resolved by the configuration (cfg.schedule) before a schedule is made")
