"""The control panel: ipywidgets that edit a `TrainConfig`, a preset menu, and Train/Stop buttons that run
the same ``train()`` on a background thread (a JupyterLab extra; the kernel's interrupt button is Stop
for a training cell anywhere).
"""
from __future__ import annotations

import html
import threading

from . import record as R
from .config import PRESETS, ConfigError, TrainConfig, device_presets
from .dashboard import Dashboard
from .notebook import _fmt_loss, describe, fmt_count, fresh_run_dir, is_headless



_POW2_BATCHES = [1 << k for k in range(15, 21)]  # 32K .. 1M
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
}
_LABELS = {"epochs": "epochs", "patience": "patience", "min_delta": "min delta", "lr": "learning rate",
           "batch_size": "batch size", "embedding_dim": "embedding dim", "max_dims": "max dims",
           "expand_interval": "expand every", "expand_by": "expand by", "dynamic_dims": "dynamic dims"}
_EXPANSION_FIELDS = ("max_dims", "expand_interval", "expand_by")


def _choice_label(name: str, value) -> str:
    if name == "batch_size":
        return fmt_count(value)
    return f"{value:g}"


class ControlPanel:
    """ipywidgets that edit a `TrainConfig`; see `control_panel`."""

    def __init__(self, cfg: TrainConfig, graph=None, presets: dict | None = None, train_fn=None, headless=None):
        import ipywidgets as w

        self.base = cfg
        self.graph = graph
        self.presets = device_presets(cfg.device) if presets is None else presets
        self.headless = is_headless(headless)
        self._train_fn = train_fn
        self._applying = False
        self._thread: threading.Thread | None = None
        self.stop_event: threading.Event | None = None
        self.handle = None  # display handle the Train button's dashboard draws into
        self.dashboard: Dashboard | None = None
        self.result = None
        self.exception: BaseException | None = None
        self.error: str | None = None

        style = {"description_width": "110px"}
        layout = w.Layout(width="420px")
        self.widgets: dict = {}
        for name, (kind, spec) in _SLIDERS.items():
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
        self.widgets["dynamic_dims"] = w.Checkbox(value=cfg.dynamic_dims, description=_LABELS["dynamic_dims"],
                                                  indent=False)
        labels = [(n if v == PRESETS.get(n) else f"{n} (scaled down)", n) for n, v in self.presets.items()]
        self.preset = w.Dropdown(options=[("(custom)", "")] + labels, value="",
                                 description="preset", style=style, layout=w.Layout(width="300px"))
        self.train_button = w.Button(description="Train", button_style="success", icon="play",
                                     tooltip="train on a background thread (JupyterLab)")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                    tooltip="end the run cleanly at the next batch")
        self.status = w.HTML()

        for widget in self.widgets.values():
            widget.observe(self._on_change, names="value")
        self.preset.observe(self._on_preset, names="value")
        self.train_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())

        left = [self.widgets[n] for n in ("epochs", "patience", "min_delta", "lr", "batch_size")]
        right = [self.widgets[n] for n in ("embedding_dim", "max_dims", "expand_interval", "expand_by")]
        self.widget = w.VBox([
            w.HBox([self.preset, self.widgets["dynamic_dims"]]),
            w.HBox([w.VBox(left), w.VBox(right)]),
            w.HBox([self.train_button, self.stop_button, self.status]),
        ])
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
        cfg = self.base.replace(**self.values())
        if cfg.output_dir is None:  # a fresh run directory for every run started from this panel
            cfg = cfg.replace(output_dir=str(fresh_run_dir()))
        return cfg

    def set(self, **values) -> None:
        """Move widgets programmatically (``panel.set(patience=3)``); a value off a slider's scale is added."""
        for name, value in values.items():
            widget = self.widgets[name]
            if isinstance(widget.value, bool):
                widget.value = bool(value)
            elif hasattr(widget, "options"):
                current = [v for _, v in widget.options]
                if value not in current:
                    widget.options = [(_choice_label(name, v), v) for v in sorted(set(current) | {value})]
                widget.value = value
            else:
                widget.min, widget.max = min(widget.min, value), max(widget.max, value)
                widget.value = value

    def _on_preset(self, change) -> None:
        name = change["new"]
        if not name:
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
        name = self.preset.value
        if name and any(self.widgets[k].value != v for k, v in self.presets[name].items() if k in self.widgets):
            self.preset.value = ""  # the sliders no longer show that preset
        self._refresh()

    def _refresh(self) -> None:
        dynamic = self.widgets["dynamic_dims"].value
        for name in _EXPANSION_FIELDS:
            self.widgets[name].disabled = not dynamic
        try:
            cfg = self.config()
            self.error = None
        except ConfigError as e:
            self.error = str(e)
        running = self.running
        self.train_button.disabled = running or self.error is not None
        self.stop_button.disabled = not running
        if running:
            return
        if self.error:
            self._status(f"<span style='color:#b00'>&#9888; {html.escape(self.error)}</span>")
        else:
            self._status(f"<span style='color:#555'>{html.escape(describe(cfg))}</span>")

    def _status(self, text: str) -> None:
        self.status.value = text

    # training on a thread (the JupyterLab extra)
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> threading.Thread | None:
        """What the Train button does: train the panel's config on a background thread."""
        if self.running:
            return self._thread
        try:
            cfg = self.config()
        except ConfigError:
            self._refresh()
            return None
        train_fn = self._train_fn
        if train_fn is None:
            from .trainer import train as train_fn
        self.stop_event = threading.Event()
        self.dashboard = Dashboard(handle=self.handle, show=None if self.handle is None else False)
        self.result, self.exception = None, None
        self._thread = threading.Thread(target=self._run, args=(train_fn, cfg), name="naomi-nb-train", daemon=True)
        self.train_button.disabled, self.stop_button.disabled = True, False
        self._status("starting...")
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """What the Stop button does: ask the run to end cleanly at the next batch boundary."""
        if self.stop_event is not None:
            self.stop_event.set()
            self._status("stopping at the next batch...")

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _on_record(self, rec: dict) -> None:
        if not R.is_epoch(rec):  # the run was stopped inside an epoch
            self._status(f"stopping: {R.stop_reason([rec])}, saving the run...")
            return
        self._status(f"epoch {rec['epoch']}/{rec['epochs']}: val {_fmt_loss(rec.get('val_total'))}, "
                     f"{rec.get('dims')} dims, batch {fmt_count(rec.get('batch_size', 0))}")

    def _run(self, train_fn, cfg: TrainConfig) -> None:
        message = None
        try:
            self.result = train_fn(cfg, graph=self.graph, callbacks=[self.dashboard, self._on_record],
                                   stop_event=self.stop_event)
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
        self.train_button.disabled = self.error is not None
        self.stop_button.disabled = True
        if message:
            self._status(message)

    # display
    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        if self.headless:
            print(f"control panel skipped (headless): {self.error or describe(self.base)}")
            return
        display(self.widget)
        self.handle = display(HTML("<i>Train/Stop buttons (JupyterLab): the live dashboard appears here. "
                                   "Anywhere: run the next cell, interrupt the kernel to stop.</i>"),
                              display_id=True)

    def __repr__(self) -> str:
        return f"ControlPanel({describe(self.base)})"


def control_panel(cfg: TrainConfig, graph=None, presets: dict | None = None, train_fn=None,
                  headless=None) -> ControlPanel:
    """Sliders for the knobs people move, a preset menu, Train/Stop buttons; ``.config()`` reads them.

    Main path (works everywhere): show the panel in one cell, then in the next cell
    ``cfg = panel.config()`` and ``train(cfg, graph, callbacks=[Dashboard()])``; the
    kernel's interrupt button stops cleanly. The Train/Stop buttons run the same
    training on a background thread (live in JupyterLab; Colab does not render
    widget updates from threads).

    Args:
        cfg: the starting values, and every field without a widget.
        graph: a loaded graph handed to ``train`` (None: it loads ``cfg.training_data``).
        presets: name -> field values for the preset menu; default `device_presets` (scaled off CUDA).
        train_fn: the training function for the Train button (default `naomi_nb.trainer.train`).
        headless: True shows a one-line summary instead of widgets; None detects nbmake.
    """
    return ControlPanel(cfg, graph=graph, presets=presets, train_fn=train_fn, headless=headless)
