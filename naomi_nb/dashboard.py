"""The live training dashboard: a 2x2 matplotlib figure (loss, sparsity %, dimensions, batch size) redrawn
from the epoch records, in place, in JupyterLab and Colab.

Shown once with ``display(image, display_id=True)`` and replaced with ``handle.update(image)``: live in
JupyterLab and Colab (also from a thread), one final PNG in papermill and nbmake outputs. A redraw of the four
panels costs about 0.7 s of matplotlib on a 2-core machine, far more than an epoch of a small graph, so a live
dashboard redraws each epoch only while drawing takes at most a fifth of the time (an epoch skipped is drawn
with the next); the last epoch and the run's end are always drawn.
"""
from __future__ import annotations

import io
import time
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

from . import record as R
from .dims import SPARSITY_TARGET
from .fmt import fmt_count, fmt_duration, fmt_loss
from .notebook import Table, in_kernel, settings_line, summary_table


def epoch_step(span: float, most: int = 10) -> int:
    """The step between epoch ticks for an axis ``span`` epochs long: 1, 2, 5, 10, 20, 50, ... whichever first
    gives at most ``most`` ticks."""
    step, scale = 1, 1
    while True:
        for m in (1, 2, 5):
            step = m * scale
            if span / step <= most:
                return step
        scale *= 10


def style_epoch_axis(ax, step: int | None = None) -> None:
    """Integer epochs on the x axis, labelled, with a light grid (every per-epoch figure of the kit); with
    ``step``, ticks at its multiples (the dashboard gives all four panels one step)."""
    ax.xaxis.set_major_locator(MultipleLocator(step) if step else MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)


# the event lines of every panel and the one legend that names them, below the panels: always the same
# entries (a legend that grows as events happen moves the panels between redraws)
MARKERS = [(R.EXPAND, dict(ls="--", color="tab:gray", lw=1), "expansion"),
           (R.EARLY_STOP, dict(ls="-", color="tab:red", lw=1.5), "early stop"),
           (R.INTERRUPTED, dict(ls="-.", color="magenta", lw=1.5), "stopped (resumable)"),
           (RESUMED := "resumed", dict(ls=(0, (1, 1)), color="magenta", lw=1.5), "resumed"),
           (R.NAN, dict(ls="-", color="black", lw=1.5), "NaN loss")]
# lowerings of the learning rate: thin light lines on the loss panel only (a plateau schedule lowers it often),
# named in the figure's legend with their count
LR_STYLE = dict(ls="-", color="tab:green", lw=0.8, alpha=0.35)
ALWAYS_NAMED = (R.EXPAND, R.EARLY_STOP, R.INTERRUPTED, RESUMED)
# a legend outside its panel, on the right, where no curve runs and it stays put between redraws
_LEGEND = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)


