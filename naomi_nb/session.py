"""A notebook's training run: one at a time per kernel, stopped by Stop or the kernel's interrupt however it
began, resumable from the notebook, with in-epoch progress, and the analysis and ``dashboard.png`` at its end.

Both ways of starting a run go through `NotebookRun`: the training cell (``panel.train()``: the cell waits
while a worker thread trains, and the kernel's interrupt turns into a clean stop at the next batch; on Colab,
and outside a kernel, on the calling thread, where the trainer does the same) and the panel's Train/Resume
buttons (on a background thread, the cell already over). While the kernel is idle ipykernel ignores
SIGINT, so a button run also puts `_on_interrupt` in that place (`route_interrupts`): the interrupt button
then sets the run's stop event, as Stop does.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

from . import project
from . import record as R
from . import rundir
from .config import TrainConfig
from .fmt import fmt_count, fmt_duration, fmt_loss
from .notebook import in_colab, in_kernel, is_headless
from .project import project_path
from .rundir import RunDirError


class AlreadyRunning(RuntimeError):
    """A second run was started while one is going in this kernel."""

    def _render_traceback_(self):  # IPython shows this line instead of a traceback
        return [f"AlreadyRunning: {self}"]


# ---------------------------------------------------------------- one run at a time

_lock = threading.Lock()
_active: "NotebookRun | None" = None  # the run going in this kernel (module state = per kernel)


def active_run() -> "NotebookRun | None":
    return _active


def _on_interrupt(signum, frame) -> None:
    """The kernel's interrupt while idle: stop a background run; otherwise ignore it, as ipykernel does."""
    run = _active
    if run is not None and run.background:
        run.stop()


