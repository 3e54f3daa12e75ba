"""Ranking against readability for a set of analysed runs: one point per run, from each run's report.json.

    python tools/tradeoff.py runs/a=label runs/b=label ... --output docs/tradeoff.png

Left: held-out hypernym MRR (x) against the category score (y); right: MRR against Wu-Palmer agreement. The
colour is the share of exact zeros; dashed lines mark the quality goals (MRR 0.30, category 0.40,
Wu-Palmer 0.25).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

GOALS = {"mrr": 0.30, "category": 0.40, "wup": 0.25}


def point(run_dir: Path) -> dict:
    """The figures of one run's report.json that the plot needs."""
    report = json.loads((run_dir / "report.json").read_text())
    sem = report["semantics"]
    return {"mrr": report["validation"]["hypernym_ranking"]["mrr"],
            "category": sem["categories"]["is_category"], "wup": sem["wup"]["pooled"]["rho"],
            "zeros": report["dimensions"]["zeros_pct"]}


def plot(points: list[tuple[str, dict]], output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), constrained_layout=True)
    for ax, key, title in ((axes[0], "category", "category score (is_category)"),
                           (axes[1], "wup", "Wu-Palmer agreement (pooled rho)")):
        xs, ys, cs = ([p["mrr"] for _, p in points], [p[key] for _, p in points], [p["zeros"] for _, p in points])
        sc = ax.scatter(xs, ys, c=cs, cmap="viridis", vmin=0, vmax=100, s=60, edgecolors="black", linewidths=0.5)
        for (label, p), x, y in zip(points, xs, ys):
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7.5)
        ax.axvline(GOALS["mrr"], color="grey", ls="--", lw=0.8)
        ax.axhline(GOALS[key], color="grey", ls="--", lw=0.8)
        ax.set_xlabel("held-out hypernym MRR")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    fig.colorbar(sc, ax=axes, label="exact zeros (%)", shrink=0.8)
    fig.suptitle("Ranking against readability, full WordNet, one run each (dashed: the goals)")
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
    print(f"wrote {args.output} ({len(points)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
