"""The control panel: ipywidgets that edit a `TrainConfig`, a preset menu, and Train/Resume/Stop buttons
that run the same ``train()`` on a background thread (a JupyterLab extra); ``panel.train()`` is the training
cell's way, anywhere: the cell waits while the same kind of worker thread trains. Both go through `naomi_nb.session`: one run at a time per kernel, and
the kernel's interrupt button stops either.
"""
from __future__ import annotations

import html
import math
import re
import threading

from . import components, session
from .config import PRESETS, ConfigError, TrainConfig, applies, config_fields, device_presets, field_choices
from .dashboard import Dashboard
from .fmt import fmt_count
from .notebook import describe, fresh_run_dir, is_headless, run_summary
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
# the components' own knobs with hand-made scales; the others get one from their declared search range
_KNOB_SLIDERS = {"negatives": ("int", (1, 64, 1))}
_DEVICES = ("auto", "cpu", "cuda")
_LABELS = {"epochs": "epochs", "patience": "patience", "min_delta": "min delta", "lr": "learning rate",
           "batch_size": "batch size", "embedding_dim": "embedding dim", "max_dims": "max dims",
           "expand_interval": "expand every", "expand_by": "expand by", "dynamic_dims": "dynamic dims",
           "sparsity_mode": "sparsity mode", "sparsity_weight": "L1 weight", "proximal_strength": "prox. strength",
           "seed": "seed", "device": "device", "objective": "objective", "negatives": "negatives",
           "negative_sampler": "sampler", "lr_schedule": "lr schedule", "analyze": "analyse after training"}


def _label(name: str) -> str:
    return _LABELS.get(name, name.replace("_", " "))


def panel_words(message: str) -> str:
    """A config error in the panel's words: the CLI's flags (``--max-dims``, ``--[no-]dynamic-dims``) become
    the labels of the widgets that set them ("max dims"); flags without a widget stay as they are."""
    def label(match):
        name = match.group(1).replace("-", "_")
        f = config_fields().get(name)
        return _label(name) if name in _LABELS or (f is not None and "knob" in f.metadata) else match.group(0)

    return re.sub(r"--(?:\[no-\])?([a-z][a-z0-9-]*)", label, message)


def _choice_label(name: str, value) -> str:
    if name == "batch_size":
        return fmt_count(value)
    return f"{value:g}"


def _field_choices(name: str):
    f = config_fields().get(name)
    return None if f is None else field_choices(f)


def _menus() -> list[str]:
    """The fields that pick a component (one menu each, over its kind's registered names), then the knobs
    that name a choice."""
    kinds = [k.field for k in components.KINDS.values() if k.field is not None]
    return kinds + [n for n, f in config_fields().items() if "knob" in f.metadata and f.metadata.get("choices")
                    and n not in kinds]


def knob_scale(name: str):
    """A component knob's slider, (kind, options) as in ``_SLIDERS``, from its declared search range: a list
    is the slider's values; a range (low, high[, "log"]) becomes 9 values between them (evenly, or evenly
    in log); ints are rounded. None for a knob without a numeric search range (a switch or a menu)."""
    f = config_fields()[name]
    search = f.metadata["knob"].search
    if isinstance(f.default, bool) or search is None:
        return None
    if isinstance(search, list):
        return "choice", list(search)
    low, high, *log = search
    if log:
        values = [math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / 8) for i in range(9)]
        values = [float(f"{v:.2g}") for v in values]
    else:
        values = [low + (high - low) * i / 8 for i in range(9)]
    if isinstance(f.default, int):
        values = [int(round(v)) for v in values]
    else:
        values = [round(v, 6) for v in values]
    return "choice", sorted(set(values))


