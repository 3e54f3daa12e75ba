"""The notebooks: their shape (fast, always) and real executions with papermill (marked `notebooks`)."""
import ast
import base64
import json
import re
from dataclasses import fields
from pathlib import Path

import nbformat
import pytest

from naomi_nb.config import RunConfig, TrainConfig
from naomi_nb.config import CPU_DEFAULTS, GPU_DEFAULTS

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
OURS = ["01_prepare_wordnet.ipynb", "02_train.ipynb", "04_sweep.ipynb", "05_search.ipynb"]
PNG = b"\x89PNG\r\n\x1a\n"
HANG = 15 * 60  # seconds: the bound on one cell or one wait; it catches hangs, not slow machines


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


def test_train_parameters_name_every_common_field_with_cli_or_device_defaults():
    """The parameters cell names every setting every run has; the components' own go in SETTINGS (so a new
    component needs no edit here), and any of them can also be injected by its UPPER_CASE name."""
    params = parameters_of(read("02_train.ipynb"))
    device_keys = set(GPU_DEFAULTS) | set(CPU_DEFAULTS)
    defaults = TrainConfig()
    expected = {f.name.upper() for f in fields(RunConfig)} | {"HEADLESS", "PRESET", "RESUME", "SETTINGS"}
    assert set(params) == expected and params["SETTINGS"] == {}
    for f in fields(RunConfig):
        value = params[f.name.upper()]
        if f.name in device_keys:
            assert value is None, f"{f.name.upper()} must be None (device default)"
        else:
            assert value == getattr(defaults, f.name), f"{f.name.upper()} differs from the CLI default"
    knobs = [f.name for f in fields(TrainConfig) if "knob" in f.metadata]
    assert "graded_hops" in knobs and not set(knobs) & {f.name for f in fields(RunConfig)}


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


@pytest.fixture(scope="session")
def mammal_graph_dir():
    """The CPU notebooks' default graph, data/wordnet_mammals, in the test session's data directory
    ($NAOMI_NB_DATA, a temporary directory: tests/conftest.py); built once."""
    from naomi_nb.project import ensure_graph, project_path

    path = project_path("data/wordnet_mammals")
    ensure_graph(path, log=lambda *a: None)
    return path


def stream_text(nb) -> str:
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
                   if out.output_type == "stream")


def seconds_of(duration: str) -> float:
    """The kit's durations read back: "0.6 s", "12 s", "1 min 15 s", "1 h 06 min"."""
    words = duration.split()
    return sum(float(n) * {"h": 3600, "min": 60, "s": 1}[unit] for n, unit in zip(words[::2], words[1::2]))


IN_EPOCH = re.compile(r"  epoch (\d+)/(\d+): training (\d+)% of \S+ edges, (.+) in this epoch, .+ elapsed")
EPOCH_DONE = re.compile(r"epoch (\d+)/(\d+) done in .+")


def check_headless_progress(text: str, epochs: list[int], every: float = 10.0) -> None:
    """Headless progress: one line per epoch, in order; inside an epoch, nothing per batch, only a plain line
    at most every ``every`` seconds (how many depends on the machine's speed, so none is required)."""
    done, inside = [], {}
    for line in text.splitlines():
        if m := EPOCH_DONE.fullmatch(line):
            done.append(int(m[1]))
        elif "% of" in line:
            m = IN_EPOCH.fullmatch(line)
            assert m, f"malformed progress line: {line!r}"
            epoch, percent = int(m[1]), int(m[3])
            assert epoch == len(done) + 1 and percent < 100, line  # inside the running epoch, before its end
            inside.setdefault(epoch, []).append(seconds_of(m[4]))
    assert done == epochs
    for epoch, times in inside.items():  # whole seconds from 10 s on: allow the rounding
        gaps = [b - a for a, b in zip([0.0, *times], times)]
        assert min(gaps) >= every - 1, (epoch, times)


