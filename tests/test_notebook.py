"""naomi_nb.notebook: notebook parameters, paths and graphs, tables, formatting, the metrics record."""
import json
from pathlib import Path

import pytest
from helpers import scripted_history

from naomi_nb import notebook as nbd
from naomi_nb import project
from naomi_nb.config import CPU_DEFAULTS, GPU_DEFAULTS, PRESETS, ConfigError, TrainConfig
from naomi_nb.notebook import Table, notebook_config, record, summary_table
from naomi_nb.panel import control_panel


def test_summary_table_reports_the_run():
    history = scripted_history()
    table = summary_table(history, {"best_val": 0.005, "best_epoch": 4, "minutes": 0.2})
    rows = dict(table.rows)
    assert rows["epochs run"] == "6 of 100"
    assert rows["best val loss"] == "0.005 (epoch 4)"
    # the returned model is epoch 4's: the width it trained with (the expansion after it came later)
    assert rows["returned model"] == "epoch 4 (best validation), 192 dims"
    assert rows["model sparsity (epoch 4)"].startswith("57.0% |x| < 0.01") and "40.0% exact zeros" in \
        rows["model sparsity (epoch 4)"] and "median 128 active" in rows["model sparsity (epoch 4)"]
    assert rows["last epoch (6) sparsity"].startswith("63.0%") and "median 128 active" in rows["last epoch (6) sparsity"]
    assert rows["dims during the run"] == "128 -> 256 (2 expansions)"
    assert rows["batch size"] == "1M -> 683K -> 512K"
    assert rows["stopped"] == "early stop at epoch 6 (patience 2)"
    with_metrics = dict(summary_table(history, {"best_epoch": 4, "final_dims": 96, "pruned_dims": 96}).rows)
    assert with_metrics["returned model"] == "epoch 4 (best validation), 96 dims after pruning 96"
    assert "settings" in dict(summary_table(history, cfg=TrainConfig()).rows)
    assert "<table>" in table._repr_html_() and "early stop" in str(table)


def test_record_writes_notebook_metrics(tmp_path):
    import numpy as np

    path = record(tmp_path / "run", {"best_val": np.float32(0.5), "best_epoch": 3}, notebook="02_train")
    data = json.loads(path.read_text())
    assert path.name == "notebook_metrics.json"
    assert data["best_val"] == pytest.approx(0.5) and data["notebook"] == "02_train"


def test_notebook_config_device_defaults():
    gpu = notebook_config({"EPOCHS": None}, device="cuda")
    paths = {"training_data"}
    assert {k: getattr(gpu, k) for k in set(GPU_DEFAULTS) - paths} == {k: PRESETS["aggressive"][k] for k in
                                                                      set(GPU_DEFAULTS) - paths}
    assert gpu.training_data.endswith("data/wordnet_training")  # full WordNet on a GPU, anchored at the project
    cpu = notebook_config({}, device="cpu")
    assert {k: getattr(cpu, k) for k in set(CPU_DEFAULTS) - paths} == {k: CPU_DEFAULTS[k] for k in
                                                                      set(CPU_DEFAULTS) - paths}
    assert cpu.training_data.endswith("data/wordnet_mammals")  # the mammal subgraph on a CPU
    assert cpu.dynamic_dims and cpu.batch_size <= 4096 and cpu.min_batch_size < cpu.batch_size


def test_notebook_config_injected_values_win(tmp_path):
    params = {"EPOCHS": 2, "BATCH_SIZE": 65536, "DYNAMIC_DIMS": False, "OUTPUT_DIR": str(tmp_path / "r"),
              "PRESET": "conservative", "HEADLESS": True, "IN_COLAB": False, "Train": object(),
              "lr": 5.0, "seed": 7}  # a notebook's own lower-case variables are not parameters
    cfg = notebook_config(params, device="cuda")
    assert (cfg.epochs, cfg.batch_size, cfg.dynamic_dims) == (2, 65536, False)
    assert cfg.expand_interval == PRESETS["conservative"]["expand_interval"]  # from the preset
    assert cfg.output_dir == str(tmp_path / "r")
    assert (cfg.lr, cfg.seed) == (PRESETS["conservative"]["lr"], 0)


