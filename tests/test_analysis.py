"""Analysis on small graphs with planted structure and on cases small enough to check by hand."""
import json

import numpy as np
import pytest

from naomi_nb import analysis, export, notebook, report as rep, rundir
from naomi_nb.analysis import AnalysisError
from naomi_nb.rundir import RunDirError as RunError
from naomi_nb.config import TrainConfig
from naomi_nb.graph import Graph, Vocabulary

GROUPS, SIZE, PLANTED = 8, 5, 3  # 8 groups of 5 senses; dimension 3 carries the antonym axis


def planted_graph() -> Graph:
    """8 groups of 5 adjective senses (lexname lex<g>) under one root; group 0 and 1 are antonyms member for member."""
    words, synsets, lexnames = [], [], []
    for g in range(GROUPS):
        for m in range(SIZE):
            synset = f"w{g}x{m}.a.01"
            words.append(f"{synset}.w{g}x{m}")
            synsets.append(synset)
            lexnames.append(f"lex{g}")
    root = len(words)
    words.append("root.n.01.root")
    synsets.append("root.n.01")
    lexnames.append("noun.Tops")
    edges = []  # (src, rel, dst); rel 0 synonym, 1 hypernym, 2 antonym
    for g in range(GROUPS):
        for m in range(SIZE - 1):
            a, b = g * SIZE + m, g * SIZE + m + 1
            edges += [(a, 0, b), (b, 0, a)]
        edges += [(g * SIZE + m, 1, root) for m in range(SIZE)]
    for m in range(SIZE):
        a, b = m, SIZE + m
        edges += [(a, 2, b), (b, 2, a)]
    e = np.array(edges)
    return Graph(e[:, 0].astype(np.int32), e[:, 2].astype(np.int32), e[:, 1].astype(np.int16),
                 np.ones(len(e), np.float32), ["synonym", "hypernym", "antonym"],
                 np.array([0.1, 0.3, 1.0], np.float32), Vocabulary(words, synset=synsets, lexname=lexnames))


def planted_embeddings(n: int, dims: int = 6, seed: int = 0) -> np.ndarray:
    """Small noise everywhere; on dimension PLANTED group 0 sits at +1 and group 1 at -1."""
    emb = np.random.default_rng(seed).normal(0, 0.05, (n, dims)).astype(np.float32)
    emb[0:SIZE, PLANTED] += 1.0
    emb[SIZE:2 * SIZE, PLANTED] -= 1.0
    return emb


def write_run(path, graph_dir, emb, vocab, **config):
    path.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(training_data=str(graph_dir), **config).to_dict()
    (path / "config.json").write_text(json.dumps(cfg))
    (path / "vocabulary.json").write_text(json.dumps(vocab.to_json()))
    (path / "history.jsonl").write_text('{"epoch": 1, "val_loss": 0.5}\n{"epoch": 2, "val_lo')  # killed mid-line
    np.save(path / "embeddings.npy", emb)
    return path


def load_word2vec(path) -> tuple[list[str], np.ndarray]:
    """Read a word2vec text file (as written by `export_word2vec`, or by gensim).

    Returns:
        ``(keys, vectors)`` with vectors float32 (N, D).

    Raises:
        AnalysisError: one line, for a missing file or a malformed header or row.
    """
    path = __import__("pathlib").Path(path)
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise AnalysisError(f"{path} is missing") from None
    with f:
        header = f.readline().split()
        if len(header) != 2 or not all(h.isdigit() for h in header):
            raise AnalysisError(f"{path}: first line should be 'N D', got {' '.join(header)!r}")
        n, d = map(int, header)
        keys, vectors = [], np.empty((n, d), np.float32)
        for i, line in enumerate(f):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if i >= n or len(parts) != d + 1:
                raise AnalysisError(f"{path}: line {i + 2} has {len(parts) - 1} values, expected {d}"
                                    if i < n else f"{path}: more than the {n} rows the header announces")
            keys.append(parts[0])
            try:
                vectors[i] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise AnalysisError(f"{path}: line {i + 2} holds a value that is not a number") from None
    if len(keys) != n:
        raise AnalysisError(f"{path}: header announces {n} rows, found {len(keys)}")
    return keys, vectors


