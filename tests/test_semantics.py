"""The measures of meaning (naomi_nb.semantics) on planted structure whose answer is known, and on the real WordNet."""
import json
import warnings

import numpy as np
import pytest

from naomi_nb import measuring
from naomi_nb import semantics as sem
from naomi_nb import wordnet as wnmod
from naomi_nb.graph import Graph, Vocabulary

# ---------------------------------------------------------------- a planted noun tree


def _tree_graph(n_children=10, n_grand=10):
    """root -> n_children children (two lemmas each) -> n_grand grandchildren each; one lemma elsewhere.

    Returns the graph and, per sense, the index of its synset (0 = root).
    """
    words, synsets, syn_of = [], [], []
    parent = {}  # synset index -> parent synset index
    names = ["root"]
    for c in range(n_children):
        names.append(f"c{c}")
        parent[len(names) - 1] = 0
    for c in range(n_children):
        for g in range(n_grand):
            names.append(f"g{c}_{g}")
            parent[len(names) - 1] = 1 + c
    lemmas_of = {}
    for s, name in enumerate(names):
        lemmas = [name, f"{name}_b"] if name.startswith("c") else [name]
        lemmas_of[s] = []
        for lemma in lemmas:
            lemmas_of[s].append(len(words))
            words.append(f"{name}.n.01.{lemma}")
            synsets.append(f"{name}.n.01")
            syn_of.append(s)
    relations = ["synonym", "hypernym", "hyponym"]
    edges = []
    for s, ids in lemmas_of.items():
        edges += [(a, 0, b) for a in ids for b in ids if a != b]
    for child, par in parent.items():
        for a in lemmas_of[child]:
            for b in lemmas_of[par]:
                edges += [(a, 1, b), (b, 2, a)]
    e = np.array(edges, np.int64)
    n = len(words)
    vocab = Vocabulary(words, pos=["n"] * n, synset=synsets, lexname=["noun.Tops"] * n, count=[1] * n)
    graph = Graph(e[:, 0].astype(np.int32), e[:, 2].astype(np.int32), e[:, 1].astype(np.int16),
                  np.ones(len(e), np.float32), relations, np.array([0.1, 0.3, 0.3], np.float32), vocab)
    return graph, np.array(syn_of), parent


def _planted_tree_embedding(graph, syn_of, parent, alpha=0.1, delta=0.01):
    """x_u = e_synset(u) + alpha * (sum of e over the synset's tree neighbours) + delta * e_lemma(u).

    Every tree neighbour is then nearer than every other synset (squared distance about 2 - 4 alpha
    against 2 - 2 alpha^2 or more), and the lemmas of one synset nearly coincide.
    """
    n_syn = syn_of.max() + 1
    n = len(syn_of)
    emb = np.zeros((n, n_syn + n), np.float32)
    for u, s in enumerate(syn_of):
        emb[u, s] = 1.0
        for child, par in parent.items():
            if child == s:
                emb[u, par] += alpha
            if par == s:
                emb[u, child] += alpha
        emb[u, n_syn + u] = delta
    return emb


def _reference_reconstruction(emb, graph, syn_of):
    """Mean rank and MAP by brute force: full sort of exact distances, sklearn's AP formula."""
    hier = np.isin(graph.rel, [1, 2])
    nbrs = {}
    for a, b in zip(graph.src[hier], graph.dst[hier]):
        nbrs.setdefault(int(a), set()).add(int(b))
        nbrs.setdefault(int(b), set()).add(int(a))
    ranks, aps = [], []
    for u, nb in sorted(nbrs.items()):
        cands = [v for v in range(len(emb)) if syn_of[v] != syn_of[u]]
        dist = np.linalg.norm(emb[cands] - emb[u], axis=1)
        order = np.argsort(dist)
        label = np.array([cands[i] in nb for i in order])
        non = dist[[i for i, c in enumerate(cands) if c not in nb]]
        for v in nb:
            ranks.append(1 + np.sum(non < np.linalg.norm(emb[v] - emb[u])))
        hits = np.cumsum(label)
        aps.append(np.mean((hits / np.arange(1, len(label) + 1))[label]))
    return float(np.mean(ranks)), float(np.mean(aps))


