"""Held-out edges: distance error per relation, the filtered hypernym ranking and antonym-vs-synonym AUC."""
from __future__ import annotations

from ..components import register
from . import declare


def _lines(v: dict) -> list[str]:
    if "skipped" in v:
        return [f"validation: skipped ({v['skipped']})"]
    lines = [f"held-out edges: MAE {v['mae']:.4f} over {v['n_edges']:,} edges (macro {v['macro_mae']:.4f})"]
    r = v["hypernym_ranking"]
    if r["n"]:
        lines.append(f"hypernym ranking ({r['n_sampled']:,} of {r['n_held_out']:,} held-out edges): "
                     f"MRR {r['mrr']:.4f}, hits@10 {r['hits@10']:.1%}, mean rank {r['mean_rank']:,.0f}")
    if v["antonym_synonym_auc"] is not None:
        lines.append(f"antonym vs synonym distance AUC {v['antonym_synonym_auc']:.3f}")
    return lines


@register("measure", "validation")
@declare(order=20, needs_graph=True, lines=_lines)
def validation(ctx) -> dict:
    """The run's held-out edges (its own split): `naomi_nb.analysis.validation_metrics` less the raw distances
    (the report's distance figure reads those from the context)."""
    v = ctx.validation
    if v is None:
        return {"skipped": f"no validation edges (val_fraction = {ctx.val_fraction})"}
    return {key: value for key, value in v.items() if key != "distances"}