def route_interrupts() -> bool:
    """Make the kernel's interrupt button stop background runs (call on the main thread, in a cell or a
    widget callback). ipykernel sets SIG_IGN while idle and restores ``kernel.saved_sigint_handler`` after
    each message it handles; putting `_on_interrupt` there keeps cells interruptible as before (they run
    with Python's default handler) and turns an idle interrupt into Stop. Returns False outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None or threading.current_thread() is not threading.main_thread():
        return False
    if hasattr(kernel, "saved_sigint_handler"):
        kernel.saved_sigint_handler = _on_interrupt
        return True
    return False


# ---------------------------------------------------------------- which run to resume

def _runs_root(runs_dir=None) -> Path:
    """``runs_dir`` anchored as `naomi_nb.project.project_path`; None: `naomi_nb.project.runs_dir`."""
    return project_path(runs_dir) if runs_dir else project.runs_dir()


def run_dirs(runs_dir=None) -> list[Path]:
    """Run directories (with config.json) under ``runs_dir`` (default: `naomi_nb.project.runs_dir`) and one
    level below (sweeps), newest first."""
    root = _runs_root(runs_dir)
    if not root.is_dir():
        return []
    found = [p.parent for pattern in ("*/" + rundir.CONFIG, "*/*/" + rundir.CONFIG) for p in root.glob(pattern)]

    def written(d: Path) -> float:
        return max((d / name).stat().st_mtime for name in (rundir.CONFIG, rundir.HISTORY) if (d / name).exists())

    return sorted(found, key=written, reverse=True)


def is_finished(run_dir) -> bool:
    """The run ended by itself (all epochs, early stop, NaN); an interrupted or killed run is not finished."""
    return R.finished(R.read_metrics(run_dir))


def latest_unfinished(runs_dir=None) -> Path | None:
    """The newest run that did not finish and has checkpoints to continue from, or None."""
    for d in run_dirs(runs_dir):
        if not is_finished(d):
            try:
                return rundir.check_resumable(d)
            except RunDirError:
                continue
    return None


def resume_target(spec, runs_dir=None) -> Path | None:
    """The run directory a notebook's ``RESUME`` names: None/"" -> None (a new run); ``"latest"`` -> the
    newest run under ``runs_dir`` that did not finish (after a disconnect: the one that was cut off); a
    path -> that run (it may have finished: more epochs extend it).

    Raises:
        RunDirError: one line, when there is nothing to resume.
    """
    if not spec:
        return None
    if str(spec) == "latest":
        target = latest_unfinished(runs_dir)
        if target is None:
            newest = next(iter(run_dirs(runs_dir)), None)
            why = (f"the newest, {newest}, {R.stop_reason(rundir.read_history(newest), R.read_metrics(newest))}"
                   if newest else "there is none")
            raise RunDirError(f"RESUME='latest': no unfinished run under {_runs_root(runs_dir)} "
                              f"({why}); set RESUME = None for a new run, or a run's path to extend it")
        return target
    return rundir.check_resumable(project_path(spec))


# ---------------------------------------------------------------- progress inside an epoch

class Progress:
    """In-epoch progress for the trainer's ``progress`` hook: a bar and a line of text in a live notebook
    (JupyterLab, Colab), a plain line at most every ``every`` seconds inside an epoch and one per epoch
    headless (papermill, nbmake); nothing per batch.

    Args:
        live: show ipywidgets (else print lines).
        bar, text: existing ``FloatProgress`` / ``HTML`` widgets to drive (the panel's); default new ones.
    """

    def __init__(self, live: bool, bar=None, text=None, every: float = 10.0, out=print):
        self.live, self.every, self.out = live, every, out
        self.bar, self.text, self.widget = bar, text, None
        if live and bar is None:
            import ipywidgets as w

            self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="300px"))
            self.text = w.HTML()
            self.widget = w.HBox([self.bar, self.text])
        self.epochs, self.epoch = None, None
        self.t0 = self.t_epoch = self.t_line = time.perf_counter()

    def _ipython_display_(self):
        from IPython.display import display

        if self.widget is not None:
            display(self.widget)

    def _show(self, fraction: float | None, message: str, style: str | None = None) -> None:
        if self.live:
            if fraction is not None:
                self.bar.value = fraction
            if style is not None:
                self.bar.bar_style = style
            self.text.value = message
        else:
            self.out(message)

    def start(self, epoch: int, epochs: int) -> None:
        self.epoch, self.epochs = epoch, epochs
        self.t0 = self.t_epoch = self.t_line = time.perf_counter()
        self._show(0.0, f"epoch {epoch}/{epochs}: starting; the first epoch of a session also compiles three "
                        "small kernels (torch.compile), so it takes longer", style="")

    def __call__(self, epoch: int, done: int, total: int) -> None:
        """The trainer's hook: ``done`` of ``total`` training edges of ``epoch`` are queued.

        The bar covers the training steps only; once they are all queued the rest of the epoch (validation, the
        epoch's statistics, a checkpoint) can take as long again, so the line says so instead of sitting at 100%.
        """
        now = time.perf_counter()
        self.epoch = epoch
        if done >= total:
            message = (f"epoch {epoch}/{self.epochs}: {fmt_count(total)} edges trained in "
                       f"{fmt_duration(now - self.t_epoch)}; validating and measuring the epoch... "
                       f"{fmt_duration(now - self.t0)} elapsed")
            if self.live:
                self._show(1.0, message, style="info")  # another colour: the bar's part is over
            return
        # whole percent, rounded down: 11,213 of 11,214 edges is 99%, never 100% before the epoch's end
        message = (f"epoch {epoch}/{self.epochs}: training {100 * done // total}% of {fmt_count(total)} edges, "
                   f"{fmt_duration(now - self.t_epoch)} in this epoch, {fmt_duration(now - self.t0)} elapsed")
        if self.live:
            self._show(done / total, message, style="")
        elif now - self.t_line >= self.every and done < total:
            self.t_line = now
            self._show(None, "  " + message)

    def epoch_done(self, record: dict) -> None:
        """A training callback: the epoch ended (or the run stopped inside one)."""
        now = time.perf_counter()
        if not R.is_epoch(record):
            self._show(None, f"stopping: {R.stop_reason([record])}; saving the run...")
            return
        took = now - self.t_epoch
        self.t_epoch = self.t_line = now
        message = (f"epoch {record['epoch']}/{record['epochs']} done in {fmt_duration(took)}: "
                   f"val {fmt_loss(record.get('val_total'))}, {record['dims']} dims, "
                   f"batch {fmt_count(record['batch_size'])}; {fmt_duration(now - self.t0)} elapsed")
        if R.ends_run(record):
            message += f" [{R.stop_reason([record])}]"
        self._show(0.0 if self.live else None, message, style="")  # the next epoch's training starts empty

    def close(self, message: str) -> None:
        """The run is over: the bar full, the line says how it ended."""
        self._show(1.0 if self.live else None, message, style="")


# ---------------------------------------------------------------- the trainer's own lines

class RunLog:
    """The trainer's stage lines (loading, the configuration, saving: a dozen before the first epoch) for a
    training cell: in a live notebook one collapsed block whose title is the latest line, under the
    dashboard, so they never push the dashboard down the page (click it to read them all); headless
    (papermill, nbmake) printed as they come.
    """

    def __init__(self, live: bool, out=print):
        self.live, self.out = live, out
        self.lines: list[str] = []
        self.handle = None

    def place(self) -> None:
        """Take the block's place in the output now (empty until the first line), so that lines written
        later from a worker thread land under the dashboard."""
        if self.live and self.handle is None:
            from IPython.display import HTML, display

            self.handle = display(HTML(""), display_id=True)

    def __call__(self, *parts, **_) -> None:
        text = " ".join(str(p) for p in parts)
        if not self.live:
            self.out(text)
            return
        self.lines += text.splitlines() or [""]
        from IPython.display import HTML, display

        view = HTML(self._repr_html_())
        if self.handle is None:
            self.handle = display(view, display_id=True)
        else:
            self.handle.update(view)

    def _repr_html_(self) -> str:
        import html

        latest = next((line.strip() for line in reversed(self.lines) if line.strip()), "")
        return (f"<details><summary style='color:#555'>run log ({len(self.lines)} lines): {html.escape(latest)}"
                f"</summary><pre style='margin:0'>{html.escape(chr(10).join(self.lines))}</pre></details>")


# ---------------------------------------------------------------- the run

ANALYSING = "analysing the returned model"


@contextmanager
def ticking(say, message: str, every: float = 1.0):
    """While the block runs, ``say(message + elapsed time)`` every ``every`` seconds from a helper thread (a
    long step whose inner progress is not known still shows that it is going)."""
    done, t0 = threading.Event(), time.perf_counter()
    say(f"{message}...")

    def tick():
        while not done.wait(every):
            say(f"{message}... {fmt_duration(time.perf_counter() - t0)}")

    thread = threading.Thread(target=tick, name="naomi-nb-ticker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


class NotebookRun:
    """One training run started from a notebook; making one claims the kernel's single run slot.

    Args:
        cfg: the run's config (for a resume: the panel's; its `RESUMABLE_CHANGES` apply to the saved one).
        graph: a loaded graph, or None to load ``cfg.training_data``.
        resume: a run directory to continue (see `resume_target`), or None.
        dashboard: the `naomi_nb.dashboard.Dashboard` to feed (default: a new one shown in the cell).
        progress: a `Progress` (default: live bar in a notebook, lines headless).
        how: how the run began, for messages ("the training cell", "the Train button").
        background: the run trains on a thread (a button run): the idle interrupt stops it.
        on_phase: called with a line of text at each step after training starts (stopping, saving,
            analysing with its elapsed time), for a status display; default: nothing.

    Raises:
        AlreadyRunning: another run is going in this kernel.
    """

    def __init__(self, cfg: TrainConfig, graph=None, resume=None, dashboard=None, progress=None, log=None,
                 headless=None, train_fn=None, how: str = "the training cell", background: bool = False,
                 on_phase=None):
        global _active
        self.resume = Path(resume) if resume else None
        if self.resume is not None:  # what the trainer will run with: the run's own settings, a few changed
            cfg = rundir.resume_config(self.resume, cfg)
        self.cfg, self.graph, self.log, self.how, self.background = cfg, graph, log, how, background
        self.run_dir = self.resume or (Path(cfg.output_dir) if cfg.output_dir else None)
        self.headless = is_headless(headless)
        self.stop_event = threading.Event()
        self.result, self.error = None, None
        self.training = False  # the trainer is running: Stop (or the interrupt) can end it
        with _lock:
            if _active is not None:
                where = f" ({_active.run_dir})" if _active.run_dir else ""
                raise AlreadyRunning(f"a run is already going{where}, started from {_active.how}: press Stop or "
                                     "interrupt the kernel (the square button), then start again")
            _active = self
        self._train_fn = train_fn
        self.dashboard, self.progress = dashboard, progress
        self.phase = on_phase or (lambda text: None)
        self.phase_started = False  # the trainer has been called (before: a stop still counts, at its start)

    @property
    def stoppable(self) -> bool:
        """Training, or about to: a stop ends it at the next batch. Not once it saves and analyses."""
        return self.result is None and (self.training or not self.phase_started)

    def stop(self) -> None:
        """End the run cleanly at the next batch boundary; its directory stays resumable. Once training is
        over (saving, analysing) there is nothing to stop: nothing happens."""
        if not self.stoppable:
            return
        if not self.stop_event.is_set():
            self.phase("stopping at the next batch...")
        self.stop_event.set()

    def run(self, worker: bool | None = None):
        """Train, then write dashboard.png and (unless ``analyze`` is off) the analysis; release the slot.

        Args:
            worker: train (and save, and analyse) on a worker thread while this thread waits, as the buttons
                do; the kernel's interrupt while it waits stops the run at the next batch. None: on a worker in
                a Jupyter kernel's training cell, except on Colab (which does not draw widget updates from a
                thread). Measured on a 2-core machine: a kernel's main thread trains 10 to 100 times slower
                than a worker thread when other processes keep the cores busy (docs/notebooks.md).

        Returns:
            The `naomi_nb.trainer.TrainResult`.
        """
        global _active
        try:
            dash, progress = self._place()
            if worker is None:
                worker = threading.current_thread() is threading.main_thread() and in_kernel() and not in_colab()
            if not worker:
                return self._train(dash, progress)
            outcome: dict = {}
            done = threading.Event()

            def work():
                try:
                    outcome["result"] = self._train(dash, progress)
                except BaseException as e:  # noqa: BLE001 - raised again in the waiting cell
                    outcome["error"] = e
                finally:
                    done.set()

            threading.Thread(target=work, name="naomi-nb-train-cell", daemon=True).start()
            told = False
            while not done.is_set():
                try:  # a sleep, not join(): an interrupted Thread.join can leave the thread looking finished
                    time.sleep(0.05)
                except KeyboardInterrupt:  # the kernel's interrupt button while the cell waits
                    if self.stoppable:
                        self.stop()
                    elif not told:
                        told = True
                        print("the run is saving and analysing; that cannot be stopped, it ends by itself")
            if "error" in outcome:
                raise outcome["error"]
            return outcome["result"]
        except BaseException as e:
            self.error = e
            raise
        finally:
            with _lock:
                if _active is self:
                    _active = None

    def _place(self):
        """The run's displays, made on the calling thread (a cell's outputs): the dashboard first, at the top
        of the cell, then the progress bar and the log's block under it."""
        from .dashboard import Dashboard

        dash = self.dashboard if self.dashboard is not None else Dashboard()
        self.dashboard = dash
        dash.label(self.cfg, self.run_dir)
        if self.resume is not None:  # the curves continue from the run's history
            dash.history = rundir.read_history(self.resume)
        progress = self.progress
        if progress is None:
            progress = self.progress = Progress(live=not self.headless and in_kernel())
            if progress.widget is not None:
                from IPython.display import display

                display(progress)
        done = R.epochs_of(dash.history)
        progress.start(done[-1]["epoch"] + 1 if done else 1, self.cfg.epochs)
        dash.refresh()  # the dashboard first, at the top of the cell, before any line of the log
        if self.log is None:
            self.log = RunLog(live=progress.live)
            self.log.place()
        return dash, progress

    def _train(self, dash, progress):
        """Training, ``dashboard.png`` and the analysis."""
        train_fn = self._train_fn
        if train_fn is None:
            from .trainer import train as train_fn
        how_to_stop = ("Stop or the kernel's interrupt (the square button)" if self.background else
                       "the kernel's interrupt (the square button)")
        self.training = self.phase_started = True
        self.phase(f"training {self.run_dir or ''}: {how_to_stop} ends it at the next batch")
        try:
            result = train_fn(self.cfg, self.graph, callbacks=[dash, progress.epoch_done],
                              stop_event=self.stop_event, resume=self.resume, log=self.log, progress=progress)
        finally:
            self.training = False
        self.result, self.run_dir = result, Path(result.run_dir)
        self.phase(f"saving {rundir.DASHBOARD}...")
        dash.finish()
        dash.label(run_dir=self.run_dir)
        dash.refresh()
        dash.save(self.run_dir / rundir.DASHBOARD)  # every run, however it began
        stopped = result.metrics.get("stopped")
        analyse = self.cfg.analyze and result.history and stopped != R.NAN
        ended = (f"{'stopped' if stopped == R.INTERRUPTED else 'done'}: "
                 f"{R.stop_reason(result.history, result.metrics)}; {self.run_dir}"
                 + (" (resumable)" if stopped == R.INTERRUPTED else ""))
        progress.close(ended + (f"; {ANALYSING}..." if analyse else ""))
        if analyse:
            from .report import analyze_run

            with ticking(self.phase, f"{ANALYSING} (report.json, figures/)"):
                analyze_run(self.run_dir, graph=self.graph, log=self.log)
            if progress.live:  # the bar's line no longer says it is analysing
                progress.close(ended)
        return result


def run_training(cfg: TrainConfig, graph=None, resume=None, **kwargs):
    """`NotebookRun` ``(...).run()``: train in this cell, one run per kernel at a time."""
    return NotebookRun(cfg, graph, resume=resume, **kwargs).run()