def test_reconstruction_is_perfect_on_a_planted_tree_and_near_chance_when_shuffled():
    graph, syn_of, parent = _tree_graph()
    emb = _planted_tree_embedding(graph, syn_of, parent)
    out = sem.reconstruction(emb, graph, n_sources=None)
    assert out["n_sources"] == graph.vocab.size  # every sense has a hypernym or a hyponym
    assert out["mean_rank"] == pytest.approx(1.0)
    assert out["map"] == pytest.approx(1.0)
    # the other lemma of a child's synset sits at distance 0.014, nearer than any neighbour: not a candidate
    shuffled = emb[np.random.default_rng(0).permutation(len(emb))]
    bad = sem.reconstruction(shuffled, graph, n_sources=None)
    assert bad["mean_rank"] > 30  # about half of the ~120 candidates
    assert bad["map"] < 0.25


def test_reconstruction_matches_a_brute_force_reference():
    graph, syn_of, _ = _tree_graph(n_children=4, n_grand=5)
    emb = np.random.default_rng(1).standard_normal((graph.vocab.size, 8)).astype(np.float32)
    out = sem.reconstruction(emb, graph, n_sources=None, batch=7)
    mean_rank, mean_ap = _reference_reconstruction(emb, graph, syn_of)
    assert out["mean_rank"] == pytest.approx(mean_rank, rel=1e-6)
    assert out["map"] == pytest.approx(mean_ap, rel=1e-6)


def test_reconstruction_samples_sources_by_seed():
    graph, syn_of, parent = _tree_graph()
    emb = np.random.default_rng(2).standard_normal((graph.vocab.size, 8)).astype(np.float32)
    a = sem.reconstruction(emb, graph, n_sources=20, seed=3)
    assert a["n_sources"] == 20
    assert a == sem.reconstruction(emb, graph, n_sources=20, seed=3)
    assert a != sem.reconstruction(emb, graph, n_sources=20, seed=4)


# ---------------------------------------------------------------- Wu-Palmer agreement with a planted WuP


def _pos_graph(n_per_pos=200):
    """Nouns and verbs, one sense per synset; synset i sits at position t_i."""
    words, pos, synsets = [], [], []
    for p in ("n", "v"):
        for i in range(n_per_pos):
            synsets.append(f"s{p}{i}.{p}.01")
            words.append(f"s{p}{i}.{p}.01.s{p}{i}")
            pos.append(p)
    n = len(words)
    vocab = Vocabulary(words, pos=pos, synset=synsets, lexname=["noun.Tops"] * n, count=[1] * n)
    z = np.zeros(0, np.int32)
    return Graph(z, z, z.astype(np.int16), z.astype(np.float32), ["hypernym"], np.array([0.3], np.float32), vocab)


def test_wup_agreement_follows_a_planted_similarity():
    graph = _pos_graph()
    t = {name: float(i % 200) / 10 for i, name in enumerate(graph.vocab.synset)}

    def wup(a, b):
        return 1.0 / (1.0 + abs(t[a] - t[b]))

    emb = np.array([[t[s], 0.0] for s in graph.vocab.synset], np.float32)  # distance = |t_a - t_b|
    out = sem.wup_agreement(emb, graph, n_pairs=2000, seed=0, wup=wup)
    for name in ("noun", "verb", "pooled"):
        assert out[name]["rho"] == pytest.approx(1.0, abs=1e-3)  # float32 distances split a few ties
    assert out["noun"]["n_pairs"] == 2000 and out["pooled"]["n_pairs"] == 4000
    rand = np.random.default_rng(0).standard_normal((graph.vocab.size, 4)).astype(np.float32)
    chance = sem.wup_agreement(rand, graph, n_pairs=2000, seed=0, wup=wup)
    assert abs(chance["pooled"]["rho"]) < 0.1
    inverted = sem.wup_agreement(-1.0 / (1.0 + np.abs(emb)), graph, n_pairs=500, seed=0, wup=lambda a, b: None)
    assert inverted["pooled"]["n_pairs"] == 0 and inverted["pooled"]["rho"] is None  # None WuPs are dropped
    assert "skipped" in sem.wup_agreement(emb, graph, wn=None)  # no WordNet, no injected wup


# ---------------------------------------------------------------- planted interpretable dimensions


def _planted_dims(n_groups=6, per_group=50, n_rare=100, seed=0):
    """Frequent senses in groups; group g has a large value on dim g and shares lexname L_g.

    Rare senses (count 0) carry random lexnames, the largest values of all on dim 0 and scattered
    values elsewhere: a measure over frequent senses must not see them.
    """
    rng = np.random.default_rng(seed)
    n = n_groups * per_group
    group = np.repeat(np.arange(n_groups), per_group)
    emb = 0.05 * rng.standard_normal((n + n_rare, n_groups)).astype(np.float32)
    emb[np.arange(n), group] += 3.0
    emb[n:, 0] += 10.0
    emb[n:, 1:] = 3.0 * rng.standard_normal((n_rare, n_groups - 1))
    lexname = [f"noun.L{g}" for g in group] + [f"noun.L{g}" for g in rng.integers(0, n_groups, n_rare)]
    words = [f"w{i}.n.01.w{i}" for i in range(n + n_rare)]
    vocab = Vocabulary(words, pos=["n"] * len(words), synset=[w[:-len(w.split(".")[-1]) - 1] for w in words],
                       lexname=lexname, count=[3] * n + [0] * n_rare)
    return emb, vocab, group


