"""No stage (``--stage none``): the trained vectors are the run's."""
from __future__ import annotations

from ..components import register
from . import Stage


@register("stage")
class NoStage(Stage):
    """The trained vectors as they are."""

    name = "none"
    order = 0  # the default first in --help and the panel
