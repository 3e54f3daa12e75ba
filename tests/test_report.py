"""naomi_nb.report: analysing a run directory (report.json, figures, one-line errors) and the texts a notebook
shows of a run."""
import json

import numpy as np
import pytest
from helpers import PLANTED, SIZE, planted_embeddings, planted_graph

from naomi_nb import report as rep
from naomi_nb import rundir
from naomi_nb.config import TrainConfig
from naomi_nb.graph import Vocabulary
from naomi_nb.rundir import RunDirError as RunError


def test_neighbors_and_axes_among_frequent_senses_and_short_run_note():
    import numpy as np

    from naomi_nb import report
    from naomi_nb.graph import Vocabulary

    vocab = Vocabulary(["dog.n.01.dog", "cur.n.01.cur", "cat.n.01.cat", "tom.n.01.tom"], count=[5, 0, 3, 0])
    emb = np.array([[0.0, 1.0], [0.0, 0.9], [0.5, -1.0], [0.0, 0.95]], dtype=np.float32)
    text = report.neighbors_text(emb, vocab, "dog.n.01.dog", k=1, among=np.array([0, 2]))
    assert text.splitlines() == ["dog.n.01.dog", f"    {np.hypot(0.5, 2.0):7.4f}  cat.n.01.cat"]
    assert "tom.n.01.tom" in report.neighbors_text(emb, vocab, "dog.n.01.dog", k=1)  # all senses: the nearest
    axis = report.axis_text(emb, vocab, 1, k=1, among=np.array([0, 2]))
    assert "among 2 frequent senses" in axis and "dog.n.01.dog" in axis and "tom" not in axis
    assert "mostly noise" in report.run_note([{"epoch": 1}], {"stopped": "interrupted"})
    assert report.run_note([{"epoch": e} for e in range(1, 6)], {}) is None


def write_run(path, graph_dir, emb, vocab, **config):
    path.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(training_data=str(graph_dir), **config).to_dict()
    (path / "config.json").write_text(json.dumps(cfg))
    (path / "vocabulary.json").write_text(json.dumps(vocab.to_json()))
    (path / "history.jsonl").write_text('{"epoch": 1, "val_loss": 0.5}\n{"epoch": 2, "val_lo')  # killed mid-line
    np.save(path / "embeddings.npy", emb)
    return path


@pytest.mark.slow
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
    assert lines[0].startswith("trained: ") and lines[1].startswith("analysis of") and len(lines) < 17
    assert rundir.latest_run(tmp_path / "runs") == run
    assert "lex0" in rep.axes_text(report, n=1) and "dist" in rep.antonym_text(report)


@pytest.mark.slow
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


def test_a_run_on_a_graph_with_antonyms_only_is_analysed(tmp_path, monkeypatch):
    """One relation, no synonyms: the report says n/a where it has nothing to measure, and does not fail."""
    from naomi_nb import semantics
    from naomi_nb.config import TrainConfig
    from naomi_nb.graph import Graph, tiny_graph
    from naomi_nb.trainer import train

    g = tiny_graph()
    m = g.rel == g.relations.index("antonym")
    only = Graph(g.src[m], g.dst[m], np.zeros(m.sum(), np.int16), g.conf[m], ["antonym"],
                 np.array([1.0], np.float32), g.vocab)
    # no WordNet reader, as on a machine without WordNet: Wu-Palmer is skipped (loading the real one costs 10-20 s)
    monkeypatch.setattr(semantics, "_find_wordnet", lambda: None)
    lines = []
    result = train(TrainConfig(output_dir=str(tmp_path / "r"), epochs=2, batch_size=16, embedding_dim=4,
                               checkpoint_seconds=0.0), graph=only, log=lines.append)
    rep.analyze_result(result, graph=only, log=lines.append)
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["antonyms"]["synonym"]["mean"] is None
    assert any("synonyms n/a" in line for line in lines)


# ---------------------------------------------------------------- measures found by name, and the rotation control


def norms(ctx):
    """The mean length of the vectors: a figure every rotation keeps."""
    return {"mean_norm": float(np.linalg.norm(ctx.emb, axis=1).mean()), "n_rows": int(ctx.emb.shape[0])}


def peaks(ctx):
    """How much of each vector's length its largest coordinate holds: one-hot rows score 1, a rotation mixes them."""
    x = ctx.emb
    return {"peak": float((np.abs(x).max(axis=1) / np.linalg.norm(x, axis=1)).mean()),
            "mean_norm": float(np.linalg.norm(x, axis=1).mean())}


@pytest.fixture
def registered():
    """Register module-level functions as measures for one test, then take them out of the registry again."""
    from naomi_nb import components
    from naomi_nb.components import register

    names = []

    def add(name, fn, **declared):
        for key, value in declared.items():
            setattr(fn, key, value)
        register("measure", name)(fn)
        names.append(name)

    yield add
    for name in names:
        components._TABLES["measure"].pop(name, None)
    for fn in (norms, peaks):
        for key in ("axis_dependent", "order", "section"):
            fn.__dict__.pop(key, None)


