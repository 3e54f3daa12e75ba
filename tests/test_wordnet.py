"""The WordNet -> graph builder: a hand-made dict checked edge by edge, the real WordNet 3.0, and the real
WordNet restricted to a hyponym closure (prepare-wordnet --root, the mammals subtree)."""
import json
import warnings

import numpy as np
import pytest

from naomi_nb import wordnet as wnmod
from naomi_nb.__main__ import main
from naomi_nb.graph import load_graph
from naomi_nb.wordnet import build_graph, load_wordnet


def _reader(dict_dir, tmp_path, monkeypatch):
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = wnmod.assemble_nltk_wordnet(dict_dir, tmp_path / "nltk_data")
    monkeypatch.setattr(nltk.data, "path", [str(root)] + list(nltk.data.path))  # NLTK reads only under its path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WordNetCorpusReader(str(root / "corpora" / "wordnet"), None)


def _edges(graph):
    v = graph.vocab
    return {(v.id_to_word[s], graph.relations[r], v.id_to_word[d]) for s, r, d in zip(graph.src, graph.rel, graph.dst)}


def test_assemble_writes_the_45_lexnames_and_copies_files(wordnet_dict, tmp_path):
    root = wnmod.assemble_nltk_wordnet(wordnet_dict, tmp_path / "nd")
    target = root / "corpora" / "wordnet"
    lines = (target / "lexnames").read_text().splitlines()
    assert len(lines) == 45
    assert lines[5].split() == ["05", "noun.animal", "1"]
    assert lines[44].split() == ["44", "adj.ppl", "3"]
    assert not (target / "data.noun").is_symlink()
    assert (target / "data.noun").read_bytes() == (wordnet_dict / "data.noun").read_bytes()


def test_assemble_rejects_a_directory_without_wordnet(tmp_path):
    with pytest.raises(wnmod.WordNetNotFound, match="not a WordNet dict directory"):
        wnmod.assemble_nltk_wordnet(tmp_path, tmp_path / "nd")


def test_builder_on_hand_made_wordnet_edge_by_edge(wordnet_dict, tmp_path, monkeypatch):
    graph = wnmod.build_graph(_reader(wordnet_dict, tmp_path, monkeypatch), progress=False)
    words = graph.vocab.id_to_word
    assert sorted(words) == sorted([
        "entity.n.01.entity", "animal.n.01.animal", "animal.n.01.beast", "dog.n.01.dog",
        "dog.n.01.domestic_dog", "dog.n.01.Canis_familiaris", "tail.n.01.tail",
        "good.a.01.good", "bad.a.01.bad", "bad.a.01.poor"])
    dog = ["dog.n.01.dog", "dog.n.01.domestic_dog", "dog.n.01.Canis_familiaris"]
    animal = ["animal.n.01.animal", "animal.n.01.beast"]
    expected = set()
    for group in (dog, animal, ["bad.a.01.bad", "bad.a.01.poor"]):  # synonyms: every ordered pair
        expected |= {(a, "synonym", b) for a in group for b in group if a != b}
    expected |= {(d, "hypernym", a) for d in dog for a in animal} | {(a, "hyponym", d) for d in dog for a in animal}
    expected |= {(a, "hypernym", "entity.n.01.entity") for a in animal}
    expected |= {("entity.n.01.entity", "hyponym", a) for a in animal}
    expected |= {("entity.n.01.entity", "hyponym", "tail.n.01.tail"), ("tail.n.01.tail", "hypernym", "entity.n.01.entity")}
    expected |= {(d, "part_meronym", "tail.n.01.tail") for d in dog} | {("tail.n.01.tail", "part_holonym", d) for d in dog}
    # a lemma-level antonym joins exactly the two lemmas it names, not the synonym "poor"
    expected |= {("good.a.01.good", "antonym", "bad.a.01.bad"), ("bad.a.01.bad", "antonym", "good.a.01.good")}
    # the domain-usage pointer (;u) is left out on purpose
    assert _edges(graph) == expected
    assert len(graph.src) == len(expected)  # no duplicates
    assert graph.vocab.lexname[graph.vocab.word_to_id["dog.n.01.dog"]] == "noun.animal"
    assert graph.vocab.pos[graph.vocab.word_to_id["good.a.01.good"]] == "a"
    t = dict(zip(graph.relations, graph.targets))
    assert (t["synonym"], t["similar"], t["hypernym"], t["hyponym"], t["part_meronym"], t["antonym"]) == \
        pytest.approx((0.1, 0.2, 0.3, 0.3, 0.5, 1.0))


def test_prepare_writes_a_graph_that_loads_back(wordnet_dict, tmp_path, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "nd"))
    import nltk

    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    lines = []
    graph = wnmod.prepare_wordnet(tmp_path / "g", wordnet_dir=wordnet_dict, progress=False, log=lines.append)
    again = load_graph(tmp_path / "g")
    assert again.vocab.id_to_word == graph.vocab.id_to_word
    assert np.array_equal(again.src, graph.src) and np.array_equal(again.rel, graph.rel)
    assert any("antonym" in line and "2" in line for line in lines)  # counts per relation are printed


def test_missing_wordnet_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("NAOMI_NB_WORDNET_DIR", raising=False)
    monkeypatch.setattr(wnmod, "_try_nltk_reader", lambda extra_path=None: None)
    monkeypatch.setattr(wnmod, "SYSTEM_WORDNET_DIRS", (str(tmp_path / "nowhere"),))
    with pytest.raises(wnmod.WordNetNotFound) as err:
        wnmod.load_wordnet(download=False, log=lambda *a: None)
    assert "apt-get install wordnet-base wordnet-sense-index" in str(err.value)
    assert "nltk.download('wordnet')" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.wordnet
def test_real_wordnet_graph(real_graph):
    v = real_graph.vocab
    assert v.size == 206978
    assert real_graph.meta["wordnet_version"] == "3.0"
    dog, canine = v.word_to_id["dog.n.01.dog"], v.word_to_id["canine.n.02.canine"]
    t = dict(zip(real_graph.relations, real_graph.targets))
    m = (real_graph.src == dog) & (real_graph.dst == canine)
    assert [real_graph.relations[r] for r in real_graph.rel[m]] == ["hypernym"]
    assert t["hypernym"] == pytest.approx(0.3)
    good, bad = v.word_to_id["good.a.01.good"], v.word_to_id["bad.a.01.bad"]
    for a, b in ((good, bad), (bad, good)):
        m = (real_graph.src == a) & (real_graph.dst == b)
        assert [real_graph.relations[r] for r in real_graph.rel[m]] == ["antonym"]
    assert t["antonym"] == pytest.approx(1.0)
    # "dog" must not be linked to "dog_days" (the original's prefix-matching bug)
    dog_days = [i for i in range(v.size) if v.lemma_of(i) == "dog_days"]
    assert dog_days and not np.isin(real_graph.dst[real_graph.src == dog], dog_days).any()
    counts = real_graph.relation_counts()
    assert counts["hypernym"] == counts["hyponym"] > 300_000


# ---------------------------------------------------------------- prepare-wordnet --root: a hyponym closure

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


@pytest.mark.wordnet
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