# ---------------------------------------------------------------- dimensions


def test_dimension_stats_hand_case():
    emb = np.zeros((10, 4), np.float32)
    emb[:, 0] = 0.5  # 10/10 active -> saturated
    emb[0:5, 1] = 0.5
    emb[5, 1] = 0.005  # active at eps 1e-6 (6/10 -> moderate), but near zero and inactive at eps 0.01
    emb[0, 2], emb[1, 2] = 0.5, -0.5  # 2/10 -> sparse; column 3 all zero -> unused
    s = analysis.dimension_stats(emb)
    np.testing.assert_allclose(s["activity"], [1.0, 0.6, 0.2, 0.0])
    assert (s["unused"], s["sparse"], s["moderate"], s["dense"]) == (1, 1, 1, 1)
    # 40 entries: 18 nonzero -> 22 exact zeros (55%); plus the 0.005 -> 23 below 0.01 (57.5%)
    assert s["zeros_pct"] == pytest.approx(55.0)
    assert s["sparsity_pct"] == pytest.approx(57.5)
    # active dims per row: rows 0-1 -> 3, rows 2-5 -> 2, rows 6-9 -> 1; sorted 1,1,1,1,2,2,2,2,3,3 -> median 2
    assert s["median_active_dims"] == 2
    # column 2: mean 0, E[x^2] = 2 * 0.25 / 10 = 0.05; column 0 constant -> variance 0
    np.testing.assert_allclose(s["variance"], [0.0, np.var(emb[:, 1]), 0.05, 0.0], atol=1e-7)
    np.testing.assert_allclose(s["l1"], [5.0, 2.505, 1.0, 0.0], rtol=1e-6)
    # the activity threshold comes from the caller (config activity_eps)
    assert analysis.dimension_stats(emb, eps=0.01)["activity"][1] == pytest.approx(0.5)


# ---------------------------------------------------------------- axes and antonyms


def test_planted_antonym_dimension_is_the_clearest_axis():
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    axes = analysis.semantic_axes(emb, graph.vocab, graph, k=SIZE)
    top = axes[0]
    assert top["dim"] == PLANTED
    assert top["positive"]["lexname"] == "lex0" and top["negative"]["lexname"] == "lex1"
    assert {s for s, _ in top["positive"]["senses"]} == set(graph.vocab.id_to_word[:SIZE])
    assert all(v < 0 for _, v in top["negative"]["senses"])
    # share 5/5 minus chance 5/41 for both poles
    assert top["coherence"] == pytest.approx(1 - SIZE / graph.vocab.size)
    # every sense has the root as hypernym: a label everything shares must not make the noise axes look clear
    assert all(a["coherence"] < 0.5 for a in axes[1:])
    assert [a["dim"] for a in axes].count(PLANTED) == 1 and len(axes) == emb.shape[1]


def test_one_sided_dimension_ranks_below_a_two_sided_one():
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    emb[2 * SIZE:3 * SIZE, 0] += 1.0  # group 2 high on dimension 0, nothing opposite it
    axes = analysis.semantic_axes(emb, graph.vocab, graph, k=SIZE)
    order = [a["dim"] for a in axes]
    assert order[0] == PLANTED and order[1] == 0
    assert axes[1]["positive"]["coherence"] > 0.8 > axes[1]["negative"]["coherence"]


