"""naomi_nb/steps.py: what the prepare, explore and search notebooks call, each parameter checked in its own words."""
import json

import pytest

from naomi_nb import notebook as nbd
from naomi_nb import steps



def test_explore_names_run_dir_and_its_own_parameters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = {"RUN_DIR": None, "RUNS_DIR": "runs", "K": 10, "N_AXES": 10, "TOP_DIMS": 10, "DIM": 0, "METRIC": "l2",
            "WORD": "dog"}
    with pytest.raises(nbd.ParameterError, match=r"^RUN_DIR = 'runs/no-such-run': no such directory .*; give a run "
                                                 r"directory, or None for the newest run under RUNS_DIR"):
        steps.explore_run({**base, "RUN_DIR": "runs/no-such-run"})
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(nbd.ParameterError, match="^RUN_DIR = '.*half' holds no trained model"):
        steps.explore_run({**base, "RUN_DIR": str(tmp_path / "half")})
    for name, value, accepts in (("K", 0, "at least 1"), ("N_AXES", -1, "at least 1"), ("DIM", 1.5, "at least 0"),
                                 ("TOP_DIMS", "5", "at least 1")):
        with pytest.raises(nbd.ParameterError, match=f"^{name} = {value!r}: give a whole number of {accepts}$"):
            steps.explore_run({**base, name: value})
    with pytest.raises(nbd.ParameterError, match="^METRIC = 'cos': choose 'l2'"):
        steps.explore_run({**base, "METRIC": "cos"})


def test_prepare_graph_names_its_parameters(tmp_path):
    from naomi_nb.graph import tiny_graph

    with pytest.raises(nbd.ParameterError, match=r"^WORDNET_DIR = '.*nowhere' is not a WordNet 3.0 dict directory "
                                                 r"\(no such directory\)"):
        steps.prepare_graph(tmp_path / "g", wordnet_dir=str(tmp_path / "nowhere"))
    (tmp_path / "dict").mkdir()
    (tmp_path / "dict" / "data.noun").write_text("")
    with pytest.raises(nbd.ParameterError, match=r"it lacks data.verb, data.adj"):
        steps.prepare_graph(tmp_path / "g", wordnet_dir=str(tmp_path / "dict"))
    with pytest.raises(nbd.ParameterError, match="^SUBGRAPH = 'mammal': give a WordNet synset name like 'mammal.n.01'"):
        steps.prepare_graph(tmp_path / "g", subgraph="mammal")
    tiny_graph().save(tmp_path / "full")  # a graph of no subgraph: OUTPUT cannot hold the mammals too
    with pytest.raises(nbd.ParameterError, match="^OUTPUT = '.*full' already holds all of WordNet, not the subgraph "
                                                 "below mammal.n.01"):
        steps.prepare_graph(tmp_path / "full", subgraph="mammal.n.01")
    assert steps.prepare_graph(tmp_path / "full", log=lambda *a: None).n_edges == tiny_graph().n_edges
    assert steps.subgraph_output(["mammal.n.01"]) == "data/wordnet_mammals"  # the notebooks' CPU graph
    assert steps.subgraph_output(["dog.n.01"]) == "data/wordnet_dog"
    assert steps.subgraph_output(None) == "data/wordnet_training"


def test_a_misspelt_search_space_key_names_space(tmp_path):
    with pytest.raises(nbd.ParameterError, match=r"^SPACE\['learnrate'\] is not a training setting \(did you mean "
                                                 r"'lr'\?\)"):
        steps.check_search_space({"learnrate": (1e-4, 1e-1, "log")})
    params = {"STUDY": "s", "OUTPUT_DIR": str(tmp_path / "s"), "N_TRIALS": 1, "SPACE": {"learnrate": (1e-4, 1e-1)},
              "EPOCHS": 1}
    with pytest.raises(nbd.ParameterError, match=r"^SPACE\['learnrate'\]"):
        steps.notebook_search(params)
    with pytest.raises(nbd.ParameterError, match="^EPOCHS must be >= 1 \\(got 0\\)$"):
        steps.notebook_search({**params, "SPACE": {"lr": (1e-4, 1e-1)}, "EPOCHS": 0})
    with pytest.raises(nbd.ParameterError, match="^N_TRIALS = 0: "):
        steps.notebook_search({**params, "N_TRIALS": 0})
    assert not (tmp_path / "s").exists()  # refused before a study exists
    assert steps.search_words("--param lr: low (1.0) must be below high (0.5)", {}) == \
        "SPACE['lr']: low (1.0) must be below high (0.5)"
    assert steps.search_words("--n-trials must be >= 1 (got 0)", {}) == "N_TRIALS must be >= 1 (got 0)"


@pytest.mark.slow
def test_rerunning_a_search_with_the_same_n_trials_says_nothing_ran(tiny, tmp_path):
    params = {"STUDY": "s", "OUTPUT_DIR": str(tmp_path / "s"), "N_TRIALS": 1, "SPACE": {"lr": (1e-3, 1e-1, "log")},
              "TRAINING_DATA": str(tiny), "EPOCHS": 1, "EMBEDDING_DIM": 4, "BATCH_SIZE": 64, "DEVICE": "cpu",
              "OBJECTIVE": "seed"}
    said = []
    study, study_dir = steps.notebook_search(params, log=said.append)
    assert len(study.trials) == 1 and study_dir == tmp_path / "s"
    assert not any("nothing to run" in line for line in said)
    said.clear()
    study, _ = steps.notebook_search(params, log=said.append)
    assert len(study.trials) == 1
    assert said[-1].startswith("nothing to run: study 's' already holds 1 trials and N_TRIALS = 1 is the study's "
                               "total; set N_TRIALS above 1")
    # the table's link opens a file of the trial's run, not its folder
    html = steps.trials_table(study, relative_to=tmp_path).data
    assert 'href="s/trial-0/metrics.json"' in html


def test_a_stored_report_is_reused_until_the_run_changes(tmp_path, monkeypatch):
    import os

    from naomi_nb import report

    run = tmp_path / "run"
    (run / "figures").mkdir(parents=True)
    (run / "embeddings.npy").write_bytes(b"x")
    (run / "metrics.json").write_text("{}")
    (run / "figures" / "axes.png").write_bytes(b"png")
    (run / "report.json").write_text(json.dumps({"cards": [], "figures": ["/elsewhere/figures/axes.png"]}))
    monkeypatch.setattr(report, "stored_result", lambda rep, name, measure=None: {})  # every measure ran
    stored = steps.stored_report(run)
    assert stored["figures"] == [str(run / "figures" / "axes.png")]  # found in this run directory
    old = (run / "report.json").stat().st_mtime - 10
    os.utime(run / "report.json", (old, old))  # the run trained again after its analysis: stale
    assert steps.stored_report(run) is None
    os.utime(run / "report.json", None)
    monkeypatch.setattr(report, "stored_result", lambda rep, name, measure=None: None)  # a measure added since
    assert steps.stored_report(run) is None
