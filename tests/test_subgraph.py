"""prepare-wordnet --root: the real WordNet restricted to a hyponym closure (the mammals subtree)."""
import json

import numpy as np
import pytest

from naomi_nb.__main__ import main
from naomi_nb.graph import load_graph
from naomi_nb.wordnet import build_graph, load_wordnet

pytestmark = pytest.mark.wordnet


def test_mammal_subgraph_is_the_full_graph_restricted_to_the_closure(mammals_dir, real_graph):
    sub = load_graph(mammals_dir)
    v = sub.vocab
    wn = load_wordnet(log=lambda *a: None)
    mammal = wn.synset("mammal.n.01")
    closure = {mammal} | set(mammal.closure(lambda s: s.hyponyms() + s.instance_hyponyms()))
    assert set(v.synset) == {s.name() for s in closure}  # NLTK's own closure, every synset kept
    assert v.size == sum(len(s.lemmas()) for s in closure)
    assert 1000 < v.size < 10000  # "a few thousand senses"
    assert "dog.n.01.dog" in v.word_to_id and "whale.n.02.whale" in v.word_to_id
    assert "car.n.01.car" not in v.word_to_id and "animal.n.01.animal" not in v.word_to_id
    assert {"noun.animal"} <= set(v.lexname) and not any(x.startswith(("verb", "adj")) for x in v.lexname)
    assert sub.meta["roots"] == ["mammal.n.01"]
    assert json.loads((mammals_dir / "manifest.json").read_text())["roots"] == ["mammal.n.01"]
    # same relation table as the full graph
    assert sub.relations == real_graph.relations
    assert np.array_equal(sub.targets, real_graph.targets)
    # every edge among these senses in the full graph, and no other
    full_v = real_graph.vocab
    inside = np.zeros(full_v.size, bool)
    inside[[full_v.word_to_id[w] for w in v.id_to_word]] = True
    m = inside[real_graph.src] & inside[real_graph.dst]
    expected = {(full_v.id_to_word[s], r, full_v.id_to_word[d])
                for s, r, d in zip(real_graph.src[m], real_graph.rel[m], real_graph.dst[m])}
    got = {(v.id_to_word[s], r, v.id_to_word[d]) for s, r, d in zip(sub.src, sub.rel, sub.dst)}
    assert got == expected and len(got) == sub.n_edges
    counts = sub.relation_counts()
    assert counts["hypernym"] == counts["hyponym"] > 1000 and counts["synonym"] > 1000
    dog, canine = v.word_to_id["dog.n.01.dog"], v.word_to_id["canine.n.02.canine"]
    assert [sub.relations[r] for r in sub.rel[(sub.src == dog) & (sub.dst == canine)]] == ["hypernym"]


def test_two_roots_and_a_bad_root(tmp_path, capsys):
    wn = load_wordnet(log=lambda *a: None)
    both = build_graph(wn, progress=False, roots=["canine.n.02", "feline.n.01"])
    one = build_graph(wn, progress=False, roots=["canine.n.02"])
    assert set(one.vocab.id_to_word) < set(both.vocab.id_to_word)
    assert "cat.n.01.cat" in both.vocab.word_to_id and "cat.n.01.cat" not in one.vocab.word_to_id
    assert main(["prepare-wordnet", "--output", str(tmp_path / "g"), "--root", "no_such_thing.n.01",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --root 'no_such_thing.n.01' is not a WordNet synset") and "\n" not in err
    assert not (tmp_path / "g" / "manifest.json").exists()
