"""The frequent senses (tagged at least once in SemCor): the words poles and readability measures are drawn from."""
from __future__ import annotations

from ..components import register
from ..semantics import MIN_COUNT, _frequent_or_reason
from . import declare


def _lines(f: dict) -> list[str]:
    if "skipped" in f:
        return [f"frequent senses: none ({f['skipped']})"]
    return [f"frequent senses (SemCor count >= {f['min_count']}): {f['n']:,} of {f['n_senses']:,}"]


@register("measure", "frequent")
@declare(order=40, section="semantics", lines=_lines)
def frequent(ctx) -> dict:
    """How many senses count as frequent (`naomi_nb.semantics.frequent_senses`, SemCor count >= 1)."""
    ids, reason = _frequent_or_reason(ctx.vocab, MIN_COUNT)
    if ids is None:
        return {"skipped": reason}
    return {"min_count": MIN_COUNT, "n": int(len(ids)), "n_senses": ctx.vocab.size, "share": len(ids) / ctx.vocab.size}