def test_notebook_settings_reach_every_component_knob_and_name_themselves_when_wrong():
    cfg = notebook_config({"SETTINGS": {"graded_hops": 3, "tree_weight": 0.5}, "GEOMETRY": "tree"}, device="cpu")
    assert (cfg.graded_hops, cfg.tree_weight, cfg.geometry) == (3, 0.5, "tree")
    assert notebook_config({"GRADED_HOPS": 6}, device="cpu").graded_hops == 6  # injected by its UPPER_CASE name
    with pytest.raises(ConfigError, match="^SETTINGS: 'graded_hop' is not a setting \\(did you mean 'graded_hops'\\?\\)"):
        notebook_config({"SETTINGS": {"graded_hop": 3}}, device="cpu")
    with pytest.raises(ConfigError, match="^SETTINGS must be a dict"):
        notebook_config({"SETTINGS": [("graded_hops", 3)]}, device="cpu")
    with pytest.raises(ConfigError, match="^SETTINGS\\['graded_hops'\\] must be in \\[2, 20\\]"):
        notebook_config({"SETTINGS": {"graded_hops": 1}}, device="cpu")


def test_notebook_config_scales_presets_off_cuda():
    cfg = notebook_config({"PRESET": "fixed"}, device="cpu")
    assert cfg.embedding_dim == PRESETS["fixed"]["embedding_dim"] // 4
    assert cfg.epochs <= 60 and cfg.batch_size <= 2048 and not cfg.dynamic_dims


def test_notebook_config_anchors_paths_at_project_root(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "naomi_nb").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "notebooks").mkdir()
    monkeypatch.chdir(root / "notebooks")  # where JupyterLab and nbmake run a notebook
    monkeypatch.delenv(project.RUNS_ENV, raising=False)  # the defaults, not the test session's directories
    monkeypatch.delenv(project.DATA_ENV, raising=False)
    cfg = notebook_config({"TRAINING_DATA": "data/wordnet_training"}, device="cpu")
    assert cfg.training_data == str(root / "data" / "wordnet_training")
    assert cfg.output_dir is None
    panel = control_panel(cfg, headless=True)
    first = panel.config().output_dir
    assert first.startswith(str(root / "runs"))
    Path(first).mkdir(parents=True)  # a run was made there: the next run gets another directory
    assert panel.config().output_dir not in (None, first)
    assert notebook_config({"OUTPUT_DIR": "runs/mine"}, device="cpu").output_dir == str(root / "runs" / "mine")


def test_notebook_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="^PRESET: unknown preset 'fast'"):
        notebook_config({"PRESET": "fast"}, device="cpu")
    with pytest.raises(ConfigError) as err:
        notebook_config({"EMBEDDING_DIM": 256, "MAX_DIMS": 128, "DYNAMIC_DIMS": True}, device="cpu")
    assert str(err.value) == "EMBEDDING_DIM (256) is above MAX_DIMS (128)"  # the notebook's names, not the flags


@pytest.mark.parametrize("params, message", [
    ({"LR": "fast"}, "LR must be a number (got 'fast')"),
    ({"EPOCHS": -5}, "EPOCHS must be >= 1 (got -5)"),
    ({"EPOCHS": 2.5}, "EPOCHS must be a whole number (got 2.5)"),
    ({"DYNAMIC_DIMS": "yes"}, "DYNAMIC_DIMS must be True or False (got 'yes')"),
    ({"SETTINGS": {"graded_hops": 1}}, "SETTINGS['graded_hops'] must be in [2, 20] (got 1)"),
    ({"GRADED_HOPS": 1}, "GRADED_HOPS must be in [2, 20] (got 1)"),
    ({"DEVICE": "gpu"}, "DEVICE 'gpu' is not a device (use auto, cpu, cuda or cuda:N)"),
])
def test_a_bad_parameter_is_one_line_naming_the_notebooks_variable(params, message):
    with pytest.raises(nbd.ParameterError) as err:
        notebook_config(params, device="cpu")
    assert str(err.value) == message
    # IPython (JupyterLab, Colab, papermill, nbmake) shows this one line instead of a traceback
    assert err.value._render_traceback_() == [f"ParameterError: {message}"]