def plot_history(records, axes, resumed_after: int | None = None) -> None:
    """Draw a run's records onto four axes (loss, sparsity, dims, batch). Clears them first.

    Dims and batch size are values *after* each epoch (an expansion at the end of epoch 2
    shows at x=2); the starting width and batch (`naomi_nb.record.start_dims`, ``start_batch``)
    are drawn at x=0. Each panel's legend sits outside it, on the right, with the same entries from the
    first epoch on; the event lines' legend is the figure's, below the panels. ``resumed_after``: the last
    epoch before the run resumed here (a line between it and the next).
    """
    ax_loss, ax_sparsity, ax_dims, ax_batch = axes
    for ax in axes:
        ax.clear()
    history = R.epochs_of(records)
    epochs = [r["epoch"] for r in history]
    start = [0] if history else []

    ax_loss.plot(epochs, [r["train_total"] for r in history], "o-", ms=3, label="train", gid="train")
    ax_loss.plot(epochs, [r["val_total"] for r in history], "o-", ms=3, label="validation", gid="val")
    terms = [t for t in R.terms_of(history[-1]) if t != "sparsity"] if history else []
    if len(terms) > 1:  # the objective's parts, so a reader sees which one moves
        for term, style in zip(terms, ("--", ":", "-.", (0, (1, 3)), (0, (5, 1)))):
            ax_loss.plot(epochs, [r.get(f"val_{term}") for r in history], linestyle=style, lw=1.2,
                         color="tab:orange", label=f"validation: {term} term", gid=f"val_{term}")
    best = [r for r in history if r.get("best")]
    ax_loss.plot([r["epoch"] for r in best], [r["val_total"] for r in best], "*", ms=10, color="gold",
                 mec="black", mew=0.5, label="new best", gid="best", ls="none")
    lowered = R.events_of(records, R.LR)
    for epoch, _ in lowered:
        ax_loss.axvline(epoch, gid=R.LR, zorder=0.4, **LR_STYLE)
    if history:
        ax_loss.set_yscale("log")
    ax_loss.set_title("loss (total)")

    lo, hi = SPARSITY_TARGET
    ax_sparsity.axhspan(lo, hi, color="tab:green", alpha=0.15, label=f"target {lo:.0f}-{hi:.0f}%", gid="target_band")
    ax_sparsity.plot(epochs, [r["sparsity_pct"] for r in history], "o-", ms=3, color="tab:purple",
                     label="|x| < 0.01", gid="sparsity")
    # exact zeros: the real sparsity (proximal mode makes them; the seed's loss never does, so a line flat at
    # 0 would only hide the axis: it is left out then, and the legend says so)
    zeros = [r.get("zeros_pct", 0.0) for r in history]
    if any(zeros):
        ax_sparsity.plot(epochs, zeros, "s-", ms=3, color="tab:olive", label="exact zeros", gid="zeros")
    elif history:
        ax_sparsity.plot([], [], " ", label="exact zeros: none", gid="no_zeros")
    ax_sparsity.set_ylim(0, 100)
    ax_sparsity.set_title("sparsity %")

    dims0 = [R.start_dims(history)] if history else []
    ax_dims.plot(start + epochs, dims0 + [r["dims"] for r in history], "o-", ms=3, drawstyle="steps-post",
                 color="tab:blue", label="dimensions", gid="dims")
    ax_dims.plot(epochs, [r.get("active_per_word", r["dims"]) for r in history], "o--", ms=3, color="tab:cyan",
                 label="active per word (median)", gid="active")
    for epoch, event in R.events_of(history, R.MAX_DIMS):
        ax_dims.axhline(event.get("dims", history[-1]["dims"]), ls=":", color="grey", gid=R.MAX_DIMS,
                        label="max dims")
    ax_dims.set_ylim(bottom=0)
    ax_dims.set_title("dimensions")

    batch0 = R.start_batch(history)
    batch_x, batch_y = epochs, [r["batch_size"] for r in history]
    if batch0 is not None:
        batch_x, batch_y = start + batch_x, [batch0] + batch_y
    ax_batch.plot(batch_x, batch_y, "o-", ms=3, drawstyle="steps-post", color="tab:brown", gid="batch",
                  label="edges per step")
    for epoch, event in R.events_of(history, R.OOM):
        ax_batch.plot([epoch], [event.get("new_batch", 0)], "x", color="red", ms=9, mew=2, gid=R.OOM,
                      label="out of memory: batch halved")
    if history:
        ax_batch.set_yscale("log", base=2)
        # label exactly the sizes the run went through (a halving is one step on this axis)
        ax_batch.set_yticks(sorted(set(batch_y)), [fmt_count(b) for b in sorted(set(batch_y))])
        ax_batch.set_ylim(min(batch_y) / 1.3, max(batch_y) * 1.3)
        ax_batch.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax_batch.set_title("batch size (edges)")

    # expansions, stops and a resume are marked on the epoch axis of every panel
    # (drawn under the data, in colours no curve uses, so a marker never hides a point)
    marked, named = [], []
    for kind, style, label in MARKERS:
        seen = [epoch for epoch, _ in R.events_of(records, kind)]
        if kind == RESUMED and resumed_after is not None and history:
            seen = [resumed_after + 0.5]
        for x in seen:
            for ax in axes:
                ax.axvline(x, gid=kind, zorder=0.5, **style)
        marked += seen
        if seen or kind in ALWAYS_NAMED:
            named.append(Line2D([], [], label=label, **style))
    named.insert(1, Line2D([], [], label="lr lowered" + (f" ({len(lowered)}x, loss panel)" if lowered else ""),
                           **{**LR_STYLE, "alpha": 0.6}))
    # one tick rule for the four panels: the same step over the same span of epochs
    shown_all = marked + epochs + start
    step = epoch_step(max(shown_all) - min(shown_all) + 1) if shown_all else None
    for ax in axes:
        style_epoch_axis(ax, step)
        # loss and sparsity start at the first epoch; dims and batch show the starting point at x=0 too
        shown = marked + epochs + (start if ax in (ax_dims, ax_batch) else [])
        if shown:
            ax.set_xlim(min(shown) - 0.5, max(shown) + 0.5)
    if history:
        for ax in axes:
            ax.legend(**_LEGEND)
    fig = ax_loss.figure
    for old in list(fig.legends):
        old.remove()
    if history:
        fig.legend(handles=named, loc="outside lower center", ncol=len(named), fontsize=8, frameon=False)


