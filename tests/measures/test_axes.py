"""The axes measure: every dimension's poles, clearest first, among frequent senses."""
from helpers import PLANTED

from naomi_nb.analysis import semantic_axes
from naomi_nb.measures import measure_lines
from naomi_nb.measures.axes import axes


def test_axes_are_semantic_axes_over_the_frequent_senses(planted):
    graph, emb, ctx = planted
    out = axes(ctx)
    assert out == semantic_axes(emb, graph.vocab, graph, 5, 1e-6, ctx.dims["l1"], ctx.frequent)
    assert out[0]["dim"] == PLANTED
    (line,) = measure_lines("axes", axes, out)
    assert line.startswith(f"clearest axes: dim {PLANTED} lex1 <-> lex0")
    assert measure_lines("axes", axes, [{**a, "coherence": 0.0} for a in out]) == []