def _one_hot_run(tmp_path, monkeypatch):
    """A run of the planted graph whose senses are tagged in SemCor and whose rows are one-hot plus noise."""
    from naomi_nb import semantics

    monkeypatch.setattr(semantics, "_find_wordnet", lambda: None)  # no WordNet: Wu-Palmer skipped, no glosses
    graph = planted_graph()
    v = graph.vocab
    graph.vocab = Vocabulary(v.id_to_word, synset=v.synset, lexname=v.lexname, count=[1] * v.size)
    graph_dir = graph.save(tmp_path / "graph")
    rng = np.random.default_rng(0)
    emb = (np.eye(6)[np.arange(v.size) % 6] * rng.uniform(0.5, 1.5, (v.size, 1))
           + 0.01 * rng.standard_normal((v.size, 6))).astype(np.float32)
    return write_run(tmp_path / "run", graph_dir, emb, graph.vocab)


def test_a_new_measure_is_found_by_name_and_lands_in_report_json_and_summary_txt(tmp_path, monkeypatch, registered):
    registered("norms", norms)
    run = _one_hot_run(tmp_path, monkeypatch)
    report = rep.analyze_run(run, log=lambda s: None, figures=False)
    saved = json.loads((run / "report.json").read_text())
    emb = np.load(run / "embeddings.npy")
    assert saved["norms"] == {"mean_norm": pytest.approx(float(np.linalg.norm(emb, axis=1).mean())), "n_rows": 41}
    assert saved == report and "norms" in report["timings"]
    summary = (run / "summary.txt").read_text()
    assert f"  norms: mean_norm {report['norms']['mean_norm']:.4g}, n_rows 41" in summary.splitlines()
    assert "norms" not in rep.control_text(report)  # not a readability measure: no rotation control
    from naomi_nb.measures import default_lines

    assert default_lines("norms", {"skipped": "why"}) == ["norms: skipped (why)"]
    assert default_lines("norms", [1, 2, 3]) == ["norms: 3 entries"]


def test_a_readability_measure_gets_its_rotation_control_and_a_space_figure_is_flagged(tmp_path, monkeypatch,
                                                                                      registered):
    registered("peaks", peaks, axis_dependent=True, section="shapes")
    run = _one_hot_run(tmp_path, monkeypatch)
    report = rep.analyze_run(run, log=lambda s: None, figures=False)
    control = report["shapes"]["peaks"]["rotation"]
    assert control["peak"]["axes"] > 0.95 and control["peak"]["advantage"] > 0.2  # one-hot rows, mixed by the rotation
    assert control["peak"]["space_not_axes"] is False
    assert control["mean_norm"]["advantage"] == pytest.approx(0.0, abs=1e-5)  # lengths survive any rotation
    assert control["mean_norm"]["space_not_axes"] is True
    assert report["rotation"]["band"] == pytest.approx(0.08) and "peaks (rotated)" in report["timings"]
    line = next(x for x in (run / "summary.txt").read_text().splitlines() if x.startswith("  peaks:"))
    assert "peak " in line and "axis advantage +" in line and "mean_norm" in line
    assert "measures the space, not the axes" in line.split("mean_norm", 1)[1]
    text = rep.control_text(report)
    assert "peaks peak" in text and "the axes read better" in text and "measures the space" in text


def test_every_readability_figure_is_shown_beside_its_rotation(tmp_path, monkeypatch):
    run = _one_hot_run(tmp_path, monkeypatch)
    report = rep.analyze_run(run, log=lambda s: None, figures=False)
    sem = report["semantics"]
    assert sem["intrusion"]["dist_ratio"] == sem["intrusion"]["rotation"]["dist_ratio"]["axes"]  # the raw key stays
    assert set(sem["categories"]["rotation"]) == {"is_dimension", "is_category", "purity"}
    assert set(report["hubs"]["rotation"]) == {"distinct"} and report["hubs"]["top"][0][1] >= 2
    summary = (run / "summary.txt").read_text()
    for line in summary.splitlines():
        if line.startswith(("  word intrusion", "  lexname categories")):
            assert line.count("(rotated ") == (2 if "intrusion" in line else 3), line
    assert sum(line.startswith("  hubs (top 5 senses of 12 poles") for line in summary.splitlines()) == 1
    rows = rep.control_text(report).splitlines()
    assert len(rows) == 1 + 2 + 3 + 1  # header, intrusion, categories, hubs
    hubs = rep.hubs_text(report).splitlines()
    assert "distinct senses per slot" in hubs[0] and "(rotated " in hubs[0] and hubs[1].endswith("share of poles")
    assert len(hubs) == 2 + len(report["hubs"]["top"])
    older = {key: v for key, v in report.items() if key != "hubs"}  # analysed before hubs and the control
    assert "analysed before" in rep.hubs_text(older) and "no readability figures" in rep.control_text(
        {**older, "semantics": {"frequent": report["semantics"]["frequent"]}})


def test_a_measure_may_not_take_a_key_of_the_report(tmp_path, monkeypatch, registered):
    registered("seconds", norms)
    run = _one_hot_run(tmp_path, monkeypatch)
    with pytest.raises(rep.AnalysisError, match="measure .seconds.: report.json.s key .seconds. is taken"):
        rep.analyze_run(run, log=lambda s: None, figures=False, measures=("seconds",))
