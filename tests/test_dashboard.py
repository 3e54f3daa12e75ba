"""The live dashboard against scripted trainer records: no model, no graph, no kernel."""
import pytest
from helpers import FakeHandle, by_gid, scripted_history

from naomi_nb.config import TrainConfig
from naomi_nb.dashboard import Dashboard
from naomi_nb.record import interrupted_record, stop_reason


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
    dash = Dashboard(handle=handle, budget=1.0)
    history = scripted_history(epochs=3, stop_at=None)
    for rec in history:
        dash(rec)
    assert len(handle.updates) == 3
    assert all(image.data[:8] == b"\x89PNG\r\n\x1a\n" for image in handle.updates)  # one PNG each, made once
    png = dash.save(tmp_path / "dash.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dashboard_every_n_still_draws_events_and_last_epoch():
    handle = FakeHandle()
    dash = Dashboard(handle=handle, every=10, budget=1.0)
    for rec in scripted_history(epochs=6, planned=6, stop_at=None):
        dash(rec)
    # epochs 2 and 4 carry expansion events, epoch 6 is the last planned one
    assert len(handle.updates) == 3


def test_a_live_dashboard_redraws_only_while_drawing_stays_within_its_budget():
    """A redraw that takes 1 s (on the dashboard's own clock) puts the next off for 4 s at a budget of 0.2;
    epochs in between (with their events) are drawn with the next, the last epoch always."""
    now = [0.0]

    def clock():
        return now[0]

    handle = FakeHandle()
    dash = Dashboard(handle=handle, budget=0.2, clock=clock)
    draw = dash._draw

    def slow_draw():  # each redraw takes a second
        draw()
        now[0] += 1.0

    dash._draw = slow_draw
    history = scripted_history(epochs=9, planned=9, stop_at=None)  # expansions at epochs 2, 4, 6, 8
    drawn = []
    for rec in history:
        before = len(handle.updates)
        dash(rec)
        if len(handle.updates) > before:
            drawn.append(rec["epoch"])
        now[0] += 1.0  # a second of training between epochs
    # epoch 1 drawn at 0-1 s, so none before 5 s: epochs 2-4 end at 2, 3, 4 s; epoch 5 at 5 s is drawn (to
    # 6 s, none before 10 s); epochs 6-8 at 7, 8, 9 s wait; epoch 9 is the last
    assert drawn == [1, 5, 9], drawn
    assert dash.draws == 3 and "9" in dash.fig._suptitle.get_text()
    with pytest.raises(ValueError, match="budget"):
        Dashboard(show=False, budget=0)


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


# ---------------------------------------------------------------- layout: legends, ticks, lr, resume

def lr_history(epochs=12):
    history = scripted_history(epochs=epochs, planned=60, stop_at=None)
    for r in history:
        if r["epoch"] % 2 == 1:  # a plateau schedule lowering the rate often
            r["events"].append({"type": "lr", "old_lr": 0.01, "new_lr": 0.005})
    return history


def test_legends_sit_outside_the_panels_and_keep_their_entries_between_redraws():
    dash = Dashboard(show=False)
    seen = []
    for rec in lr_history():
        dash(rec)
        seen.append(([[t.get_text() for t in ax.get_legend().get_texts()] for ax in dash.axes],
                     [t.get_text() for t in dash.fig.legends[0].get_texts()]))
    for ax in dash.axes:  # right of the panel, where no curve runs
        legend = ax.get_legend()
        assert legend._loc == 2 and legend.get_bbox_to_anchor().transformed(ax.transAxes.inverted()).x0 > 1
    panels = [labels for labels, _ in seen]
    assert all(p == panels[0] for p in panels)  # the same entries from the first epoch on: nothing moves
    assert len(dash.fig.legends) == 1  # the event lines' legend, once, below the panels
    names = [names for _, names in seen]
    assert names[0][:5] == ["expansion", "lr lowered (1x, loss panel)", "early stop", "stopped (resumable)", "resumed"]
    assert all(len(n) == 5 and n[0] == "expansion" for n in names)  # only the lr count changes: no entry comes or goes


def test_lr_lowerings_are_light_lines_on_the_loss_panel_only():
    dash = Dashboard(show=False)
    for rec in lr_history():
        dash(rec)
    lines = by_gid(dash.ax_loss, "lr")
    assert [line.get_xdata()[0] for line in lines] == [1, 3, 5, 7, 9, 11]
    assert all(line.get_alpha() < 0.5 and line.get_linewidth() < 1 for line in lines)
    assert not any(by_gid(ax, "lr") for ax in dash.axes[1:])
    assert "lr lowered" not in [t.get_text() for t in dash.ax_loss.get_legend().get_texts()]


def test_one_tick_rule_for_the_four_panels():
    from naomi_nb.dashboard import epoch_step

    assert [epoch_step(n) for n in (3, 10, 11, 30, 60, 101, 300)] == [1, 1, 2, 5, 10, 20, 50]
    dash = Dashboard(show=False)
    for rec in scripted_history(epochs=25, planned=60, stop_at=None):
        dash(rec)
    for ax in dash.axes:  # loss and sparsity start at epoch 1, dims and batch at 0: the same ticks all the same
        lo, hi = ax.get_xlim()
        shown = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert shown == [0, 5, 10, 15, 20, 25] or shown == [5, 10, 15, 20, 25], shown


def test_a_resume_is_marked_where_the_run_took_over_again():
    history = scripted_history(epochs=8, planned=20, stop_at=None)
    dash = Dashboard(show=False)
    dash.history = history[:5]  # what a resume loads from history.jsonl
    for rec in history[5:]:
        dash(rec)
    assert dash.resumed_after == 5
    for ax in dash.axes:
        assert [line.get_xdata()[0] for line in by_gid(ax, "resumed")] == [5.5]
    fresh = Dashboard(show=False)
    for rec in history:
        fresh(rec)
    assert fresh.resumed_after is None and not by_gid(fresh.ax_loss, "resumed")


def test_the_time_left_is_an_upper_bound_when_epochs_grow_slower():
    """A resumed run whose width still grows: each epoch takes 0.05 s per dimension plus 0.3 s
    outside it (redraw, checkpoint). The old estimate (the mean pace of the epochs so far) promised less time
    than was left; the estimate per dimension, for the widths to come, never does."""
    from naomi_nb.dashboard import eta_seconds, future_widths

    assert future_widths(8, 14, 64, (128, 32, 2)) == [64, 64, 96, 96, 128, 128]
    assert future_widths(8, 11, 64) == [64, 64, 64]
    growth, epochs, outside = (128, 32, 2), 20, 0.3
    width, records, elapsed, t = 32, [], 0.0, {}
    for epoch in range(1, epochs + 1):  # every epoch's time, known in advance
        t[epoch] = 0.05 * width + outside
        records.append({"kind": "epoch", "epoch": epoch, "epochs": epochs, "dims_before": width,
                        "seconds": 0.05 * width})
        if epoch % 2 == 0 and epoch < epochs:
            width = min(128, width + 32)
        records[-1]["dims"] = width
    first = 5  # resumed after epoch 4
    for now in range(first + 1, epochs):
        elapsed = sum(t[e] for e in range(first, now + 1))
        left = sum(t[e] for e in range(now + 1, epochs + 1))
        eta = eta_seconds(records[:now], elapsed, first, growth)
        assert left <= eta <= 1.5 * left, (now, left, eta)
        pace = [r["seconds"] for r in records[first:now]]
        if now < 10:  # still growing: the mean of the epochs so far fell short
            assert (epochs - now) * sum(pace) / len(pace) < left
