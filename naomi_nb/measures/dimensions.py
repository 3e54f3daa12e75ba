"""How the dimensions are used: activity bands, sparsity, exact zeros, and per-dimension activity, L1 and variance."""
from __future__ import annotations

import numpy as np

from ..components import register
from . import declare

FIGURES = ("eps", "near_zero", "unused", "sparse", "moderate", "dense", "sparsity_pct", "zeros_pct",
           "median_active_dims", "mean_active_dims")
BANDS = {"unused": "< 10% of senses active", "sparse": "10-30%", "moderate": "30-70%", "dense": ">= 70%"}


def _round(values: np.ndarray, digits: int = 6) -> list:
    return [float(v) for v in np.round(np.asarray(values, np.float64), digits)]


def _lines(d: dict) -> list[str]:
    return [f"dimensions: {d['unused']} unused, {d['sparse']} sparse, {d['moderate']} moderate, "
            f"{d['dense']} dense; {d['sparsity_pct']:.1f}% |x|<{d['near_zero']:g}, "
            f"{d['zeros_pct']:.1f}% exact zeros; median {d['median_active_dims']:.0f} active dims per sense"]


@register("measure", "dimensions")
@declare(order=10, lines=_lines)
def dimensions(ctx) -> dict:
    """How the dimensions are used: `naomi_nb.analysis.dimension_stats`, the per-dimension arrays rounded."""
    dims = ctx.dims
    return {**{key: dims[key] for key in FIGURES}, "bands": dict(BANDS),
            "activity": _round(dims["activity"]), "l1": _round(dims["l1"], 3),
            "variance": _round(dims["variance"], 8)}
