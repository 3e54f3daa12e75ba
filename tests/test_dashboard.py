"""The notebook layer against scripted trainer records: no model, no graph, no kernel."""
import json
from pathlib import Path
import threading

import pytest

from naomi_nb.config import CPU_DEFAULTS, GPU_DEFAULTS, PRESETS, ConfigError, TrainConfig
from naomi_nb import project
from naomi_nb.dashboard import Dashboard
from naomi_nb.notebook import Table, notebook_config, record, summary_table
from naomi_nb.panel import control_panel
from naomi_nb.record import interrupted_record, stop_reason
from naomi_nb.sweep import compare_runs, sweep_grid


def scripted_history(epochs=6, planned=100, stop_at=6):
    """Records shaped like the trainer's: expansions after epochs 2 and 4, early stop at `stop_at`."""
    history, dims, batch = [], 128, 1048576
    for e in range(1, epochs + 1):
        events, dims_before, batch_before = [], dims, batch
        if e in (2, 4):
            events.append({"type": "expand", "old_dims": dims, "new_dims": dims + 64, "stats": {}})
            dims += 64
            batch = int(1048576 * 128 / dims)
            events.append({"type": "batch", "batch_size": batch, "dims": dims, "reason": "expand"})
            events.append({"type": "optimizer", "mode": "carry"})
        val = 0.02 / e if e <= 4 else 0.005 + 0.0001 * e
        if e == stop_at:
            events.append({"type": "early_stop", "best_val": 0.005, "best_epoch": 4, "patience": 2})
        history.append(dict(
            kind="epoch", epoch=e, epochs=planned, dims_before=dims_before, batch_before=batch_before, train_total=0.03 / e, train_distance=0.029 / e, train_sparsity=1e-4,
            val_total=val, val_distance=val - 1e-4, val_sparsity=1e-4, sparsity_pct=45.0 + 3 * e,
            zeros_pct=10.0 * e, active_per_word=dims * 0.5, dims=dims, batch_size=batch, lr=0.01, seconds=2.0,
            edges_per_s=600000.0, best=e <= 4, best_val=min(0.02 / min(e, 4), 0.005), best_epoch=min(e, 4),
            bad_epochs=max(0, e - 4), events=events))
    return history


def by_gid(ax, gid):
    return [a for a in ax.lines if a.get_gid() == gid]


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, obj):
        self.updates.append(obj)


# ---------------------------------------------------------------- Dashboard

