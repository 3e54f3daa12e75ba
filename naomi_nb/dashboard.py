"""Notebook layer: live training dashboard, control panel, run comparison, sweeps, metrics recorder.

Everything here consumes the trainer's per-epoch record (a plain dict, see
`naomi_nb.trainer`); nothing here trains. The conventions follow what was
measured to work in JupyterLab, Colab, papermill and nbmake:

- the dashboard is an inline matplotlib figure shown once with
  ``display(fig, display_id=True)`` and replaced each epoch with
  ``handle.update(fig)`` (live in JupyterLab and Colab, also from a thread;
  one final PNG in papermill/nbmake outputs);
- the main path is synchronous: a cell of sliders, then an ordinary cell that
  reads them and calls ``train(cfg, graph, callbacks=[dash])``; the kernel's
  interrupt button is Stop. The panel's Train/Stop buttons run the same
  ``train()`` on a thread with a ``threading.Event``: a JupyterLab extra
  (Colab does not render widget updates from threads);
- ipywidgets is imported inside functions only, so the CLI never needs it.
"""
from __future__ import annotations

import html
import itertools
import json
import math
import os
import threading
import time
from dataclasses import fields
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .config import PRESETS, ConfigError, TrainConfig

SPARSITY_TARGET = (40.0, 70.0)  # the seed's target band for "sparsity %" (share of |x| < 0.01)

# device-aware defaults for the notebooks: the seed's aggressive recipe on CUDA; elsewhere a short run
# on full WordNet (about 20 s of training on 2 CPU cores) that still shows expansions and batch adaptation
GPU_DEFAULTS: dict = dict(PRESETS["aggressive"])
CPU_DEFAULTS: dict = dict(dynamic_dims=True, embedding_dim=64, max_dims=128, expand_interval=1, expand_by=32,
                          batch_size=262144, epochs=4, patience=5, min_delta=0.0001, lr=0.01)
# how a preset shrinks on a CPU: fewer epochs, smaller batches, a quarter of the dims
CPU_PRESET_LIMITS = dict(epochs=3, batch_size=262144, dim_divisor=4)

METRICS_FILE = "notebook_metrics.json"


# ---------------------------------------------------------------- small helpers

def fmt_count(n) -> str:
    """Batch sizes the way people say them: 1048576 -> "1M", 262144 -> "256K", 666666 -> "666,666"."""
    n = int(n)
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20}M"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10}K"
    return f"{n:,}"


