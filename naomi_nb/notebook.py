"""The notebook layer: parameters to a config, display helpers, tables, and the small recorder the notebook
tests read. The project's paths and graph are `naomi_nb.project`'s, the number formats `naomi_nb.fmt`'s.

The notebooks follow what was measured to work in JupyterLab, Colab, papermill and nbmake (see the
README): a ``parameters`` cell of literals, `notebook_config` to resolve them, an ordinary cell that trains.
`naomi_nb.dashboard` draws the live figure, `naomi_nb.panel` holds the sliders, `naomi_nb.sweep` runs and
compares many runs, `naomi_nb.steps` holds what the prepare, explore and search notebooks call.
ipywidgets is imported inside functions only, so the CLI never needs it.
"""
from __future__ import annotations

import html
import os
import re
import sys
import time
from dataclasses import fields
from pathlib import Path

from . import components
from . import record as R
from . import rundir
from .config import TrainConfig, applies, resolve
from .errors import ConfigError
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


def in_colab() -> bool:
    """True inside Google Colab's kernel."""
    return "google.colab" in sys.modules


def is_headless(flag=None) -> bool:
    """The notebook's HEADLESS parameter, or detect: nbmake's kernel sees PYTEST_CURRENT_TEST.

    papermill sets nothing, so sweeps pass ``HEADLESS=True`` explicitly.
    """
    if flag is not None:
        return bool(flag)
    return "PYTEST_CURRENT_TEST" in os.environ


class ParameterError(ConfigError):
    """A notebook parameter the kit refuses: one line naming the notebook's own variable and what it accepts.

    IPython shows that line alone, without a traceback (`_render_traceback_`), in JupyterLab, Colab,
    papermill's and nbmake's outputs, in the cell that checks the parameters.
    """

    def _render_traceback_(self):
        return [f"{type(self).__name__}: {self}"]


_FLAG = re.compile(r"--(?:\[no-\])?([a-z][a-z0-9-]*)")
# argparse's type names, as a notebook user reads them
_TYPE_WORDS = {"must be float": "must be a number", "must be int": "must be a whole number",
               "must be bool": "must be True or False", "must be str": "must be a string"}


def parameter_words(message: str, names: dict[str, str]) -> str:
    """A command-line message in a notebook's words: each flag (``--lr``, ``--[no-]dynamic-dims``) whose
    setting ``names`` maps (``{"lr": "LR"}``) becomes that variable, and the types read as words
    ("LR must be a number"); other flags stay as they are."""
    text = _FLAG.sub(lambda m: names.get(m.group(1).replace("-", "_"), m.group(0)), message)
    for said, plain in _TYPE_WORDS.items():
        text = text.replace(said, plain)
    return text


def config_names(params: dict) -> dict[str, str]:
    """Each `TrainConfig` setting -> the notebook variable that sets it: its UPPER_CASE name, or
    ``SETTINGS['name']`` for a component's own setting the notebook gives there (or not by name)."""
    settings = params.get("SETTINGS") if isinstance(params.get("SETTINGS"), dict) else {}
    out = {}
    for f in fields(TrainConfig):
        upper = f.name.upper()
        knob = "knob" in f.metadata
        out[f.name] = (f"SETTINGS[{f.name!r}]" if f.name in settings or (knob and upper not in params)
                       else upper)
    return out


def notebook_config(params: dict, device: str | None = None) -> TrainConfig:
    """Resolve a notebook's parameters into a `TrainConfig` with `naomi_nb.config.resolve`.

    ``params`` is typically ``globals()`` of the notebook: the UPPER_CASE names that match `TrainConfig`
    fields are read (``EPOCHS`` -> ``epochs``), plus ``PRESET`` and ``SETTINGS`` (a dict of any settings by
    their lower-case names: the components' own, ``{"graded_hops": 3}``, which win over the UPPER_CASE ones);
    anything else is ignored. A value of
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
        ParameterError: one line naming the notebook's variable (``LR must be a number (got 'fast')``), for an
            unknown preset, a device this machine lacks or a value the trainer refuses.
    """
    from .device import kind, pick  # torch: only when a config is made

    names = {f.name for f in fields(TrainConfig)}
    # UPPER_CASE only: a notebook's own lower-case variables (``seed``, ``lr``) are not parameters
    given = {key.lower(): value for key, value in params.items()
             if key.isupper() and key.lower() in names and value is not None}
    try:
        given.update(_settings(params.get("SETTINGS"), names))
        preset = params.get("PRESET")
        try:
            cfg = resolve(given, preset, defaults_for=kind(device or given.get("device", "auto")))
        except ConfigError as e:
            if str(e).startswith("unknown preset"):
                raise ConfigError(f"PRESET: {e}") from None
            raise
        pick(cfg.device)  # a device this machine lacks is said here, not when the training cell starts
        # paths from any layer (the device defaults name data/wordnet_mammals or data/wordnet_training)
        anchored = {key: str(project_path(getattr(cfg, key))) for key in ("training_data", "output_dir")
                    if getattr(cfg, key)}
        return cfg.replace(**anchored)
    except ConfigError as e:
        raise ParameterError(parameter_words(str(e), config_names(params))) from None


def closest_name(key, names) -> str | None:
    """The setting a misspelt ``key`` most likely meant: the closest spelling, else a short name whose
    letters the key spells out in order from its first (``"learnrate"`` -> ``"lr"``); None when none is close."""
    import difflib

    key = str(key).lower()
    close = difflib.get_close_matches(key, sorted(names), n=1)
    if close:
        return close[0]

    def spells(short: str) -> bool:
        rest = iter(key)
        return short[0] == key[:1] and all(ch in rest for ch in short)

    return next((n for n in sorted(names, key=len) if len(n) <= 3 and spells(n)), None)