def test_dashboard_lines_hold_the_records():
    history = scripted_history()
    dash = Dashboard(show=False)
    for rec in history:
        dash(rec)
    (train,), (val,) = by_gid(dash.ax_loss, "train"), by_gid(dash.ax_loss, "val")
    assert list(train.get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert list(val.get_ydata()) == pytest.approx([r["val_total"] for r in history])
    assert dash.ax_loss.get_yscale() == "log"
    (best,) = by_gid(dash.ax_loss, "best")
    assert list(best.get_xdata()) == [1, 2, 3, 4]
    (sparsity,) = by_gid(dash.ax_sparsity, "sparsity")
    assert list(sparsity.get_ydata()) == pytest.approx([48, 51, 54, 57, 60, 63])
    (zeros,) = by_gid(dash.ax_sparsity, "zeros")
    assert list(zeros.get_ydata()) == pytest.approx([r["zeros_pct"] for r in history])
    (active,) = by_gid(dash.ax_dims, "active")
    assert list(active.get_xdata()) == [1, 2, 3, 4, 5, 6]
    assert list(active.get_ydata()) == pytest.approx([r["active_per_word"] for r in history])
    # dims and batch are values after each epoch, with the starting point at x=0
    (dims,) = by_gid(dash.ax_dims, "dims")
    assert list(dims.get_xdata()) == [0, 1, 2, 3, 4, 5, 6]
    assert list(dims.get_ydata()) == [128, 128, 192, 192, 256, 256, 256]
    (batch,) = by_gid(dash.ax_batch, "batch")
    assert list(batch.get_ydata()) == [1048576, 1048576, 699050, 699050, 524288, 524288, 524288]
    assert [t.get_text() for t in dash.ax_batch.get_yticklabels()] == ["512K", "683K", "1M"]  # one style


def test_starting_batch_comes_from_the_records_when_epoch_one_changed_it():
    history = scripted_history(epochs=2, stop_at=None)
    history[0]["events"].append({"type": "oom", "old_batch": 1048576, "new_batch": 524288})
    history[0]["batch_size"] = history[0]["batch_before"] = 524288
    dash = Dashboard(show=False)
    for rec in history:
        dash(rec)
    (batch,) = by_gid(dash.ax_batch, "batch")
    assert list(batch.get_xdata()) == [0, 1, 2]
    assert list(batch.get_ydata()) == [1048576, 524288, 699050]


def test_dashboard_marks_target_band_expansions_and_early_stop():
    dash = Dashboard(show=False)
    for rec in scripted_history():
        dash(rec)
    (band,) = [p for p in dash.ax_sparsity.patches if p.get_gid() == "target_band"]
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((40, 70))
    assert dash.ax_sparsity.get_ylim() == (0, 100)
    for ax in dash.axes:  # every panel shows the markers on its epoch axis
        assert sorted(line.get_xdata()[0] for line in by_gid(ax, "expand")) == [2, 4]
        assert [line.get_xdata()[0] for line in by_gid(ax, "early_stop")] == [6]
    assert "early stop at epoch 6" in dash.fig._suptitle.get_text()


def test_dashboard_redraws_each_epoch_into_one_display_handle(tmp_path):
    handle = FakeHandle()
    dash = Dashboard(handle=handle)
    history = scripted_history(epochs=3, stop_at=None)
    for rec in history:
        dash(rec)
    assert handle.updates == [dash.fig] * 3
    png = dash.save(tmp_path / "dash.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dashboard_every_n_still_draws_events_and_last_epoch():
    handle = FakeHandle()
    dash = Dashboard(handle=handle, every=10)
    for rec in scripted_history(epochs=6, planned=6, stop_at=None):
        dash(rec)
    # epochs 2 and 4 carry expansion events, epoch 6 is the last planned one
    assert len(handle.updates) == 3


def test_dashboard_headless_keeps_figure_without_ipython():
    dash = Dashboard()  # pytest has no Jupyter kernel: nothing displayed, the figure still updated
    assert dash.show is False
    dash(scripted_history(epochs=1)[0])
    assert dash.draws == 1 and dash.handle is None
    assert list(by_gid(dash.ax_dims, "dims")[0].get_ydata()) == [128, 128]


def test_oom_interrupt_and_nan_events_are_marked():
    history = scripted_history(epochs=2, stop_at=None)
    history[1]["events"].append({"type": "oom", "old_batch": 699050, "new_batch": 349525})
    # what the trainer sends when stopped mid-epoch: an event-only record, not an epoch's figures
    history.append(interrupted_record(2, 100, 3))
    dash = Dashboard(show=False)
    for rec in history:
        dash(rec)
    (oom,) = by_gid(dash.ax_batch, "oom")
    assert (oom.get_xdata()[0], oom.get_ydata()[0]) == (2, 349525)
    assert list(by_gid(dash.ax_loss, "val")[0].get_xdata()) == [1, 2]
    assert [l.get_xdata()[0] for l in by_gid(dash.ax_loss, "interrupted")] == [3]
    assert dash.ax_loss.get_xlim()[1] >= 3  # the marker is in view
    assert stop_reason(history) == "interrupted during epoch 3"
    assert dict(dash.summary().rows)["epochs run"] == "2 of 100"
    # result.history and history.jsonl hold finished epochs only: metrics.json says why it ended
    assert stop_reason(history[:2], {"stopped": "interrupted"}) == "interrupted after epoch 2"
    history[1]["events"] = [{"type": "nan"}]
    assert stop_reason(history[:2]) == "NaN loss at epoch 2"


def test_interrupt_before_the_first_epoch_still_draws():
    dash = Dashboard(show=False)
    dash(interrupted_record(0, 100, 1))
    assert dash.draws == 1 and "interrupted" in dash.fig._suptitle.get_text()
    assert dict(dash.summary().rows)["stopped"] == "interrupted during epoch 1"


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


# ---------------------------------------------------------------- runs on disk

def write_run(path, history, metrics, cfg=None):
    path.mkdir(parents=True)
    (path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    (path / "metrics.json").write_text(json.dumps(metrics))
    (cfg or TrainConfig()).save(path / "config.json")
    return path


def test_compare_runs_overlays_and_tabulates(tmp_path):
    a = write_run(tmp_path / "aggressive", scripted_history(), dict(best_val=0.005, best_epoch=4, epochs_run=6,
                                                                    final_dims=256, minutes=0.5))
    b = write_run(tmp_path / "fixed", scripted_history(epochs=3, stop_at=None),
                  dict(best_val=0.0067, best_epoch=3, epochs_run=3, final_dims=192, minutes=0.25))
    fig, table = compare_runs([a, b])
    ax_val, ax_dims, ax_batch = fig.axes
    assert [l.get_label() for l in ax_val.lines if not l.get_label().startswith("_")] == ["aggressive", "fixed"]
    assert [l.get_gid() for l in ax_val.lines if l.get_gid().endswith("-best")] == ["aggressive-best", "fixed-best"]
    assert list(by_gid(ax_batch, "aggressive")[0].get_ydata())[:2] == [1048576, 1048576]
    assert list(ax_dims.lines[1].get_xdata()) == [0, 1, 2, 3]
    assert list(ax_dims.lines[1].get_ydata()) == [128, 128, 192, 192]
    rows = table.to_dicts()
    assert [r["run"] for r in rows] == ["aggressive", "fixed"]
    assert rows[0]["best val loss"] == "0.005" and rows[0]["model dims"] == "256"
    assert rows[1]["epochs run"] == "3" and rows[1]["minutes"] == "0.25"
    assert rows[0]["batch sizes"] == "1M -> 683K -> 512K"


def test_record_writes_notebook_metrics(tmp_path):
    import numpy as np

    path = record(tmp_path / "run", {"best_val": np.float32(0.5), "best_epoch": 3}, notebook="02_train")
    data = json.loads(path.read_text())
    assert path.name == "notebook_metrics.json"
    assert data["best_val"] == pytest.approx(0.5) and data["notebook"] == "02_train"


def test_sweep_grid_names_runs():
    grid = sweep_grid(PRESET=["conservative", "fixed"], EPOCHS=[2])
    assert grid == {"conservative": {"PRESET": "conservative", "EPOCHS": 2},
                    "fixed": {"PRESET": "fixed", "EPOCHS": 2}}
    grid = sweep_grid(PATIENCE=[3, 5], EXPAND_BY=[32, 64])
    assert list(grid)[0] == "patience-3_expand_by-32" and len(grid) == 4


# ---------------------------------------------------------------- notebook_config

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


def test_notebook_config_scales_presets_off_cuda():
    cfg = notebook_config({"PRESET": "fixed"}, device="cpu")
    assert cfg.embedding_dim == PRESETS["fixed"]["embedding_dim"] // 4
    assert cfg.epochs <= 60 and cfg.batch_size <= 2048 and not cfg.dynamic_dims


def test_notebook_config_anchors_paths_at_project_root(tmp_path, monkeypatch):
    monkeypatch.delenv(project.RUNS_ENV, raising=False)
    monkeypatch.delenv(project.DATA_ENV, raising=False)
    root = tmp_path / "repo"
    (root / "naomi_nb").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "notebooks").mkdir()
    monkeypatch.chdir(root / "notebooks")  # where JupyterLab and nbmake run a notebook
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
    with pytest.raises(ConfigError, match="unknown preset 'fast'"):
        notebook_config({"PRESET": "fast"}, device="cpu")
    with pytest.raises(ConfigError) as err:
        notebook_config({"EMBEDDING_DIM": 256, "MAX_DIMS": 128, "DYNAMIC_DIMS": True}, device="cpu")
    assert "\n" not in str(err.value) and "--max-dims" in str(err.value)


# ---------------------------------------------------------------- control panel

def test_panel_on_a_cpu_offers_scaled_presets():
    panel = control_panel(TrainConfig(device="cpu"))
    assert ("aggressive (scaled down)", "aggressive") in panel.preset.options
    panel.preset.value = "aggressive"
    assert panel.widgets["embedding_dim"].value == PRESETS["aggressive"]["embedding_dim"] // 4
    assert panel.widgets["epochs"].value <= 60


def test_untouched_panel_gives_back_its_config():
    cfg = TrainConfig(lr=0.003, min_delta=0.0, batch_size=100000, epochs=1000, embedding_dim=12, output_dir="r")
    panel = control_panel(cfg, presets=PRESETS)
    assert panel.config() == cfg.validate()
    assert panel.error is None and not panel.train_button.disabled


def test_panel_values_become_a_valid_config():
    panel = control_panel(TrainConfig(), presets=PRESETS)
    panel.widgets["patience"].value = 3
    panel.widgets["batch_size"].value = 1 << 16
    panel.widgets["lr"].value = 0.001
    panel.widgets["dynamic_dims"].value = True
    panel.widgets["expand_by"].value = 32
    cfg = panel.config()
    assert (cfg.patience, cfg.batch_size, cfg.lr, cfg.dynamic_dims, cfg.expand_by) == (3, 65536, 0.001, True, 32)
    assert isinstance(cfg, TrainConfig)
    # the batch slider runs over powers of two from 256 (the mammal graph on a CPU) to 1M
    assert [v for _, v in panel.widgets["batch_size"].options] == [1 << k for k in range(8, 21)]
    for name in ("sparsity_mode", "proximal_strength", "sparsity_weight", "seed", "device"):
        assert name in panel.widgets
    assert panel.widgets["proximal_strength"].disabled and not panel.widgets["sparsity_weight"].disabled
    panel.widgets["sparsity_mode"].value = "proximal"
    panel.widgets["proximal_strength"].value = 0.05
    panel.widgets["seed"].value = 7
    assert not panel.widgets["proximal_strength"].disabled and panel.widgets["sparsity_weight"].disabled
    cfg = panel.config()
    assert (cfg.sparsity_mode, cfg.proximal_strength, cfg.seed) == ("proximal", 0.05, 7)
    assert "proximal 0.05" in panel.status.value and "seed 7" in panel.status.value


def test_preset_menu_moves_the_sliders_and_resets_to_custom():
    panel = control_panel(TrainConfig(), presets=PRESETS)
    panel.preset.value = "aggressive"
    assert {k: panel.widgets[k].value for k in PRESETS["aggressive"]} == PRESETS["aggressive"]
    panel.preset.value = "fixed"
    assert panel.widgets["embedding_dim"].value == 512 and panel.widgets["dynamic_dims"].value is False
    assert panel.widgets["expand_by"].disabled  # expansion sliders are off without dynamic dims
    panel.widgets["patience"].value = 2  # the sliders no longer show the preset
    assert panel.preset.value == ""
    assert panel.config().patience == 2 and panel.config().embedding_dim == 512


def test_invalid_combination_shows_one_line_error():
    panel = control_panel(TrainConfig(), presets=PRESETS)
    panel.widgets["dynamic_dims"].value = True
    panel.widgets["embedding_dim"].value = 256
    panel.widgets["max_dims"].value = 128
    assert panel.error == "embedding dim (256) is above max dims (128)"  # the panel's labels, not the flags
    assert "above max dims" in panel.status.value and panel.train_button.disabled
    with pytest.raises(ConfigError):
        panel.config()
    panel.widgets["max_dims"].value = 512
    assert panel.error is None and not panel.train_button.disabled


class FakeResult:
    def __init__(self, run_dir, history, stopped):
        self.run_dir, self.history, self.config = Path(run_dir), history, None
        self.metrics = {"stopped": stopped, "best_epoch": 1}
        self.stopped = history[-1]["epoch"] if history else 0


def fake_trainer(seen, started, epochs=50):
    """A stand-in for train(): scripted records until stop_event is set."""
    def fake_train(cfg, graph=None, callbacks=(), stop_event=None, **kwargs):
        seen["cfg"], seen["kwargs"] = cfg, kwargs
        history = []
        for rec in scripted_history(epochs=epochs, planned=epochs, stop_at=None):
            history.append(rec)
            for cb in callbacks:
                cb(rec)
            started.set()
            if stop_event.wait(0.01):
                return FakeResult(cfg.output_dir, history, "interrupted")
        raise AssertionError("Stop was never seen")
    return fake_train


def test_train_and_stop_buttons_run_on_a_thread(tmp_path):
    seen = {}
    started = threading.Event()
    fake_train = fake_trainer(seen, started)
    panel = control_panel(TrainConfig(epochs=50, output_dir=str(tmp_path / "run"), analyze=False), presets=PRESETS,
                          train_fn=fake_train)
    panel.handle = FakeHandle()  # what displaying the panel creates
    panel.train_button.click()
    assert started.wait(10) and panel.running and panel.train_button.disabled
    panel.stop_button.click()
    panel.join(10)
    assert not panel.running and panel.exception is None
    assert panel.result.stopped < 50 and seen["cfg"].epochs == 50
    assert panel.handle.updates and panel.dashboard.history
    assert "stopped, run saved and resumable" in panel.status.value and not panel.train_button.disabled
    assert (tmp_path / "run" / "dashboard.png").read_bytes()[:4] == b"\x89PNG"  # written after a button run too
    assert callable(seen["kwargs"]["progress"]) and panel.progress_bar.value == 1.0


def test_one_run_at_a_time_whichever_way_it_began(tmp_path):
    from naomi_nb import session

    seen, started = {}, threading.Event()
    panel = control_panel(TrainConfig(epochs=50, output_dir=str(tmp_path / "a"), analyze=False), presets=PRESETS,
                          train_fn=fake_trainer(seen, started), headless=True)
    panel.start()
    assert started.wait(10) and session.active_run() is panel.run
    with pytest.raises(session.AlreadyRunning, match="already going .*started from the Train button"):
        panel.train()  # the training cell while a button run goes
    other = control_panel(TrainConfig(output_dir=str(tmp_path / "b")), presets=PRESETS, train_fn=fake_train_never)
    assert other.start() is None and "already going" in other.status.value
    other.stop()  # Stop on any panel stops the kernel's run
    panel.join(10)
    assert session.active_run() is None and panel.result.metrics["stopped"] == "interrupted"
    assert not other.train_button.disabled


def fake_train_never(*args, **kwargs):
    raise AssertionError("a second run must not start")


def test_progress_lines_headless_and_bar_live():
    lines = []
    p = session_progress(live=False, out=lines.append, every=0.0)
    p.start(1, 3)
    p(1, 50, 100)
    p.epoch_done(scripted_history(epochs=1, planned=3)[0])
    assert "compiles" in lines[0] and "50% of 100 edges" in lines[1] and lines[2].startswith("epoch 1/3 done")
    live = session_progress(live=True)
    live.start(1, 3)
    live(1, 25, 100)
    assert live.bar.value == 0.25 and "25% of 100 edges" in live.text.value


def session_progress(**kw):
    from naomi_nb.session import Progress

    return Progress(**kw)


def test_resume_target_latest_is_the_newest_unfinished_run(tmp_path, monkeypatch):
    import os
    import time as _time

    from naomi_nb import session
    from naomi_nb.rundir import RunDirError

    runs = tmp_path / "runs"
    def make(name, stopped, age):
        d = write_run(runs / name, scripted_history(epochs=2, stop_at=None), {"stopped": stopped} if stopped else {})
        (d / "checkpoints").mkdir()
        for f in ("last.pt", "best.pt"):
            (d / "checkpoints" / f).write_bytes(b"")
        for f in ("config.json", "history.jsonl"):
            os.utime(d / f, (_time.time() - age, _time.time() - age))
        return d
    make("old-cut", "interrupted", 300)
    cut = make("cut", None, 200)  # killed by a disconnect: no metrics.json
    make("done", "early_stop", 100)
    assert session.resume_target("latest", runs) == cut
    assert session.resume_target(None, runs) is None
    assert session.resume_target(str(runs / "done"), runs) == runs / "done"  # a named run may be extended
    with pytest.raises(RunDirError, match="no unfinished run"):
        session.resume_target("latest", tmp_path / "empty")



def test_train_thread_failure_is_shown_not_lost():
    def broken(cfg, graph=None, callbacks=(), stop_event=None, **kwargs):
        raise RuntimeError("graph directory missing\nsecond line")

    panel = control_panel(TrainConfig(), presets=PRESETS, train_fn=broken)
    panel.start()
    panel.join(10)
    assert isinstance(panel.exception, RuntimeError)
    assert "graph directory missing" in panel.status.value and "second line" not in panel.status.value


def test_table_text_and_html():
    t = Table(["a", "bb"], [[1, None], ["<x>", 2.5]], title="t")
    assert "&lt;x&gt;" in t._repr_html_()
    assert str(t).splitlines()[1].startswith("a    bb")


def test_stop_button_ends_a_real_run_cleanly(tmp_path):
    """Train / Stop on the background thread with the real trainer: Stop mid-run leaves a finished run dir."""
    import time

    from naomi_nb.graph import tiny_graph

    cfg = TrainConfig(output_dir=str(tmp_path / "run"), epochs=100000, batch_size=16, min_batch_size=8,
                      embedding_dim=4, patience=100000, analyze=False, checkpoint_seconds=0.0)
    panel = control_panel(cfg, graph=tiny_graph(), headless=True)
    panel.start()
    deadline = time.time() + 60
    while not (tmp_path / "run" / "history.jsonl").exists() or not (tmp_path / "run" / "history.jsonl").read_text():
        assert time.time() < deadline
        time.sleep(0.05)
    panel.stop()
    panel.join(60)
    assert not panel.running and panel.exception is None
    assert panel.result.metrics["stopped"] == "interrupted"
    for name in ("embeddings.npy", "metrics.json", "checkpoints/last.pt", "checkpoints/final.pt"):
        assert (tmp_path / "run" / name).exists(), name
    assert panel.status.value.startswith("stopped, run saved and resumable: ")


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


def test_train_reports_progress_inside_epochs(tmp_path):
    from naomi_nb.graph import tiny_graph
    from naomi_nb.trainer import train

    calls = []
    cfg = TrainConfig(output_dir=str(tmp_path / "run"), epochs=2, embedding_dim=8, batch_size=64, min_batch_size=16,
                      analyze=False)
    train(cfg, tiny_graph(), progress=lambda epoch, done, total: calls.append((epoch, done, total)))
    assert [c[0] for c in calls if c[1] == c[2]] == [1, 2]  # each epoch ends with a call at 100%
    assert all(0 < done <= total for _, done, total in calls)


def test_dashboard_details_title_eta_and_markers(tmp_path):
    from matplotlib.colors import to_rgba

    history = scripted_history(epochs=3, stop_at=None)
    for r in history:
        r["zeros_pct"] = 0.0  # seed mode: no exact zeros
    dash = Dashboard(show=False, cfg=TrainConfig(), run_dir=tmp_path / "20261125-130000")
    for rec in history:
        dash(rec)
    title = dash.fig._suptitle.get_text()
    assert title.startswith("20261125-130000 | wordnet_training | 128 dims (fixed)") and "seed 0" in title
    assert "elapsed" in title and "left" in title  # 97 epochs to go: an upper bound on the time
    assert not by_gid(dash.ax_sparsity, "zeros") and by_gid(dash.ax_sparsity, "no_zeros")
    assert "dimensions" in [t.get_text() for t in dash.ax_dims.get_legend().get_texts()]
    assert dash.ax_loss.get_xlim()[0] == 0.5 and dash.ax_dims.get_xlim()[0] == -0.5  # no empty epoch 0 for loss
    dash(interrupted_record(3, 100, 4))
    (val,) = by_gid(dash.ax_loss, "val")
    (mark,) = by_gid(dash.ax_loss, "interrupted")
    assert to_rgba(mark.get_color()) != to_rgba(val.get_color()) and mark.get_zorder() < val.get_zorder()
    assert "left" not in dash.fig._suptitle.get_text()  # the run ended: no time left to promise


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


def test_the_negative_term_has_its_own_line():
    history = scripted_history(epochs=3, stop_at=None)
    dash = Dashboard(show=False)
    for rec in history:
        dash(rec)
    assert not by_gid(dash.ax_loss, "val_negative")  # the seed's objective: no such term
    for i, rec in enumerate(history):
        rec["val_negative"], rec["train_negative"] = 0.01 / (i + 1), 0.02 / (i + 1)
    dash = Dashboard(show=False)
    for rec in history:
        dash(rec)
    (neg,) = by_gid(dash.ax_loss, "val_negative")
    assert list(neg.get_ydata()) == pytest.approx([0.01, 0.005, 0.01 / 3])
    (dist,) = by_gid(dash.ax_loss, "val_distance")
    assert list(dist.get_ydata()) == pytest.approx([r["val_distance"] for r in history])
