"""Automated word intrusion, DistRatio (Sun et al. 2016), over frequent senses, beside its rotation control."""
from __future__ import annotations

from ..components import register
from ..semantics import word_intrusion
from . import declare, figure_text, skipped_line

K = 5  # top senses per pole


def _lines(i: dict) -> list[str]:
    line = skipped_line("word intrusion", i)
    if line:
        return [line]
    return [f"word intrusion DistRatio (top {i['k']} frequent senses per pole, {i['n_scored']} of "
            f"{i['n_poles']} poles): {figure_text(i, 'dist_ratio')}, "
            f"on unit vectors {figure_text(i, 'dist_ratio_cosine')} (random embedding: about 1)"]


@register("measure", "intrusion")
@declare(order=43, section="semantics", axis_dependent=("dist_ratio", "dist_ratio_cosine"), lines=_lines)
def intrusion(ctx) -> dict:
    """`naomi_nb.semantics.word_intrusion` on the frequent senses' rows: a readability measure."""
    return word_intrusion(ctx.frequent_emb, ctx.vocab, k=K, seed=ctx.seed, eps=ctx.eps)
