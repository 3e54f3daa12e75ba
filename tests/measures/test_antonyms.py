"""The antonyms measure: `antonym_analysis`, skipped on a graph without antonyms."""
from helpers import SIZE

from naomi_nb.analysis import antonym_analysis
from naomi_nb.measuring import Context
from naomi_nb.graph import Graph
from naomi_nb.measures import measure_lines
from naomi_nb.measures.antonyms import antonyms, mean_distances


def test_antonyms_are_antonym_analysis_and_say_n_a_where_nothing_was_measured(planted):
    graph, emb, ctx = planted
    out = antonyms(ctx)
    assert out == antonym_analysis(emb, graph, seed=0) and out["n_pairs"] == SIZE
    (line,) = measure_lines("antonyms", antonyms, out)
    assert line.startswith(f"antonyms: {SIZE} pairs, mean distance") and "selective polarity" in line
    assert mean_distances({**out, "synonym": {"mean": None}})[1] == "n/a"


def test_a_graph_without_antonyms_skips_them(planted):
    graph, emb, _ = planted
    keep = graph.rel != graph.relation_id("antonym")
    plain = Graph(graph.src[keep], graph.dst[keep], graph.rel[keep], graph.conf[keep], graph.relations,
                  graph.targets, graph.vocab)
    out = antonyms(Context(emb, graph.vocab, plain, wordnet=None))
    assert out == {"skipped": "the graph has no antonym edges"}
