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
