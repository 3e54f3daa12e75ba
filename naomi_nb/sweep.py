"""Many runs: overlay and tabulate finished runs, and run a notebook once per grid point with papermill."""
from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from . import record as R
from . import rundir
from .dashboard import style_epoch_axis
from .fmt import fmt_count, fmt_loss
from .notebook import Table
from .project import project_path, project_root, runs_dir

# nested kernels log "running over TCP without encryption" at start-up, into the sweep notebook's output
QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


def find_notebook(notebook) -> Path:
    """A notebook by path, or by name in the working directory or the project's ``notebooks/`` (so a sweep
    runs from the repository root, the notebooks folder, or anywhere inside the checkout)."""
    notebook = Path(notebook).expanduser()
    candidates = [notebook] if notebook.is_absolute() else [
        Path.cwd() / notebook, project_root() / notebook, project_root() / "notebooks" / notebook.name,
        Path(__file__).resolve().parents[1] / "notebooks" / notebook.name]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise FileNotFoundError(f"{notebook} not found (looked in {', '.join(str(c.parent) for c in candidates)})")


def compare_runs(run_dirs, labels=None, figsize=(12, 4)):
    """Overlay runs (validation loss with each best epoch starred, dims, batch size per epoch) and tabulate
    their outcomes.

    Args:
        run_dirs: run directories, each with history.jsonl (metrics.json used when present).
        labels: names for the runs; default each directory's name.

    Returns:
        ``(fig, table)``: a matplotlib figure with one line per run, and a `Table` with
        best val loss, best epoch, epochs run, the returned model's dims, the widest the run got, batch sizes,
        minutes, stop reason.
    """
    run_dirs = [Path(d) for d in run_dirs]
    labels = list(labels) if labels is not None else [d.name for d in run_dirs]
    fig, (ax_val, ax_dims, ax_batch) = plt.subplots(1, 3, figsize=figsize, constrained_layout=True)
    plt.close(fig)
    rows, sizes = [], set()
    for label, run_dir in zip(labels, run_dirs):
        history = rundir.read_history(run_dir)
        metrics = R.read_metrics(run_dir)
        figures = R.headline(history, metrics)
        epochs = [r["epoch"] for r in history]
        (line,) = ax_val.plot(epochs, [r["val_total"] for r in history], "o-", ms=3, label=label, gid=label)
        # the epoch the run returned (the early stopper's, which counts only gains of at least min_delta),
        # not the lowest raw validation loss
        best = next((r for r in history if r["epoch"] == figures["best_epoch"]), None)
        if best:
            ax_val.plot([best["epoch"]], [best["val_total"]], "*", ms=12, color=line.get_color(), mec="black",
                        mew=0.5, gid=f"{label}-best")
        dims0 = [R.start_dims(history)] if history else []
        ax_dims.plot(([0] if history else []) + epochs, dims0 + [r["dims"] for r in history], "o-", ms=3,
                     drawstyle="steps-post", label=label, gid=label)
        batch0 = [R.start_batch(history)] if history else []
        batches = batch0 + [r["batch_size"] for r in history]
        sizes.update(batches)
        ax_batch.plot(([0] if history else []) + epochs, batches, "o-", ms=3,
                      drawstyle="steps-post", label=label, gid=label)
        rows.append([
            label,
            fmt_loss(figures["best_val"]),
            figures["best_epoch"],
            figures["epochs_run"],
            figures["final_dims"],
            figures["dims_reached"],
            " -> ".join(fmt_count(b) for b in R.batch_path(history)),
            f"{figures['minutes']:.2f}",
            R.stop_reason(history, metrics),
        ])
    ax_val.set_yscale("log")
    ax_val.set_title("validation loss (star: the returned model)")
    ax_dims.set_title("dimensions")
    ax_dims.set_ylim(bottom=0)
    ax_batch.set_title("batch size (edges)")
    ax_batch.set_yscale("log", base=2)
    if sizes:  # the sizes the runs went through, labelled, with room around them (a log axis with one
        # power-of-two tick in range reads a drop from 2K to 1.33K as a drop to nothing)
        ticks = batch_ticks(sorted(sizes))
        ax_batch.set_yticks(ticks, [fmt_count(b) for b in ticks])
        ax_batch.set_ylim(min(sizes) / 1.3, max(sizes) * 1.3)
    ax_batch.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    for ax in (ax_val, ax_dims, ax_batch):
        style_epoch_axis(ax)
        if rows:
            ax.legend(loc="best", fontsize=8, framealpha=0.6)
    table = Table(["run", "best val loss", "best epoch", "epochs run", "model dims", "dims reached", "batch sizes",
                   "minutes", "stopped"], rows, title="run comparison")
    return fig, table


