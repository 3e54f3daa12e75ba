"""Lexnames as categories: Senel et al.'s interpretability score and pole purity, beside the rotation control."""
from __future__ import annotations

from ..components import register
from ..fmt import fmt_figure
from ..semantics import category_scores
from . import declare, figure_text, skipped_line

LAM = 1.0  # Senel et al.'s relaxation (1: the strictest, a category's own size)
N_TOP = 10  # senses per pole for the purity


def _lines(c: dict) -> list[str]:
    line = skipped_line("lexname categories", c)
    if line:
        return [line]
    return [f"lexname categories (Senel IS, lambda {c['lam']:g}): per dimension {figure_text(c, 'is_dimension')}, "
            f"per category {figure_text(c, 'is_category')} (chance {fmt_figure(c['is_chance'])}); "
            f"pole purity {figure_text(c, 'purity')} (chance {fmt_figure(c['purity_chance'])})"]


@register("measure", "categories")
@declare(order=44, section="semantics", axis_dependent=("is_dimension", "is_category", "purity"), lines=_lines)
def categories(ctx) -> dict:
    """`naomi_nb.semantics.category_scores` on the frequent senses' rows: a readability measure."""
    return category_scores(ctx.frequent_emb, ctx.vocab, lam=LAM, n_top=N_TOP, eps=ctx.eps, seed=ctx.seed)
