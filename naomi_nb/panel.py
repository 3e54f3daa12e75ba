"""The control panel: ipywidgets that edit a `TrainConfig`, a preset menu, and Train/Resume/Stop buttons
that run the same ``train()`` on a background thread (a JupyterLab extra); ``panel.train()`` is the training
cell's way, synchronous, anywhere. Both go through `naomi_nb.session`: one run at a time per kernel, and
the kernel's interrupt button stops either.
"""
from __future__ import annotations

import html
import re
import threading
from dataclasses import fields

from . import session
from .config import PRESETS, ConfigError, TrainConfig, applies, device_presets, field_choices
from .dashboard import Dashboard
from .fmt import fmt_count
from .notebook import describe, fresh_run_dir, is_headless, summary_table
from .rundir import RunDirError


_POW2_BATCHES = [1 << k for k in range(8, 21)]  # 256 .. 1M (the mammal graph on a CPU uses 2K)
_LRS = [m * 10.0 ** e for e in range(-5, 0) for m in (1, 2, 5)] + [1.0]
_MIN_DELTAS = [0.0] + [m * 10.0 ** e for e in range(-7, -1) for m in (1, 2, 5)]

# field -> (kind, options): int sliders (min, max, step), choice sliders over fixed values
_SLIDERS = {
    "epochs": ("int", (1, 300, 1)),
    "patience": ("int", (0, 50, 1)),
    "min_delta": ("choice", _MIN_DELTAS),
    "lr": ("choice", _LRS),
    "batch_size": ("choice", _POW2_BATCHES),
    "embedding_dim": ("int", (8, 1024, 8)),
    "max_dims": ("int", (64, 2048, 64)),
    "expand_interval": ("int", (1, 20, 1)),
    "expand_by": ("int", (8, 256, 8)),
    "sparsity_weight": ("choice", [0.0] + [m * 10.0 ** e for e in range(-5, 0) for m in (1, 2, 5)]),
    "proximal_strength": ("choice", [m * 10.0 ** e for e in range(-3, 0) for m in (1, 2, 5)] + [1.0]),
    "seed": ("int", (0, 99, 1)),
}
# menus over a field's declared choices; fields the trainer does not have (yet) are left out
_MENUS = ("sparsity_mode", "objective", "negative_sampler", "lr_schedule")
_OPTIONAL_SLIDERS = {"negatives": ("int", (1, 64, 1))}
_DEVICES = ("auto", "cpu", "cuda")
_LABELS = {"epochs": "epochs", "patience": "patience", "min_delta": "min delta", "lr": "learning rate",
           "batch_size": "batch size", "embedding_dim": "embedding dim", "max_dims": "max dims",
           "expand_interval": "expand every", "expand_by": "expand by", "dynamic_dims": "dynamic dims",
           "sparsity_mode": "sparsity mode", "sparsity_weight": "L1 weight", "proximal_strength": "prox. strength",
           "seed": "seed", "device": "device", "objective": "objective", "negatives": "negatives",
           "negative_sampler": "sampler", "lr_schedule": "lr schedule", "analyze": "analyse after training"}


def panel_words(message: str) -> str:
    """A config error in the panel's words: the CLI's flags (``--max-dims``, ``--[no-]dynamic-dims``) become
    the labels of the widgets that set them ("max dims"); flags without a widget stay as they are."""
    def label(match):
        name = match.group(1).replace("-", "_")
        return _LABELS.get(name, match.group(0))

    return re.sub(r"--(?:\[no-\])?([a-z][a-z0-9-]*)", label, message)


def _choice_label(name: str, value) -> str:
    if name == "batch_size":
        return fmt_count(value)
    return f"{value:g}"


def _field_choices(name: str):
    f = next((f for f in fields(TrainConfig) if f.name == name), None)
    return None if f is None else field_choices(f)