def future_widths(epoch: int, epochs: int, dims: int, growth: tuple[int, int, int] | None = None) -> list[int]:
    """The widths epochs ``epoch + 1 .. epochs`` train at, at most: ``dims`` now, and with ``growth``
    (max dims, expand by, expand every) one expansion at every epoch the trainer may expand at (a multiple
    of the interval, not the last), up to max dims."""
    widths = []
    for e in range(epoch + 1, epochs + 1):
        widths.append(dims)
        if growth is not None:
            most, by, every = growth
            if e % every == 0 and e < epochs:
                dims = min(most, dims + by)
    return widths


def eta_seconds(records, elapsed: float, first_epoch: int = 1, growth: tuple[int, int, int] | None = None
                ) -> float | None:
    """Seconds left at most: each epoch still allowed at the pace since the run started or resumed, for its
    width; None before the second epoch since then or when the run has ended. Early stopping may end it sooner.

    An epoch's time grows with the width it trains at (a wider matrix, and a batch shrunk to match, so more
    steps), so the pace is taken per dimension: seconds over width, the larger of the mean of the epochs
    after the first since the start or resume (which compiles) and of the last three. Each epoch left is that
    pace times its width (`future_widths`: ``growth`` assumes every expansion the run may still make), plus
    the time spent outside the epochs' own (start-up, redraws, checkpoints) per epoch.

    Args:
        records: the run's records.
        elapsed: seconds since the run started or resumed here.
        first_epoch: this session's first epoch (a resumed run's epochs before it ran in another session and
            are not in ``elapsed``).
        growth: (max dims, expand by, expand every) when the width may still grow; None: it stays.
    """
    history = [r for r in R.epochs_of(records) if r["epoch"] >= first_epoch]
    if len(history) < 2 or (records and R.ends_run(records[-1])):
        return None
    last = history[-1]
    left = last["epochs"] - last["epoch"]
    if left <= 0:
        return None
    per_dim = [r.get("seconds", 0.0) / max(1, r.get("dims_before", r["dims"])) for r in history[1:]]
    pace = max(sum(per_dim) / len(per_dim), sum(per_dim[-3:]) / len(per_dim[-3:]))
    outside = max(0.0, elapsed - sum(r.get("seconds", 0.0) for r in history)) / len(history)
    widths = future_widths(last["epoch"], last["epochs"], last["dims"], growth)
    return sum(pace * width + outside for width in widths)


