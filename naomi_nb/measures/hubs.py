"""Hub senses: how many poles (top 5 senses of each dimension's positive and negative pole) each sense tops."""
from __future__ import annotations

import numpy as np

from ..analysis import pole_hubs, pole_ids
from ..components import register
from . import declare, figure_text

K = 5  # senses per pole
N_HUBS = 10  # hubs listed


def _lines(h: dict) -> list[str]:
    head = f"hubs (top {h['k']} senses of {h['n_poles']} poles, {h['over']}): "
    if not h["top"]:
        return [head + "no sense tops two poles"]
    (first, count), rest = h["top"][0], h["top"][1:4]
    others = ", ".join(f"{s} {c}" for s, c in rest)
    return [head + f"{first} tops {count} ({h['top_share']:.1%})"
            + (f"; next {others}" if others else "") + f"; distinct senses per slot {figure_text(h, 'distinct')}"]


@register("measure", "hubs")
@declare(order=60, axis_dependent=("distinct",), lines=_lines)
def hubs(ctx) -> dict:
    """`naomi_nb.analysis.pole_hubs` over the poles' top 5 senses, drawn from the frequent senses as the
    axes and cards are; the senses named by key. A readability measure: ``distinct`` (different senses per
    pole slot) against the rotation, which keeps the long vectors that make hubs and mixes the axes."""
    rows = ctx.pole_rows
    positive, negative = pole_ids(ctx.pole_emb, K, ctx.eps)
    out = pole_hubs(positive, negative, N_HUBS)
    ids = np.arange(ctx.n_senses) if rows is None else rows
    out["top"] = [(ctx.vocab.id_to_word[ids[i]], count) for i, count in out["top"]]
    return {**out, "k": K, "over": "all senses" if rows is None else "frequent senses"}
