"""One rule for the project's places: runs/, data/ and the root they hang from."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from naomi_nb import project, rundir


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A checkout of the kit (pyproject.toml beside naomi_nb/), the working directory in its notebooks/."""
    monkeypatch.delenv(project.RUNS_ENV, raising=False)
    monkeypatch.delenv(project.DATA_ENV, raising=False)
    root = tmp_path / "repo"
    (root / "naomi_nb").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "pyproject.toml").write_text("")
    monkeypatch.chdir(root / "notebooks")
    return root.resolve()


def test_runs_and_data_hang_from_the_checkout(checkout):
    assert project.project_root() == checkout
    assert project.runs_dir() == checkout / "runs" and project.data_dir() == checkout / "data"
    assert project.project_path("runs/mine") == checkout / "runs" / "mine"
    assert project.project_path("data/wordnet_mammals") == checkout / "data" / "wordnet_mammals"
    assert project.project_path("other/x") == checkout / "other" / "x"


def test_outside_a_checkout_they_are_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(project.RUNS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert project.runs_dir() == tmp_path.resolve() / "runs"


def test_the_environment_overrides_both(checkout, tmp_path, monkeypatch):
    monkeypatch.setenv(project.RUNS_ENV, str(tmp_path / "elsewhere-runs"))
    monkeypatch.setenv(project.DATA_ENV, str(tmp_path / "elsewhere-data"))
    assert project.runs_dir() == tmp_path / "elsewhere-runs"
    assert project.project_path("runs/a") == tmp_path / "elsewhere-runs" / "a"
    assert project.project_path("data/g") == tmp_path / "elsewhere-data" / "g"
    assert project.project_path(tmp_path / "abs") == tmp_path / "abs"  # an absolute path stays as given


def test_default_run_directories_use_the_rule(checkout, tmp_path, monkeypatch):
    from naomi_nb.notebook import fresh_run_dir
    from naomi_nb.search import study_directory
    from naomi_nb.session import run_dirs

    monkeypatch.setenv(project.RUNS_ENV, str(tmp_path / "r"))
    path, lock = rundir.new_run_dir(None)
    try:
        assert path.parent == tmp_path / "r"
    finally:
        lock.release()
    (path / rundir.CONFIG).write_text("{}")
    assert run_dirs() == [path]
    assert fresh_run_dir().parent == tmp_path / "r"
    assert study_directory("s") == tmp_path / "r" / "search-s" and study_directory("s", "x") == Path("x")
    assert rundir.latest_run() is None
    (path / rundir.EMBEDDINGS).write_bytes(b"")
    assert rundir.latest_run() == path


def test_notebook_defaults_follow_the_data_directory(checkout, tmp_path, monkeypatch):
    from naomi_nb.config import CPU_DEFAULTS
    from naomi_nb.notebook import notebook_config

    monkeypatch.setenv(project.DATA_ENV, str(tmp_path / "d"))
    name = Path(CPU_DEFAULTS["training_data"]).name  # the mammal subgraph
    assert notebook_config({}, device="cpu").training_data == str(tmp_path / "d" / name)


def test_ensure_graph_loads_an_original_naomi_directory(tmp_path):
    import pickle

    d = tmp_path / "legacy"
    d.mkdir()
    words = ["dog", "cat", "animal"]
    (d / "vocabulary.json").write_text(json.dumps({"word_to_id": {w: i for i, w in enumerate(words)},
                                                   "id_to_word": dict(enumerate(words)), "vocab_size": 3}))
    (d / "training_edges.pkl").write_bytes(pickle.dumps([(0, "hypernym", 2, 1.0), (1, "hypernym", 2, 1.0)]))
    graph = project.ensure_graph(d, log=lambda *a: None)
    assert graph.n_edges == 2 and not (d / "manifest.json").exists()


def test_ensure_graph_builds_known_subgraphs_with_their_roots(tmp_path, monkeypatch):
    import naomi_nb.wordnet as wordnet

    calls = []
    monkeypatch.setattr(wordnet, "prepare_wordnet", lambda path, **kw: calls.append((Path(path).name, kw)) or "g",
                        raising=False)
    assert project.ensure_graph(tmp_path / "wordnet_mammals") == "g"
    assert project.ensure_graph(tmp_path / "other", roots=["dog.n.01"]) == "g"
    assert project.ensure_graph(tmp_path / "wordnet_training") == "g"
    assert [(name, kw.get("roots")) for name, kw in calls] == [
        ("wordnet_mammals", ["mammal.n.01"]), ("other", ["dog.n.01"]), ("wordnet_training", None)]