def best_text(records, min_delta: float | None = None) -> str:
    """The best epoch in words: "best 0.004411 @ 25", and when a later epoch's loss was lower, why it is not
    the best (the early stopper counts only gains of at least ``min_delta``)."""
    history = R.epochs_of(records)
    if not history:
        return ""
    last = history[-1]
    best_val, best_epoch = last.get("best_val"), last.get("best_epoch", "?")
    text = f"best {fmt_loss(best_val)} @ {best_epoch}"
    lower = best_val is not None and any(r["epoch"] != best_epoch and r.get("val_total") is not None
                                         and r["val_total"] < best_val for r in history)
    if lower:
        delta = "min_delta" if min_delta is None else f"min_delta {min_delta:g}"
        text += f": lower losses after it gained less than {delta}"
    return text


def _headline(records, elapsed: float | None = None, first_epoch: int = 1, min_delta: float | None = None,
              growth: tuple[int, int, int] | None = None) -> str:
    history = R.epochs_of(records)
    if not history:
        return R.stop_reason(records) if records else "waiting for the first epoch (it compiles kernels)..."
    r = history[-1]
    text = (f"epoch {r['epoch']}/{r['epochs']}   val {fmt_loss(r['val_total'])} ({best_text(history, min_delta)})   "
            f"{r['sparsity_pct']:.1f}% sparse   {r['dims']} dims   batch {fmt_count(r['batch_size'])}   "
            f"lr {r['lr']:.3g}")
    if elapsed is not None:
        text += f"   {fmt_duration(elapsed)} elapsed"
        eta = eta_seconds(records, elapsed, first_epoch, growth)
        if eta is not None:
            text += f", at most {fmt_duration(eta)} left"
    if R.ends_run(records[-1]):
        text += "   [" + R.stop_reason(records) + "]"
    return text


