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
    assert gpu.stage == "sparse-code" == notebook_config({}, device="cpu").stage  # make run's kind of vectors
    paths = {"training_data", "stage"}
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