def test_antonyms_oppose_on_the_planted_dimension():
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    pairs = analysis.antonym_pairs(graph)
    assert len(pairs) == SIZE and (pairs[:, 0] < pairs[:, 1]).all()  # both directions folded into one pair
    pol = analysis.polarity(emb, pairs, threshold=0.5)  # above the noise: only the planted dimension counts
    assert (pol["opposed"] == 1).all() and (pol["agree"] == 0).all()
    assert pol["opposed_per_dim"].tolist() == [SIZE if d == PLANTED else 0 for d in range(emb.shape[1])]
    result = analysis.antonym_analysis(emb, graph)  # default threshold: noise dims oppose sometimes, the planted one always
    assert result["top_dims"][0] == (PLANTED, SIZE)
    assert result["with_opposition"] == 1.0
    assert result["distance"]["mean"] > 1.9  # about |+1 - (-1)|
    assert result["synonym"]["mean"] < result["random_pairs"]["mean"] < result["distance"]["mean"]


# ---------------------------------------------------------------- neighbours


def test_nearest_neighbors_l2_and_cosine_disagree_where_they_should():
    vocab = Vocabulary(["x.n.01.x", "x.n.02.x", "far.n.01.far", "near.n.01.near", "zero.n.01.zero"],
                       synset=["x.n.01", "x.n.02", "far.n.01", "near.n.01", "zero.n.01"])
    emb = np.array([[1, 0], [0, -3], [10, 0.1], [0.5, 0.5], [0, 0]], np.float32)
    (first,) = analysis.nearest_neighbors(emb, vocab, "x.n.01.x", k=2)
    # from (1,0): near at 0.707, zero at 1, far at 9.0, x.n.02 at sqrt(10)
    assert [key for key, _ in first["neighbors"]] == ["near.n.01.near", "zero.n.01.zero"]
    assert first["neighbors"][0][1] == pytest.approx(np.sqrt(0.5), rel=1e-5)
    (cos,) = analysis.nearest_neighbors(emb, vocab, 0, k=2, metric="cosine")
    # cosine: far is almost parallel (distance ~5e-5), near at 1 - 0.707; the zero row is at distance 1
    assert [key for key, _ in cos["neighbors"]] == ["far.n.01.far", "near.n.01.near"]
    both = analysis.nearest_neighbors(emb, vocab, "X", k=10)  # a lemma: every sense, case folded
    assert [r["sense"] for r in both] == ["x.n.01.x", "x.n.02.x"]
    for r in both:
        assert len(r["neighbors"]) == 4 and r["sense"] not in {k for k, _ in r["neighbors"]}
    with pytest.raises(AnalysisError, match="no sense of 'nothing'"):
        analysis.nearest_neighbors(emb, vocab, "nothing")
    assert "no sense of" in rep.neighbors_text(emb, vocab, "nothing")


# ---------------------------------------------------------------- held-out metrics


def ranking_case():
    """Senses on a plane: 0 at the origin, 1/2/4 at distance 1 from it, 3 at (2,0), 5 at (3,0), 6..15 at (10..19, 0)."""
    emb = np.zeros((16, 2), np.float32)
    emb[1], emb[2], emb[3], emb[4], emb[5] = (1, 0), (0, 1), (2, 0), (0, -1), (3, 0)
    emb[6:, 0] = np.arange(10, 20)
    return emb


def test_ranks_by_hand():
    emb = ranking_case()
    src, dst = np.array([0, 0, 5, 0]), np.array([3, 1, 0, 15])
    ranks = analysis.rank_targets(emb, src, dst, batch=3)  # batch 3: the blocks must join up
    # 0->3 (d=2): 1, 2, 4 closer                          -> rank 4
    # 0->1 (d=1): tied with 2 and 4 -> 1 + 0 + 2/2        -> rank 2
    # 5->0 (d=3): 3 (d=1) and 1 (d=2) closer, 5 itself out -> rank 3
    # 0->15 (d=19): 1, 2, 4, 3, 5 and 6..14 closer (14)   -> rank 15
    np.testing.assert_allclose(ranks, [4, 2, 3, 15])
    m = analysis.ranking_metrics(ranks)
    assert m["mean_rank"] == pytest.approx(6.0)  # (4 + 2 + 3 + 15) / 4
    assert m["mrr"] == pytest.approx(69 / 240)  # (1/4 + 1/2 + 1/3 + 1/15) / 4 = (15 + 30 + 20 + 4) / 240
    assert m["hits@10"] == pytest.approx(0.75) and m["hits@1"] == 0.0
    # filtered: 1 and 3 are both known targets of 0, so each stops competing with the other
    # 0->3: 1 left out -> 2, 4 closer -> 3;  0->1: 3 was farther anyway -> 2;  5->0: no other target -> 3
    # 0->15: 1 and 3 left out of the 14 closer ones -> 13
    known = (np.array([0, 0, 5]), np.array([1, 3, 0]))
    np.testing.assert_allclose(analysis.rank_targets(emb, src, dst, known=known), [3, 2, 3, 13])


