"""WordNet noun reconstruction, mean rank and MAP, in the manner of Nickel & Kiela (2017)."""
from __future__ import annotations

from ..components import register
from ..fmt import fmt_figure
from ..semantics import reconstruction as reconstruct
from . import declare, skipped_line

N_SOURCES = 1000  # seeded noun senses whose neighbours are ranked


def _lines(r: dict) -> list[str]:
    line = skipped_line("reconstruction", r)
    if line:
        return [line]
    return [f"reconstruction ({r['n_sources']:,} sampled {r['pos']} senses, direct hypernyms/hyponyms, "
            f"{r['n_pairs']:,} pairs): mean rank {r['mean_rank']:,.1f} of {r['n_candidates']:,}, "
            f"MAP {fmt_figure(r['map'])}"]


@register("measure", "reconstruction")
@declare(order=41, section="semantics", needs_graph=True, lines=_lines)
def reconstruction(ctx) -> dict:
    """`naomi_nb.semantics.reconstruction` over 1,000 seeded noun senses (distances only: no rotation control)."""
    return reconstruct(ctx.emb, ctx.graph, n_sources=N_SOURCES, seed=ctx.seed)
