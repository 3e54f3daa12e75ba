"""Dimension cards: each dimension's poles in words a reader knows, with glosses and intrusion scores."""
from __future__ import annotations

from ..cards import best_cards, dimension_cards
from ..components import register
from . import declare


def _lines(cards: list) -> list[str]:
    if not cards:
        return []
    return ["best dimension cards: " + "; ".join(f"dim {c['dim']} {c['name']}" for c in best_cards(cards, 3))]


@register("measure", "cards")
@declare(order=80, lines=_lines)
def cards(ctx) -> list:
    """`naomi_nb.cards.dimension_cards`, with WordNet's glosses when this machine has WordNet, the
    intrusion measure's per-pole scores (read from it, not drawn again) and the subtrees the run's stage
    tied dimensions to."""
    return dimension_cards(ctx.emb, ctx.vocab, wn=ctx.wordnet, eps=ctx.eps, intrusion=ctx.result("intrusion"),
                           named=ctx.dim_names)