def batch_ticks(sizes: list[int], most: int = 8) -> list[int]:
    """The batch sizes to label on a log axis: all of them when they are few, else ``most`` of them spread
    evenly in log from the smallest to the largest."""
    import math

    if len(sizes) <= most:
        return list(sizes)
    lo, hi = math.log(sizes[0]), math.log(sizes[-1])
    wanted = [lo + (hi - lo) * i / (most - 1) for i in range(most)]
    return sorted({min(sizes, key=lambda s: abs(math.log(s) - w)) for w in wanted})


def emphasise_best_trial(fig, light_end: float = 0.4):
    """Make the best trial the most visible line of Optuna's parallel-coordinate figure.

    Optuna colours the lines with ``Blues`` (``Blues_r`` when minimising): the worst trials come out near-white,
    invisible on a grey background, and the lines are drawn in trial order, so a later trial may cover the best.
    Here the light end of the colour map is cut off at ``light_end`` (every line stays visible), the lines are
    drawn worst first and best last, and the best line is thicker. The colour bar follows. Returns ``fig``.
    """
    import numpy as np
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap

    for ax in fig.axes:
        for lines in [c for c in ax.collections if isinstance(c, LineCollection) and c.get_array() is not None]:
            values = np.asarray(lines.get_array(), dtype=float)
            if not len(values):
                continue
            cmap = lines.get_cmap()
            best_low = cmap.name.endswith("_r")  # optuna reverses the map when lower is better
            span = np.linspace(0.0, 1.0 - light_end, 256) if best_low else np.linspace(light_end, 1.0, 256)
            order = np.argsort(-values if best_low else values, kind="stable")  # worst first, best on top
            segments = [lines.get_segments()[i] for i in order]
            lines.set_segments(segments)
            lines.set_array(values[order])
            lines.set_cmap(ListedColormap(cmap(span), name=f"{cmap.name}_visible"))
            widths = np.full(len(values), 1.2)
            widths[-1] = 3.0
            lines.set_linewidths(widths)
            lines.set_gid("trials")
    return fig


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


class RunProgress:
    """What a sweep run's notebook prints, filtered for the sweep's own output: a file-like object for
    papermill's ``stdout_file`` that passes on, indented, the lines that tell how far the run is (its epoch
    lines, the line inside a long epoch, how it ended and that the analysis started) as they come."""

    SAID = re.compile(r"^\s*(epoch \d+/\d+\b|done: |stopped: )")

    def __init__(self, log=print, indent: str = "      "):
        self.log, self.indent, self.partial = log, indent, ""

    def write(self, text: str) -> None:
        self.partial += text
        *lines, self.partial = self.partial.split("\n")
        for line in lines:
            if self.SAID.match(line):
                self.log(self.indent + line.strip())

    def flush(self) -> None:
        pass


def run_sweep(notebook, grid: dict[str, dict], out_dir=None, parameters: dict | None = None,
              kernel_name: str = "python3", timeout: int | None = None, log=print) -> list[Path]:
    """Execute a notebook with papermill once per grid point; keep each executed copy beside its run.

    Layout: ``out_dir/<name>/`` is the run directory (``OUTPUT_DIR``) and
    ``out_dir/<name>.ipynb`` the executed notebook. ``HEADLESS=True`` is always passed. While a run goes,
    its epoch lines reach ``log`` as they come (`RunProgress`).

    Args:
        notebook: the notebook to run (normally ``02_train.ipynb``).
        grid: run name -> parameters (see `sweep_grid`).
        out_dir: sweep folder (relative: as `naomi_nb.project.project_path`); None -> ``sweep-<date-time>``
            in `naomi_nb.project.runs_dir`.
        parameters: parameters common to every run (the grid's win).
        timeout: papermill's per-cell execution timeout in seconds (None: no limit).

    Returns:
        The run directories, in grid order.

    Raises:
        papermill.PapermillExecutionError: a run failed; its executed notebook shows where.
    """
    import papermill

    notebook = find_notebook(notebook)
    out_dir = project_path(out_dir) if out_dir else runs_dir() / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dirs = []
    for i, (name, params) in enumerate(grid.items(), 1):
        run_dir = out_dir / name
        values = {**(parameters or {}), **params, "OUTPUT_DIR": str(run_dir), "HEADLESS": True}
        log(f"[{i}/{len(grid)}] {name}: {', '.join(f'{k}={v}' for k, v in params.items())}")
        t0 = time.perf_counter()
        # the run's own progress lines as they come (an epoch can take a minute: a sweep is never silent)
        papermill.execute_notebook(str(notebook), str(out_dir / f"{name}.ipynb"), parameters=values,
                                   kernel_name=kernel_name, cwd=str(notebook.parent), progress_bar=False,
                                   execution_timeout=timeout, extra_arguments=QUIET_KERNEL,
                                   stdout_file=RunProgress(log))
        metrics = R.read_metrics(run_dir)
        log(f"      done in {time.perf_counter() - t0:.0f} s: best val {fmt_loss(metrics.get('best_val'))}, "
            f"{metrics.get('epochs_run', '?')} epochs, {metrics.get('final_dims', '?')} dims")
        run_dirs.append(run_dir)
    return run_dirs