def test_frequent_senses_and_axes_leave_out_rare_senses():
    emb, vocab, group = _planted_dims()
    ids = sem.frequent_senses(vocab)
    assert len(ids) == 300 and ids.max() == 299
    assert len(sem.frequent_senses(vocab, min_count=4)) == 0
    axes = sem.frequent_axes(emb, vocab, k=10)
    assert len(axes) == 6
    for ax in axes:
        top = [vocab.word_to_id[w] for w, _ in ax["positive"]]
        assert len(top) == 10 and all(i < 300 and group[i] == ax["dim"] for i in top)
        assert all(value < 0 for _, value in ax["negative"])
    assert sem.frequent_axes(emb, Vocabulary(vocab.id_to_word)) is None  # no counts: no frequent view


def test_word_intrusion_high_for_planted_poles_and_about_one_for_random():
    emb, vocab, _ = _planted_dims()
    out = sem.word_intrusion(emb, vocab, k=5, seed=0)
    assert out["n_poles"] == 12 and out["n_scored"] == 12
    assert min(out["positive"]) > 10  # top 5 within ~0.1 of each other, the intruder ~4 away
    assert all(vocab.word_to_id[w] < 300 for side in out["intruders"].values() for w in side)  # frequent only
    assert out["dist_ratio"] > 5 and out["dist_ratio_cosine"] > 2
    rand = 0.01 * np.random.default_rng(1).standard_normal((len(vocab), 128)).astype(np.float32)
    chance = sem.word_intrusion(rand, vocab, k=5, seed=0)
    assert chance["n_scored"] == 256
    assert 0.95 < chance["dist_ratio"] < 1.15 and 0.95 < chance["dist_ratio_cosine"] < 1.15
    json.dumps(out)


def test_word_intrusion_draws_the_intruder_from_the_top_of_another_dimension():
    rng = np.random.default_rng(0)
    n_top, n_far, n_near = 10, 200, 20
    emb = np.zeros((n_top + n_far + n_near, 3), np.float32)
    emb[:n_top, 0] = 5 + 0.1 * rng.standard_normal(n_top)  # the pole: dim 0's coherent top
    emb[n_top + n_far:, 1] = 20.0  # eligible intruders: bottom of dim 0, top of dim 1
    # the far senses sit at 0 everywhere: bottom half of dim 0 but in no other dimension's top
    words = [f"w{i}.n.01.w{i}" for i in range(len(emb))]
    vocab = Vocabulary(words, lexname=["noun.Tops"] * len(words), count=[1] * len(words))
    out = sem.word_intrusion(emb, vocab, k=5, seed=0)
    assert vocab.word_to_id[out["intruders"]["positive"][0]] >= n_top + n_far
    assert out["positive"][0] > 20.0 / 0.3  # ~20 away from the top, top ones within ~0.15


def test_word_intrusion_skips_poles_with_too_few_active_senses():
    emb, vocab, _ = _planted_dims()
    emb = np.maximum(emb, 0)  # no negative values: every negative pole is empty
    emb[:, 5] = 0
    emb[:3, 5] = 1.0  # three active senses only
    out = sem.word_intrusion(emb, vocab, k=5)
    assert out["n_too_few"] == 6 + 1 and out["n_scored"] == 5
    assert out["negative"] == [None] * 6 and out["positive"][5] is None