class ControlPanel:
    """ipywidgets that edit a `TrainConfig`; see `control_panel`."""

    def __init__(self, cfg: TrainConfig, graph=None, presets: dict | None = None, train_fn=None, headless=None,
                 runs_dir=None):
        import ipywidgets as w

        self.base = cfg
        self.graph = graph
        self.presets = device_presets(cfg.device) if presets is None else presets
        self.headless = is_headless(headless)
        self.runs_dir = runs_dir
        self._train_fn = train_fn
        self._applying = False
        self._thread: threading.Thread | None = None
        self.run: session.NotebookRun | None = None  # the panel's latest run, cell or button
        self.handle = None  # display handle the buttons' dashboard draws into
        self.dashboard: Dashboard | None = None
        self.result = None
        self.exception: BaseException | None = None
        self.error: str | None = None

        style = {"description_width": "110px"}
        layout = w.Layout(width="420px")
        self.widgets: dict = {}
        names = {f.name for f in fields(TrainConfig)}
        sliders = {**_SLIDERS, **{k: v for k, v in _OPTIONAL_SLIDERS.items() if k in names}}
        for name, (kind, spec) in sliders.items():
            value = getattr(cfg, name)
            if kind == "int":
                lo, hi, step = spec
                widget = w.IntSlider(value=value, min=min(lo, value), max=max(hi, value), step=step,
                                     description=_LABELS[name], continuous_update=False, style=style, layout=layout)
            else:
                values = sorted(set(spec) | {value})
                widget = w.SelectionSlider(options=[(_choice_label(name, v), v) for v in values], value=value,
                                           description=_LABELS[name], continuous_update=False, style=style,
                                           layout=layout)
            self.widgets[name] = widget
        for name in _MENUS:
            choices = _field_choices(name)
            if choices:
                self.widgets[name] = w.Dropdown(options=list(choices), value=getattr(cfg, name),
                                                description=_LABELS.get(name, name), style=style, layout=layout)
        devices = list(_DEVICES) + ([cfg.device] if cfg.device not in _DEVICES else [])
        self.widgets["device"] = w.Dropdown(options=devices, value=cfg.device, description="device", style=style,
                                            layout=layout)
        self.widgets["dynamic_dims"] = w.Checkbox(value=cfg.dynamic_dims, description=_LABELS["dynamic_dims"],
                                                  indent=False)
        # the analysis (report.json, figures/) takes a while on full WordNet after the run ends: skippable here
        self.widgets["analyze"] = w.Checkbox(value=cfg.analyze, description=_LABELS["analyze"], indent=False,
                                             layout=w.Layout(width="190px"))
        labels = [(n if v == PRESETS.get(n) else f"{n} (scaled down)", n) for n, v in self.presets.items()]
        self.preset = w.Dropdown(options=[("(custom)", "")] + labels, value="",
                                 description="preset", style=style, layout=w.Layout(width="300px"))
        self.train_button = w.Button(description="Train", button_style="success", icon="play",
                                     tooltip="train on a background thread (JupyterLab)")
        self.resume_button = w.Button(description="Resume", button_style="info", icon="forward",
                                      tooltip="continue the newest unfinished run (epochs, patience, device and "
                                              "analyze from the sliders)")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                    tooltip="end the run cleanly at the next batch (the kernel's interrupt does too)")
        self.status = w.HTML()
        self.progress_bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="300px"))
        self.progress_text = w.HTML()
        self.progress_row = w.HBox([self.progress_bar, self.progress_text], layout=w.Layout(display="none"))

        for widget in self.widgets.values():
            widget.observe(self._on_change, names="value")
        self.preset.observe(self._on_preset, names="value")
        self.train_button.on_click(lambda _: self.start())
        self.resume_button.on_click(lambda _: self.start(resume="latest"))
        self.stop_button.on_click(lambda _: self.stop())

        left = [self.widgets[n] for n in ("epochs", "patience", "min_delta", "lr", "batch_size", "seed", "device")]
        right = [self.widgets[n] for n in ("embedding_dim", "max_dims", "expand_interval", "expand_by",
                                           "sparsity_mode", "sparsity_weight", "proximal_strength")]
        # the objective's settings under the two columns, in the same two columns (four widgets of 420px in one
        # row squash the sliders to stubs)
        extra = [self.widgets[n] for n in ("objective", "negatives", "negative_sampler", "lr_schedule")
                 if n in self.widgets]
        self.widget = w.VBox([
            w.HBox([self.preset, self.widgets["dynamic_dims"]]),
            w.HBox([w.VBox(left), w.VBox(right)]),
            *([w.HBox([w.VBox(extra[0::2]), w.VBox(extra[1::2])])] if extra else []),
            w.HBox([self.train_button, self.resume_button, self.stop_button, self.widgets["analyze"], self.status]),
            self.progress_row,
        ])
        self.preset.value = self._matching_preset()
        self._refresh()

    # values and config
    def values(self) -> dict:
        """Field -> value of every widget."""
        return {name: widget.value for name, widget in self.widgets.items()}

    def config(self) -> TrainConfig:
        """The base config with the widget values, validated.

        Raises:
            ConfigError: one line naming the offending setting (also shown in the panel).
        """
        try:
            cfg = self.base.replace(**self.values())
        except ConfigError as e:
            raise ConfigError(panel_words(str(e))) from None
        if cfg.output_dir is None:  # a fresh run directory for every run started from this panel
            cfg = cfg.replace(output_dir=str(fresh_run_dir()))
        return cfg

    def set(self, **values) -> None:
        """Move widgets programmatically (``panel.set(patience=3)``); a value off a slider's scale is added."""
        for name, value in values.items():
            widget = self.widgets[name]
            if isinstance(widget.value, bool):
                widget.value = bool(value)
            elif isinstance(widget.value, str):  # a menu
                if value not in widget.options:
                    widget.options = list(widget.options) + [value]
                widget.value = value
            elif hasattr(widget, "options"):
                current = [v for _, v in widget.options]
                if value not in current:
                    widget.options = [(_choice_label(name, v), v) for v in sorted(set(current) | {value})]
                widget.value = value
            else:
                widget.min, widget.max = min(widget.min, value), max(widget.max, value)
                widget.value = value

    def _shows(self, name: str) -> bool:
        """The widgets hold preset ``name``'s values (its fields without a widget are not compared)."""
        return all(self.widgets[k].value == v for k, v in self.presets[name].items() if k in self.widgets)

    def _matching_preset(self) -> str:
        """The menu's entry for the widgets' values: the shown preset while they still hold it, else the first
        preset they equal, else "" ("(custom)")."""
        if self.preset.value and self._shows(self.preset.value):
            return self.preset.value
        return next((name for name in self.presets if self._shows(name)), "")

    def _on_preset(self, change) -> None:
        name = change["new"]
        if not name or self._applying:
            return
        self._applying = True
        try:
            self.set(**{k: v for k, v in self.presets[name].items() if k in self.widgets})
        finally:
            self._applying = False
        self._refresh()

    def _on_change(self, change) -> None:
        if self._applying:
            return
        self._applying = True  # the menu follows the sliders: a preset's name when they hold its values
        try:
            self.preset.value = self._matching_preset()
        finally:
            self._applying = False
        self._refresh()

    def _refresh(self) -> None:
        values = {**self.base.to_dict(), **self.values()}
        for name, widget in self.widgets.items():  # greyed out where the setting takes no effect (config.applies)
            widget.disabled = not applies(values, name)
        try:
            cfg = self.config()
            self.error = None
        except ConfigError as e:
            self.error = str(e)
        # this panel's run disables its own buttons; another panel's stay clickable and explain the refusal
        busy = self.run is not None and session.active_run() is self.run and not self._ending()
        self.train_button.disabled = busy or self.error is not None
        self.resume_target = None if session.active_run() else session.latest_unfinished(self.runs_dir)
        self.resume_button.disabled = self.resume_target is None or self.error is not None
        self.resume_button.tooltip = (f"continue {self.resume_target}" if self.resume_target else
                                      "no unfinished run to continue")
        self.stop_button.disabled = not self.running or self._ending()
        if busy:
            return
        if self.error:
            self._status(f"<span style='color:#b00'>&#9888; {html.escape(self.error)}</span>")
        else:
            self._status(f"<span style='color:#555'>{html.escape(describe(cfg))}</span>")

    def _status(self, text: str) -> None:
        self.status.value = text

    def _phase(self, text: str) -> None:
        """The run's step after training starts (stopping, saving, analysing), as the panel's status."""
        self._status(f"<span style='color:#555'>{html.escape(text)}</span>")

    def _ending(self) -> bool:
        """On the run's own thread, in its last lines: the run is over for the buttons."""
        return threading.current_thread() is self._thread

    # the training cell's way (anywhere): synchronous, interrupt the kernel to stop
    def train(self, resume=None, log=print):
        """Train the panel's config here and now; returns the `naomi_nb.trainer.TrainResult`.

        Args:
            resume: None for a new run, ``"latest"`` for the newest unfinished run, or a run directory
                (the sliders' epochs, patience, device and analyze apply to it).

        Raises:
            AlreadyRunning: a run (from a button, or another cell) is going in this kernel.
        """
        cfg = self.config()
        target = session.resume_target(resume, self.runs_dir)
        if target is not None:
            log(f"resuming {target}")
        run = session.NotebookRun(cfg, self.graph, resume=target, log=log, headless=self.headless,
                                  train_fn=self._train_fn, how="the training cell", on_phase=self._phase)
        self.run, self.result, self.exception = run, None, None
        self.dashboard = run.dashboard
        self.train_button.disabled = self.resume_button.disabled = self.stop_button.disabled = True
        self._status("training in the cell below: interrupt the kernel (the square button) to stop")
        try:
            self.result = run.run()
            self.dashboard = run.dashboard
            return self.result
        finally:
            self._refresh()
            if self.result is not None:
                self._status(f"done: {html.escape(str(self.result.run_dir))}")

    def summary(self):
        """`naomi_nb.notebook.summary_table` of the panel's latest run (the returned model first)."""
        if self.result is None:
            return summary_table(self.dashboard.history if self.dashboard else [])
        return summary_table(self.result.history, self.result.metrics, self.result.config)

    # the buttons' way (JupyterLab): a background thread
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, resume=None) -> threading.Thread | None:
        """What the Train (and, with ``resume="latest"``, the Resume) button does: train on a thread."""
        try:
            cfg = self.config()
            target = session.resume_target(resume, self.runs_dir)
            self.run = session.NotebookRun(
                cfg, self.graph, resume=target, log=lambda *a, **k: None, train_fn=self._train_fn,
                dashboard=Dashboard(handle=self.handle, show=None if self.handle is None else False),
                progress=session.Progress(live=True, bar=self.progress_bar, text=self.progress_text),
                how="the Resume button" if target else "the Train button", background=True, on_phase=self._phase)
        except (ConfigError, RunDirError, session.AlreadyRunning) as e:
            self._refresh()
            self._status(f"<span style='color:#b00'>&#9888; {html.escape(panel_words(str(e)))}</span>")
            return None
        session.route_interrupts()  # the kernel's interrupt button stops this run too
        self.dashboard = self.run.dashboard
        self.result, self.exception = None, None
        self._thread = threading.Thread(target=self._run, args=(self.run,), name="naomi-nb-train", daemon=True)
        self.train_button.disabled = self.resume_button.disabled = True
        self.stop_button.disabled = False
        self.progress_row.layout.display = "flex"
        self._status(f"{'resuming' if target else 'starting'} {html.escape(str(self.run.run_dir or ''))}...")
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """What the Stop button does: ask the run to end cleanly at the next batch boundary."""
        run = self.run if self.run is not None and session.active_run() is self.run else session.active_run()
        if run is not None:
            run.stop()
            self._status("stopping at the next batch...")

    def join(self, timeout: float | None = None) -> None:
        """Wait for a button run; the kernel's interrupt while waiting stops it (and waits for the end)."""
        if self._thread is None:
            return
        try:
            self._thread.join(timeout)
        except KeyboardInterrupt:
            self.stop()
            self._thread.join(timeout)

    def _run(self, run) -> None:
        message = None
        try:
            self.result = run.run()
            stopped = (getattr(self.result, "metrics", None) or {}).get("stopped")
            word = "stopped, run saved and resumable" if stopped == "interrupted" else "done"
            message = f"{word}: {html.escape(str(getattr(self.result, 'run_dir', '')))}"
        except BaseException as e:  # noqa: BLE001 - shown in the panel; the thread must not die silently
            self.exception = e
            first = (str(e).splitlines() or [""])[0]
            failure = html.escape(f"training failed: {type(e).__name__}: {first}")
            message = f"<span style='color:#b00'>{failure}</span>"
        finally:
            self._thread_done(message)

    def _thread_done(self, message) -> None:
        self._refresh()
        if message:
            self._status(message)

    # display
    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        if self.headless:
            print(f"control panel skipped (headless): {self.error or describe(self.base)}")
            return
        display(self.widget)
        self.handle = display(HTML("<i>Train/Resume/Stop buttons (JupyterLab): the live dashboard appears here. "
                                   "Anywhere: run the training cell; the kernel's interrupt button stops either."
                                   "</i>"), display_id=True)

    def __repr__(self) -> str:
        return f"ControlPanel({describe(self.base)})"


def control_panel(cfg: TrainConfig, graph=None, presets: dict | None = None, train_fn=None,
                  headless=None, runs_dir=None) -> ControlPanel:
    """Sliders for the knobs people move, a preset menu, Train/Stop buttons; ``.config()`` reads them.

    Main path (works everywhere): show the panel in one cell, then in the next cell
    ``result = panel.train(resume=RESUME)``; the kernel's interrupt button stops cleanly.
    The Train/Resume/Stop buttons run the same training on a background thread (live in
    JupyterLab; Colab does not render widget updates from threads); the interrupt button
    stops those too. One run at a time per kernel: a second start is refused with a message.

    Args:
        cfg: the starting values, and every field without a widget.
        graph: a loaded graph handed to ``train`` (None: it loads ``cfg.training_data``).
        presets: name -> field values for the preset menu; default `device_presets` (scaled off CUDA).
        train_fn: the training function for the Train button (default `naomi_nb.trainer.train`).
        headless: True shows a one-line summary instead of widgets; None detects nbmake.
        runs_dir: where Resume looks for the newest unfinished run (default: ``runs/`` at the project root).
    """
    return ControlPanel(cfg, graph=graph, presets=presets, train_fn=train_fn, headless=headless, runs_dir=runs_dir)
