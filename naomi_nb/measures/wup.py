"""Agreement with WordNet's Wu-Palmer similarity: Spearman's rho of -distance over random same-POS pairs."""
from __future__ import annotations

from ..components import register
from ..fmt import fmt_figure
from ..semantics import wup_agreement
from . import declare, skipped_line

N_PAIRS = 10000  # seeded pairs per part of speech


def _lines(w: dict) -> list[str]:
    line = skipped_line("Wu-Palmer agreement", w)
    if line:
        return [line]
    return [f"Wu-Palmer agreement (Spearman of -distance vs WuP): nouns {fmt_figure(w['noun']['rho'])}, "
            f"verbs {fmt_figure(w['verb']['rho'])}, pooled {fmt_figure(w['pooled']['rho'])} "
            f"({w['noun']['n_pairs']:,} + {w['verb']['n_pairs']:,} pairs)"]


@register("measure", "wup")
@declare(order=42, section="semantics", needs_graph=True, lines=_lines)
def wup(ctx) -> dict:
    """`naomi_nb.semantics.wup_agreement`, skipped on a machine without WordNet (distances only: no rotation)."""
    return wup_agreement(ctx.emb, ctx.graph, wn=ctx.wordnet, n_pairs=N_PAIRS, seed=ctx.seed)
