"""naomi_nb.session: one run per kernel, in-epoch progress, the run that Resume picks."""
import threading

import pytest
from helpers import fake_trainer, scripted_history, write_run

from naomi_nb.config import PRESETS, TrainConfig
from naomi_nb.panel import control_panel


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


def test_the_trainers_lines_fold_into_one_block_under_the_dashboard(tmp_path, monkeypatch):
    """A training cell in a live notebook: the dashboard is shown first, the trainer's dozen lines go into one
    collapsed block under it (its title the latest line), so they never push the dashboard down."""

    from helpers import FakeResult

    from naomi_nb import session

    shown = []

    class Handle:
        def __init__(self, obj):
            self.obj = obj

        def update(self, obj):
            self.obj = obj

    def display(obj, display_id=False, **kw):
        shown.append(Handle(obj))
        return shown[-1] if display_id else None

    monkeypatch.setattr("IPython.display.display", display)

    def train(cfg, graph=None, callbacks=(), log=print, **kw):
        for i in range(12):
            log(f"[{i}/12] a configuration line")
        history = scripted_history(epochs=2, planned=2, stop_at=None)
        for rec in history:
            for cb in callbacks:
                cb(rec)
        return FakeResult(cfg.output_dir, history, "epochs")

    from naomi_nb.dashboard import Dashboard

    cfg = TrainConfig(epochs=2, output_dir=str(tmp_path / "run"), analyze=False)
    run = session.NotebookRun(cfg, train_fn=train, dashboard=Dashboard(show=True),
                              progress=session.Progress(live=True))
    run.run()
    kinds = [type(h.obj).__name__ for h in shown]
    assert kinds == ["Image", "HTML"]  # the dashboard first, then the one block of the log
    assert shown[0].obj.data[:4] == b"\x89PNG"
    block = shown[1].obj.data
    assert block.startswith("<details>") and "run log (12 lines): [11/12] a configuration line" in block
    assert block.count("a configuration line") == 13  # the title and every line inside

    lines = []
    headless = session.RunLog(live=False, out=lines.append)
    headless("[1/7] Loading training data...")
    assert lines == ["[1/7] Loading training data..."]  # papermill and nbmake outputs keep plain lines