@pytest.mark.notebooks
def test_train_notebook_runs_headless_with_cpu_defaults_then_resumes(mammal_graph_dir, tmp_path):
    run_dir = tmp_path / "run"
    nb = execute("02_train.ipynb", tmp_path / "02_out.ipynb", HANG, HEADLESS=True, DEVICE="cpu", ANALYZE=False,
                 OUTPUT_DIR=str(run_dir))  # the CPU defaults: the mammal subgraph
    (png,) = images(nb)  # the dashboard, redrawn in place: one image, not one per epoch
    assert png.startswith(PNG)
    (summary,) = [h for h in html_outputs(nb) if "run summary" in h]
    text = stream_text(nb)
    assert "wordnet_mammals" in text and "compiles" in text  # the first epoch says why it is slow

    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert "epoch 1/60 done" in text
    check_headless_progress(text, [r["epoch"] for r in history])  # one line per epoch, nothing per batch
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # the CPU defaults really expand, adapt the batch and stop early
    assert history[-1]["dims"] > history[0]["dims_before"] and len({r["batch_size"] for r in history}) > 1
    assert metrics["stopped"] == "early_stop" and len(history) < 60
    best = next(r for r in history if r["epoch"] == metrics["best_epoch"])
    assert f"epoch {metrics['best_epoch']} (best validation), {metrics['final_dims']} dims" in summary
    # the CPU defaults end with make run's stage: the returned vectors are the code of the best epoch's
    assert metrics["stage"]["name"] == "sparse-code" and metrics["stage"]["trained_dims"] == best["dims_before"]
    assert metrics["final_dims"] == metrics["stage"]["dims"]
    for name in ("best.pt", "last.pt"):
        assert (run_dir / "checkpoints" / name).is_file()
    assert (run_dir / "dashboard.png").read_bytes().startswith(PNG)
    recorded = json.loads((run_dir / "notebook_metrics.json").read_text())
    assert recorded["notebook"] == "02_train" and recorded["best_val"] == pytest.approx(metrics["best_val"])
    assert 0 < recorded["best_val"] < 0.05

    # Run All again with RESUME naming the run (and more patience): it continues the same directory
    n = len(history)
    execute("02_train.ipynb", tmp_path / "02_resumed.ipynb", HANG, HEADLESS=True, DEVICE="cpu", ANALYZE=False,
            RESUME=str(run_dir), EPOCHS=n + 2, PATIENCE=50)
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == list(range(1, n + 3))


@pytest.mark.notebooks
def test_sweep_notebook_keeps_each_run_beside_its_notebook(mammal_graph_dir, tmp_path):
    sweep = tmp_path / "sweep"
    nb = execute("04_sweep.ipynb", tmp_path / "04_out.ipynb", HANG, PRESETS_TO_SWEEP=["fixed", "aggressive"],
                 EPOCHS=1, SWEEP_DIR=str(sweep), TRAINING_DATA=str(mammal_graph_dir))
    assert "without encryption" not in stream_text(nb)  # the nested kernels keep quiet
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
                      f"panel.join({HANG})\n"
                      "assert panel.exception is None, panel.exception\n"
                      "print(len(panel.dashboard.history), panel.result.run_dir)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=HANG, kernel_name="python3").execute()
    panel_outputs = nb.cells[0].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in panel_outputs)
    (png,) = images(nb)  # the placeholder, replaced by the final dashboard
    assert png.startswith(PNG)
    html = [o["data"]["text/html"] for o in panel_outputs if "text/html" in o.get("data", {})]
    assert not any("Train/Resume/Stop buttons" in h for h in html)  # nothing left of the placeholder
    (summary,) = html  # under the dashboard, the run's end as the training cell shows it
    assert "run summary" in summary and "returned model" in summary and "03_explore" in summary
    assert nb.cells[1].outputs[0].text.startswith("3 ")
    assert (tmp_path / "run" / "history.jsonl").is_file()


@pytest.mark.notebooks
def test_the_training_cell_trains_on_a_worker_and_the_kernels_interrupt_stops_it(tmp_path):
    """In a real kernel: ``panel.train()`` waits while a worker thread trains (a kernel's main thread trains
    far slower when the cores are busy); the dashboard, the progress bar and the log's block land in the
    training cell; the kernel's interrupt while the cell waits ends the run cleanly at the next batch and the
    cell returns the resumable run."""
    import time

    from jupyter_client.manager import start_new_kernel

    setup = ("%matplotlib inline\n"
             "import threading\n"
             "from naomi_nb.config import TrainConfig\n"
             "from naomi_nb.panel import control_panel\n"
             "from naomi_nb.graph import tiny_graph\n"
             f"cfg = TrainConfig(output_dir={str(tmp_path / 'run')!r}, epochs=100000, embedding_dim=4,\n"
             "                  batch_size=16, min_batch_size=8, patience=100000, analyze=False,\n"
             "                  checkpoint_seconds=0.0)\n"
             "panel = control_panel(cfg, graph=tiny_graph(), headless=False)\n"
             "seen = []\n"
             "panel.config = (lambda config: lambda: config)(panel.config())\n")
    train = ("def where(record):\n    seen.append(threading.current_thread().name)\n"
             "import naomi_nb.dashboard as D\n"
             "class Noting(D.Dashboard):\n"
             "    def __call__(self, record):\n        where(record); super().__call__(record)\n"
             "D.Dashboard = Noting  # the run's own dashboard notes the thread each record reaches it on\n"
             "result = panel.train()\n"
             "print('stopped:', result.metrics['stopped'], sorted(set(seen)))")
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    outputs: list[dict] = []

    def run(code, interrupt_after=None):
        msg_id = kc.execute(code)
        started, interrupted = time.monotonic(), False
        deadline = started + HANG
        while time.monotonic() < deadline:
            if interrupt_after is not None and not interrupted and time.monotonic() - started > interrupt_after \
                    and (tmp_path / "run" / "history.jsonl").is_file():
                km.interrupt_kernel()
                interrupted = True
            try:
                msg = kc.get_iopub_msg(timeout=0.5)
            except Exception:  # noqa: BLE001 - queue.Empty: nothing yet
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            outputs.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return
        raise AssertionError("the cell did not finish")

    try:
        run(setup)
        outputs.clear()
        run(train, interrupt_after=2.0)
    finally:
        km.shutdown_kernel(now=True)
    errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
    assert not errors, errors
    text = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert "stopped: interrupted ['naomi-nb-train-cell']" in text, text
    shown = [m["content"]["data"] for m in outputs if m["msg_type"] in ("display_data", "update_display_data")]
    assert any("image/png" in d for d in shown)  # the dashboard, in this cell
    assert any("application/vnd.jupyter.widget-view+json" in d for d in shown)  # the progress bar
    assert any("run log (" in d.get("text/html", "") for d in shown)  # the trainer's lines, folded
    from naomi_nb.record import read_metrics
    from naomi_nb.rundir import check_resumable

    check_resumable(tmp_path / "run")
    assert read_metrics(tmp_path / "run")["stopped"] == "interrupted"


