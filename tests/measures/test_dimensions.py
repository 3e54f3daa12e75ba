"""The dimensions measure: `dimension_stats` as report.json keeps it."""
import pytest

from naomi_nb.analysis import dimension_stats
from naomi_nb.measures import measure_lines
from naomi_nb.measures.dimensions import dimensions


def test_dimensions_are_dimension_stats_rounded(planted):
    _, emb, ctx = planted
    out, stats = dimensions(ctx), dimension_stats(emb)
    assert out["dense"] == stats["dense"] == 6 and out["zeros_pct"] == stats["zeros_pct"]
    assert out["activity"] == pytest.approx(list(stats["activity"])) and isinstance(out["l1"][0], float)
    assert out["bands"]["sparse"] == "10-30%" and ctx.dims is ctx.dims  # computed once, shared with the axes
    (line,) = measure_lines("dimensions", dimensions, out)
    assert line.startswith("dimensions: 0 unused, 0 sparse, 0 moderate, 6 dense;")
