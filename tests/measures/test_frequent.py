"""The frequent measure: how many senses SemCor tagged, or why none are known."""
from naomi_nb.measuring import Context
from naomi_nb.graph import Vocabulary
from naomi_nb.measures import measure_lines
from naomi_nb.measures.frequent import frequent


def test_frequent_counts_the_tagged_senses_and_says_when_the_vocabulary_has_no_counts(planted):
    graph, emb, ctx = planted
    out = frequent(ctx)
    assert out == {"min_count": 1, "n": 41, "n_senses": 41, "share": 1.0}
    assert measure_lines("frequent", frequent, out) == ["frequent senses (SemCor count >= 1): 41 of 41"]
    old = Context(emb, Vocabulary(graph.vocab.id_to_word), graph, wordnet=None)
    out = frequent(old)
    assert "SemCor counts" in out["skipped"] and old.frequent is None and old.frequent_emb.shape == (0, 6)
    assert measure_lines("frequent", frequent, out)[0].startswith("frequent senses: none (")