@pytest.mark.notebooks
def test_kernel_interrupt_stops_a_button_run_and_a_second_start_is_refused(tmp_path):
    """In a real kernel: a run started like the Train button (a thread) is stopped by the kernel's
    interrupt while the kernel is idle, and the training cell meanwhile is refused with one line."""
    import time

    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[
        new_code_cell("from naomi_nb.config import TrainConfig\n"
                      "from naomi_nb.panel import control_panel\n"
                      "from naomi_nb.graph import tiny_graph\n"
                      f"cfg = TrainConfig(output_dir={str(tmp_path / 'run')!r}, epochs=100000, embedding_dim=4,\n"
                      "                  batch_size=16, min_batch_size=8, patience=100000, analyze=False,\n"
                      "                  checkpoint_seconds=0.0)\n"
                      "panel = control_panel(cfg, graph=tiny_graph(), headless=True)\n"
                      "panel.start()\n"
                      "import time; time.sleep(3)"),
        new_code_cell("from naomi_nb.session import AlreadyRunning\n"
                      "try:\n    panel.train()\nexcept AlreadyRunning as e:\n    print('refused:', e)"),
        new_code_cell(f"panel.join({HANG})\nprint('stopped:', panel.result.metrics['stopped'])"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=HANG, kernel_name="python3")
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        client.execute_cell(nb.cells[1], 1)
        time.sleep(1.0)
        run_sync(client.km.interrupt_kernel)()  # the kernel is idle: only the routed handler can see it
        time.sleep(1.0)
        client.execute_cell(nb.cells[2], 2)
    texts = ["".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream") for cell in nb.cells]
    assert "refused: a run is already going" in texts[1]
    assert texts[2].strip() == "stopped: interrupted"
    from naomi_nb.rundir import check_resumable

    check_resumable(tmp_path / "run")


@pytest.mark.notebooks
@pytest.mark.parametrize("name, parameters, line", [
    ("01_prepare_wordnet.ipynb", {"WORDNET_DIR": "/no/such/wordnet"},
     "WORDNET_DIR = '/no/such/wordnet' is not a WordNet 3.0 dict directory (no such directory)"),
    ("02_train.ipynb", {"LR": "fast", "HEADLESS": True}, "LR must be a number (got 'fast')"),
    ("03_explore.ipynb", {"RUN_DIR": "runs/no-such-run", "HEADLESS": True}, "RUN_DIR = 'runs/no-such-run': no such"),
    ("05_search.ipynb", {"SPACE": {"learnrate": [0.01, 0.1]}, "TRAINING_DATA": "TINY"},
     "SPACE['learnrate'] is not a training setting (did you mean 'lr'?)"),
])
def test_a_bad_parameter_stops_its_notebook_with_one_line_naming_it(name, parameters, line, tiny, tmp_path):
    """In a real kernel: the cell that checks the parameters fails, and the notebook shows one line naming the
    notebook's own variable and what it accepts, no traceback."""
    from papermill.exceptions import PapermillExecutionError

    parameters = {k: str(tiny) if v == "TINY" else v for k, v in parameters.items()}
    out = tmp_path / "out.ipynb"
    with pytest.raises(PapermillExecutionError):
        execute(name, out, HANG, **parameters)
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    failed = [(i, o) for i, c in enumerate(code) for o in c.outputs if o.output_type == "error"]
    (index, error), = failed
    (shown,) = error.traceback  # one line
    assert shown.startswith(f"ParameterError: {line}"), shown
    checked = next(i for i, c in enumerate(code) if "injected-parameters" in c.metadata.get("tags", [])) + 1
    assert index == checked  # the first cell after the parameters: where the value is used first