def _fmt_loss(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (where display() reaches a frontend), False in scripts and plain IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def is_headless(flag=None) -> bool:
    """The notebook's HEADLESS parameter, or detect: nbmake's kernel sees PYTEST_CURRENT_TEST.

    papermill sets nothing, so sweeps pass ``HEADLESS=True`` explicitly.
    """
    if flag is not None:
        return bool(flag)
    return "PYTEST_CURRENT_TEST" in os.environ


def project_root(start=None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding this kit's pyproject.toml, else cwd.

    Notebooks run with their own folder as working directory (JupyterLab, nbmake), so
    ``data/`` and ``runs/`` are anchored at the repository root; on Colab (no checkout)
    they land in the working directory.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "naomi_nb").is_dir():
            return folder
    return here


def project_path(path) -> Path:
    """An absolute path for ``path``: as given if absolute or present under cwd, else under `project_root`."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    if (Path.cwd() / path).exists():
        return (Path.cwd() / path).resolve()
    return project_root() / path


def device_kind(device: str = "auto") -> str:
    """'cuda', 'mps' or 'cpu' for a config's device string ("auto" probes torch)."""
    device = (device or "auto").lower()
    if device == "auto":
        from .trainer import pick_device

        return pick_device("auto").type
    return device.split(":")[0]


def scale_for_cpu(values: dict) -> dict:
    """A preset shrunk to a CPU-sized run: epochs and batch capped, dims divided (expansion shape kept)."""
    lim = CPU_PRESET_LIMITS
    out = dict(values)
    if "epochs" in out:
        out["epochs"] = min(out["epochs"], lim["epochs"])
    if "batch_size" in out:
        out["batch_size"] = min(out["batch_size"], lim["batch_size"])
    for key in ("embedding_dim", "max_dims", "expand_by"):
        if key in out:
            out[key] = max(8, out[key] // lim["dim_divisor"])
    return out


def device_presets(device: str = "auto") -> dict[str, dict]:
    """`PRESETS` as the seed wrote them on CUDA; on any other device each one scaled by `scale_for_cpu`."""
    if device_kind(device) == "cuda":
        return {name: dict(values) for name, values in PRESETS.items()}
    return {name: scale_for_cpu(values) for name, values in PRESETS.items()}


def notebook_config(params: dict, device: str | None = None) -> TrainConfig:
    """Resolve a notebook's parameters into a validated `TrainConfig`.

    ``params`` is typically ``globals()`` of the notebook: the UPPER_CASE names that
    match `TrainConfig` fields are read (``EPOCHS`` -> ``epochs``), plus ``PRESET``;
    anything else is ignored. A value of ``None`` means "the device default".
    Layers, later wins: `TrainConfig` defaults <- device defaults (`GPU_DEFAULTS` on
    CUDA, `CPU_DEFAULTS` elsewhere) <- ``PRESET`` (scaled down off CUDA) <- every
    parameter that is not ``None`` (so values injected by papermill always win).
    ``TRAINING_DATA`` and ``OUTPUT_DIR`` are anchored at the project root
    (`project_path`); ``OUTPUT_DIR=None`` stays None, and `ControlPanel.config` turns it
    into a fresh ``runs/<date-time>`` each time it is called (so a training cell can run twice).

    Args:
        params: notebook parameters (UPPER_CASE names; others are ignored).
        device: overrides ``DEVICE`` for choosing the defaults (tests use it).

    Returns:
        The validated config.

    Raises:
        ConfigError: one line, for an unknown preset or a value the trainer refuses.
    """
    names = {f.name for f in fields(TrainConfig)}
    # UPPER_CASE only: a notebook's own lower-case variables (``seed``, ``lr``) are not parameters
    given = {key.lower(): value for key, value in params.items()
             if key.isupper() and key.lower() in names and value is not None}
    preset = params.get("PRESET")
    kind = device_kind(device or given.get("device", "auto"))
    cfg = TrainConfig().replace(**(GPU_DEFAULTS if kind == "cuda" else CPU_DEFAULTS))
    if preset:
        presets = device_presets(kind)
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r} (choose from {', '.join(presets)})")
        cfg = cfg.replace(**presets[preset])
    cfg = cfg.replace(**given)
    output = str(project_path(cfg.output_dir)) if cfg.output_dir else None
    cfg = cfg.replace(training_data=str(project_path(cfg.training_data)), output_dir=output)
    return cfg.validate()


def fresh_run_dir() -> Path:
    """A new ``runs/<date-time>`` directory name at the project root (not created)."""
    from .checkpoint import timestamped_dir

    return timestamped_dir(project_path("runs"))


def describe(cfg: TrainConfig) -> str:
    """One line saying what a config will do."""
    if cfg.dynamic_dims:
        dims = f"{cfg.embedding_dim}->{cfg.max_dims} dims (+{cfg.expand_by} every {cfg.expand_interval} ep)"
    else:
        dims = f"{cfg.embedding_dim} dims (fixed)"
    return (f"{dims}, batch {fmt_count(cfg.batch_size)}, up to {cfg.epochs} epochs, lr {cfg.lr:g}, "
            f"patience {cfg.patience}, min_delta {cfg.min_delta:g}, device {cfg.device}")


def ensure_graph(path, rebuild: bool = False, wordnet_dir=None, progress: bool = False, log=print):
    """Load the training graph at ``path``, building it from WordNet first when it is missing.

    Returns:
        The `naomi_nb.graph.Graph`.
    """
    from .graph import load_graph

    path = project_path(path)
    # an original NAOMI-II directory (training_edges.pkl) is a graph too: load it, never build over it
    has_graph = (path / "manifest.json").exists() or (path / "training_edges.pkl").exists()
    if rebuild or not has_graph:
        from .wordnet import prepare_wordnet

        return prepare_wordnet(path, wordnet_dir=wordnet_dir, progress=progress, log=log)
    graph = load_graph(path)
    log(f"loaded {path}: {graph.vocab.size:,} senses, {graph.n_edges:,} edges")
    return graph


# ---------------------------------------------------------------- tables

class Table:
    """A small table that shows as HTML in a notebook and as aligned text elsewhere."""

    def __init__(self, columns, rows, title: str | None = None):
        self.columns = [str(c) for c in columns]
        self.rows = [["" if v is None else str(v) for v in row] for row in rows]
        self.title = title

    def to_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>" for v in row) + "</tr>"
                       for row in self.rows)
        caption = f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __str__(self) -> str:
        widths = [max([len(c)] + [len(r[i]) for r in self.rows]) for i, c in enumerate(self.columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(self.columns, widths)).rstrip(),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in self.rows]
        return "\n".join(([self.title] if self.title else []) + lines)

    __repr__ = __str__


