"""The control panel headless: widgets driven from Python, a scripted trainer, no kernel."""
import threading

import pytest

from naomi_nb.config import PRESETS, ConfigError, TrainConfig
from naomi_nb.panel import control_panel, panel_words


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
    from test_dashboard import scripted_history

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

def test_after_stop_the_status_follows_the_analysis_which_the_panel_can_skip(tmp_path, monkeypatch):
    from naomi_nb import report
    from test_dashboard import FakeHandle, fake_trainer

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
    from test_dashboard import FakeHandle, fake_trainer

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
    from test_dashboard import scripted_history

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


def test_objective_widgets_sit_in_two_columns():
    panel = control_panel(TrainConfig(), presets=PRESETS)
    extra = [n for n in ("objective", "negatives", "negative_sampler", "lr_schedule") if n in panel.widgets]
    if len(extra) < 2:
        pytest.skip("no objective settings in this config")
    rows = [box for box in panel.widget.children if any(
        panel.widgets[extra[0]] in getattr(column, "children", ()) for column in getattr(box, "children", ()))]
    (row,) = rows
    assert all(len(column.children) <= 2 for column in row.children)  # never four sliders squashed in one row


def test_dashboard_legends_avoid_the_curves():
    from naomi_nb.dashboard import Dashboard
    from test_dashboard import scripted_history

    dash = Dashboard(show=False)
    for rec in scripted_history(epochs=3, stop_at=None):
        dash(rec)
    assert all(ax.get_legend()._loc == 0 for ax in (dash.ax_loss, dash.ax_sparsity, dash.ax_dims))  # 'best'
