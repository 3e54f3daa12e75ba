"""The intrusion measure: DistRatio on the frequent senses' rows, a readability measure with its rotation."""
from naomi_nb import semantics
from naomi_nb.measuring import run_measures
from naomi_nb.measures import measure_lines
from naomi_nb.measures.intrusion import K, intrusion


def test_intrusion_is_word_intrusion_and_is_shown_beside_its_rotation(planted):
    graph, emb, ctx = planted
    out = intrusion(ctx)
    assert out == semantics.word_intrusion(emb, graph.vocab, k=K, seed=0)
    assert intrusion.axis_dependent == ("dist_ratio", "dist_ratio_cosine")
    m = run_measures(ctx, names=("intrusion",))["intrusion"]
    rotated = ctx.rotated().result("intrusion")
    assert m["rotation"]["dist_ratio"]["rotated"] == rotated["dist_ratio"] != out["dist_ratio"]
    (line,) = measure_lines("intrusion", intrusion, {**out, "rotation": m["rotation"]})
    assert line.count("(rotated ") == 2 and line.count("axis advantage") == 2
    assert measure_lines("intrusion", intrusion, {"skipped": "why"}) == ["word intrusion: skipped (why)"]