def test_explore_names_run_dir_and_its_own_parameters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = {"RUN_DIR": None, "RUNS_DIR": "runs", "K": 10, "N_AXES": 10, "TOP_DIMS": 10, "DIM": 0, "METRIC": "l2",
            "WORD": "dog"}
    with pytest.raises(nbd.ParameterError, match=r"^RUN_DIR = 'runs/no-such-run': no such directory .*; give a run "
                                                 r"directory, or None for the newest run under RUNS_DIR"):
        nbd.explore_run({**base, "RUN_DIR": "runs/no-such-run"})
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(nbd.ParameterError, match="^RUN_DIR = '.*half' holds no trained model"):
        nbd.explore_run({**base, "RUN_DIR": str(tmp_path / "half")})
    for name, value, accepts in (("K", 0, "at least 1"), ("N_AXES", -1, "at least 1"), ("DIM", 1.5, "at least 0"),
                                 ("TOP_DIMS", "5", "at least 1")):
        with pytest.raises(nbd.ParameterError, match=f"^{name} = {value!r}: give a whole number of {accepts}$"):
            nbd.explore_run({**base, name: value})
    with pytest.raises(nbd.ParameterError, match="^METRIC = 'cos': choose 'l2'"):
        nbd.explore_run({**base, "METRIC": "cos"})


def test_prepare_graph_names_its_parameters(tmp_path):
    from naomi_nb.graph import tiny_graph

    with pytest.raises(nbd.ParameterError, match=r"^WORDNET_DIR = '.*nowhere' is not a WordNet 3.0 dict directory "
                                                 r"\(no such directory\)"):
        nbd.prepare_graph(tmp_path / "g", wordnet_dir=str(tmp_path / "nowhere"))
    (tmp_path / "dict").mkdir()
    (tmp_path / "dict" / "data.noun").write_text("")
    with pytest.raises(nbd.ParameterError, match=r"it lacks data.verb, data.adj"):
        nbd.prepare_graph(tmp_path / "g", wordnet_dir=str(tmp_path / "dict"))
    with pytest.raises(nbd.ParameterError, match="^SUBGRAPH = 'mammal': give a WordNet synset name like 'mammal.n.01'"):
        nbd.prepare_graph(tmp_path / "g", subgraph="mammal")
    tiny_graph().save(tmp_path / "full")  # a graph of no subgraph: OUTPUT cannot hold the mammals too
    with pytest.raises(nbd.ParameterError, match="^OUTPUT = '.*full' already holds all of WordNet, not the subgraph "
                                                 "below mammal.n.01"):
        nbd.prepare_graph(tmp_path / "full", subgraph="mammal.n.01")
    assert nbd.prepare_graph(tmp_path / "full", log=lambda *a: None).n_edges == tiny_graph().n_edges
    assert nbd.subgraph_output(["mammal.n.01"]) == "data/wordnet_mammals"  # the notebooks' CPU graph
    assert nbd.subgraph_output(["dog.n.01"]) == "data/wordnet_dog"
    assert nbd.subgraph_output(None) == "data/wordnet_training"


def test_a_misspelt_search_space_key_names_space(tmp_path):
    with pytest.raises(nbd.ParameterError, match=r"^SPACE\['learnrate'\] is not a training setting \(did you mean "
                                                 r"'lr'\?\)"):
        nbd.check_search_space({"learnrate": (1e-4, 1e-1, "log")})
    params = {"STUDY": "s", "OUTPUT_DIR": str(tmp_path / "s"), "N_TRIALS": 1, "SPACE": {"learnrate": (1e-4, 1e-1)},
              "EPOCHS": 1}
    with pytest.raises(nbd.ParameterError, match=r"^SPACE\['learnrate'\]"):
        nbd.notebook_search(params)
    with pytest.raises(nbd.ParameterError, match="^EPOCHS must be >= 1 \\(got 0\\)$"):
        nbd.notebook_search({**params, "SPACE": {"lr": (1e-4, 1e-1)}, "EPOCHS": 0})
    with pytest.raises(nbd.ParameterError, match="^N_TRIALS = 0: "):
        nbd.notebook_search({**params, "N_TRIALS": 0})
    assert not (tmp_path / "s").exists()  # refused before a study exists
    assert nbd.search_words("--param lr: low (1.0) must be below high (0.5)", {}) == \
        "SPACE['lr']: low (1.0) must be below high (0.5)"
    assert nbd.search_words("--n-trials must be >= 1 (got 0)", {}) == "N_TRIALS must be >= 1 (got 0)"