def _settings(settings, names: set) -> dict:
    """A notebook's ``SETTINGS`` dict, checked: keys are settings' names.

    Raises:
        ConfigError: one line naming ``SETTINGS`` and the unknown key (with the closest name when there is one).
    """
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ConfigError(f"SETTINGS must be a dict of settings by name, like {{'graded_hops': 3}} "
                          f"(got {type(settings).__name__})")
    for key in settings:
        if key not in names:
            close = closest_name(key, names)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise ConfigError(f"SETTINGS: {key!r} is not a setting{hint}; `python -m naomi_nb train --help` lists them")
    return dict(settings)


def fresh_run_dir() -> Path:
    """A new ``<date-time>`` directory name in `naomi_nb.project.runs_dir` (not created)."""
    return rundir.timestamped_dir(runs_dir())


def _dims_text(cfg: TrainConfig) -> str:
    if cfg.dynamic_dims:
        return f"{cfg.embedding_dim}->{cfg.max_dims} dims (+{cfg.expand_by} every {cfg.expand_interval} ep)"
    return f"{cfg.embedding_dim} dims (fixed)"


def _schedule_moves(cfg: TrainConfig) -> bool:
    return components.get("schedule", cfg.schedule).moves


def _mode_text(cfg: TrainConfig) -> str:
    """The objective (with its negatives, where it draws them) and the sparsity mode's own label."""
    parts = []
    if applies(cfg, "negatives"):
        parts.append(f"{cfg.objective} x{cfg.negatives} ({cfg.negative_sampler})")
    else:
        parts.append(cfg.objective)
    parts.append(components.get("sparsity", cfg.sparsity_mode)(cfg).label())
    return ", ".join(parts)


def describe(cfg: TrainConfig) -> str:
    """One line saying what a config will do."""
    lr = f"lr {cfg.lr:g}" + (f" ({cfg.schedule})" if _schedule_moves(cfg) else "")
    return (f"{_dims_text(cfg)}, batch {fmt_count(cfg.batch_size)}, up to {cfg.epochs} epochs, {lr}, "
            f"patience {cfg.patience}, min_delta {cfg.min_delta:g}, {_mode_text(cfg)}, seed {cfg.seed}, "
            f"device {cfg.device}")


def settings_line(cfg: TrainConfig) -> str:
    """The settings that tell runs apart, short enough for a figure title."""
    lr = f"lr {cfg.lr:g}" + (f" {cfg.schedule}" if _schedule_moves(cfg) else "")
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


class RunSummary:
    """How a training run ended, the same whichever way it began (the training cell, the panel's buttons):
    a headline of its figures, the `summary_table`, and what to do next with its run directory. HTML in a
    notebook, plain text elsewhere."""

    def __init__(self, headline: str, table: Table, next_steps: list[str]):
        self.headline, self.table, self.next_steps = headline, table, list(next_steps)

    def _repr_html_(self) -> str:
        steps = "".join(f"<li><code>{html.escape(step)}</code></li>" if step.startswith(("python ", "RESUME"))
                        else f"<li>{html.escape(step)}</li>" for step in self.next_steps)
        return (f"<p><b>{html.escape(self.headline)}</b></p>{self.table._repr_html_()}"
                + (f"<p>next:</p><ul>{steps}</ul>" if steps else ""))

    def __str__(self) -> str:
        steps = [f"  {step}" for step in self.next_steps]
        return "\n".join([self.headline, "", str(self.table)] + (["", "next:"] + steps if steps else []))

    __repr__ = __str__


def _ranking_text(run_dir) -> str | None:
    """The held-out hypernym ranking from the run's report.json, in words, or None before an analysis."""
    from .files import read_json

    path = Path(run_dir) / rundir.REPORT
    try:
        ranking = read_json(path, ValueError)["validation"]["hypernym_ranking"]
        return f"held-out hypernym MRR {ranking['mrr']:.3f}, hits@10 {ranking['hits@10']:.1%}"
    except (ValueError, KeyError, TypeError):
        return None


def run_summary(records, metrics: dict | None = None, cfg: TrainConfig | None = None, run_dir=None) -> RunSummary:
    """The end of a run in a notebook (`RunSummary`): its headline figures (the returned model's validation
    loss, epoch and width, why it stopped, its minutes, and the hypernym ranking once analysed), the
    `summary_table`, and the next steps with its run directory (continue a stopped run, explore it in
    03_explore, describe a word, export the vectors, analyse it when it was not)."""
    metrics = metrics or {}
    table = summary_table(records, metrics, cfg)
    history = R.epochs_of(records)
    if history:
        f = R.headline(history, metrics)
        parts = [f"best validation loss {fmt_loss(f['best_val'])} at epoch {f['best_epoch']}"
                 + (f" ({f['final_dims']} dims)" if f.get("final_dims") else ""),
                 R.stop_reason(records, metrics), f"{f['minutes']:.2f} min of training"]
    else:
        parts = [R.stop_reason(records, metrics)]
    ranking = _ranking_text(run_dir) if run_dir else None
    if ranking:
        parts.append(ranking)
    steps = []
    if run_dir:
        where = str(run_dir)
        if metrics.get("stopped") == R.INTERRUPTED:
            steps.append(f"RESUME = {where!r} and Run All (or the panel's Resume button) continues it")
        if history:
            steps.append(f"explore it: 03_explore.ipynb with RUN_DIR = {where!r}")
            steps.append(f"python -m naomi_nb describe {where} dog")
            steps.append(f"python -m naomi_nb export {where} --per word")
            if ranking is None:
                steps.append(f"python -m naomi_nb analyze {where}")
    return RunSummary("; ".join(parts), table, steps)


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
