"""The categories measure: Senel's score and pole purity on the frequent rows, a readability measure."""
from naomi_nb import semantics
from naomi_nb.measuring import run_measures
from naomi_nb.measures import measure_lines
from naomi_nb.measures.categories import LAM, N_TOP, categories


def test_categories_are_category_scores_and_are_shown_beside_their_rotation(planted):
    graph, emb, ctx = planted
    out = categories(ctx)
    assert out == semantics.category_scores(emb, graph.vocab, lam=LAM, n_top=N_TOP)
    m = run_measures(ctx, names=("categories",))["categories"]
    assert set(m["rotation"]) == {"is_dimension", "is_category", "purity"}
    assert m["rotation"]["is_category"]["axes"] == out["is_category"]
    (line,) = measure_lines("categories", categories, {**out, "rotation": m["rotation"]})
    assert line.startswith("lexname categories (Senel IS, lambda 1): per dimension ")
    assert line.count("(rotated ") == 3 and "(chance " in line
