"""naomi_nb.panel: the control panel's sliders, presets and buttons (scripted trainers, and one real run)."""
import threading

import pytest
from helpers import FakeHandle, fake_trainer

from naomi_nb.config import PRESETS, ConfigError, TrainConfig
from naomi_nb.panel import control_panel, panel_words


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


def test_train_thread_failure_is_shown_not_lost():
    def broken(cfg, graph=None, callbacks=(), stop_event=None, **kwargs):
        raise RuntimeError("graph directory missing\nsecond line")

    panel = control_panel(TrainConfig(), presets=PRESETS, train_fn=broken)
    panel.start()
    panel.join(10)
    assert isinstance(panel.exception, RuntimeError)
    assert "graph directory missing" in panel.status.value and "second line" not in panel.status.value


def test_stop_button_ends_a_real_run_cleanly(tmp_path):
    """Train / Stop on the background thread with the real trainer: Stop mid-run leaves a finished run dir."""
    import time

    from naomi_nb.graph import tiny_graph

    cfg = TrainConfig(output_dir=str(tmp_path / "run"), epochs=100000, batch_size=16, min_batch_size=8,
                      embedding_dim=4, patience=100000, analyze=False, checkpoint_seconds=0.0)
    panel = control_panel(cfg, graph=tiny_graph(), headless=True)
    panel.start()
    deadline = time.time() + 15 * 60  # a bound for hangs
    while not (tmp_path / "run" / "history.jsonl").exists() or not (tmp_path / "run" / "history.jsonl").read_text():
        assert time.time() < deadline
        time.sleep(0.05)
    panel.stop()
    panel.join(15 * 60)
    assert not panel.running and panel.exception is None
    assert panel.result.metrics["stopped"] == "interrupted"
    for name in ("embeddings.npy", "metrics.json", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (tmp_path / "run" / name).exists(), name
    assert panel.status.value.startswith("stopped, run saved and resumable: ")


def test_preset_menu_names_the_preset_the_values_equal():
    panel = control_panel(TrainConfig(**PRESETS["conservative"]), presets=PRESETS)
    assert panel.preset.value == "conservative"  # not "(custom)"
    for name in ("expand_interval", "expand_by", "patience"):
        panel.widgets[name].value = PRESETS["aggressive"][name]
    assert panel.preset.value == "aggressive"  # moved by hand onto another preset's values
    panel.widgets["patience"].value = 7
    assert panel.preset.value == ""
    panel.widgets["patience"].value = PRESETS["aggressive"]["patience"]
    assert panel.preset.value == "aggressive"


def test_invalid_setting_is_said_in_the_panels_labels():
    assert panel_words("--embedding-dim (256) is above --max-dims (128)") == \
        "embedding dim (256) is above max dims (128)"
    assert panel_words("--[no-]dynamic-dims needs --expand-by") == "dynamic dims needs expand by"
    assert panel_words("--min-batch-size must be ...") == "--min-batch-size must be ..."  # no widget: the flag
    panel = control_panel(TrainConfig(), presets=PRESETS)
    panel.widgets["dynamic_dims"].value = True
    panel.widgets["embedding_dim"].value = 256
    panel.widgets["max_dims"].value = 128
    assert "--" not in panel.status.value and "max dims" in panel.status.value
    with pytest.raises(ConfigError, match="above max dims"):
        panel.config()


# ---------------------------------------------------------------- the dashboard's headline

def dashboard_history(epochs, **kw):
    from helpers import scripted_history

    return scripted_history(epochs=epochs, **kw)


def test_eta_counts_only_the_resumed_sessions_epochs():
    from naomi_nb.dashboard import Dashboard, eta_seconds

    history = dashboard_history(8, planned=20, stop_at=None)
    for r in history:
        r["seconds"] = 100.0 if r["epoch"] <= 5 else 2.0  # epochs 1-5 ran in an earlier session, slowly
    assert eta_seconds(history, elapsed=4.0, first_epoch=6) == pytest.approx(12 * 2.0)
    assert eta_seconds(history[:6], elapsed=2.0, first_epoch=6) is None  # one epoch of this session: no pace yet
    dash = Dashboard(show=False)
    dash.history = history[:5]  # what a resume loads
    dash._draw()
    assert "left" not in dash.fig._suptitle.get_text()
    for rec in history[5:]:
        dash(rec)
    assert dash.first_epoch == 6
    # the session's elapsed time is a few milliseconds here: the pace is its epochs' own 2 s, not the 100 s before
    assert "at most 24 s left" in dash.fig._suptitle.get_text()


def test_headline_explains_a_lower_loss_that_is_not_the_best():
    from naomi_nb.config import TrainConfig
    from naomi_nb.dashboard import Dashboard, best_text

    history = dashboard_history(6, stop_at=None)  # best_epoch 4 (0.005); epochs 5-6 are higher
    assert best_text(history) == "best 0.005 @ 4"
    history[4]["val_total"] = 0.00499  # lower, by less than min_delta: the early stopper kept epoch 4
    assert best_text(history, 1e-4) == "best 0.005 @ 4: lower losses after it gained less than min_delta 0.0001"
    dash = Dashboard(show=False, cfg=TrainConfig(min_delta=1e-4))
    for rec in history:
        dash(rec)
    title = dash.fig._suptitle.get_text()
    assert "less than min_delta 0.0001" in title
    assert all(len(line) <= 120 for line in title.splitlines())  # wrapped between parts, not cut


# ---------------------------------------------------------------- after Stop: what the panel says

@pytest.mark.slow
def test_after_stop_the_status_follows_the_analysis_which_the_panel_can_skip(tmp_path, monkeypatch):
    from naomi_nb import report
    from helpers import FakeHandle, fake_trainer

    analysed, seen_status = [], []

    def slow_analysis(run_dir, graph=None, log=print, **kw):
        threading.Event().wait(1.5)  # long enough for the ticker to say it is still going
        analysed.append(run_dir)

    monkeypatch.setattr(report, "analyze_run", slow_analysis)
    seen, started = {}, threading.Event()
    panel = control_panel(TrainConfig(epochs=50, output_dir=str(tmp_path / "run")), presets=PRESETS,
                          train_fn=fake_trainer(seen, started))
    panel.handle = FakeHandle()
    panel.status.observe(lambda change: seen_status.append(change["new"]), names="value")
    assert panel.widgets["analyze"].value is True
    panel.train_button.click()
    assert started.wait(10)
    panel.stop_button.click()
    panel.join(30)
    assert analysed and seen["cfg"].analyze
    said = [s for s in seen_status if "analysing the returned model" in s]
    assert said and any(s.endswith(" s</span>") for s in said)  # with its elapsed time
    assert seen_status.index(said[0]) > max(i for i, s in enumerate(seen_status) if "stopping" in s)
    assert "stopped, run saved and resumable" in panel.status.value  # the last word, once it is over

    # unticked: no analysis, and the run's config says so
    analysed.clear()
    panel.widgets["analyze"].value = False
    started.clear()
    panel.set(epochs=50)
    panel.base = panel.base.replace(output_dir=str(tmp_path / "run2"))
    panel.train_button.click()
    assert started.wait(10)
    panel.stop_button.click()
    panel.join(30)
    assert not analysed and seen["cfg"].analyze is False


def test_the_kernels_interrupt_says_stopping_too(tmp_path):
    from naomi_nb import session
    from helpers import FakeHandle, fake_trainer

    seen, started = {}, threading.Event()
    panel = control_panel(TrainConfig(epochs=50, output_dir=str(tmp_path / "run"), analyze=False),
                          presets=PRESETS, train_fn=fake_trainer(seen, started))
    panel.handle = FakeHandle()
    panel.start()
    assert started.wait(10) and "training" in panel.status.value
    panel.run.background = True
    session._on_interrupt(2, None)  # what the idle kernel's interrupt calls
    assert "stopping at the next batch" in panel.status.value or not panel.running
    panel.join(10)
    assert "stopped, run saved and resumable" in panel.status.value


# ---------------------------------------------------------------- in-epoch progress

def test_progress_bar_covers_training_then_says_validating():
    from naomi_nb.session import Progress
    from helpers import scripted_history

    live = Progress(live=True)
    live.start(1, 3)
    live(1, 40, 100)
    assert live.bar.value == 0.4 and "training 40% of 100 edges" in live.text.value
    live(1, 100, 100)  # every step queued: validation and the epoch's statistics are still to come
    assert live.bar.bar_style == "info" and "validating" in live.text.value and "elapsed" in live.text.value
    live.epoch_done(scripted_history(epochs=1, planned=3)[0])
    assert live.bar.value == 0.0 and live.bar.bar_style == "" and "epoch 1/3 done" in live.text.value
    live(2, 10, 100)
    assert live.bar.value == 0.1 and live.bar.bar_style == ""
    lines = []
    headless = Progress(live=False, out=lines.append, every=0.0)
    headless.start(1, 3)
    headless(1, 100, 100)  # headless: no line for the end of training, the epoch's line follows
    assert len(lines) == 1


# ---------------------------------------------------------------- layout and text

def test_text_wraps_between_words_in_a_browser_and_prints_headless(capsys):
    from naomi_nb.notebook import Text, show_text

    t = Text("about 1 for a random embedding <big_cat.n.01>")
    assert repr(t) == t.text  # text outputs (papermill) hold the plain characters
    assert "word-break: normal" in t._repr_html_() and "&lt;big_cat.n.01&gt;" in t._repr_html_()
    show_text("a line", headless=True)
    assert capsys.readouterr().out == "a line\n"


def test_every_component_and_its_knobs_get_a_widget_in_two_columns():
    """Menus for every kind of component and a widget for each component's knob, read from the registry,
    laid out in two columns (never four sliders squashed in one row)."""
    from naomi_nb import components
    from naomi_nb.config import config_fields

    panel = control_panel(TrainConfig(), presets=PRESETS)
    for kind, k in components.KINDS.items():
        if k.field:
            assert list(panel.widgets[k.field].options) == list(components.names(kind))
    knobs = [n for n, f in config_fields().items() if "knob" in f.metadata]
    assert knobs and all(n in panel.widgets for n in knobs)
    rows = [box for box in panel.widget.children if any(
        panel.widgets["objective"] in getattr(column, "children", ()) for column in getattr(box, "children", ()))]
    (row,) = rows
    assert len(row.children) == 2
    left, right = (len(column.children) for column in row.children)
    assert abs(left - right) <= 1
    panel.set(geometry="tree")
    assert not panel.widgets["tree_weight"].disabled and panel.widgets["graded_hops"].disabled is False
    panel.set(objective="seed")
    assert panel.widgets["graded_hops"].disabled and panel.widgets["negatives"].disabled


# ---------------------------------------------------------------- the end of a run, and the button row

def finishing_trainer(calls):
    """A stand-in for train() that runs three scripted epochs to their end."""
    from helpers import FakeResult, scripted_history

    def fake_train(cfg, graph=None, callbacks=(), stop_event=None, **kwargs):
        calls.append(kwargs)
        history = scripted_history(epochs=3, planned=3, stop_at=None)
        for rec in history:
            for cb in callbacks:
                cb(rec)
        result = FakeResult(cfg.output_dir, history, "epochs")
        result.config = cfg
        return result
    return fake_train


@pytest.mark.slow
def test_a_button_run_ends_as_the_training_cell_does(tmp_path, capsys):
    from helpers import FakeHandle

    from naomi_nb.notebook import RunSummary

    calls = []
    panel = control_panel(TrainConfig(epochs=3, output_dir=str(tmp_path / "run"), analyze=False), presets=PRESETS,
                          train_fn=finishing_trainer(calls), headless=True)
    panel.train()  # the training cell
    cell = panel.summary()
    assert isinstance(cell, RunSummary) and "returned model" in cell._repr_html_()
    assert any("03_explore" in step for step in cell.next_steps)
    cell_status = panel.status.value
    assert cell_status.startswith(f"done: {tmp_path / 'run'} ") and "best validation loss" in cell_status

    panel.handle, panel.summary_handle = FakeHandle(), FakeHandle()  # what displaying the panel creates
    panel.start()  # the Train button
    panel.join(30)
    assert panel.exception is None
    (shown,) = panel.summary_handle.updates  # under the dashboard: the same summary the cell shows
    assert str(shown) == str(cell) and panel.status.value == cell_status


@pytest.mark.slow
def test_stop_is_disabled_while_nothing_can_stop(tmp_path, monkeypatch):
    from helpers import FakeHandle, fake_trainer

    from naomi_nb import report

    states = []

    def slow_analysis(run_dir, graph=None, log=print, **kw):
        threading.Event().wait(1.2)
        states.append(("analysis", panel.stop_button.disabled))
        panel.stop()  # a click that reaches the run now: nothing to stop, nothing said
        states.append(("after click", panel.status.value))

    monkeypatch.setattr(report, "analyze_run", slow_analysis)
    seen, started = {}, threading.Event()
    panel = control_panel(TrainConfig(epochs=50, output_dir=str(tmp_path / "run")), presets=PRESETS,
                          train_fn=fake_trainer(seen, started))
    panel.handle = FakeHandle()
    panel.status.observe(lambda change: states.append(("status", change["new"], panel.stop_button.disabled)),
                         names="value")
    panel.train_button.click()
    assert started.wait(10) and not panel.stop_button.disabled  # training: Stop can end it
    panel.stop_button.click()
    panel.join(30)
    analysing = [s for s in states if s[0] == "status" and "analysing" in s[1]]
    assert analysing and all(disabled for _, _, disabled in analysing)
    assert ("analysis", True) in states
    (after,) = [s for s in states if s[0] == "after click"]
    assert "stopping" not in after[1]
    assert panel.stop_button.disabled and "stopped, run saved and resumable" in panel.status.value


def test_the_status_has_a_line_of_its_own_under_the_buttons():
    panel = control_panel(TrainConfig(), presets=PRESETS)
    (row,) = [box for box in panel.widget.children if panel.stop_button in getattr(box, "children", ())]
    assert row.layout.flex_flow == "row wrap" and panel.status in row.children
    assert panel.status.layout.width == "100%"  # wraps onto the next line: the buttons keep their width