@pytest.mark.slow
def test_rerunning_a_search_with_the_same_n_trials_says_nothing_ran(tiny, tmp_path):
    params = {"STUDY": "s", "OUTPUT_DIR": str(tmp_path / "s"), "N_TRIALS": 1, "SPACE": {"lr": (1e-3, 1e-1, "log")},
              "TRAINING_DATA": str(tiny), "EPOCHS": 1, "EMBEDDING_DIM": 4, "BATCH_SIZE": 64, "DEVICE": "cpu",
              "OBJECTIVE": "seed"}
    said = []
    study, study_dir = nbd.notebook_search(params, log=said.append)
    assert len(study.trials) == 1 and study_dir == tmp_path / "s"
    assert not any("nothing to run" in line for line in said)
    said.clear()
    study, _ = nbd.notebook_search(params, log=said.append)
    assert len(study.trials) == 1
    assert said[-1].startswith("nothing to run: study 's' already holds 1 trials and N_TRIALS = 1 is the study's "
                               "total; set N_TRIALS above 1")
    # the table's link opens a file of the trial's run, not its folder
    html = nbd.trials_table(study, relative_to=tmp_path).data
    assert 'href="s/trial-0/metrics.json"' in html


def test_run_summary_has_the_headline_the_table_and_the_next_steps(tmp_path):
    from helpers import write_run

    history = scripted_history()
    run = write_run(tmp_path / "run", history, {"best_val": 0.005, "best_epoch": 4, "minutes": 0.2,
                                                "stopped": "early_stop", "final_dims": 192})
    summary = nbd.run_summary(history, json.loads((run / "metrics.json").read_text()), TrainConfig(), run)
    assert summary.headline.startswith("best validation loss 0.005 at epoch 4 (192 dims); early stop at epoch 6")
    steps = "\n".join(summary.next_steps)
    assert f"RUN_DIR = {str(run)!r}" in steps and f"python -m naomi_nb describe {run} dog" in steps
    assert f"python -m naomi_nb export {run}" in steps and f"python -m naomi_nb analyze {run}" in steps
    assert "RESUME" not in steps
    html = summary._repr_html_()
    assert "run summary" in html and "returned model" in html and "03_explore" in html
    assert str(summary).splitlines()[0] == summary.headline
    (run / "report.json").write_text(json.dumps({"validation": {"hypernym_ranking": {"mrr": 0.373, "hits@10": 0.926}}}))
    stopped = nbd.run_summary(history, {"stopped": "interrupted", "best_epoch": 4}, None, run)
    assert "held-out hypernym MRR 0.373, hits@10 92.6%" in stopped.headline
    assert stopped.next_steps[0].startswith(f"RESUME = {str(run)!r}") and "analyze" not in "".join(stopped.next_steps)


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
    stored = nbd.stored_report(run)
    assert stored["figures"] == [str(run / "figures" / "axes.png")]  # found in this run directory
    old = (run / "report.json").stat().st_mtime - 10
    os.utime(run / "report.json", (old, old))  # the run trained again after its analysis: stale
    assert nbd.stored_report(run) is None
    os.utime(run / "report.json", None)
    monkeypatch.setattr(report, "stored_result", lambda rep, name, measure=None: None)  # a measure added since
    assert nbd.stored_report(run) is None


def test_table_text_and_html():
    t = Table(["a", "bb"], [[1, None], ["<x>", 2.5]], title="t")
    assert "&lt;x&gt;" in t._repr_html_()
    assert str(t).splitlines()[1].startswith("a    bb")


def test_live_text_prints_first_and_rerenders_on_change(capsys, monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    slider = widgets.IntSlider(value=2, min=0, max=9)
    assert nbd.live_text(slider, lambda v: f"value is {v}", headless=True) is None
    assert capsys.readouterr().out == "value is 2\n"  # headless runs keep the first result as plain output
    shown = []
    monkeypatch.setattr(nbd, "in_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", shown.append)
    nbd.live_text(slider, lambda v: f"value is {v}", headless=False)
    (box,) = shown
    assert box.children[0] is slider and len(box.children) == 2  # one output area under the control, replaced
    slider.value = 7
    assert "value is 7" in box.children[1].value and "break-all" not in box.children[1].value  # replaced, word-wrapped
