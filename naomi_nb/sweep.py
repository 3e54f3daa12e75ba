"""Many runs: overlay and tabulate finished runs, and run a notebook once per grid point with papermill."""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import matplotlib.pyplot as plt

from . import record as R
from . import rundir
from .dashboard import _style_epoch_axis
from .notebook import Table, _fmt_loss, fmt_count, project_path


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
        history = rundir.read_history(run_dir)
        metrics = rundir.read_metrics(run_dir)
        epochs = [r["epoch"] for r in history]
        ax_val.plot(epochs, [r["val_total"] for r in history], "o-", ms=3, label=label, gid=label)
        dims0 = [R.start_dims(history)] if history else []
        ax_dims.plot(([0] if history else []) + epochs, dims0 + [r["dims"] for r in history], "o-", ms=3,
                     drawstyle="steps-post", label=label, gid=label)
        best = R.best_of(history)
        minutes = metrics.get("minutes", sum(r.get("seconds", 0.0) for r in history) / 60)
        rows.append([
            label,
            _fmt_loss(metrics.get("best_val", best and best["val_total"])),
            metrics.get("best_epoch", best and best["epoch"]),
            metrics.get("epochs_run", len(history)),
            metrics.get("final_dims", history[-1]["dims"] if history else None),
            " -> ".join(fmt_count(b) for b in R.batch_path(history)),
            f"{minutes:.2f}",
            R.stop_reason(history, metrics),
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
        metrics = rundir.read_metrics(run_dir)
        log(f"      done in {time.perf_counter() - t0:.0f} s: best val {_fmt_loss(metrics.get('best_val'))}, "
            f"{metrics.get('epochs_run', '?')} epochs, {metrics.get('final_dims', '?')} dims")
        run_dirs.append(run_dir)
    return run_dirs