def _events(history, kind: str) -> list[tuple[int, dict]]:
    """(epoch, event) for every event of one type in a history."""
    return [(r["epoch"], e) for r in history for e in r.get("events", ()) if e.get("type") == kind]


def epoch_records(history) -> list[dict]:
    """The records of finished epochs. The trainer also sends an event-only record
    (``{"epoch", "events": [{"type": "interrupted"}]}``) when a run is stopped mid-epoch."""
    return [r for r in history if "val_total" in r]


def stop_reason(history, metrics: dict | None = None) -> str:
    """Why a run ended, in words: from its records' events, else metrics.json's ``stopped``."""
    stops = _events(history, "early_stop") + _events(history, "interrupted") + _events(history, "nan")
    for epoch, event in sorted(stops, key=lambda pair: pair[0], reverse=True):
        if event["type"] == "early_stop":
            return f"early stop at epoch {epoch} (patience {event.get('patience', '?')})"
        if event["type"] == "interrupted":
            return f"interrupted during epoch {event.get('epoch', epoch)}"
        return f"NaN loss at epoch {epoch}"
    full = epoch_records(history)
    stopped = (metrics or {}).get("stopped")
    done = full[-1]["epoch"] if full else 0
    if stopped == "interrupted":
        return f"interrupted after epoch {done}"
    if stopped == "nan":
        return f"NaN loss at epoch {(metrics or {}).get('nan_epoch', done)}"
    if stopped == "early_stop":
        return f"early stop at epoch {done}"
    if not full:
        return "no epoch finished"
    last = full[-1]
    if last["epoch"] >= last.get("epochs", last["epoch"]):
        return f"completed {last['epoch']} epochs"
    return f"ended at epoch {last['epoch']} of {last['epochs']}"


