"""The notebook layer: parameters to a config, display helpers, tables, and the small recorder the notebook
tests read. The project's paths and graph are `naomi_nb.project`'s, the number formats `naomi_nb.fmt`'s.

The notebooks follow what was measured to work in JupyterLab, Colab, papermill and nbmake (see the
README): a ``parameters`` cell of literals, `notebook_config` to resolve them, an ordinary cell that trains.
`naomi_nb.dashboard` draws the live figure, `naomi_nb.panel` holds the sliders, `naomi_nb.sweep` runs and
compares many runs. ipywidgets is imported inside functions only, so the CLI never needs it.
"""
from __future__ import annotations

import html
import os
import time
from dataclasses import fields
from pathlib import Path

from . import record as R
from . import rundir
from .config import TrainConfig, resolve
from .dims import SPARSITY_TARGET
from .files import atomic_write_json
from .fmt import fmt_count, fmt_loss
from .project import project_path, runs_dir


# ---------------------------------------------------------------- notebook helpers

def in_kernel() -> bool:
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


def notebook_config(params: dict, device: str | None = None) -> TrainConfig:
    """Resolve a notebook's parameters into a `TrainConfig` with `naomi_nb.config.resolve`.

    ``params`` is typically ``globals()`` of the notebook: the UPPER_CASE names that match `TrainConfig`
    fields are read (``EPOCHS`` -> ``epochs``), plus ``PRESET``; anything else is ignored. A value of
    ``None`` means "the device default": the layers are the config's defaults <- the device defaults
    <- ``PRESET`` (scaled down off CUDA) <- every parameter that is not ``None`` (so values injected by
    papermill always win). ``TRAINING_DATA`` and ``OUTPUT_DIR`` are anchored by
    `naomi_nb.project.project_path` (``data/...`` in the data directory, ``runs/...`` in the runs one);
    ``OUTPUT_DIR=None`` stays None, and `naomi_nb.panel.ControlPanel.config` turns it into a fresh
    `fresh_run_dir` each time (so a training cell can run twice).

    Args:
        params: notebook parameters (UPPER_CASE names; others are ignored).
        device: overrides ``DEVICE`` for choosing the defaults (tests use it).

    Raises:
        ConfigError: one line, for an unknown preset or a value the trainer refuses.
    """
    names = {f.name for f in fields(TrainConfig)}
    # UPPER_CASE only: a notebook's own lower-case variables (``seed``, ``lr``) are not parameters
    given = {key.lower(): value for key, value in params.items()
             if key.isupper() and key.lower() in names and value is not None}
    cfg = resolve(given, params.get("PRESET"), defaults_for=device or given.get("device", "auto"))
    # paths from any layer (the device defaults name data/wordnet_mammals or data/wordnet_training)
    anchored = {key: str(project_path(getattr(cfg, key))) for key in ("training_data", "output_dir")
                if getattr(cfg, key)}
    return cfg.replace(**anchored)


def fresh_run_dir() -> Path:
    """A new ``<date-time>`` directory name in `naomi_nb.project.runs_dir` (not created)."""
    return rundir.timestamped_dir(runs_dir())


def _dims_text(cfg: TrainConfig) -> str:
    if cfg.dynamic_dims:
        return f"{cfg.embedding_dim}->{cfg.max_dims} dims (+{cfg.expand_by} every {cfg.expand_interval} ep)"
    return f"{cfg.embedding_dim} dims (fixed)"


def _mode_text(cfg: TrainConfig) -> str:
    """The objective (when the trainer has a choice) and the sparsity mode with its strength."""
    parts = []
    if cfg.objective != "seed":
        parts.append(f"{cfg.objective} x{cfg.negatives} ({cfg.negative_sampler})")
    if cfg.sparsity_mode == "proximal":
        parts.append(f"proximal {cfg.proximal_strength:g}")
    else:
        parts.append(f"L1 {cfg.sparsity_weight:g}")
    return ", ".join(parts)


def describe(cfg: TrainConfig) -> str:
    """One line saying what a config will do."""
    lr = f"lr {cfg.lr:g}" + (f" ({cfg.schedule})" if cfg.schedule != "constant" else "")
    return (f"{_dims_text(cfg)}, batch {fmt_count(cfg.batch_size)}, up to {cfg.epochs} epochs, {lr}, "
            f"patience {cfg.patience}, min_delta {cfg.min_delta:g}, {_mode_text(cfg)}, seed {cfg.seed}, "
            f"device {cfg.device}")


def settings_line(cfg: TrainConfig) -> str:
    """The settings that tell runs apart, short enough for a figure title."""
    lr = f"lr {cfg.lr:g}" + (f" {cfg.schedule}" if cfg.schedule != "constant" else "")
    return (f"{Path(cfg.training_data).name} | {_dims_text(cfg)} | batch {fmt_count(cfg.batch_size)} | {lr} | "
            f"patience {cfg.patience} | {_mode_text(cfg)} | seed {cfg.seed} | {cfg.device}")


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


def _sparsity_text(r: dict) -> str:
    lo, hi = SPARSITY_TARGET
    sp = r.get("sparsity_pct")
    if sp is None:
        return "-"
    band = "in band" if lo <= sp <= hi else "outside"
    return (f"{sp:.1f}% |x| < 0.01 (target {lo:.0f}-{hi:.0f}%, {band}), {r.get('zeros_pct', 0.0):.1f}% exact zeros, "
            f"median {r.get('active_per_word', r.get('dims_before', r['dims'])):.0f} active dims per sense")


