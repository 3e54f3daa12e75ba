"""Antonym pairs: their distances, selective polarity and the dimensions that carry opposition; synonyms beside."""
from __future__ import annotations

from ..analysis import antonym_analysis
from ..components import register
from ..fmt import fmt_figure
from . import declare


def mean_distances(a: dict) -> list[str]:
    """The mean distance of antonyms, synonyms and random pairs, or "n/a" where there were none to measure."""
    return [fmt_figure(a[key]["mean"], missing="n/a") for key in ("distance", "synonym", "random_pairs")]


def _lines(a: dict) -> list[str]:
    if "skipped" in a:
        return [f"antonyms: skipped ({a['skipped']})"]
    distance, synonym, random_pairs = mean_distances(a)
    return [f"antonyms: {a['n_pairs']:,} pairs, mean distance {distance} (target {a['target']:g}); "
            f"synonyms {synonym}; random pairs {random_pairs}; selective polarity {a['selective']:.1%}"]


@register("measure", "antonyms")
@declare(order=30, needs_graph=True, lines=_lines)
def antonyms(ctx) -> dict:
    """`naomi_nb.analysis.antonym_analysis` of the run's graph (skipped when it has no antonyms)."""
    out = antonym_analysis(ctx.emb, ctx.graph, seed=ctx.seed)
    return {"skipped": "the graph has no antonym edges"} if out is None else out
