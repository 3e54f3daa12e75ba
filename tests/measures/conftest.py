"""The measures' shared material: the planted graph (`planted_graph`) with every sense tagged in SemCor."""
import pytest
from helpers import planted_embeddings, planted_graph

from naomi_nb.measuring import Context
from naomi_nb.graph import Vocabulary


def counted_graph():
    """The planted graph, its senses all frequent (SemCor count 1), so the readability measures see them."""
    graph = planted_graph()
    v = graph.vocab
    graph.vocab = Vocabulary(v.id_to_word, synset=v.synset, lexname=v.lexname, count=[1] * v.size)
    return graph


@pytest.fixture
def planted():
    """(graph, embeddings, context): 8 lexname groups of 5 senses, dimension 3 the antonym axis; no WordNet."""
    graph = counted_graph()
    emb = planted_embeddings(graph.vocab.size)
    return graph, emb, Context(emb, graph.vocab, graph, seed=0, k=5, wordnet=None)