def _wrap(parts, width: int, sep: str = "   ") -> list[str]:
    """Parts joined by ``sep`` into lines of at most ``width`` characters, never breaking a part (a title
    cut at the figure's edges loses words)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(sep) + len(part) <= width:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return lines


class Dashboard:
    """A training callback that keeps a live 2x2 figure: loss, sparsity %, dimensions, batch size.

    ``dash = Dashboard(); train(cfg, graph, callbacks=[dash])``. Each epoch the figure
    is redrawn from all records so far and the notebook output is replaced in place
    (``display(fig, display_id=True)`` once, ``handle.update(fig)`` after). Without a
    Jupyter kernel it only keeps the figure up to date (`save` writes it).

    Args:
        every: redraw every N epochs, and on epochs that carry an event (always on the last).
        budget: the share of the time a live dashboard may spend redrawing: after a redraw that took d
            seconds the next waits until d * (1/budget - 1) seconds have passed (an epoch in between is
            drawn with the next one); 1.0 redraws every epoch. Events, the last epoch and the end always draw.
        show: display in the notebook; None = when running inside a Jupyter kernel.
        handle: an existing `IPython.display.DisplayHandle` to update instead of
            creating a new output (the control panel uses this for its Train button).
        figsize: matplotlib figure size in inches.
    """

    def __init__(self, every: int = 1, show: bool | None = None, handle=None, figsize=(11, 7), cfg=None,
                 run_dir=None, budget: float = 0.2, clock=time.perf_counter):
        self.every = max(1, int(every))
        if not 0 < budget <= 1:
            raise ValueError(f"budget must be in (0, 1] (got {budget})")
        self.budget, self.clock = budget, clock
        self.next_draw = None  # a live redraw not before this clock time (`budget`)
        self.cfg, self.run_dir = cfg, run_dir  # named in the title (`label`)
        self.t_start, self.t_end = time.perf_counter(), None
        self.show = in_kernel() if show is None else bool(show)
        self.handle = handle
        self.history: list[dict] = []
        self.first_epoch: int | None = None  # this session's first epoch (a resume loads the earlier ones)
        self.resumed_after: int | None = None  # the last epoch before the run resumed here, marked
        self.fig, grid = plt.subplots(2, 2, figsize=figsize, constrained_layout=True)
        plt.close(self.fig)  # we display it ourselves; otherwise the inline backend shows a second copy
        self.ax_loss, self.ax_sparsity, self.ax_dims, self.ax_batch = grid.ravel()
        self.axes = (self.ax_loss, self.ax_sparsity, self.ax_dims, self.ax_batch)
        self.draws = 0

    def __call__(self, record: dict) -> None:
        if R.is_epoch(record):  # a resumed run repeats the epochs after its checkpoint: the new ones win
            if self.first_epoch is None:
                self.first_epoch = record["epoch"]
                if R.epochs_of(self.history):  # the earlier epochs were loaded: a resume
                    self.resumed_after = record["epoch"] - 1
            self.history = [r for r in self.history if not (R.is_epoch(r) and r["epoch"] >= record["epoch"])]
        self.history.append(dict(record))
        if R.ends_run(record) or record.get("epoch", 0) >= record.get("epochs", float("inf")):
            self.finish()
        last_epoch = record.get("epoch", 0) >= record.get("epochs", float("inf"))
        if last_epoch or R.ends_run(record):
            self.refresh()
        elif record.get("events") or len(self.history) % self.every == 0:
            self.refresh(force=False)

    def label(self, cfg=None, run_dir=None) -> None:
        """Name the run and its settings in the figure's title (the saved dashboard.png says what it shows)."""
        self.cfg = cfg if cfg is not None else self.cfg
        self.run_dir = run_dir if run_dir is not None else self.run_dir

    def title(self) -> str:
        lines = []
        if self.run_dir is not None:
            lines.append(str(Path(self.run_dir).name))
        if self.cfg is not None:  # wrapped: one long line would be cut at the figure's edges
            lines[-1:] = _wrap(" | ".join(lines[-1:] + [settings_line(self.cfg)]).split(" | "), 120, " | ")
        min_delta = self.cfg.min_delta if self.cfg is not None else None
        loaded = R.epochs_of(self.history)  # a resume before its first epoch: none of this session's yet
        first = self.first_epoch if self.first_epoch is not None else (loaded[-1]["epoch"] + 1 if loaded else 1)
        cfg = self.cfg
        growth = (cfg.max_dims, cfg.expand_by, cfg.expand_interval) if cfg is not None and cfg.dynamic_dims else None
        head = _headline(self.history, self.elapsed(), first, min_delta, growth)
        return "\n".join(lines + _wrap(head.split("   "), 120))

    def elapsed(self) -> float:
        return (self.t_end or time.perf_counter()) - self.t_start

    def finish(self) -> None:
        """The run has ended: the clock stops (analysis time is not training time)."""
        self.t_end = self.t_end or time.perf_counter()

    def _draw(self) -> None:
        plot_history(self.history, self.axes, self.resumed_after)
        self.fig.suptitle(self.title(), fontsize=10)

    def refresh(self, force: bool = True) -> None:
        """Redraw from the records so far and push the image to the notebook output; ``force=False`` skips
        a live redraw that would come sooner than `budget` allows."""
        live = self.handle is not None or self.show
        start = self.clock()
        if live and not force and self.next_draw is not None and start < self.next_draw:
            return
        self._draw()
        self.draws += 1
        if live:
            from IPython.display import Image, display

            # the PNG made once, as the file is written: the inline backend's display(fig) draws the figure
            # twice (once to find its tight bounding box)
            buf = io.BytesIO()
            self.fig.savefig(buf, format="png", dpi=self.fig.dpi)  # the size the inline backend shows
            image = Image(data=buf.getvalue(), format="png")
            if self.handle is not None:
                self.handle.update(image)
            else:
                self.handle = display(image, display_id=True)
            took = self.clock() - start
            self.next_draw = start + took / self.budget

    def save(self, path, dpi: int = 110) -> Path:
        """Write the current figure as a PNG (or any format matplotlib knows from the suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._draw()
        self.fig.savefig(path, dpi=dpi)
        return path

    def summary(self, metrics: dict | None = None) -> Table:
        """`summary_table` of the records this dashboard has seen."""
        return summary_table(self.history, metrics)
