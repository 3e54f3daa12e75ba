"""The seed's schedule (``--lr-schedule constant``): the rate never moves."""
from __future__ import annotations

from ..components import register
from . import Schedule


@register("schedule")
class Constant(Schedule):
    """The seed's: the lr never moves."""

    name = "constant"
    moves = False