def summary_table(history, metrics: dict | None = None, config=None) -> Table:
    """The run's figures at a glance, from its per-epoch records.

    Args:
        history: the run's records (``result.history`` or `load_history`).
        metrics: ``result.metrics`` / metrics.json, preferred where it has the figure.
        config: the run's `TrainConfig` or config.json dict, for the starting batch size.
    """
    events_seen = history
    history = epoch_records(history)
    if not history:
        return Table(["figure", "value"], [["epochs run", 0], ["stopped", stop_reason(events_seen, metrics)]],
                     title="run summary")
    last = history[-1]
    best = min((r for r in history if r.get("val_total") is not None and not math.isnan(r["val_total"])),
               key=lambda r: r["val_total"], default=None)
    best_val = (metrics or {}).get("best_val", last.get("best_val", best and best["val_total"]))
    best_epoch = (metrics or {}).get("best_epoch", last.get("best_epoch", best and best["epoch"]))
    n_expand = len(_events(history, "expand"))
    seconds = sum(r.get("seconds", 0.0) for r in history)
    minutes = (metrics or {}).get("minutes", seconds / 60)
    speeds = [r["edges_per_s"] for r in history if r.get("edges_per_s")]
    lo, hi = SPARSITY_TARGET
    sp = last.get("sparsity_pct")
    rows = [
        ["epochs run", f"{last['epoch']} of {last['epochs']}"],
        ["best val loss", f"{_fmt_loss(best_val)} (epoch {best_epoch})"],
        ["final train / val loss", f"{_fmt_loss(last.get('train_total'))} / {_fmt_loss(last.get('val_total'))}"],
        ["sparsity", "-" if sp is None else f"{sp:.1f}% (target {lo:.0f}-{hi:.0f}%"
                                            f"{', in band' if lo <= sp <= hi else ', outside'})"],
        ["exact zeros", f"{last.get('zeros_pct', 0.0):.1f}%, median {last.get('active_per_word', last['dims']):.0f} "
                        f"active dims per word"],
        ["dims", f"{_start_dims(history)} -> {last['dims']} ({n_expand} expansion{'s' if n_expand != 1 else ''})"],
        ["batch size", _batch_path(history, config)],
        ["time", f"{minutes:.2f} min in all, {seconds / len(history):.1f} s per epoch"],
        ["speed", f"{sum(speeds) / len(speeds):,.0f} edges/s" if speeds else "-"],
        ["stopped", stop_reason(events_seen, metrics)],
    ]
    return Table(["figure", "value"], rows, title="run summary")


def _start_dims(history) -> int:
    """Dims the first epoch trained with (a record's ``dims`` is the width *after* its epoch's expansion)."""
    first = history[0]
    if "dims_before" in first:
        return first["dims_before"]
    expand = _events(history[:1], "expand")
    return expand[0][1].get("old_dims", first["dims"]) if expand else first["dims"]


def _batch_path(history, config=None) -> str:
    """Batch sizes a run went through: "1M -> 512K -> 256K" (the record holds the size *after* its epoch)."""
    if isinstance(config, TrainConfig):
        config = config.to_dict()
    start = [config["batch_size"]] if config and "batch_size" in config else []
    return " -> ".join(fmt_count(b) for b in _distinct(start + [r["batch_size"] for r in history]))


