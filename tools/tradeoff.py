"""Ranking against readability for a set of analysed runs: one point per run, from each run's report.json.

    python tools/tradeoff.py runs/a=label runs/b=label ... --output docs/tradeoff.png

Left: held-out hypernym MRR (x) against the category score (y), each point joined by a grey line to the same
score on a random rotation of the run's vectors (small grey mark); middle: MRR against Wu-Palmer agreement;
right: MRR against the category score's axis advantage (its score minus the rotation's): above the dotted
line the axes read better than arbitrary directions of the same space, below the band (grey) they do not
(hollow points: "measures the space, not the axes"). The colour is the share of exact zeros; dashed lines
mark the quality goals (MRR 0.30, category 0.40, Wu-Palmer 0.25). A report analysed before the rotation
control was added has no advantage: its point is left out of the right panel.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

GOALS = {"mrr": 0.30, "category": 0.40, "wup": 0.25}


def point(run_dir: Path) -> dict:
    """The figures of one run's report.json that the plot needs (``rotated``, ``advantage`` and ``space`` are
    None for a report without the rotation control)."""
    report = json.loads((run_dir / "report.json").read_text())
    sem = report["semantics"]
    control = (sem["categories"].get("rotation") or {}).get("is_category") or {}
    return {"mrr": report["validation"]["hypernym_ranking"]["mrr"],
            "category": sem["categories"]["is_category"], "wup": sem["wup"]["pooled"]["rho"],
            "zeros": report["dimensions"]["zeros_pct"], "rotated": control.get("rotated"),
            "advantage": control.get("advantage"), "space": control.get("space_not_axes"),
            "band": (report.get("rotation") or {}).get("band")}


def plot(points: list[tuple[str, dict]], output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), constrained_layout=True)
    style = dict(cmap="viridis", vmin=0, vmax=100, s=60, linewidths=0.8)
    for ax, key, title in ((axes[0], "category", "category score (is_category)"),
                           (axes[1], "wup", "Wu-Palmer agreement (pooled rho)")):
        xs, ys, cs = ([p["mrr"] for _, p in points], [p[key] for _, p in points], [p["zeros"] for _, p in points])
        if key == "category":  # each score beside its rotation control
            for _, p in points:
                if p["rotated"] is not None:
                    ax.plot([p["mrr"], p["mrr"]], [p["category"], p["rotated"]], color="grey", lw=0.8, zorder=1)
                    ax.plot(p["mrr"], p["rotated"], "_", color="grey", ms=10, mew=1.5, zorder=1)
        sc = ax.scatter(xs, ys, c=cs, edgecolors="black", zorder=2, **style)
        for (label, p), x, y in zip(points, xs, ys):
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7.5)
        ax.axvline(GOALS["mrr"], color="grey", ls="--", lw=0.8)
        ax.axhline(GOALS[key], color="grey", ls="--", lw=0.8)
        ax.set_xlabel("held-out hypernym MRR")
        ax.set_ylabel(title + (" (grey: rotated)" if key == "category" else ""))
        ax.grid(alpha=0.3)

    ax = axes[2]
    shown = [(label, p) for label, p in points if p["advantage"] is not None]
    for label, p in shown:
        if p["band"] is not None:  # the noise band around zero, as wide as this run's rotated score makes it
            half = p["band"] * abs(p["rotated"])
            ax.plot([p["mrr"]] * 2, [-half, half], color="grey", lw=4, alpha=0.3, zorder=1)
        if p["space"]:  # hollow: the rotation reads as well
            ax.scatter([p["mrr"]], [p["advantage"]], s=60, facecolors="white", edgecolors="black", zorder=2)
        else:
            ax.scatter([p["mrr"]], [p["advantage"]], c=[p["zeros"]], edgecolors="black", zorder=2, **style)
        ax.annotate(label, (p["mrr"], p["advantage"]), textcoords="offset points", xytext=(5, 4), fontsize=7.5)
    ax.axhline(0, color="black", ls=":", lw=0.8)
    ax.axvline(GOALS["mrr"], color="grey", ls="--", lw=0.8)
    ax.set_xlabel("held-out hypernym MRR")
    ax.set_ylabel("axis advantage of the category score (axes - rotated)")
    ax.set_title("hollow: measures the space, not the axes" if shown else "no report has the rotation control",
                 fontsize=9)
    ax.grid(alpha=0.3)
    fig.colorbar(sc, ax=axes, label="exact zeros (%)", shrink=0.8)
    fig.suptitle("Ranking against readability, one run each (dashed: the goals; grey: a random rotation of the "
                 "same vectors)")
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="RUN_DIR=label (an analysed run directory and its label)")
    ap.add_argument("--output", default="tradeoff.png", help="the figure (default: %(default)s)")
    args = ap.parse_args(argv)
    points = []
    for spec in args.runs:
        path, _, label = spec.partition("=")
        try:
            points.append((label or Path(path).name, point(Path(path))))
        except (OSError, KeyError, TypeError, json.JSONDecodeError) as err:
            print(f"error: {path}: no usable report.json ({err!r}); run `python -m naomi_nb analyze {path}`",
                  file=sys.stderr)
            return 2
    plot(points, Path(args.output))
    with_control = sum(p["advantage"] is not None for _, p in points)
    print(f"wrote {args.output} ({len(points)} runs, {with_control} with the rotation control)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