def test_collapsed_embedding_ranks_in_the_middle_not_first():
    emb = np.zeros((16, 3), np.float32)
    ranks = analysis.rank_targets(emb, np.array([0, 7]), np.array([1, 2]))
    # all 15 candidates tied: the target plus 14 others -> 1 + 0 + 14/2
    np.testing.assert_allclose(ranks, [8, 8])


def test_roc_auc_by_hand():
    pos, neg = [0.9, 0.5, 0.5], [0.1, 0.5, 0.7]
    # 0.9 beats all 3; each 0.5 beats 0.1, ties 0.5 (counts 1/2), loses to 0.7 -> (3 + 1.5 + 1.5) / 9
    assert analysis.roc_auc(pos, neg) == pytest.approx(6 / 9)
    assert analysis.roc_auc(neg, pos) == pytest.approx(3 / 9)
    assert analysis.roc_auc([2.0], [1.0, 1.5]) == 1.0
    assert analysis.roc_auc([], [1.0]) is None


def test_validation_metrics_by_hand():
    vocab = Vocabulary(["a.n.01.a", "b.n.01.b", "c.n.01.c", "d.n.01.d"])
    emb = np.array([[0.0], [0.1], [1.0], [0.2]], np.float32)
    graph = Graph(np.array([0, 0, 1, 3], np.int32), np.array([1, 2, 2, 0], np.int32),
                  np.array([0, 2, 1, 0], np.int16), np.ones(4, np.float32), ["synonym", "hypernym", "antonym"],
                  np.array([0.1, 0.3, 1.0], np.float32), vocab)
    v = analysis.validation_metrics(emb, graph, np.arange(4))
    # synonym a-b 0.1 (error 0), synonym d-a 0.2 (error 0.1), antonym a-c 1.0 (0), hypernym b-c 0.9 (0.6)
    assert v["per_relation"]["synonym"]["mae"] == pytest.approx(0.05, abs=1e-6)
    assert v["per_relation"]["hypernym"]["mean_distance"] == pytest.approx(0.9, abs=1e-6)
    assert v["mae"] == pytest.approx(0.7 / 4, abs=1e-6)
    assert v["macro_mae"] == pytest.approx((0.05 + 0.6 + 0) / 3, abs=1e-6)
    assert v["antonym_synonym_auc"] == 1.0  # 1.0 beats 0.1 and 0.2
    # hypernym b->c from b=0.1: a (0.1) and d (0.1) tie, both closer than c (0.9) -> rank 3
    assert v["hypernym_ranking"]["mean_rank"] == pytest.approx(3.0)
    assert (v["hypernym_ranking"]["n_held_out"], v["hypernym_ranking"]["n_sampled"]) == (1, 1)


# ---------------------------------------------------------------- word2vec export


def test_word2vec_round_trip_per_sense(tmp_path):
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    path = export.export_word2vec(emb, graph.vocab, tmp_path / "senses.txt")
    lines = path.read_text().splitlines()
    assert lines[0] == f"{graph.vocab.size} {emb.shape[1]}"
    # gensim splits each row on single spaces and wants exactly D + 1 fields
    assert all(len(line.split(" ")) == emb.shape[1] + 1 for line in lines[1:])
    keys, vectors = load_word2vec(path)
    assert keys == graph.vocab.id_to_word
    np.testing.assert_allclose(vectors, emb, rtol=1e-5, atol=1e-7)


