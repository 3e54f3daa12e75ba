"""The validation measure: the run's own held-out edges, skipped without a graph or without held-out edges."""
from naomi_nb.analysis import validation_metrics
from naomi_nb.measuring import Context, run_measures
from naomi_nb.measures import measure_lines
from naomi_nb.measures.validation import validation


def test_validation_is_validation_metrics_without_the_raw_distances(planted):
    graph, emb, ctx = planted
    out = validation(ctx)
    full = validation_metrics(emb, graph, graph.split(seed=0, val_fraction=0.1)[1], 1000, 0)
    assert "distances" not in out and "distances" in ctx.validation  # the figure reads them from the context
    assert out["hypernym_ranking"] == full["hypernym_ranking"] and out["mae"] == full["mae"]
    lines = measure_lines("validation", validation, out)
    assert lines[0].startswith("held-out edges: MAE") and any("hypernym ranking" in x for x in lines)


def test_validation_says_why_it_is_skipped(planted):
    graph, emb, _ = planted
    gone = Context(emb, graph.vocab, None, graph_problem="training graph /x not found", wordnet=None)
    result = run_measures(gone, names=("validation",))["validation"]["result"]
    assert result == {"skipped": "training graph /x not found"}
    none = Context(emb, graph.vocab, graph, val_fraction=0.0, wordnet=None)
    out = validation(none)
    assert out == {"skipped": "no validation edges (val_fraction = 0.0)"}
    assert measure_lines("validation", validation, out) == [
        "validation: skipped (no validation edges (val_fraction = 0.0))"]
