"""The hierarchy: its relation names, the (hyponym, hypernym) pairs read from either direction of an edge,
and the ancestors further up with their shortest link counts."""
import numpy as np

from naomi_nb import hierarchy as H
from naomi_nb.graph import Graph, Vocabulary, tiny_graph
from naomi_nb.hierarchy import ancestor_pairs, hierarchy_pairs
from naomi_nb.wordnet import RELATIONS as WORDNET_RELATIONS


def graph_of(relations, edges, n):
    """A graph of ``n`` senses with ``edges`` as (source, relation name, destination)."""
    src, rel, dst = zip(*edges)
    return Graph(np.array(src, np.int32), np.array(dst, np.int32),
                 np.array([relations.index(r) for r in rel], np.int16), np.ones(len(edges), np.float32),
                 list(relations), np.full(len(relations), 0.3, np.float32),
                 Vocabulary([f"s{i}.n.01.s{i}" for i in range(n)]), {"source": "hierarchy test"})


def test_relation_names_are_wordnets_and_split_into_up_and_down():
    assert set(H.UP) | set(H.DOWN) == set(H.RELATIONS) and not set(H.UP) & set(H.DOWN)
    assert set(H.RELATIONS) <= set(WORDNET_RELATIONS)  # a renamed relation would silently match nothing


def test_hierarchy_pairs_read_hyponym_edges_backwards():
    graph = tiny_graph()
    root = graph.vocab.size - 1
    rel = graph.rel
    up = np.flatnonzero(rel == graph.relations.index("hypernym"))
    down = np.flatnonzero(rel == graph.relations.index("hyponym"))
    expected = {(c, root) for c in range(36)}
    # either direction alone gives every (hyponym, hypernym) pair once; both together, still once
    for index in (up, down, np.arange(graph.n_edges)):
        pairs = hierarchy_pairs(graph, index)
        assert {tuple(p) for p in pairs.tolist()} == expected and len(pairs) == 36
    assert len(hierarchy_pairs(graph, np.flatnonzero(rel == 0))) == 0  # synonyms are no hierarchy


def test_instance_links_are_hierarchy_and_missing_relations_are_no_error():
    # 0 is an instance of 1 (both directions stored), 2 an instance of 1 (only the downward edge), 3 a synonym
    graph = graph_of(["synonym", "instance_hypernym", "instance_hyponym"],
                     [(0, "instance_hypernym", 1), (1, "instance_hyponym", 0), (1, "instance_hyponym", 2),
                      (3, "synonym", 0)], 4)
    pairs = hierarchy_pairs(graph, np.arange(graph.n_edges))
    assert pairs.dtype == np.int64 and pairs.tolist() == [[0, 1], [2, 1]]


def test_ancestor_pairs_have_their_shortest_link_count():
    # 0 -> 1 -> 2 -> 3 -> 4, and a shortcut 0 -> 2: 2 is one link above 0, so never a 2-link pair
    pairs = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [0, 2]])
    got, hops = ancestor_pairs(pairs, 5, 3)
    table = {tuple(p): int(h) for p, h in zip(got.tolist(), hops)}
    assert table == {(1, 3): 2, (2, 4): 2, (0, 3): 2, (1, 4): 3, (0, 4): 3}
    got4, hops4 = ancestor_pairs(pairs, 5, 4)
    assert len(got4) == len(got)  # nothing more than 3 links up


def test_a_cycle_never_makes_a_sense_its_own_ancestor():
    got, hops = ancestor_pairs(np.array([[0, 1], [1, 0], [1, 2]]), 3, 4)
    assert {tuple(p) for p in got.tolist()} == {(0, 2)} and hops.tolist() == [2]


def test_one_hop_asks_for_no_ancestors():
    got, hops = ancestor_pairs(np.array([[0, 1], [1, 2]]), 3, 1)
    assert got.shape == (0, 2) and got.dtype == np.int64 and hops.shape == (0,) and hops.dtype == np.int64


def test_synset_codes_share_one_code_per_synset_and_fall_back_to_words():
    with_synsets = Vocabulary(["b.n.01.x", "a.n.01.y", "b.n.01.z"], synset=["b.n.01", "a.n.01", "b.n.01"])
    names, codes = H.synset_codes(with_synsets)
    assert names.tolist() == ["a.n.01", "b.n.01"] and codes.tolist() == [1, 0, 1]
    names, codes = H.synset_codes(Vocabulary(["dog", "cat"]))  # no synset names: each word its own
    assert names.tolist() == ["cat", "dog"] and codes.tolist() == [1, 0]
