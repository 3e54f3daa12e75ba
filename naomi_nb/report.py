"""A run's report: ``analyze_run`` runs every registered measure (`naomi_nb.measures`) on the run, writes
report.json, summary.txt and the figures into the run directory, and logs a summary; plus the plain-text
views the notebooks print.

``python -m naomi_nb analyze RUN_DIR``, ``train`` (unless ``--no-analyze``) and ``03_explore`` call it.
report.json holds, beside the run's own facts (``run_dir``, ``n_senses``, ``n_dims``, ``config``,
``training``), one key per measure (or per section of measures: ``"semantics"``), ``skipped`` (why a
measure could not run), ``rotation`` (how the readability figures' control was made), ``figures``,
``timings`` and ``seconds``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import components
from . import record as R
from . import rundir
from .analysis import AnalysisError, axis_label, nearest_neighbors, pole_ids, pole_label
from .measuring import ROTATION_BAND, Context, run_measures, skipped
from .cards import best_cards, cards_text
from .dims import SPARSE_BELOW, DENSE_FROM, UNUSED_BELOW
from .files import atomic_open, atomic_write_bytes, atomic_write_json, to_jsonable, write_error
from .fmt import fmt_figure
from .graph import Graph, Vocabulary
from .measures import figure_text, measure_lines
from .measures.antonyms import mean_distances
from .rundir import Run, load_run

SUMMARY_CARDS = 5  # dimension cards in summary.txt, best first (`naomi_nb.cards.best_cards`)
# report.json's own keys: a measure (or a section of measures) may not take one
RESERVED = ("run_dir", "n_senses", "n_dims", "config", "training", "axes_over", "skipped", "rotation", "figures",
            "timings", "seconds")
ROTATION_ABOUT = ("each readability figure's 'rotation' entry puts it ('axes') beside the same measure on the "
                  "vectors times a seeded random rotation ('rotated', which keeps every distance and mixes the "
                  "axes) and their difference ('advantage', positive when the axes read better); an advantage "
                  "within 'band' times the rotated figure measures the space, not the axes")


def analyze_result(result, graph: Graph | None = None, log=print) -> dict | None:
    """The analysis a finished ``train()`` asks for: `analyze_run` unless its config says ``analyze=False``,
    no epoch finished, or the loss became NaN. Returns the report, or None."""
    cfg = result.config
    if (cfg is not None and not cfg.analyze) or not result.history or result.metrics.get("stopped") == R.NAN:
        return None
    return analyze_run(result.run_dir, graph=graph, log=log)


def stored_result(report: dict, name: str, measure=None):
    """A measure's result as report.json holds it (``{"skipped": reason}`` for one skipped at the top level,
    which report.json keeps as None with the reason under ``skipped``); None when it did not run."""
    measure = measure if measure is not None else components.get("measure", name)
    section = getattr(measure, "section", None)
    holder = report.get(section) if section else report
    value = holder.get(name) if isinstance(holder, dict) else None
    if value is None and name in report.get("skipped", {}):
        return {"skipped": report["skipped"][name]}
    return value


def _place(report: dict, measured: dict, seed: int) -> None:
    """Put each measure's result where report.json keeps it, with its time and rotation control.

    Raises:
        AnalysisError: one line, for a measure whose key (or section) is one of the report's own or another's.
    """
    timings = report["timings"]
    for name, m in measured.items():
        measure = components.get("measure", name)
        section = getattr(measure, "section", None)
        key = section or name
        if key in RESERVED or (section is None and key in report) or not isinstance(report.get(key, {}), dict):
            raise AnalysisError(f"measure {name!r}: report.json's key {key!r} is taken (by the report or another "
                                "measure); give it another name or section")
        result = m["result"]
        if m["rotation"] is not None:
            result = {**result, "rotation": m["rotation"]}
            timings[f"{name} (rotated)"] = m["rotated_seconds"]
        timings[name] = m["seconds"]
        if section:  # a section's measures each carry their time, and the section its seed
            holder = report.setdefault(section, {"seed": seed})
            holder[name] = {**result, "seconds": round(m["seconds"], 2)} if isinstance(result, dict) else result
            timings[section] = round(timings.get(section, 0.0) + m["seconds"], 3)
        elif skipped(result):
            report[name] = None
            report["skipped"][name] = skipped(result)
        else:
            report[name] = result


def analyze_run(run_dir, graph: Graph | None = None, log=print, figures: bool = True, k: int = 10,
                ranking_sample: int | None = 1000, measures=None) -> dict:
    """Analyse a run directory: run every measure, write ``report.json``, summary.txt and figures, log a summary.

    Args:
        run_dir: a run directory, or a `Run` already returned by `load_run`.
        graph: the training graph (loaded from the config's ``training_data`` when None;
            unused when ``run_dir`` is a `Run`, which carries its own).
        log: where the summary lines go (``print``, a logger's ``info``, or ``lambda s: None``).
        figures: write PNGs into ``run_dir/figures/``.
        k: senses per pole of each semantic axis.
        ranking_sample: held-out hypernym edges to rank (None = all).
        measures: names of the measures to run (default: every registered one, `naomi_nb.measures`).

    Returns:
        The report dict (as written to ``report.json``). Measures that need the graph (``antonyms``,
        ``validation``) are None when it was not found, with the reason under ``skipped``; those under
        ``semantics`` say ``{"skipped": reason}`` in place. ``cards`` holds one `naomi_nb.cards.dimension_cards`
        card per dimension, with the intrusion scores and WordNet's glosses when this machine has WordNet.
        Each readability figure has its rotation control under its measure's ``"rotation"``.

    Raises:
        RunDirError: one line, for a missing or corrupt run directory.
        WriteError: one line, when a figure, report.json or summary.txt cannot be written (disk full,
            read-only); the files written before stay whole.
    """
    t0 = time.perf_counter()
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir, graph)
    if not R.trained(run.metrics):
        raise AnalysisError(f"{run.run_dir} holds no trained model: no epoch finished with a finite validation "
                            f"loss ({run.metrics.get('stopped', 'stopped')}), so its embeddings are the initial "
                            "random values")
    cfg, emb, graph = run.config, run.embeddings, run.graph
    ran = run.metrics.get("epochs_run")
    if isinstance(ran, int) and len(run.history) != ran:  # history.jsonl has no checksum: a torn line shows here
        log(f"warning: {run.run_dir / rundir.HISTORY} holds {len(run.history)} readable epochs, metrics.json says "
            f"{ran}: the report's training section has what could be read (`train --resume` rebuilds the file "
            "from checkpoints/last.pt)")
    seed = int(cfg.get("seed", 0))
    ctx = Context(emb, run.vocab, graph, seed=seed, eps=float(cfg.get("activity_eps", 1e-6)),
                  val_fraction=float(cfg.get("val_fraction", 0.1)), k=k, ranking_sample=ranking_sample,
                  graph_problem=run.graph_problem, dim_names=rundir.named_dims(run.metrics))
    measured = run_measures(ctx, measures)

    report = {
        "run_dir": str(run.run_dir),
        "n_senses": int(emb.shape[0]),
        "n_dims": int(emb.shape[1]),
        "config": {key: cfg.get(key) for key in ("training_data", "seed", "val_fraction", "sparsity_mode",
                                                 "sparsity_weight", "activity_eps", "embedding_dim")},
        "training": {"epochs": len(run.history), "last_epoch": run.history[-1] if run.history else None,
                     "metrics": run.metrics},
        "axes_over": "frequent senses (SemCor count >= 1)" if ctx.pole_rows is not None else "all senses",
        "skipped": {},
        "figures": [],
        "timings": {},
    }
    _place(report, measured, seed)
    if any(m["rotation"] is not None for m in measured.values()):
        report["rotation"] = {"seed": seed, "band": ROTATION_BAND, "about": ROTATION_ABOUT}
    if figures:
        t = time.perf_counter()
        axes = ctx.result("axes")
        validation = ctx.validation
        report["figures"] = save_figures(run.run_dir / rundir.FIGURES, ctx.emb, ctx.dims,
                                         axes if isinstance(axes, list) else [],
                                         validation["distances"] if validation else None,
                                         dict(zip(graph.relations, graph.targets.tolist())) if graph else None, seed)
        report["timings"]["figures"] = round(time.perf_counter() - t, 3)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    report = to_jsonable(report)
    atomic_write_json(run.run_dir / rundir.REPORT, report)
    lines = [trained_line(cfg, run.metrics)] + summary_lines(report)
    # summary.txt: the returned model's figures, its readable axes and its best dimension cards, read later
    # without recomputing
    best = cards_text(best_cards(report.get("cards") or [], SUMMARY_CARDS))
    atomic_write_bytes(run.run_dir / rundir.SUMMARY, ("\n".join(
        lines + ["", axes_text(report), "", f"dimension cards, the best {SUMMARY_CARDS}:", best, "next:"]
        + ["  " + step for step in next_steps(run.run_dir)]) + "\n").encode())
    for line in lines:
        log(line)
    return report


# ---------------------------------------------------------------- figures


def save_figures(out_dir: Path, emb: np.ndarray, dims: dict, axes: list[dict], distances: dict | None = None,
                 targets: dict | None = None, seed: int = 0) -> list[str]:
    """Write the report's PNGs into ``out_dir``; returns their paths.

    Args:
        out_dir: directory for the PNGs (created).
        emb: (V, D) embeddings (a seeded row sample feeds the value histogram).
        dims: `dimension_stats` output.
        axes: `semantic_axes` output.
        distances: {relation: held-out distances} (no distance figure when None).
        targets: {relation: target distance}, marked on the distance figure.
        seed: seeds the row sample.

    Uses `matplotlib.figure.Figure` directly, so no pyplot state and no global
    backend change.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a full or read-only disk: one line, as for report.json
        raise write_error(out_dir, err) from None
    paths = []

    def save(fig, name):
        fig.tight_layout()
        path = out_dir / name
        with atomic_open(path) as f:  # a full disk leaves the old figure, never half a PNG
            fig.savefig(f, format="png", dpi=100)
        paths.append(str(path))

    # activity per dimension, most active first, coloured by band
    activity = dims["activity"]
    order = np.argsort(-activity, kind="stable")
    bands = (UNUSED_BELOW, SPARSE_BELOW, DENSE_FROM)
    lo, mid, hi = bands
    colours = np.where(activity[order] >= hi, "tab:red", np.where(activity[order] >= mid, "tab:orange",
                       np.where(activity[order] >= lo, "tab:blue", "tab:gray")))
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    ax.bar(np.arange(len(order)), activity[order], width=1.0, color=colours)
    for y, name in zip(bands, ("sparse", "moderate", "dense")):
        ax.axhline(y, color="k", lw=0.6, ls="--")
        ax.annotate(f"{name} from {y:g}", (1.0, y), xycoords=("axes fraction", "data"), xytext=(-3, 2),
                    textcoords="offset points", ha="right", va="bottom", fontsize=7)
    ax.set(xlabel="dimension (sorted by activity)", ylabel="share of senses active", ylim=(0, 1.02),
           title=f"dimension activity (|x| > {dims['eps']:g}): {dims['unused']} unused, {dims['sparse']} sparse, "
                 f"{dims['moderate']} moderate, {dims['dense']} dense")
    save(fig, "activity.png")

    # distribution of values (a seeded row sample) and active dims per word
    rng = np.random.default_rng(seed)
    rows = rng.choice(emb.shape[0], min(emb.shape[0], max(1, 2_000_000 // emb.shape[1])), replace=False)
    values = emb[np.sort(rows)].ravel()
    fig = Figure(figsize=(10, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.hist(values, bins=101, color="tab:blue", log=True)
    ax1.set(xlabel="value", ylabel="count (log)",
            title=f"values: {dims['sparsity_pct']:.1f}% |x|<{dims['near_zero']:g}, {dims['zeros_pct']:.1f}% exactly 0")
    per_word = dims["active_per_word"]
    ax2.hist(per_word, bins=np.arange(per_word.min(), per_word.max() + 2) - 0.5, color="tab:green")
    ax1.locator_params(axis="x", nbins=6)
    ax2.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax2.set(xlabel="active dimensions per sense", ylabel="senses",
            title=f"median {dims['median_active_dims']:.0f} of {dims['n_dims']} dims active")
    save(fig, "sparsity.png")

    # held-out distance per relation against its target
    if distances:
        names = sorted(distances, key=lambda name: (np.median(distances[name]), name))
        fig = Figure(figsize=(8, 1.2 + 0.32 * len(names)))
        ax = fig.add_subplot()
        for y, name in enumerate(names):
            p10, p25, p50, p75, p90 = np.percentile(distances[name], [10, 25, 50, 75, 90])
            ax.hlines(y, p10, p90, color="tab:blue", lw=1)
            ax.hlines(y, p25, p75, color="tab:blue", lw=5)
            ax.plot(p50, y, "o", color="white", mec="tab:blue", ms=4)
            if name in (targets or {}):
                ax.plot(targets[name], y, "|", color="tab:red", ms=12, mew=2)
        ax.set_yticks(np.arange(len(names)), [f"{n} ({len(distances[n]):,})" for n in names])
        ax.set(xlabel="L2 distance (bars: 10-90% and 25-75%, dot: median, red: target)",
               title="held-out edge distances")
        save(fig, "distances.png")

    # the clearest axes: top senses at each pole
    top = [a for a in axes if a["coherence"] > 0][:4] or axes[:4]
    if not top:
        return paths
    fig = Figure(figsize=(12, 2.6 * ((len(top) + 1) // 2)))
    grid = fig.subplots((len(top) + 1) // 2, 2, squeeze=False)
    for ax, axis in zip(grid.ravel(), top):
        senses = axis["negative"]["senses"][:5][::-1] + axis["positive"]["senses"][:5][::-1]
        senses = sorted(senses, key=lambda s: s[1])
        ax.barh(np.arange(len(senses)), [v for _, v in senses],
                color=["tab:red" if v < 0 else "tab:blue" for _, v in senses])
        # whole sense keys (a cut key is ambiguous); tight_layout makes room for them
        ax.set_yticks(np.arange(len(senses)), [s for s, _ in senses], fontsize=9)
        ax.axvline(0, color="k", lw=0.6)
        ax.locator_params(axis="x", nbins=5)
        ax.set_title(f"dim {axis['dim']} ({axis['coherence']:.2f}): {axis_label(axis)}", fontsize=9)
    for ax in grid.ravel()[len(top):]:
        ax.set_visible(False)
    save(fig, "axes.png")
    return paths


# ---------------------------------------------------------------- text for logs and notebooks


def trained_line(cfg: dict, metrics: dict) -> str:
    """What a run trained, in one line, from its config.json and metrics.json."""
    stage = metrics.get("stage") or {}
    parts = [f"{cfg.get('objective', 'seed')} on the {cfg.get('geometry', 'free')} geometry",
             f"sparsity {cfg.get('sparsity_mode', 'seed')}",
             f"{metrics.get('epochs_run', '?')} epochs (best {metrics.get('best_epoch', '?')}, "
             f"{metrics.get('dims_reached', metrics.get('final_dims', '?'))} dims)"]
    if stage:
        parts.append(f"then {stage.get('name')} ({stage.get('dims')} dims)")
    parts.append(f"seed {cfg.get('seed', 0)}, {Path(str(cfg.get('training_data', '?'))).name}")
    return "trained: " + ", ".join(parts)


def next_steps(run_dir) -> list[str]:
    """The commands that read a finished run, with its directory."""
    return [f"python -m naomi_nb describe {run_dir} dog     (a word's strongest dimensions, named)",
            f"python -m naomi_nb export {run_dir} --per word  (word2vec text for gensim)",
            f"notebooks/03_explore.ipynb with RUN_DIR = '{run_dir}'  (cards, axes, neighbours)"]


def summary_lines(report: dict) -> list[str]:
    """The short summary `analyze_run` logs, one string per line: a header, each measure's lines in the
    registry's order (`naomi_nb.measures.measure_lines`), and where the report is."""
    lines = [f"analysis of {report['run_dir']}: {report['n_senses']:,} senses x {report['n_dims']} dims"]
    for name, measure in components.registry("measure").items():
        result = stored_result(report, name, measure)
        if result is not None:
            lines += ["  " + line for line in measure_lines(name, measure, result)]
    lines.append(f"  report: {Path(report['run_dir']) / 'report.json'}"
                 + (f", {len(report['figures'])} figures in {Path(report['run_dir']) / 'figures'}"
                    if report["figures"] else "") + f" ({report['seconds']:.1f} s)")
    return lines


def control_text(report: dict) -> str:
    """Every readability figure of a report beside its rotation control, one line each, as plain text.

    The rotated vectors keep every distance and mix the axes: a figure they reach too (the advantage within
    the report's band) measures the space, not the axes.
    """
    rows = []
    for name, measure in components.registry("measure").items():
        result = stored_result(report, name, measure)
        for figure, c in ((result or {}).get("rotation") or {}).items() if isinstance(result, dict) else ():
            verdict = ("-" if c["space_not_axes"] is None else
                       "measures the space, not the axes" if c["space_not_axes"] else "the axes read better")
            rows.append((f"{name} {figure}", fmt_figure(c["axes"]),
                         fmt_figure(c["rotated"]), fmt_figure(c["advantage"], "+.3f"), verdict))
    if not rows:
        return "no readability figures with a rotation control in this report (analysed before they were added?)"
    width = max(len(r[0]) for r in rows + [("figure",)])
    band = (report.get("rotation") or {}).get("band", ROTATION_BAND)
    lines = [f"{'figure':<{width}}   axes  rotated  advantage  verdict (band: {band:.0%} of the rotated figure)"]
    lines += [f"{r[0]:<{width}}  {r[1]:>5}  {r[2]:>7}  {r[3]:>9}  {r[4]}" for r in rows]
    return "\n".join(lines)


def hubs_text(report: dict) -> str:
    """The report's hub senses (those at the top of two poles or more), most poles first, as plain text."""
    h = report.get("hubs")
    if not h:
        return f"no hubs in this report ({report.get('skipped', {}).get('hubs', 'analysed before they were added')})"
    head = (f"{h['n_poles']} poles, the top {h['k']} senses of each ({h['over']}); distinct senses per slot "
            f"{figure_text(h, 'distinct')}")
    if not h["top"]:
        return head + "\nno sense tops two poles"
    width = max(len(s) for s, _ in h["top"])
    return "\n".join([head, f"{'sense':<{width}}  poles  share of poles"]
                     + [f"{s:<{width}}  {c:>5}  {c / h['n_poles']:>14.1%}" for s, c in h["top"]])


def neighbors_text(emb: np.ndarray, vocab: Vocabulary, query, k: int = 10, metric: str = "l2",
                   sq_norms: np.ndarray | None = None, among: np.ndarray | None = None) -> str:
    """Nearest neighbours of every sense of ``query`` as plain text (a message if the word is unknown).

    ``among``: sense ids the neighbours are drawn from (e.g. `naomi_nb.semantics.frequent_senses`, so the
    words shown are words a reader knows); None: every sense.
    """
    try:
        if among is None:
            result = nearest_neighbors(emb, vocab, query, k, metric, sq_norms)
        else:  # the query's senses against the chosen rows only
            sub = np.asarray(among, dtype=np.int64)
            queries = nearest_neighbors(emb, vocab, query, 0, metric)
            result = []
            for entry in queries:
                i = entry["id"]
                rows = np.concatenate([[i], sub[sub != i]])
                ids_here = nearest_neighbors(emb[rows], vocab_like(vocab, rows), 0, k, metric)[0]["neighbors"]
                result.append({"sense": entry["sense"], "neighbors": ids_here})
    except AnalysisError as e:
        return str(e)
    lines = []
    for entry in result:
        lines.append(f"{entry['sense']}")
        lines.extend(f"    {dist:7.4f}  {key}" for key, dist in entry["neighbors"])
    return "\n".join(lines)


class vocab_like:  # noqa: N801 - a stand-in with the few attributes nearest_neighbors reads
    """Rows ``rows`` of a vocabulary, renumbered from 0 (for neighbours among a subset)."""

    def __init__(self, vocab: Vocabulary, rows: np.ndarray):
        self.id_to_word = [vocab.id_to_word[int(i)] for i in rows]
        self.size = len(self.id_to_word)

    def senses_of(self, lemma: str) -> list[int]:
        return []


def axis_text(emb: np.ndarray, vocab: Vocabulary, dim: int, k: int = 10, eps: float = 1e-6,
              among: np.ndarray | None = None) -> str:
    """The top senses at both poles of one dimension, side by side, as plain text.

    ``among``: sense ids the poles are drawn from (frequent senses read better); None: every sense.
    """
    if not 0 <= dim < emb.shape[1]:
        return f"dimension {dim} does not exist (0..{emb.shape[1] - 1})"
    ids = np.arange(emb.shape[0]) if among is None else np.asarray(among, dtype=np.int64)
    (pos,), (neg,) = pole_ids(emb[ids], k, eps, dims=[dim])
    column = emb[:, dim]
    active = np.count_nonzero(np.abs(column) > eps)
    left = [f"{column[ids[i]]:+.4f} {vocab.id_to_word[ids[i]]}" for i in neg]
    right = [f"{column[ids[i]]:+.4f} {vocab.id_to_word[ids[i]]}" for i in pos]
    width = max([len(s) for s in left] + [len("negative pole")])
    scope = "" if among is None else f"; poles among {len(ids):,} frequent senses"
    lines = [f"dimension {dim}: active in {active:,} of {len(column):,} senses ({active / len(column):.1%}){scope}",
             f"{'negative pole':<{width}}   positive pole"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        lines.append(f"{a:<{width}}   {b}")
    return "\n".join(lines)


def run_note(history, metrics: dict, min_epochs: int = 5) -> str | None:
    """A warning when a run is too short to read much into its neighbours and axes, else None."""
    epochs = len(history)
    if epochs >= min_epochs:
        return None
    return (f"note: this run trained {epochs} epoch{'s' if epochs != 1 else ''} "
            f"({R.stop_reason(history, metrics)}); its neighbours and axes are mostly noise. Train longer "
            f"(02_train, or `python -m naomi_nb train`) before reading meaning into them.")


def axes_text(report: dict, n: int = 10, per_pole: int = 3) -> str:
    """The n clearest axes of a report, one line each with their labels and strongest senses."""
    lines = []
    for axis in (report.get("axes") or [])[:n]:
        poles = [f"[{pole_label(axis[side])}] " + ", ".join(s for s, _ in axis[side]["senses"][:per_pole])
                 for side in ("negative", "positive") if axis[side]["senses"]]
        lines.append(f"dim {axis['dim']:>3}  {axis['coherence']:.2f}  " + ("  <->  ".join(poles) or "(inactive)"))
    return "\n".join(lines)


def antonym_text(report: dict) -> str:
    """The report's antonym summary and example pairs as a plain-text table."""
    a = report.get("antonyms")
    if not a:
        return f"no antonym analysis ({report.get('skipped', {}).get('antonyms', 'not computed')})"
    distance, synonym, random_pairs = mean_distances(a)
    lines = [f"{a['n_pairs']:,} antonym pairs: distance mean {distance} "
             f"(target {a['target']:g}), synonyms {synonym}, "
             f"random pairs {random_pairs}",
             f"opposed dims per pair (both |x| > {a['threshold']:g}): mean {a['opposed']['mean']:.1f}, "
             f"agreeing {a['agree']['mean']:.1f}; {a['with_opposition']:.1%} oppose somewhere, "
             f"{a['selective']:.1%} selectively (oppose on fewer dims than they agree)",
             "dims most often opposed: " + ", ".join(f"{d} ({c})" for d, c in a["top_dims"][:8])]
    for title, rows in (("most separated", a["most_separated"]), ("least separated", a["least_separated"])):
        if not rows:
            continue
        wa = max([len(r["a"]) for r in rows] + [len(title)])
        wb = max(len(r["b"]) for r in rows)
        lines += ["", f"{title:<{wa}}  {'':<{wb}}   dist   opp  agree"]
        lines += [f"{r['a']:<{wa}}  {r['b']:<{wb}}  {r['distance']:5.3f}  {r['opposed']:>4}  {r['agree']:>5}"
                  for r in rows]
    return "\n".join(lines)


def validation_text(report: dict) -> str:
    """Held-out distance error per relation as a plain-text table."""
    v = report.get("validation")
    if not v:
        return f"no validation metrics ({report.get('skipped', {}).get('validation', 'not computed')})"
    rows = sorted(v["per_relation"].items(), key=lambda item: (item[1]["target"], item[0]))
    width = max(len(name) for name, _ in rows)
    lines = [f"{'relation':<{width}}  {'edges':>7}  target  mean dist     MAE"]
    lines += [f"{name:<{width}}  {r['n']:>7,}  {r['target']:6.2f}  {r['mean_distance']:9.4f}  {r['mae']:6.4f}"
              for name, r in rows]
    r = v["hypernym_ranking"]
    if r["n"]:
        lines.append(f"hypernym ranking over {r['n_sampled']:,} of {r['n_held_out']:,} held-out edges "
                     f"(filtered, ties averaged): mean rank {r['mean_rank']:,.1f}, MRR {r['mrr']:.4f}, "
                     f"hits@1 {r['hits@1']:.1%}, hits@10 {r['hits@10']:.1%}")
    if v["antonym_synonym_auc"] is not None:
        lines.append(f"antonym vs synonym distance ROC AUC {v['antonym_synonym_auc']:.3f} "
                     f"({v['n_antonym']:,} vs {v['n_synonym']:,} held-out edges; 0.5 = no separation)")
    return "\n".join(lines)
