"""The seed's geometry (``--geometry free``): every sense's vector is its own row."""
from __future__ import annotations

from ..components import register
from . import Geometry


@register("geometry")
class Free(Geometry):
    """Every sense's vector is its own row (the seed's)."""

    name = "free"
    order = 0  # the default first in --help and the panel