class ControlPanel:
    """ipywidgets that edit a `TrainConfig`; see `control_panel`."""

    def __init__(self, cfg: TrainConfig, graph=None, presets: dict | None = None, train_fn=None, headless=None,
                 runs_dir=None):
        import ipywidgets as w

        self.base = cfg
        self.graph = graph
        if presets is None:
            from .device import kind as device_kind

            presets = device_presets(device_kind(cfg.device))
        self.presets = presets
        self.headless = is_headless(headless)
        self.runs_dir = runs_dir
        self._train_fn = train_fn
        self._applying = False
        self._thread: threading.Thread | None = None
        self.run: session.NotebookRun | None = None  # the panel's latest run, cell or button
        self.handle = None  # display handle the buttons' dashboard draws into
        self.summary_handle = None  # display handle under it: a button run's summary, as the cell shows it
        self.dashboard: Dashboard | None = None
        self.result = None
        self.exception: BaseException | None = None
        self.error: str | None = None

        style = {"description_width": "110px"}
        layout = w.Layout(width="420px")
        self.widgets: dict = {}
        menus = _menus()
        knobs = [n for n, f in config_fields().items() if "knob" in f.metadata and n not in _SLIDERS and n not in menus]
        sliders = dict(_SLIDERS)
        for name in knobs:
            scale = _KNOB_SLIDERS.get(name) or knob_scale(name)
            if scale is not None:
                sliders[name] = scale
        for name, (kind, spec) in sliders.items():
            value = getattr(cfg, name)
            if kind == "int":
                lo, hi, step = spec
                widget = w.IntSlider(value=value, min=min(lo, value), max=max(hi, value), step=step,
                                     description=_label(name), continuous_update=False, style=style, layout=layout)
            else:
                values = sorted(set(spec) | {value})
                widget = w.SelectionSlider(options=[(_choice_label(name, v), v) for v in values], value=value,
                                           description=_label(name), continuous_update=False, style=style,
                                           layout=layout)
            self.widgets[name] = widget
        for name in menus:
            self.widgets[name] = w.Dropdown(options=list(_field_choices(name)), value=getattr(cfg, name),
                                            description=_label(name), style=style, layout=layout)
        for name in knobs:  # switches (and knobs with no search range: a text box of their type)
            if name in self.widgets:
                continue
            value = getattr(cfg, name)
            if isinstance(value, bool):
                self.widgets[name] = w.Checkbox(value=value, description=_label(name), indent=False, layout=layout)
            else:
                box = w.IntText if isinstance(value, int) else w.FloatText if isinstance(value, float) else w.Text
                self.widgets[name] = box(value=value, description=_label(name), style=style, layout=layout)
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
        # a line of its own under the buttons (beside them a long status squeezed them to "Resu...")
        self.status = w.HTML(layout=w.Layout(width="100%"))
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
        # the components and their own settings under the two columns, in the same two columns (four widgets
        # of 420px in one row squash the sliders to stubs)
        shown = set(left) | set(right)
        extra = [self.widgets[n] for n in menus + knobs if n in self.widgets and self.widgets[n] not in shown]
        self.widget = w.VBox([
            w.HBox([self.preset, self.widgets["dynamic_dims"]]),
            w.HBox([w.VBox(left), w.VBox(right)]),
            *([w.HBox([w.VBox(extra[0::2]), w.VBox(extra[1::2])])] if extra else []),
            # one row box, wrapped: the buttons keep their size on the first line, the status takes the next
            w.HBox([self.train_button, self.resume_button, self.stop_button, self.widgets["analyze"], self.status],
                   layout=w.Layout(flex_flow="row wrap", align_items="center")),
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
        self.stop_button.disabled = not self._stoppable()
        if busy:
            return
        if self.error:
            self._status(f"<span style='color:#b00'>&#9888; {html.escape(self.error)}</span>")
        else:
            self._status(f"<span style='color:#555'>{html.escape(describe(cfg))}</span>")

    def _status(self, text: str) -> None:
        self.status.value = text

    def _phase(self, text: str) -> None:
        """The run's step after training starts (stopping, saving, analysing), as the panel's status; Stop is
        clickable only while the trainer runs (saving and the analysis cannot be stopped)."""
        self.stop_button.disabled = not self._stoppable()
        self._status(f"<span style='color:#555'>{html.escape(text)}</span>")

    def _stoppable(self) -> bool:
        """A button run of this panel is training (not yet, or no longer, saving and analysing)."""
        return self.running and self.run is not None and self.run.background and self.run.stoppable

    def _ending(self) -> bool:
        """On the run's own thread, in its last lines: the run is over for the buttons."""
        return threading.current_thread() is self._thread

    # the training cell's way (anywhere): the cell waits for the run; interrupt the kernel to stop
    def train(self, resume=None, log=None):
        """Train the panel's config here and now; returns the `naomi_nb.trainer.TrainResult`.

        Args:
            resume: None for a new run, ``"latest"`` for the newest unfinished run, or a run directory
                (the sliders' epochs, patience, device and analyze apply to it).
            log: where the trainer's lines go; None: one collapsed block under the dashboard in a live
                notebook, printed headless (`naomi_nb.session.RunLog`).

        Raises:
            AlreadyRunning: a run (from a button, or another cell) is going in this kernel.
        """
        cfg = self.config()
        target = session.resume_target(resume, self.runs_dir)
        if target is not None:
            (log or print)(f"resuming {target}")
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
                self._status(self._ended())

    def summary(self):
        """How the panel's latest run ended (`naomi_nb.notebook.run_summary`): its headline figures, the
        summary table (the returned model first) and the next steps; a button run shows the same under its
        dashboard."""
        if self.result is None:
            return run_summary(self.dashboard.history if self.dashboard else [],
                               run_dir=self.run.run_dir if self.run is not None else None)
        r = self.result
        return run_summary(r.history, r.metrics, r.config, r.run_dir)

    def _ended(self) -> str:
        """The status once a run is over: how it ended, its directory and its headline figures."""
        stopped = (getattr(self.result, "metrics", None) or {}).get("stopped")
        word = "stopped, run saved and resumable" if stopped == "interrupted" else "done"
        return (f"{word}: {html.escape(str(getattr(self.result, 'run_dir', '')))} &mdash; "
                f"{html.escape(self.summary().headline)}")

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
        if run is not None and run.stoppable:  # not while it saves and analyses: that cannot be stopped
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
            message = self._ended()
            if self.summary_handle is not None:  # under the dashboard, what the training cell shows
                self.summary_handle.update(self.summary())
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
        self.summary_handle = display(HTML(""), display_id=True)  # a button run's summary, once it ends

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
