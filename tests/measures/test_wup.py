"""The Wu-Palmer measure: WordNet's similarity against distance, skipped on a machine without WordNet."""
from naomi_nb.measuring import Context
from naomi_nb.graph import Graph, Vocabulary
from naomi_nb.measures import measure_lines
from naomi_nb.measures.wup import wup


class Half:
    """A WordNet reader whose every Wu-Palmer similarity is 0.5."""

    def synset(self, name):
        return self

    def wup_similarity(self, other):
        return 0.5


def _noun_graph(graph):
    v = graph.vocab
    vocab = Vocabulary(v.id_to_word, pos=["n"] * v.size, synset=v.synset, lexname=v.lexname, count=v.count)
    return Graph(graph.src, graph.dst, graph.rel, graph.conf, graph.relations, graph.targets, vocab)


def test_wup_reads_the_contexts_wordnet_and_is_skipped_without_one(planted):
    graph, emb, ctx = planted
    nouns = _noun_graph(graph)
    out = wup(Context(emb, nouns.vocab, nouns, wordnet=Half()))
    assert out["noun"]["mean_wup"] == 0.5 and out["noun"]["n_pairs"] == 10000 and out["verb"]["n_pairs"] == 0
    assert measure_lines("wup", wup, out)[0].startswith("Wu-Palmer agreement (Spearman")
    skipped = wup(Context(emb, nouns.vocab, nouns, wordnet=None))
    assert measure_lines("wup", wup, skipped) == ["Wu-Palmer agreement: skipped (WordNet (NLTK) is not available)"]