def _distinct(values):
    """Consecutive duplicates dropped: [1M, 1M, 512K, 512K] -> [1M, 512K]."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def relation_table(graph) -> Table:
    """Edges per relation with its target distance and share, for the prepare notebook."""
    counts = graph.relation_counts()
    total = max(1, graph.n_edges)
    rows = [[name, f"{float(t):.2f}", f"{counts[name]:,}", f"{100 * counts[name] / total:.1f}%"]
            for name, t in zip(graph.relations, graph.targets)]
    rows.append(["total", "", f"{graph.n_edges:,}", "100%"])
    return Table(["relation", "target distance", "edges", "share"], rows,
                 title=f"{graph.vocab.size:,} senses, {graph.n_edges:,} directed edges")


# ---------------------------------------------------------------- the live dashboard

def _style_epoch_axis(ax):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)


def _start_batch(history, config=None):
    """The batch size the first epoch ran with, when it can be known."""
    if isinstance(config, TrainConfig):
        config = config.to_dict()
    if config and "batch_size" in config:
        return config["batch_size"]
    if history and not any(e.get("type") in ("batch", "oom") for e in history[0].get("events", ())):
        return history[0]["batch_size"]
    return None


def plot_history(history, axes, config=None) -> None:
    """Draw a run's records onto four axes (loss, sparsity, dims, batch). Clears them first.

    Dims and batch size are values *after* each epoch (an expansion at the end of epoch 2
    shows at x=2); the starting width and batch are drawn at x=0 when known (``config``:
    the run's `TrainConfig` or config.json dict).
    """
    ax_loss, ax_sparsity, ax_dims, ax_batch = axes
    for ax in axes:
        ax.clear()
    records, history = history, epoch_records(history)
    epochs = [r["epoch"] for r in history]
    start = [0] if history else []

    ax_loss.plot(epochs, [r["train_total"] for r in history], "o-", ms=3, label="train", gid="train")
    ax_loss.plot(epochs, [r["val_total"] for r in history], "o-", ms=3, label="validation", gid="val")
    best = [r for r in history if r.get("best")]
    if best:
        ax_loss.plot([r["epoch"] for r in best], [r["val_total"] for r in best], "*", ms=10, color="gold",
                     mec="black", mew=0.5, label="new best", gid="best", ls="none")
    ax_loss.set_yscale("log")
    ax_loss.set_title("loss (total)")

    lo, hi = SPARSITY_TARGET
    ax_sparsity.axhspan(lo, hi, color="tab:green", alpha=0.15, label=f"target {lo:.0f}-{hi:.0f}%", gid="target_band")
    ax_sparsity.plot(epochs, [r["sparsity_pct"] for r in history], "o-", ms=3, color="tab:purple",
                     label="|x| < 0.01", gid="sparsity")
    # exact zeros: the real sparsity (proximal mode makes them; the seed's loss never does)
    ax_sparsity.plot(epochs, [r.get("zeros_pct", 0.0) for r in history], "s-", ms=3, color="tab:olive",
                     label="exact zeros", gid="zeros")
    ax_sparsity.set_ylim(0, 100)
    ax_sparsity.set_title("sparsity %")
    ax_sparsity.legend(loc="lower right", fontsize=8)

    dims0 = [_start_dims(history)] if history else []
    ax_dims.plot(start + epochs, dims0 + [r["dims"] for r in history], "o-", ms=3, drawstyle="steps-post",
                 color="tab:blue", gid="dims")
    ax_dims.plot(epochs, [r.get("active_per_word", r["dims"]) for r in history], "o--", ms=3, color="tab:cyan",
                 label="active per word (median)", gid="active")
    for epoch, event in _events(history, "max_dims"):
        ax_dims.axhline(event.get("dims", history[-1]["dims"]), ls=":", color="grey", gid="max_dims",
                        label="max dims")
    if history:
        ax_dims.legend(loc="lower right", fontsize=8)
    ax_dims.set_ylim(bottom=0)
    ax_dims.set_title("dimensions")

    batch0 = _start_batch(history, config)
    batch_x, batch_y = epochs, [r["batch_size"] for r in history]
    if batch0 is not None:
        batch_x, batch_y = start + batch_x, [batch0] + batch_y
    ax_batch.plot(batch_x, batch_y, "o-", ms=3, drawstyle="steps-post", color="tab:brown", gid="batch")
    for epoch, event in _events(history, "oom"):
        ax_batch.plot([epoch], [event.get("new_batch", 0)], "x", color="red", ms=9, mew=2, gid="oom",
                      label="out of memory: batch halved")
    if _events(history, "oom"):
        ax_batch.legend(loc="upper right", fontsize=8)
    if history:
        ax_batch.set_yscale("log", base=2)
        # label exactly the sizes the run went through (a halving is one step on this axis)
        ax_batch.set_yticks(sorted(set(batch_y)), [fmt_count(b) for b in sorted(set(batch_y))])
        ax_batch.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax_batch.set_title("batch size (edges)")

    # expansions and stops are marked on the epoch axis of every panel
    markers = [("expand", dict(ls="--", color="tab:gray", lw=1), "expansion"),
               ("early_stop", dict(ls="-", color="tab:red", lw=1.5), "early stop"),
               ("interrupted", dict(ls="-", color="tab:orange", lw=1.5), "interrupted"),
               ("nan", dict(ls="-", color="black", lw=1.5), "NaN loss")]
    handles = []
    for kind, style, label in markers:
        seen = _events(records, kind)
        for epoch, _ in seen:
            for ax in axes:
                ax.axvline(epoch, gid=kind, **style)
        if seen:
            handles.append(Line2D([], [], label=label, **style))
    shown = start + epochs + [r["epoch"] for r in records if r.get("events")]
    for ax in axes:
        _style_epoch_axis(ax)
        if shown:
            ax.set_xlim(min(shown) - 0.5, max(shown) + 0.5)
    loss_handles, _ = ax_loss.get_legend_handles_labels()
    if epochs:
        ax_loss.legend(handles=loss_handles + handles, loc="upper right", fontsize=8)


def _headline(records) -> str:
    history = epoch_records(records)
    if not history:
        return stop_reason(records) if records else "waiting for the first epoch..."
    r = history[-1]
    text = (f"epoch {r['epoch']}/{r['epochs']}   val {_fmt_loss(r['val_total'])} "
            f"(best {_fmt_loss(r.get('best_val'))} @ {r.get('best_epoch', '?')})   "
            f"{r['sparsity_pct']:.1f}% sparse   {r['dims']} dims   batch {fmt_count(r['batch_size'])}   "
            f"{r.get('seconds', 0):.1f} s/epoch")
    if any(e.get("type") in ("early_stop", "interrupted", "nan") for e in records[-1].get("events", ())):
        text += "   [" + stop_reason(records) + "]"
    return text


class Dashboard:
    """A training callback that keeps a live 2x2 figure: loss, sparsity %, dimensions, batch size.

    ``dash = Dashboard(); train(cfg, graph, callbacks=[dash])``. Each epoch the figure
    is redrawn from all records so far and the notebook output is replaced in place
    (``display(fig, display_id=True)`` once, ``handle.update(fig)`` after). Without a
    Jupyter kernel it only keeps the figure up to date (`save` writes it).

    Args:
        every: redraw every N epochs (always on epochs that carry an event, and on the last).
        show: display in the notebook; None = when running inside a Jupyter kernel.
        handle: an existing `IPython.display.DisplayHandle` to update instead of
            creating a new output (the control panel uses this for its Train button).
        config: the run's `TrainConfig` (or config.json dict), for the starting batch size.
        figsize: matplotlib figure size in inches.
    """

    def __init__(self, every: int = 1, show: bool | None = None, handle=None, config=None, figsize=(11, 7)):
        self.every = max(1, int(every))
        self.config = config
        self.show = _in_kernel() if show is None else bool(show)
        self.handle = handle
        self.history: list[dict] = []
        self.fig, grid = plt.subplots(2, 2, figsize=figsize, constrained_layout=True)
        plt.close(self.fig)  # we display it ourselves; otherwise the inline backend shows a second copy
        self.ax_loss, self.ax_sparsity, self.ax_dims, self.ax_batch = grid.ravel()
        self.axes = (self.ax_loss, self.ax_sparsity, self.ax_dims, self.ax_batch)
        self.draws = 0

    def __call__(self, record: dict) -> None:
        self.history.append(dict(record))
        last_epoch = record.get("epoch", 0) >= record.get("epochs", float("inf"))
        if record.get("events") or last_epoch or len(self.history) % self.every == 0:
            self.refresh()

    def refresh(self) -> None:
        """Redraw from the records so far and push the image to the notebook output."""
        plot_history(self.history, self.axes, self.config)
        self.fig.suptitle(_headline(self.history), fontsize=10)
        self.draws += 1
        if self.handle is not None:
            self.handle.update(self.fig)
        elif self.show:
            from IPython.display import display

            self.handle = display(self.fig, display_id=True)

    def save(self, path, dpi: int = 110) -> Path:
        """Write the current figure as a PNG (or any format matplotlib knows from the suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.draws == 0:
            plot_history(self.history, self.axes, self.config)
            self.fig.suptitle(_headline(self.history), fontsize=10)
        self.fig.savefig(path, dpi=dpi)
        return path

    def summary(self, metrics: dict | None = None) -> Table:
        """`summary_table` of the records this dashboard has seen."""
        return summary_table(self.history, metrics, self.config)

    @classmethod
    def from_run(cls, run_dir, **kwargs) -> "Dashboard":
        """A dashboard redrawn from a finished run's history.jsonl (not displayed unless show=True)."""
        kwargs.setdefault("show", False)
        kwargs.setdefault("config", _read_json(Path(run_dir) / "config.json"))
        dash = cls(**kwargs)
        dash.history = load_history(run_dir)
        dash.refresh()
        return dash


# ---------------------------------------------------------------- run directories

def load_history(run_dir) -> list[dict]:
    """The per-epoch records of a run directory (its history.jsonl)."""
    from .checkpoint import read_history

    return read_history(Path(run_dir))


def _read_json(path) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy and torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def record(run_dir, metrics: dict, **extra) -> Path:
    """Write ``notebook_metrics.json`` in ``run_dir``: the run's metrics as a notebook saw them.

    Our own small recorder (scrapbook is unmaintained): a flat JSON object of
    ``metrics`` plus ``extra`` keys, written atomically. Tests read it back.

    Returns:
        The path written.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {**dict(metrics), **extra, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    from .checkpoint import atomic_write_bytes

    path = run_dir / METRICS_FILE
    atomic_write_bytes(path, json.dumps(data, indent=1, default=_json_default).encode())
    return path


# ---------------------------------------------------------------- comparing runs and sweeps

def compare_runs(run_dirs, labels=None, figsize=(11, 4)):
    """Overlay runs (validation loss and dims per epoch) and tabulate their outcomes.

    Args:
        run_dirs: run directories, each with history.jsonl (metrics.json used when present).
        labels: names for the runs; default each directory's name.

    Returns:
        ``(fig, table)``: a matplotlib figure with one line per run, and a `Table` with
        best val loss, best epoch, epochs run, final dims, batch sizes, minutes, stop reason.
    """
    run_dirs = [Path(d) for d in run_dirs]
    labels = list(labels) if labels is not None else [d.name for d in run_dirs]
    fig, (ax_val, ax_dims) = plt.subplots(1, 2, figsize=figsize, constrained_layout=True)
    plt.close(fig)
    rows = []
    for label, run_dir in zip(labels, run_dirs):
        history = load_history(run_dir)
        metrics = _read_json(run_dir / "metrics.json")
        epochs = [r["epoch"] for r in history]
        ax_val.plot(epochs, [r["val_total"] for r in history], "o-", ms=3, label=label, gid=label)
        dims0 = [_start_dims(history)] if history else []
        ax_dims.plot(([0] if history else []) + epochs, dims0 + [r["dims"] for r in history], "o-", ms=3,
                     drawstyle="steps-post", label=label, gid=label)
        valid = [r for r in history if r.get("val_total") is not None and not math.isnan(r["val_total"])]
        best = min(valid, key=lambda r: r["val_total"], default=None)
        minutes = metrics.get("minutes", sum(r.get("seconds", 0.0) for r in history) / 60)
        rows.append([
            label,
            _fmt_loss(metrics.get("best_val", best and best["val_total"])),
            metrics.get("best_epoch", best and best["epoch"]),
            metrics.get("epochs_run", len(history)),
            metrics.get("final_dims", history[-1]["dims"] if history else None),
            _batch_path(history, _read_json(run_dir / "config.json")),
            f"{minutes:.2f}",
            stop_reason(history, metrics),
        ])
    ax_val.set_yscale("log")
    ax_val.set_title("validation loss")
    ax_dims.set_title("dimensions")
    ax_dims.set_ylim(bottom=0)
    for ax in (ax_val, ax_dims):
        _style_epoch_axis(ax)
        if rows:
            ax.legend(fontsize=8)
    table = Table(["run", "best val loss", "best epoch", "epochs run", "final dims", "batch sizes", "minutes",
                   "stopped"], rows, title="run comparison")
    return fig, table


def sweep_grid(**axes) -> dict[str, dict]:
    """The cartesian product of parameter lists, keyed by a file-safe run name.

    ``sweep_grid(PATIENCE=[3, 5], EXPAND_BY=[32, 64])`` -> 4 runs named like
    ``patience-3_expand_by-32``; one axis ``PRESET=["fixed", ...]`` -> runs named ``fixed``.
    """
    keys = list(axes)
    grid = {}
    for combo in itertools.product(*(axes[k] for k in keys)):
        params = dict(zip(keys, combo))
        varying = [k for k in keys if len(axes[k]) > 1] or keys
        if len(varying) == 1 and varying[0] == "PRESET":
            name = str(params["PRESET"])
        else:
            name = "_".join(f"{k.lower()}-{params[k]}" for k in varying)
        grid[name.replace("/", "-").replace(" ", "")] = params
    return grid


def run_sweep(notebook, grid: dict[str, dict], out_dir=None, parameters: dict | None = None,
              kernel_name: str = "python3", timeout: int | None = None, log=print) -> list[Path]:
    """Execute a notebook with papermill once per grid point; keep each executed copy beside its run.

    Layout: ``out_dir/<name>/`` is the run directory (``OUTPUT_DIR``) and
    ``out_dir/<name>.ipynb`` the executed notebook. ``HEADLESS=True`` is always passed.

    Args:
        notebook: the notebook to run (normally ``02_train.ipynb``).
        grid: run name -> parameters (see `sweep_grid`).
        out_dir: sweep folder; None -> ``runs/sweep-<date-time>`` at the project root.
        parameters: parameters common to every run (the grid's win).
        timeout: papermill's per-cell execution timeout in seconds (None: no limit).

    Returns:
        The run directories, in grid order.

    Raises:
        papermill.PapermillExecutionError: a run failed; its executed notebook shows where.
    """
    import papermill

    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"{notebook} not found (run the sweep from the notebooks folder or pass its path)")
    out_dir = project_path(out_dir or Path("runs") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dirs = []
    for i, (name, params) in enumerate(grid.items(), 1):
        run_dir = out_dir / name
        values = {**(parameters or {}), **params, "OUTPUT_DIR": str(run_dir), "HEADLESS": True}
        log(f"[{i}/{len(grid)}] {name}: {', '.join(f'{k}={v}' for k, v in params.items())}")
        t0 = time.perf_counter()
        papermill.execute_notebook(str(notebook), str(out_dir / f"{name}.ipynb"), parameters=values,
                                   kernel_name=kernel_name, cwd=str(notebook.parent), progress_bar=False,
                                   execution_timeout=timeout)
        metrics = _read_json(run_dir / "metrics.json")
        log(f"      done in {time.perf_counter() - t0:.0f} s: best val {_fmt_loss(metrics.get('best_val'))}, "
            f"{metrics.get('epochs_run', '?')} epochs, {metrics.get('final_dims', '?')} dims")
        run_dirs.append(run_dir)
    return run_dirs


# ---------------------------------------------------------------- the control panel

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
        cfg = self.base.replace(**self.values()).validate()
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
        self.dashboard = Dashboard(handle=self.handle, show=None if self.handle is None else False, config=cfg)
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
        if "val_total" not in rec:  # an event-only record: the run was stopped inside an epoch
            self._status(f"stopping: {stop_reason([rec])}, saving the run...")
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