def test_word2vec_round_trip_per_word(tmp_path):
    vocab = Vocabulary(["bank.n.01.bank", "bank.v.01.bank", "Paris.n.01.Paris", "river.n.01.river"],
                       synset=["bank.n.01", "bank.v.01", "Paris.n.01", "river.n.01"])
    emb = np.array([[1, 2, 3], [3, 2, 1], [0.5, 0, -0.5], [-1, -1, -1]], np.float32)
    path = export.export_word2vec(emb, vocab, tmp_path / "words.txt", per="word")
    keys, vectors = load_word2vec(path)
    assert keys == ["bank", "paris", "river"]  # lemmas, lower-cased, sorted
    np.testing.assert_allclose(vectors, [[2, 2, 2], [0.5, 0, -0.5], [-1, -1, -1]])  # bank = mean of its 2 senses


def test_word2vec_reader_rejects_malformed_files(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\na 1 2 3\nb 1 2\n")
    with pytest.raises(AnalysisError, match="line 3 has 2 values, expected 3"):
        load_word2vec(bad)
    bad.write_text("a 1 2 3\n")
    with pytest.raises(AnalysisError, match="first line"):
        load_word2vec(bad)
    with pytest.raises(AnalysisError, match="per must be"):
        export.export_word2vec(np.zeros((1, 1)), Vocabulary(["a"]), tmp_path / "x.txt", per="lemma")


# ---------------------------------------------------------------- whole runs


def test_analyze_run_writes_report_and_figures(tmp_path):
    graph = planted_graph()
    graph_dir = graph.save(tmp_path / "graph")
    emb = planted_embeddings(graph.vocab.size)
    run = write_run(tmp_path / "runs" / "r1", graph_dir, emb, graph.vocab, val_fraction=0.3, seed=3)
    lines = []
    report = rep.analyze_run(run, log=lines.append)
    saved = json.loads((run / "report.json").read_text())
    assert saved == report
    assert report["axes"][0]["dim"] == PLANTED
    assert report["training"]["epochs"] == 1  # the half-written second line is skipped
    _, val_idx = graph.split(seed=3, val_fraction=0.3)
    assert report["validation"]["n_edges"] == len(val_idx)
    assert report["antonyms"]["n_pairs"] == SIZE
    assert sorted(p.rsplit("/", 1)[-1] for p in report["figures"]) == [
        "activity.png", "axes.png", "distances.png", "sparsity.png"]
    assert all((run / "figures" / name).stat().st_size > 1000 for name in ("activity.png", "axes.png"))
    assert any(line.startswith("analysis of") for line in lines) and len(lines) < 15
    assert rundir.latest_run(tmp_path / "runs") == run
    assert "lex0" in rep.axes_text(report, n=1) and "dist" in rep.antonym_text(report)


def test_analyze_run_without_graph_skips_graph_sections(tmp_path):
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    run = write_run(tmp_path / "r", tmp_path / "gone", emb, graph.vocab)
    report = rep.analyze_run(run, log=lambda s: None, figures=False)
    assert report["validation"] is None and report["antonyms"] is None
    assert "not found" in report["skipped"]["validation"]
    assert report["axes"][0]["dim"] == PLANTED  # lexnames come from the run's own vocabulary.json


def test_relative_training_data_is_found_beside_the_run(tmp_path, monkeypatch):
    graph = planted_graph()
    graph.save(tmp_path / "data" / "g")
    run = write_run(tmp_path / "runs" / "r", "data/g", planted_embeddings(graph.vocab.size), graph.vocab)
    monkeypatch.chdir(tmp_path / "runs")  # "data/g" is not under the cwd, but it is under the run's grandparent
    assert rundir.load_run(run).graph is not None


@pytest.mark.parametrize("breakage, message", [
    ("no_dir", "does not exist"),
    ("no_config", "config.json is missing"),
    ("bad_config", "config.json is not valid JSON"),
    ("no_embeddings", "embeddings.npy is missing"),
    ("truncated", "corrupt or truncated"),
    ("nan", "NaN/inf"),
    ("wrong_rows", "has 3 rows but the vocabulary has 41"),
    ("other_graph", "vocabulary differs from the run's at id 0"),
])
def test_broken_run_dirs_give_one_line_errors(tmp_path, breakage, message):
    graph = planted_graph()
    graph_dir = graph.save(tmp_path / "graph")
    emb = planted_embeddings(graph.vocab.size)
    run = write_run(tmp_path / "run", graph_dir, emb, graph.vocab)
    other = None
    if breakage == "no_dir":
        run = tmp_path / "nowhere"
    elif breakage == "no_config":
        (run / "config.json").unlink()
    elif breakage == "bad_config":
        (run / "config.json").write_text("{")
    elif breakage == "no_embeddings":
        (run / "embeddings.npy").unlink()
    elif breakage == "truncated":
        data = (run / "embeddings.npy").read_bytes()
        (run / "embeddings.npy").write_bytes(data[: len(data) // 2])
    elif breakage == "nan":
        emb[4, 2] = np.nan
        np.save(run / "embeddings.npy", emb)
    elif breakage == "wrong_rows":
        np.save(run / "embeddings.npy", emb[:3])
    elif breakage == "other_graph":
        other = planted_graph()
        other.vocab = Vocabulary(["z" + w for w in graph.vocab.id_to_word])
    with pytest.raises(RunError, match=message) as info:
        rep.analyze_run(run, graph=other, log=lambda s: None, figures=False)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_axis_text_shows_both_poles_of_the_planted_dimension():
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    text = rep.axis_text(emb, graph.vocab, PLANTED, k=SIZE)
    rows = text.splitlines()[2:]
    assert len(rows) == SIZE
    # left column: group 1 (negative), right column: group 0 (positive)
    assert all(".w1x" in row.split("   ")[0] and ".w0x" in row.split("   ")[-1] for row in rows)
    assert "does not exist" in rep.axis_text(emb, graph.vocab, emb.shape[1])


def test_live_text_prints_first_and_rerenders_on_change(capsys, monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    slider = widgets.IntSlider(value=2, min=0, max=9)
    assert notebook.live_text(slider, lambda v: f"value is {v}", headless=True) is None
    assert capsys.readouterr().out == "value is 2\n"  # headless runs keep the first result as plain output
    shown = []
    monkeypatch.setattr(notebook, "in_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", shown.append)
    notebook.live_text(slider, lambda v: f"value is {v}", headless=False)
    (box,) = shown
    assert box.children[0] is slider and len(box.children) == 2  # one output area under the control, replaced
    slider.value = 7
    assert "value is 7" in box.children[1].value and "break-all" not in box.children[1].value  # replaced, word-wrapped


def test_a_run_on_a_graph_with_antonyms_only_is_analysed(tmp_path):
    """One relation, no synonyms: the report says n/a where it has nothing to measure, and does not fail."""
    from naomi_nb.config import TrainConfig
    from naomi_nb.graph import Graph, tiny_graph
    from naomi_nb.trainer import train

    g = tiny_graph()
    m = g.rel == g.relations.index("antonym")
    only = Graph(g.src[m], g.dst[m], np.zeros(m.sum(), np.int16), g.conf[m], ["antonym"],
                 np.array([1.0], np.float32), g.vocab)
    lines = []
    result = train(TrainConfig(output_dir=str(tmp_path / "r"), epochs=2, batch_size=16, embedding_dim=4,
                               checkpoint_seconds=0.0), graph=only, log=lines.append)
    rep.analyze_result(result, graph=only, log=lines.append)
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["antonyms"]["synonym"]["mean"] is None
    assert any("synonyms n/a" in line for line in lines)
