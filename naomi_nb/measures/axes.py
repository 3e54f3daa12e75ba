"""Every dimension as a semantic axis: its two poles among frequent senses and how coherent they are."""
from __future__ import annotations

from ..analysis import axis_label, semantic_axes
from ..components import register
from . import declare


def _lines(axes: list) -> list[str]:
    clear = [x for x in axes[:3] if x["coherence"] > 0]
    if not clear:
        return []
    return ["clearest axes: " + "; ".join(
        f"dim {x['dim']} {axis_label(x)} ({x['coherence']:.2f})"
        for x in clear)]


@register("measure", "axes")
@declare(order=70, lines=_lines)
def axes(ctx) -> list:
    """`naomi_nb.analysis.semantic_axes`, clearest first, poles among frequent senses when there are enough."""
    return semantic_axes(ctx.emb, ctx.vocab, ctx.graph, ctx.k, ctx.eps, ctx.dims["l1"], ctx.pole_rows)
