"""The notebooks: their shape (fast, always) and real executions with papermill (marked `notebooks`)."""
import ast
import base64
import json
from dataclasses import fields
from pathlib import Path

import nbformat
import pytest

from naomi_nb.config import TrainConfig
from naomi_nb.config import CPU_DEFAULTS, GPU_DEFAULTS

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
OURS = ["01_prepare_wordnet.ipynb", "02_train.ipynb", "04_sweep.ipynb"]
PNG = b"\x89PNG\r\n\x1a\n"


def read(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def parameters_of(nb) -> dict:
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    tree = ast.parse(cell.source)
    assert all(isinstance(node, ast.Assign) for node in tree.body), "the parameters cell holds assignments only"
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}


# ---------------------------------------------------------------- shape (no kernel)

@pytest.mark.parametrize("name", OURS)
def test_notebook_is_stripped_and_portable(name):
    nb = read(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    setup = nb.cells[1]
    assert setup.cell_type == "code" and 'IN_COLAB = "google.colab" in sys.modules' in setup.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped"
            if cell is not setup:
                assert "IN_COLAB" not in cell.source and "%pip" not in cell.source
    parameters_of(nb)  # exactly one parameters cell, literals only


def test_train_parameters_name_every_config_field_with_cli_or_device_defaults():
    params = parameters_of(read("02_train.ipynb"))
    device_keys = set(GPU_DEFAULTS) | set(CPU_DEFAULTS)
    defaults = TrainConfig()
    expected = {f.name.upper() for f in fields(TrainConfig)} | {"HEADLESS", "PRESET", "RESUME"}
    assert set(params) == expected
    for f in fields(TrainConfig):
        value = params[f.name.upper()]
        if f.name in device_keys:
            assert value is None, f"{f.name.upper()} must be None (device default)"
        else:
            assert value == getattr(defaults, f.name), f"{f.name.upper()} differs from the CLI default"


# ---------------------------------------------------------------- executions

def images(nb) -> list[bytes]:
    return [base64.b64decode(out.data["image/png"]) for cell in nb.cells if cell.cell_type == "code"
            for out in cell.outputs if "image/png" in out.get("data", {})]


def html_outputs(nb) -> list[str]:
    return [out.data["text/html"] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.outputs if "text/html" in out.get("data", {})]


def execute(name: str, out, timeout: int, **parameters):
    """Run a notebook through papermill from its own folder, as nbmake and a user would; return the output."""
    papermill = pytest.importorskip("papermill")
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), kernel_name="python3", parameters=parameters,
                               cwd=str(NOTEBOOKS), progress_bar=False, execution_timeout=timeout)
    return nbformat.read(out, as_version=4)


SMALL = dict(EPOCHS=2, EMBEDDING_DIM=32, MAX_DIMS=48, EXPAND_BY=16, EXPAND_INTERVAL=1, BATCH_SIZE=262144,
             ANALYZE=False, HEADLESS=True)


@pytest.mark.notebooks
def test_train_notebook_runs_headless(real_graph_dir, tmp_path):
    run_dir = tmp_path / "run"
    nb = execute("02_train.ipynb", tmp_path / "02_out.ipynb", 600,
                 **SMALL, TRAINING_DATA=str(real_graph_dir), OUTPUT_DIR=str(run_dir))
    (png,) = images(nb)  # the dashboard, redrawn in place: one image, not one per epoch
    assert png.startswith(PNG)
    assert any("run summary" in h for h in html_outputs(nb))

    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2]
    assert history[0]["dims"] == 48  # expand-interval 1: an expansion is seen at once
    for name in ("best.pt", "last.pt", "final.pt"):
        assert (run_dir / "checkpoints" / name).is_file()
    assert (run_dir / "dashboard.png").read_bytes().startswith(PNG)
    recorded = json.loads((run_dir / "notebook_metrics.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert recorded["epochs_run"] == 2 and recorded["notebook"] == "02_train"
    assert recorded["best_val"] == pytest.approx(metrics["best_val"])
    assert 0 < recorded["best_val"] < 0.05


@pytest.mark.notebooks
def test_sweep_notebook_keeps_each_run_beside_its_notebook(real_graph_dir, tmp_path):
    sweep = tmp_path / "sweep"
    nb = execute("04_sweep.ipynb", tmp_path / "04_out.ipynb", 900, PRESETS_TO_SWEEP=["fixed", "aggressive"],
                 EPOCHS=1, SWEEP_DIR=str(sweep), TRAINING_DATA=str(real_graph_dir))
    for name in ("fixed", "aggressive"):
        assert (sweep / name / "history.jsonl").is_file()
        executed = nbformat.read(sweep / f"{name}.ipynb", as_version=4)
        assert len(images(executed)) == 1
    assert len(images(nb)) == 1  # the comparison figure
    (table,) = [h for h in html_outputs(nb) if "run comparison" in h]
    assert "fixed" in table and "aggressive" in table
    runs = json.loads((sweep / "notebook_metrics.json").read_text())["runs"]
    assert [r["run"] for r in runs] == ["fixed", "aggressive"]
    assert all(r["epochs run"] == "1" for r in runs)


@pytest.mark.notebooks
def test_panel_train_button_path_updates_the_dashboard_in_place(tmp_path):
    """In a real kernel: the panel shows widgets and a placeholder; training on the panel's thread
    replaces that placeholder with the dashboard through its display id (what JupyterLab shows live)."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[
        new_code_cell("%matplotlib inline\n"
                      "from naomi_nb.config import TrainConfig\n"
                      "from naomi_nb.panel import control_panel\n"
                      "from naomi_nb.graph import tiny_graph\n"
                      f"cfg = TrainConfig(output_dir={str(tmp_path / 'run')!r}, epochs=3, embedding_dim=8,\n"
                      "                  batch_size=64, min_batch_size=16, analyze=False)\n"
                      "panel = control_panel(cfg, graph=tiny_graph(), headless=False)\n"
                      "panel"),
        new_code_cell("panel.start()\n"
                      "panel.join(120)\n"
                      "assert panel.exception is None, panel.exception\n"
                      "print(len(panel.dashboard.history), panel.result.run_dir)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    panel_outputs = nb.cells[0].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in panel_outputs)
    (png,) = images(nb)  # the placeholder, replaced by the final dashboard
    assert png.startswith(PNG)
    assert not any("text/html" in o.get("data", {}) for o in panel_outputs)  # nothing left of the placeholder
    assert nb.cells[1].outputs[0].text.startswith("3 ")
    assert (tmp_path / "run" / "history.jsonl").is_file()