def summary_table(records, metrics: dict | None = None, cfg: TrainConfig | None = None) -> Table:
    """The run at a glance: first the model the run returns (the best epoch's), then the last epoch, labelled.

    The trainer returns the best validation epoch's embeddings, so after early stopping or a stop the
    model's width and sparsity are that epoch's, not the last one's. An epoch's sparsity figures are taken
    before its expansion, so they describe the model saved at that epoch.

    Args:
        records: the run's records (``result.history``, `naomi_nb.rundir.read_history`, a dashboard's).
        metrics: ``result.metrics`` / metrics.json, preferred where it has the figure.
        cfg: the run's config, for a settings row.
    """
    metrics = metrics or {}
    history = R.epochs_of(records)
    if not history:
        return Table(["figure", "value"], [["epochs run", 0], ["stopped", R.stop_reason(records, metrics)]],
                     title="run summary")
    last = history[-1]
    figures = R.headline(history, metrics)
    best_val, best_epoch, minutes = figures["best_val"], figures["best_epoch"], figures["minutes"]
    at_best = next((r for r in history if r["epoch"] == best_epoch), None)
    n_expand = len(R.events_of(history, R.EXPAND))
    seconds = sum(r.get("seconds", 0.0) for r in history)
    speeds = [r["edges_per_s"] for r in history if r.get("edges_per_s")]
    if at_best is not None:
        width = figures["final_dims"]
        pruned = metrics.get("pruned_dims") or 0
        model = (f"epoch {best_epoch} (best validation), {width} dims"
                 + (f" after pruning {pruned}" if pruned else ""))
    else:
        model = "-"
    rows = [
        ["returned model", model],
        ["best val loss", f"{fmt_loss(best_val)} (epoch {best_epoch})"],
        [f"model sparsity (epoch {best_epoch})", _sparsity_text(at_best) if at_best else "-"],
        ["epochs run", f"{last['epoch']} of {last['epochs']}"],
        [f"last epoch ({last['epoch']}) loss", f"train {fmt_loss(last.get('train_total'))} / "
                                                f"val {fmt_loss(last.get('val_total'))}"],
        [f"last epoch ({last['epoch']}) sparsity", _sparsity_text(last)],
        ["dims during the run", f"{R.start_dims(history)} -> {last['dims']} "
                                f"({n_expand} expansion{'s' if n_expand != 1 else ''})"],
        ["batch size", " -> ".join(fmt_count(b) for b in R.batch_path(history))],
        ["time", f"{minutes:.2f} min in all, {seconds / len(history):.2f} s per epoch"],
        ["speed", f"{sum(speeds) / len(speeds):,.0f} edges/s" if speeds else "-"],
        ["stopped", R.stop_reason(records, metrics)],
    ]
    if cfg is not None:
        rows.append(["settings", describe(cfg)])
    return Table(["figure", "value"], rows, title="run summary")


def relation_table(graph) -> Table:
    """Edges per relation with its target distance and share, for the prepare notebook."""
    counts = graph.relation_counts()
    total = max(1, graph.n_edges)
    rows = [[name, f"{float(t):.2f}", f"{counts[name]:,}", f"{100 * counts[name] / total:.1f}%"]
            for name, t in zip(graph.relations, graph.targets)]
    rows.append(["total", "", f"{graph.n_edges:,}", "100%"])
    return Table(["relation", "target distance", "edges", "share"], rows,
                 title=f"{graph.vocab.size:,} senses, {graph.n_edges:,} directed edges")


def record(run_dir, metrics: dict, **extra) -> Path:
    """Write ``notebook_metrics.json`` in ``run_dir``: the run's metrics as a notebook saw them.

    Our own small recorder (scrapbook is unmaintained): a flat JSON object of
    ``metrics`` plus ``extra`` keys, written atomically. Tests read it back.

    Returns:
        The path written.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / rundir.NOTEBOOK_METRICS
    atomic_write_json(path, {**dict(metrics), **extra, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return path


# JupyterLab breaks a printed line anywhere, mid-word ("word-break: break-all" on outputs): text shown
# through `Text` wraps between words and breaks a word only when it is wider than the output alone
_PRE_STYLE = "white-space: pre-wrap; word-break: normal; overflow-wrap: anywhere; margin: 0"


class Text:
    """Plain text for a notebook: the same characters as ``print`` in text outputs (papermill, a terminal),
    an HTML ``<pre>`` that wraps between words in a browser."""

    def __init__(self, text: str):
        self.text = str(text)

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f"<pre style='{_PRE_STYLE}'>{html.escape(self.text)}</pre>"


def show_text(text: str, headless=None) -> None:
    """Show text in a notebook without words cut at the output's edge; headless (or outside a kernel) it is
    printed, so papermill and nbmake outputs hold plain stream text."""
    if is_headless(headless) or not in_kernel():
        print(text)
        return
    from IPython.display import display

    display(Text(text))


def live_text(control, render, headless=None) -> None:
    """Display ``control`` with ``render(control.value)`` below it, replaced whenever the value changes.

    Live (JupyterLab, Colab): every rendering goes to one ``ipywidgets.HTML`` under the control (as `Text`,
    wrapped between words) and replaces the one before, so there is never more than one result on screen.
    Headless (nbmake, papermill): only the first rendering, printed as ordinary output.

    Args:
        control: an ipywidgets value widget (``Text``, ``IntSlider``, ...).
        render: ``value -> str``.
        headless: as `is_headless` (None: detect nbmake).
    """
    if is_headless(headless) or not in_kernel():
        print(render(control.value))
        return
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.HTML()

    def show(value):
        out.value = Text(render(value))._repr_html_()

    show(control.value)
    control.observe(lambda change: show(change["new"]), names="value")
    display(widgets.VBox([control, out]))