def test_category_scores_near_one_for_planted_lexnames_and_near_chance_for_random():
    emb, vocab, _ = _planted_dims()
    out = sem.category_scores(emb, vocab, lam=1.0, n_top=10)
    assert out["n_categories"] == 6 and out["n_frequent"] == 300
    assert out["is_category"] == pytest.approx(1.0)
    assert out["is_dimension"] == pytest.approx(1.0)
    assert out["per_category"]["noun.L2"] == {"n": 50, "best_dim": 2, "best_side": "positive", "score": 1.0,
                                              "chance": pytest.approx(50 / 300)}
    assert out["is_chance"] == pytest.approx(1 / 6)
    assert out["purity_chance"] == pytest.approx(0.35, abs=0.1)  # top 10 of 6 equal categories by chance
    assert out["purity"] > out["purity_chance"] + 0.25  # positive poles pure, negative ones random
    quiet = np.maximum(emb, 0)  # no negative poles; dim 5 active for three senses only
    quiet[:, 5] = 1e-7
    quiet[250:300, 5] = 5e-7  # group 5 leads dim 5 even below the activity threshold: it must not count
    quiet[250:253, 5] = 1.0
    few = sem.category_scores(quiet, vocab, lam=1.0)
    assert few["per_category"]["noun.L5"]["score"] == pytest.approx(3 / 50)
    assert few["per_category"]["noun.L0"]["score"] == 1.0
    rand = np.random.default_rng(1).standard_normal((len(vocab), 64)).astype(np.float32)
    chance = sem.category_scores(rand, vocab)
    assert chance["is_category"] < 0.4
    assert chance["purity"] == pytest.approx(chance["purity_chance"], abs=0.08)
    json.dumps(out)


class _FixedWuP:
    """A stand-in for NLTK's WordNet reader whose every Wu-Palmer similarity is ``value``."""

    def __init__(self, value):
        self.value = value

    def synset(self, name):
        return self

    def wup_similarity(self, other):
        return self.value


def _semantic_lines(ctx) -> list[str]:
    """The summary lines of the measures under "semantics", as report.json would show them."""
    from naomi_nb import components
    from naomi_nb.measures import measure_lines

    lines = []
    for name, m in measuring.run_measures(ctx).items():
        measure = components.get("measure", name)
        if getattr(measure, "section", None) == "semantics":
            result = m["result"] if m["rotation"] is None else {**m["result"], "rotation": m["rotation"]}
            lines += measure_lines(name, measure, result)
    return lines


def test_measures_say_skipped_on_a_graph_without_counts():
    emb, vocab, _ = _planted_dims()
    old = Vocabulary(vocab.id_to_word, pos=vocab.pos, synset=vocab.synset, lexname=vocab.lexname)
    for out in (sem.word_intrusion(emb, old), sem.category_scores(emb, old)):
        assert "SemCor counts" in out["skipped"]
    z = np.zeros(0, np.int32)
    graph = Graph(z, z, z.astype(np.int16), z.astype(np.float32), ["hypernym"], np.array([0.3], np.float32), old)
    ctx = measuring.Context(emb, old, graph, wordnet=_FixedWuP(1.0))
    lines = _semantic_lines(ctx)
    assert "skipped" in ctx.result("reconstruction")  # no hypernym edges at all
    assert lines[0].startswith("frequent senses: none (") and "SemCor counts" in lines[0]
    assert sum("skipped" in line for line in lines) == 3  # reconstruction, intrusion, categories
    assert "rotated" not in " ".join(lines)  # a skipped readability measure has no control


def test_the_semantic_measures_collect_every_figure_and_the_readability_ones_their_control():
    graph, syn_of, parent = _tree_graph()
    emb = _planted_tree_embedding(graph, syn_of, parent)
    ctx = measuring.Context(emb, graph.vocab, graph, wordnet=_FixedWuP(0.5))
    out = measuring.run_measures(ctx, names=("frequent", "reconstruction", "wup", "intrusion", "categories"))
    json.dumps({name: m["result"] for name, m in out.items()})
    assert out["reconstruction"]["result"]["map"] == pytest.approx(1.0)
    assert out["frequent"]["result"]["n"] == graph.vocab.size
    assert out["wup"]["result"]["noun"]["mean_wup"] == pytest.approx(0.5)
    assert [name for name, m in out.items() if m["rotation"]] == ["intrusion", "categories"]
    assert len(_semantic_lines(ctx)) == 5


def test_readability_measures_read_the_frequent_rows_alone_as_the_whole_table():
    emb, vocab, _ = _planted_dims()
    rows = emb[sem.frequent_senses(vocab)]
    assert sem.word_intrusion(rows, vocab, seed=3) == sem.word_intrusion(emb, vocab, seed=3)
    assert sem.category_scores(rows, vocab) == sem.category_scores(emb, vocab)


def test_planted_lexname_axes_read_better_than_their_rotation_and_random_vectors_do_not():
    """Categories spread along their own axes (wide within, apart on one axis each): the rotation mixes them."""
    rng = np.random.default_rng(0)
    n_groups, per = 8, 60
    group = np.repeat(np.arange(n_groups), per)
    emb = rng.standard_normal((n_groups * per, n_groups)).astype(np.float32)
    emb[np.arange(len(group)), group] += 4.0
    words = [f"w{i}.n.01.w{i}" for i in range(len(group))]
    vocab = Vocabulary(words, lexname=[f"noun.L{g}" for g in group], count=[1] * len(words))
    out = measuring.run_measures(measuring.Context(emb, vocab, wordnet=None), names=("categories",))["categories"]
    c = out["rotation"]["is_category"]
    assert c["axes"] > 0.9 and c["advantage"] > 0.2 and c["space_not_axes"] is False
    iso = rng.standard_normal(emb.shape).astype(np.float32)  # no axis is special: the rotation scores alike
    out = measuring.run_measures(measuring.Context(iso, vocab, wordnet=None), names=("categories",))["categories"]
    assert abs(out["rotation"]["is_category"]["advantage"]) < 0.1


# ---------------------------------------------------------------- SemCor counts in the graph


def _reader(dict_dir, tmp_path, monkeypatch):
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = wnmod.assemble_nltk_wordnet(dict_dir, tmp_path / "nltk_data")
    monkeypatch.setattr(nltk.data, "path", [str(root)] + list(nltk.data.path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WordNetCorpusReader(str(root / "corpora" / "wordnet"), None)


def test_builder_records_semcor_counts_and_they_survive_json(wordnet_dict, tmp_path, monkeypatch):
    (wordnet_dict / "cntlist.rev").write_text("animal%1:05:00:: 1 7\ndog%1:05:00:: 1 42\n")
    graph = wnmod.build_graph(_reader(wordnet_dict, tmp_path, monkeypatch), progress=False)
    v = graph.vocab
    count = dict(zip(v.id_to_word, v.count))
    assert count["dog.n.01.dog"] == 42 and count["animal.n.01.animal"] == 7
    assert count["dog.n.01.domestic_dog"] == 0 and count["animal.n.01.beast"] == 0
    assert Vocabulary.from_json(json.loads(json.dumps(v.to_json()))).count == v.count
    assert [v.id_to_word[i] for i in sem.frequent_senses(v)] == ["animal.n.01.animal", "dog.n.01.dog"]


def test_builder_without_a_count_file_records_no_counts(wordnet_dict, tmp_path, monkeypatch):
    graph = wnmod.build_graph(_reader(wordnet_dict, tmp_path, monkeypatch), progress=False)
    assert graph.vocab.count is None  # assemble wrote an empty cntlist.rev: "unknown", not "all zero"
    assert "count" not in graph.vocab.to_json()


# ---------------------------------------------------------------- the real WordNet


@pytest.fixture(scope="module")
def wn():
    try:
        return wnmod.load_wordnet(download=False, log=lambda *a: None)
    except wnmod.WordNetNotFound as e:
        pytest.fail(f"the real WordNet is needed for this test: {e}")


@pytest.mark.wordnet
def test_semcor_counts_equal_nltk_lemma_count(wn):
    counts = wnmod.semcor_counts(wn)
    assert counts is not None and len(counts) > 30000
    lemmas = [lemma for s in wn.all_synsets() for lemma in s.lemmas()]
    sample = [lemmas[i] for i in np.random.default_rng(0).choice(len(lemmas), 500, replace=False)]
    sample.append(wn.lemma("dog.n.01.dog"))
    assert [counts.get(lemma._key, 0) for lemma in sample] == [lemma.count() for lemma in sample]
    assert counts[wn.lemma("dog.n.01.dog").key()] > 0


@pytest.mark.wordnet
def test_wup_on_real_wordnet(wn, real_graph):
    wup = sem.nltk_wup(wn)
    assert wup("dog.n.01", "cat.n.01") == pytest.approx(0.857, abs=1e-3)  # NLTK's documented example
    # NLTK's convention, kept as is: the subsumer's depth is its longest path to the root, the two
    # lengths are shortest paths, so a synset with hypernym paths of unequal length scores below 1
    assert wup("dog.n.01", "dog.n.01") == pytest.approx(13 / 14)
    assert 0 < wup("run.v.01", "eat.v.01") < 1  # verbs: NLTK simulates a root
    v = real_graph.vocab
    emb = np.random.default_rng(0).standard_normal((v.size, 4)).astype(np.float32)
    out = sem.wup_agreement(emb, real_graph, wn=wn, n_pairs=300, seed=0)
    assert out["noun"]["n_pairs"] == 300 and out["verb"]["n_pairs"] == 300
    assert abs(out["pooled"]["rho"]) < 0.15  # a random embedding does not follow WuP
    assert 0 < out["noun"]["mean_wup"] < 1
