"""Looking inside a trained run: dimensions, semantic axes, antonyms, neighbours, held-out metrics.

Everything here is a plain function of numpy arrays plus the graph's vocabulary,
so it works the same on a run directory, on ``result.embeddings`` straight from
``train()``, and on the hand-made arrays of the tests.

``analyze_run(run_dir)`` ties it together: it loads the run, computes every
section, writes ``report.json`` and PNG figures into ``run_dir/figures/`` and
logs a short summary. The notebook ``03_explore.ipynb`` and
``python -m naomi_nb analyze RUN_DIR`` call it.

Memory: a 207K x 512 float32 table is 424 MB, so anything that would make a
same-sized temporary (``abs``, gathers of edge endpoints, distance matrices)
works in row chunks of about ``CHUNK`` elements.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .graph import Graph, GraphError, Vocabulary, load_graph, read_json
from .checkpoint import atomic_write_bytes, read_history
from .dims import SMALL, dimension_classes

CHUNK = 1 << 23  # elements per temporary block (32 MB of float32)
NEAR_ZERO = SMALL  # |x| below this counts as "near zero" in the sparsity % (the number the trainer shows)
ACTIVITY_BANDS = (0.1, 0.3, 0.7)  # unused < 10% active <= sparse < 30% <= moderate < 70% <= saturated (figures)
HYPERNYM_RELATIONS = ("hypernym", "instance_hypernym")  # used to label semantic axes


class AnalysisError(ValueError):
    """Something the analysis cannot do; the message is one line for the user."""


class RunError(AnalysisError):
    """A run directory that is missing, incomplete or corrupt."""


# ---------------------------------------------------------------- loading a run


@dataclass
class Run:
    """A finished (or interrupted) training run, loaded from its directory."""

    run_dir: Path
    config: dict
    embeddings: np.ndarray  # float32 (V, D), row i = sense id i
    vocab: Vocabulary
    graph: Graph | None  # None when the training data could not be found
    history: list = field(default_factory=list)  # one dict per epoch
    metrics: dict = field(default_factory=dict)
    graph_problem: str | None = None  # why graph is None


def load_embeddings(path: str | os.PathLike) -> np.ndarray:
    """Load an ``embeddings.npy`` as float32 (V, D), refusing pickles, wrong shapes and NaN/inf.

    Raises:
        RunError: one line, for a missing, truncated or non-finite file.
    """
    path = Path(path)
    try:
        emb = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise RunError(f"{path} is missing (did training finish? it is written at the end)") from None
    except (ValueError, OSError, EOFError) as e:
        raise RunError(f"{path} is corrupt or truncated ({e.__class__.__name__})") from None
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0 or emb.dtype.kind != "f":
        raise RunError(f"{path}: expected a non-empty 2-D float array, got {emb.dtype} {emb.shape}")
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    bad = sum(int(np.count_nonzero(~np.isfinite(emb[sl]))) for sl in _row_chunks(*emb.shape))
    if bad:
        raise RunError(f"{path} holds {bad:,} NaN/inf values (the run diverged; try a lower --lr)")
    return emb


def _training_data_candidates(value: str, run_dir: Path) -> list[Path]:
    """Where a (possibly relative) ``training_data`` path may point: as given, then beside the run."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return [p]
    # relative paths were relative to wherever training started: try the usual places
    return [p, run_dir / p, run_dir.parent / p, run_dir.parent.parent / p]


def load_run(run_dir: str | os.PathLike, graph: Graph | None = None) -> Run:
    """Load a run directory: config, embeddings, vocabulary, history, metrics and (if found) the graph.

    Args:
        run_dir: directory written by the trainer.
        graph: the training graph, when the caller has it; otherwise it is
            loaded from the config's ``training_data``. When that fails the
            run still loads, with ``graph=None`` and the reason in ``graph_problem``.

    Returns:
        A `Run`.

    Raises:
        RunError: one line, when the directory, ``config.json`` or
            ``embeddings.npy`` is missing or corrupt, or the vocabulary does not
            match the embeddings.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory {run_dir} does not exist")
    config = read_json(run_dir / "config.json", RunError, "not a run directory?")
    if not isinstance(config, dict):
        raise RunError(f"{run_dir / 'config.json'}: expected a JSON object")
    emb = load_embeddings(run_dir / "embeddings.npy")

    problem = None
    if graph is None:
        value = config.get("training_data")
        if not value:
            problem = "config.json names no training_data"
        else:
            candidates = _training_data_candidates(str(value), run_dir)
            found = next((c for c in candidates if c.is_dir()), None)
            if found is None:
                problem = f"training data {value} not found"
            else:
                try:
                    graph = load_graph(found)
                except GraphError as e:
                    problem = str(e)

    if (run_dir / "vocabulary.json").exists():
        try:
            vocab = Vocabulary.from_json(read_json(run_dir / "vocabulary.json", RunError, "vocabulary"),
                                         where=str(run_dir / "vocabulary.json"))
        except GraphError as e:
            raise RunError(str(e)) from None
    elif graph is not None:
        vocab = graph.vocab
    else:
        raise RunError(f"{run_dir / 'vocabulary.json'} is missing and the training graph is unavailable ({problem})")

    if vocab.size != emb.shape[0]:
        raise RunError(f"embeddings.npy has {emb.shape[0]:,} rows but the vocabulary has {vocab.size:,} senses")
    if graph is not None:
        if graph.vocab.size != vocab.size:
            raise RunError(f"the training graph has {graph.vocab.size:,} senses but the run has {vocab.size:,}: "
                           "not the graph this run was trained on")
        if graph.vocab.id_to_word != vocab.id_to_word:
            first = next(i for i, (a, b) in enumerate(zip(graph.vocab.id_to_word, vocab.id_to_word)) if a != b)
            raise RunError(f"the training graph's vocabulary differs from the run's at id {first} "
                           f"({graph.vocab.id_to_word[first]!r} vs {vocab.id_to_word[first]!r})")
        # the graph's vocabulary may carry lexnames the run's copy lacks
        vocab = graph.vocab if vocab.lexname is None else vocab

    try:  # metrics.json is a courtesy copy of the trainer's summary: the analysis does not need it
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = {}
    return Run(run_dir, config, emb, vocab, graph, read_history(run_dir),
               metrics if isinstance(metrics, dict) else {}, problem)


def latest_run(runs_dir: str | os.PathLike) -> Path | None:
    """The most recently written run under ``runs_dir`` (one holding ``embeddings.npy``), or None."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return None
    done = [d for d in runs_dir.iterdir() if (d / "embeddings.npy").is_file()]
    if not done:
        return None
    return max(done, key=lambda d: (d / "embeddings.npy").stat().st_mtime)


# ---------------------------------------------------------------- small helpers


def _row_chunks(n_rows: int, n_cols: int, budget: int = CHUNK):
    """Row slices of about ``budget`` elements each."""
    step = max(1, budget // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def _sq_norms(emb: np.ndarray) -> np.ndarray:
    out = np.empty(len(emb), np.float32)
    for sl in _row_chunks(*emb.shape):
        out[sl] = np.einsum("ij,ij->i", emb[sl], emb[sl])
    return out


def edge_distances(emb: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """L2 distance ``||emb[src[i]] - emb[dst[i]]||`` for every edge, float32 (E,)."""
    out = np.empty(len(src), np.float32)
    for sl in _row_chunks(len(src), emb.shape[1]):
        diff = emb[src[sl]] - emb[dst[sl]]
        out[sl] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def _summary(x: np.ndarray) -> dict:
    """mean / median / std / p10 / p90 of a 1-D array (None when empty)."""
    if len(x) == 0:
        return {"n": 0, "mean": None, "median": None, "std": None, "p10": None, "p90": None}
    p10, med, p90 = np.percentile(x, [10, 50, 90])
    return {"n": int(len(x)), "mean": float(np.mean(x)), "median": float(med), "std": float(np.std(x)),
            "p10": float(p10), "p90": float(p90)}


def _relation_id(graph: Graph, name: str) -> int | None:
    return graph.relations.index(name) if name in graph.relations else None


def _edges_of(graph: Graph, name: str, idx: np.ndarray | None = None) -> np.ndarray:
    """Edge indices of relation ``name`` (within ``idx`` if given)."""
    r = _relation_id(graph, name)
    if r is None:
        return np.zeros(0, np.int64)
    if idx is None:
        return np.flatnonzero(graph.rel == r)
    return idx[graph.rel[idx] == r]


# ---------------------------------------------------------------- dimension statistics


def dimension_stats(emb: np.ndarray, eps: float = 1e-6, near_zero: float = NEAR_ZERO) -> dict:
    """Per-dimension activity, L1 mass and variance, activity bands and overall sparsity.

    Args:
        emb: (V, D) embeddings.
        eps: a value is *active* when ``|x| > eps`` (the config's ``activity_eps``).
        near_zero: a value counts toward ``sparsity_pct`` when ``|x| < near_zero``.

    Returns:
        A dict with per-dimension arrays ``activity`` (share of senses active),
        ``l1`` (sum of |x|) and ``variance``; ``active_per_word`` (V,); counts
        ``unused`` (<10% active), ``sparse`` (10-30%), ``moderate`` (30-70%),
        ``saturated`` (>=70%); ``sparsity_pct`` (% of |x| < near_zero),
        ``zero_pct`` (% exact zeros), ``median_active_dims`` and ``mean_active_dims``.
    """
    n, d = emb.shape
    active = np.zeros(d, np.int64)
    l1 = np.zeros(d, np.float64)
    total = np.zeros(d, np.float64)
    total_sq = np.zeros(d, np.float64)
    per_word = np.empty(n, np.int32)
    n_small = n_zero = 0
    for sl in _row_chunks(n, d):
        x = emb[sl]
        a = np.abs(x)
        is_active = a > eps
        active += is_active.sum(axis=0)
        per_word[sl] = is_active.sum(axis=1)
        l1 += a.sum(axis=0, dtype=np.float64)
        total += x.sum(axis=0, dtype=np.float64)
        total_sq += np.square(x, dtype=np.float64).sum(axis=0)
        n_small += int(np.count_nonzero(a < near_zero))
        n_zero += int(np.count_nonzero(x == 0))
    activity = active / n
    mean = total / n
    return {
        "n_senses": n, "n_dims": d, "eps": eps, "near_zero": near_zero,
        "activity": activity,
        "l1": l1,
        "variance": np.maximum(total_sq / n - mean * mean, 0.0),
        "active_per_word": per_word,
        **dimension_classes(activity),  # the same bands the trainer's log shows
        "sparsity_pct": 100.0 * n_small / (n * d),
        "zero_pct": 100.0 * n_zero / (n * d),
        "median_active_dims": float(np.median(per_word)),
        "mean_active_dims": float(per_word.mean()),
    }


# ---------------------------------------------------------------- semantic axes


def pole_ids(emb: np.ndarray, k: int = 10, eps: float = 1e-6, dims=None) -> tuple[list, list]:
    """The k most positive and k most negative senses of each dimension.

    Only active values count: a pole holds fewer than k senses when fewer than
    k values on that side exceed ``eps`` in magnitude.

    Args:
        emb: (V, D) embeddings.
        k: senses per pole.
        eps: activity threshold.
        dims: dimensions to look at (default: all).

    Returns:
        ``(positive, negative)``: lists (one per dim) of int arrays, strongest first.
    """
    n, d = emb.shape
    dims = np.arange(d) if dims is None else np.asarray(dims, dtype=np.int64).reshape(-1)
    k = max(1, min(k, n))
    positive, negative = [], []
    width = max(1, CHUNK // max(1, n))  # columns per block
    for start in range(0, len(dims), width):
        block = np.ascontiguousarray(emb[:, dims[start:start + width]].T)  # (w, V): one row per dim
        top = np.argpartition(block, n - k, axis=1)[:, n - k:]  # k largest, unordered
        bottom = np.argpartition(block, k - 1, axis=1)[:, :k]  # k smallest, unordered
        for row, hi, lo in zip(block, top, bottom):
            hi = hi[np.argsort(-row[hi], kind="stable")]
            lo = lo[np.argsort(row[lo], kind="stable")]
            positive.append(hi[row[hi] > eps])
            negative.append(lo[row[lo] < -eps])
    return positive, negative


@dataclass
class _Labels:
    """A set of labels per sense (CSR), and how common each label is among all senses."""

    kind: str  # "lexname" or "hypernym"
    indptr: np.ndarray  # (V + 1,) sense i's labels are labels[indptr[i]:indptr[i + 1]]
    labels: np.ndarray  # label ids, each at most once per sense
    names: np.ndarray  # label id -> name
    base: np.ndarray  # label id -> share of all senses that carry it (the chance level)

    @classmethod
    def build(cls, kind: str, senses: np.ndarray, labels: np.ndarray, names, n_senses: int) -> "_Labels":
        pairs = np.unique(np.stack([senses, labels], axis=1).astype(np.int64), axis=0)  # sorted by sense
        indptr = np.concatenate([[0], np.cumsum(np.bincount(pairs[:, 0], minlength=n_senses))])
        base = np.bincount(pairs[:, 1], minlength=len(names)) / n_senses
        return cls(kind, indptr, pairs[:, 1], np.asarray(names), base)


def _labellings(vocab: Vocabulary, graph: Graph | None) -> list[_Labels]:
    """Lexnames from the vocabulary; hypernym synsets (or hypernym senses) from the graph."""
    out = []
    n = vocab.size
    if vocab.lexname is not None:
        names, codes = np.unique(np.asarray(vocab.lexname), return_inverse=True)
        out.append(_Labels.build("lexname", np.arange(n), codes, names, n))
    if graph is not None:
        rels = [r for r in (_relation_id(graph, name) for name in HYPERNYM_RELATIONS) if r is not None]
        mask = np.isin(graph.rel, rels)
        if rels and mask.any():
            src, dst = graph.src[mask].astype(np.int64), graph.dst[mask].astype(np.int64)
            if graph.vocab.synset is not None:
                names, codes = np.unique(np.asarray(graph.vocab.synset), return_inverse=True)
                out.append(_Labels.build("hypernym", src, codes[dst], names, n))
            else:
                out.append(_Labels.build("hypernym", src, dst, graph.vocab.id_to_word, n))
    return out


def _pole_coherence(ids: np.ndarray, k: int, labellings: list[_Labels]) -> dict:
    """Per labelling: the label most over-represented in the pole, its share of the k slots, its chance level."""
    out = {"coherence": 0.0}
    for lab in labellings:
        out[lab.kind] = None
        out[f"{lab.kind}_share"] = out[f"{lab.kind}_base"] = 0.0
        if len(ids) == 0:
            continue
        votes = np.concatenate([lab.labels[lab.indptr[i]:lab.indptr[i + 1]] for i in ids])
        if len(votes) == 0:
            continue
        values, counts = np.unique(votes, return_counts=True)
        # a label only one sense carries is not shared: it cannot make a pole coherent
        lift = np.where(counts >= 2, counts / k - lab.base[values], 0.0)
        best = int(np.argmax(lift))
        out[lab.kind] = str(lab.names[values[best]])
        out[f"{lab.kind}_share"] = float(counts[best] / k)
        out[f"{lab.kind}_base"] = float(lab.base[values[best]])
        out["coherence"] = max(out["coherence"], float(lift[best]))
    return out


def semantic_axes(emb: np.ndarray, vocab: Vocabulary, graph: Graph | None = None, k: int = 10,
                  eps: float = 1e-6, l1: np.ndarray | None = None) -> list[dict]:
    """Every dimension as an axis: its two poles and how coherent they are, clearest first.

    A pole is coherent when its k senses share a WordNet lexname
    (``vocab.lexname``) or a hypernym synset (from ``graph``) far more often
    than random senses would. For each label, ``share`` is the part of the k
    slots held by senses carrying it and ``base`` the part of all senses that
    carry it; the pole's coherence is the best ``share - base`` over both kinds
    of label, counting only labels at least two of the senses share (0 if
    none is over-represented). Empty slots (fewer than k
    active senses) count as misses, and the chance correction keeps a label
    that everything shares (a single root) from looking meaningful. An axis'
    ``coherence`` is the mean of its two poles: an axis is clear when both ends
    are, so a one-sided dimension scores at most 0.5 (the poles' own
    ``coherence`` shows it). Ties are broken by L1 mass.

    Args:
        emb: (V, D) embeddings.
        vocab: the run's vocabulary.
        graph: the training graph, for hypernym labels (optional).
        k: senses per pole.
        eps: activity threshold.
        l1: per-dimension L1 mass, if already computed (`dimension_stats`).

    Returns:
        One dict per dimension, sorted clearest first: ``dim``, ``coherence``,
        ``l1``, and ``positive`` / ``negative`` each with ``senses``
        ([(sense key, value)]), ``coherence`` and, per kind of label available,
        ``lexname`` / ``lexname_share`` / ``lexname_base`` and
        ``hypernym`` / ``hypernym_share`` / ``hypernym_base``.
    """
    k = min(k, emb.shape[0])
    positive, negative = pole_ids(emb, k, eps)
    labellings = _labellings(vocab, graph)
    if l1 is None:
        l1 = sum(np.abs(emb[sl]).sum(axis=0, dtype=np.float64) for sl in _row_chunks(*emb.shape))
    axes = []
    for dim, (pos, neg) in enumerate(zip(positive, negative)):
        poles = {}
        for side, ids in (("positive", pos), ("negative", neg)):
            info = _pole_coherence(ids, k, labellings)
            info["senses"] = [(vocab.id_to_word[i], float(emb[i, dim])) for i in ids]
            poles[side] = info
        coherence = (poles["positive"]["coherence"] + poles["negative"]["coherence"]) / 2
        axes.append({"dim": dim, "coherence": coherence, "l1": float(l1[dim]), **poles})
    axes.sort(key=lambda a: (-a["coherence"], -a["l1"], a["dim"]))
    return axes


def _pole_label(pole: dict) -> str:
    """The pole's most telling label: the kind whose best label beats chance by more."""
    best, label = 0.0, "-"
    for kind in ("lexname", "hypernym"):
        if pole.get(kind) is not None:
            lift = pole[f"{kind}_share"] - pole[f"{kind}_base"]
            if lift > best:
                best, label = lift, pole[kind]
    return label


# ---------------------------------------------------------------- antonyms and synonyms


def antonym_pairs(graph: Graph) -> np.ndarray:
    """Unordered antonym pairs (P, 2), smaller id first, each once."""
    idx = _edges_of(graph, "antonym")
    a, b = graph.src[idx].astype(np.int64), graph.dst[idx].astype(np.int64)
    pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def polarity(emb: np.ndarray, pairs: np.ndarray, threshold: float = NEAR_ZERO) -> dict:
    """Where the two ends of each pair oppose in sign, and where they agree.

    A dimension counts for a pair only when both values exceed ``threshold`` in
    magnitude; it is *opposed* when their signs differ and *agreeing* when they
    match.

    Args:
        emb: (V, D) embeddings.
        pairs: (P, 2) sense ids.
        threshold: magnitude both values must exceed.

    Returns:
        ``distance`` (P,), ``opposed`` (P,) and ``agree`` (P,) dimension counts,
        and ``opposed_per_dim`` (D,): how many pairs oppose on each dimension.
    """
    p, d = len(pairs), emb.shape[1]
    out = {"distance": np.empty(p, np.float32), "opposed": np.empty(p, np.int32),
           "agree": np.empty(p, np.int32), "opposed_per_dim": np.zeros(d, np.int64)}
    for sl in _row_chunks(p, d):
        x, y = emb[pairs[sl, 0]], emb[pairs[sl, 1]]
        both = (np.abs(x) > threshold) & (np.abs(y) > threshold)
        product = x * y
        opposed = both & (product < 0)
        agree = both & (product > 0)
        out["opposed"][sl] = opposed.sum(axis=1)
        out["agree"][sl] = agree.sum(axis=1)
        out["opposed_per_dim"] += opposed.sum(axis=0)
        diff = x - y
        out["distance"][sl] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def antonym_analysis(emb: np.ndarray, graph: Graph, threshold: float = NEAR_ZERO, n_examples: int = 10,
                     seed: int = 0) -> dict | None:
    """Antonym pairs: distances, selective polarity, the dimensions that carry opposition; synonym tightness.

    A pair shows *selective polarity* when it opposes on at least one
    dimension and agrees on more dimensions than it opposes: same domain,
    opposite on a few axes.

    Args:
        emb: (V, D) embeddings.
        graph: the training graph (relations ``antonym`` and ``synonym``).
        threshold: magnitude a value must exceed to count for polarity.
        n_examples: pairs listed at each end of the distance ranking.
        seed: seeds the random-pair baseline.

    Returns:
        A dict with ``n_pairs``, ``target``, ``distance`` (summary),
        ``opposed`` / ``agree`` (summaries of the per-pair counts),
        ``with_opposition`` and ``selective`` (shares of pairs), ``top_dims``
        ([(dim, pairs opposing on it)]), ``most_separated`` /
        ``least_separated`` (example pairs), ``synonym`` (distance summary of
        all synonym edges) and ``random_pairs`` (distance summary of random
        sense pairs, the scale to read the two against); None when the graph
        has no antonyms.
    """
    pairs = antonym_pairs(graph)
    if len(pairs) == 0:
        return None
    pol = polarity(emb, pairs, threshold)
    opposed, agree, dist = pol["opposed"], pol["agree"], pol["distance"]
    order = np.argsort(-dist, kind="stable")
    words = graph.vocab.id_to_word

    def examples(ids):
        return [{"a": words[pairs[i, 0]], "b": words[pairs[i, 1]], "distance": float(dist[i]),
                 "opposed": int(opposed[i]), "agree": int(agree[i])} for i in ids]

    per_dim = pol["opposed_per_dim"]
    top_dims = np.argsort(-per_dim, kind="stable")[:10]
    syn = _edges_of(graph, "synonym")
    rng = np.random.default_rng(seed)
    n = emb.shape[0]
    rand_a, rand_b = rng.integers(0, n, 10000), rng.integers(0, n, 10000)
    keep = rand_a != rand_b
    return {
        "n_pairs": int(len(pairs)),
        "threshold": threshold,
        "target": float(graph.targets[graph.relation_id("antonym")]),
        "distance": _summary(dist),
        "opposed": _summary(opposed),
        "agree": _summary(agree),
        "with_opposition": float(np.mean(opposed >= 1)),
        "selective": float(np.mean((opposed >= 1) & (agree > opposed))),
        "top_dims": [(int(i), int(per_dim[i])) for i in top_dims if per_dim[i] > 0],
        "most_separated": examples(order[:n_examples]),
        "least_separated": examples(order[::-1][:n_examples]),
        "synonym": _summary(edge_distances(emb, graph.src[syn], graph.dst[syn])),
        "random_pairs": _summary(edge_distances(emb, rand_a[keep], rand_b[keep])),
    }


# ---------------------------------------------------------------- nearest neighbours


def resolve(vocab: Vocabulary, query) -> list[int]:
    """Sense ids for a sense id, a sense key (``good.a.01.good``) or a lemma (all its senses).

    Raises:
        AnalysisError: one line, when nothing matches.
    """
    if isinstance(query, (int, np.integer)):
        if not 0 <= int(query) < vocab.size:
            raise AnalysisError(f"sense id {query} is outside the vocabulary (size {vocab.size})")
        return [int(query)]
    text = str(query).strip()
    ids = vocab.senses_of(text) if text else []
    if not ids:
        raise AnalysisError(f"no sense of {text!r} in the vocabulary (try a lemma like 'dog' or a key like 'dog.n.01.dog')")
    return ids


def nearest_neighbors(emb: np.ndarray, vocab: Vocabulary, query, k: int = 10, metric: str = "l2",
                      sq_norms: np.ndarray | None = None) -> list[dict]:
    """The k senses closest to each sense of ``query``, the sense itself left out.

    Args:
        emb: (V, D) embeddings.
        vocab: the run's vocabulary.
        query: a lemma (all its senses), a sense key or a sense id.
        k: neighbours per sense.
        metric: ``"l2"`` (Euclidean distance, what the model is trained on) or
            ``"cosine"`` (1 - cosine similarity; a zero row is at distance 1 from everything).
        sq_norms: precomputed squared row norms (saves one pass over ``emb`` when called often).

    Returns:
        One dict per query sense: ``id``, ``sense`` and ``neighbors``, a list of
        ``(sense key, distance)`` nearest first.
    """
    if metric not in ("l2", "cosine"):
        raise AnalysisError(f"metric must be 'l2' or 'cosine' (got {metric!r})")
    ids = np.asarray(resolve(vocab, query), dtype=np.int64)
    sq = _sq_norms(emb) if sq_norms is None else sq_norms
    x = emb[ids]
    dots = x @ emb.T  # (q, V)
    if metric == "l2":
        dist = sq[None, :] - 2 * dots + sq[ids][:, None]
    else:
        norms = np.sqrt(sq)
        denom = norms[ids][:, None] * norms[None, :]
        dist = 1 - np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
    dist[np.arange(len(ids)), ids] = np.inf
    k = min(k, emb.shape[0] - 1)
    out = []
    for row, i in zip(dist, ids):
        top = np.argpartition(row, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
        top = top[np.argsort(row[top], kind="stable")]
        values = np.sqrt(np.maximum(row[top], 0)) if metric == "l2" else row[top]
        out.append({"id": int(i), "sense": vocab.id_to_word[i],
                    "neighbors": [(vocab.id_to_word[j], float(v)) for j, v in zip(top, values)]})
    return out


# ---------------------------------------------------------------- held-out metrics


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half).

    This is the area under the ROC curve with the score as the classifier
    (the Mann-Whitney U statistic over ``len(positive) * len(negative)``).
    None when either side is empty.
    """
    positive, negative = np.asarray(positive, np.float64), np.sort(np.asarray(negative, np.float64))
    if len(positive) == 0 or len(negative) == 0:
        return None
    below = np.searchsorted(negative, positive, side="left")  # negatives strictly lower
    below_or_tied = np.searchsorted(negative, positive, side="right")
    wins = below.sum(dtype=np.float64) + 0.5 * (below_or_tied - below).sum(dtype=np.float64)
    return float(wins / (len(positive) * len(negative)))


def rank_targets(emb: np.ndarray, src: np.ndarray, dst: np.ndarray, known: tuple | None = None,
                 batch: int = 64, rtol: float = 1e-5) -> np.ndarray:
    """Rank of ``dst[i]`` among all senses by L2 distance from ``src[i]`` (1 = nearest).

    ``src[i]`` itself is never a candidate. With ``known = (known_src,
    known_dst)``, the other known targets of ``src[i]`` (say, its other
    hypernyms) are left out too: the "filtered" ranking of link prediction,
    so a sense with three correct hypernyms can rank each of them first.
    Ties take the mean of the ranks they span: a target tied with m other
    senses, with ``less`` senses strictly closer, gets ``1 + less + m / 2``.
    So a collapsed embedding (all rows equal) ranks every target in the
    middle, not first. Distances come from ``|x|^2 + |y|^2 - 2 x.y``, and two
    squared distances within ``rtol * (|x|^2 + |y|^2)`` count as tied, which
    absorbs the rounding of that formula.

    Args:
        emb: (V, D) embeddings.
        src, dst: (N,) sense ids of the edges to rank.
        known: optional (known_src, known_dst) arrays of true edges to filter.
        batch: queries per distance block (batch x V floats in memory).
        rtol: relative tolerance for ties.

    Returns:
        float64 (N,) ranks, 1-based, possibly half-integers.
    """
    src = np.asarray(src, np.int64)
    dst = np.asarray(dst, np.int64)
    if np.any(src == dst):
        raise AnalysisError("rank_targets: an edge from a sense to itself cannot be ranked")
    n = emb.shape[0]
    sq = _sq_norms(emb)
    if known is not None:
        ksrc, kdst = np.asarray(known[0], np.int64), np.asarray(known[1], np.int64)
        order = np.argsort(ksrc, kind="stable")
        kdst = kdst[order]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(ksrc, minlength=n))])
    ranks = np.empty(len(src), np.float64)
    for start in range(0, len(src), batch):
        s, t = src[start:start + batch], dst[start:start + batch]
        rows = np.arange(len(s))
        d2 = sq[None, :] - 2 * (emb[s] @ emb.T) + sq[s][:, None]  # (b, V) squared distances
        target = d2[rows, t].copy()
        d2[rows, s] = np.inf
        if known is not None:
            for r, (si, ti) in enumerate(zip(s, t)):
                others = kdst[indptr[si]:indptr[si + 1]]
                d2[r, others[others != ti]] = np.inf
        tol = (rtol * (sq[s] + sq[t]))[:, None]
        less = np.count_nonzero(d2 < target[:, None] - tol, axis=1)
        tied = np.count_nonzero(np.abs(d2 - target[:, None]) <= tol, axis=1) - 1  # minus the target itself
        ranks[start:start + len(s)] = 1 + less + tied / 2
    return ranks


def ranking_metrics(ranks: np.ndarray) -> dict:
    """Mean rank, mean reciprocal rank and hits@1/10 of an array of 1-based ranks."""
    if len(ranks) == 0:
        return {"n": 0, "mean_rank": None, "median_rank": None, "mrr": None, "hits@1": None, "hits@10": None}
    return {"n": int(len(ranks)), "mean_rank": float(np.mean(ranks)), "median_rank": float(np.median(ranks)),
            "mrr": float(np.mean(1.0 / ranks)), "hits@1": float(np.mean(ranks <= 1)),
            "hits@10": float(np.mean(ranks <= 10))}


def validation_metrics(emb: np.ndarray, graph: Graph, val_idx: np.ndarray, ranking_sample: int | None = 1000,
                       seed: int = 0) -> dict:
    """Held-out edge error per relation, hypernym ranking and antonym/synonym separation.

    Args:
        emb: (V, D) embeddings.
        graph: the training graph.
        val_idx: indices of the held-out edges (``graph.split(...)[1]``).
        ranking_sample: rank at most this many held-out hypernym edges (seeded
            sample; None ranks them all). Each costs one pass over all senses.
        seed: seeds the sample.

    Returns:
        ``n_edges``, ``mae`` (over edges), ``macro_mae`` (over relations),
        ``per_relation`` {name: {n, target, mean_distance, median_distance, mae}},
        ``hypernym_ranking`` (`ranking_metrics` plus ``n_held_out``,
        ``n_sampled``, ``filtered``), ``antonym_synonym_auc`` (ROC AUC of
        distance, antonyms as positives: 1 = every held-out antonym pair is
        farther apart than every held-out synonym pair), and ``distances``
        {name: float32 array} for plotting (not JSON; dropped from the report).
    """
    val_idx = np.asarray(val_idx, np.int64)
    dist = edge_distances(emb, graph.src[val_idx], graph.dst[val_idx])
    rel = graph.rel[val_idx]
    err = np.abs(dist - graph.targets[rel])
    per_relation, distances = {}, {}
    for r, name in enumerate(graph.relations):
        m = rel == r
        if not m.any():
            continue
        distances[name] = dist[m]
        per_relation[name] = {"n": int(m.sum()), "target": float(graph.targets[r]),
                              "mean_distance": float(dist[m].mean()), "median_distance": float(np.median(dist[m])),
                              "mae": float(err[m].mean())}

    hyper = _edges_of(graph, "hypernym", val_idx)
    hyper = hyper[graph.src[hyper] != graph.dst[hyper]]
    sampled = hyper
    if ranking_sample is not None and len(hyper) > ranking_sample:
        sampled = np.sort(np.random.default_rng(seed).choice(hyper, ranking_sample, replace=False))
    all_hyper = _edges_of(graph, "hypernym")
    ranks = rank_targets(emb, graph.src[sampled], graph.dst[sampled],
                         known=(graph.src[all_hyper], graph.dst[all_hyper]))
    ranking = {**ranking_metrics(ranks), "n_held_out": int(len(hyper)), "n_sampled": int(len(sampled)),
               "filtered": True}

    ant, syn = distances.get("antonym", np.zeros(0)), distances.get("synonym", np.zeros(0))
    return {
        "n_edges": int(len(val_idx)),
        "mae": float(err.mean()) if len(err) else None,
        "macro_mae": float(np.mean([v["mae"] for v in per_relation.values()])) if per_relation else None,
        "per_relation": per_relation,
        "hypernym_ranking": ranking,
        "antonym_synonym_auc": roc_auc(ant, syn),
        "n_antonym": int(len(ant)), "n_synonym": int(len(syn)),
        "distances": distances,
    }


# ---------------------------------------------------------------- word2vec export


def _clean_key(key: str) -> str:
    return "_".join(key.split()) or "_"


def word_vectors(emb: np.ndarray, vocab: Vocabulary) -> tuple[list[str], np.ndarray]:
    """One vector per lemma: the mean of its senses' rows; lemmas lower-cased, sorted.

    Returns:
        ``(lemmas, vectors)`` with vectors float32 (W, D).
    """
    from scipy import sparse

    lemmas = np.asarray([vocab.lemma_of(i).lower() for i in range(vocab.size)])
    words, inverse = np.unique(lemmas, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(words)).astype(np.float32)
    # a (W, V) averaging matrix: row w has 1/count at each of w's senses
    mean = sparse.csr_matrix((1.0 / counts[inverse], (inverse, np.arange(vocab.size))),
                             shape=(len(words), vocab.size), dtype=np.float32)
    return [str(w) for w in words], np.asarray(mean @ emb, dtype=np.float32)


def export_word2vec(embeddings: np.ndarray, vocab: Vocabulary, path: str | os.PathLike, per: str = "sense",
                    precision: int = 6) -> Path:
    """Write word2vec text format: a ``"N D"`` header, then ``key v1 v2 ... vD`` per line.

    gensim reads it with ``KeyedVectors.load_word2vec_format(path)``.
    Whitespace inside a key (none in WordNet) becomes ``_``.

    Args:
        embeddings: (V, D) embeddings.
        vocab: the run's vocabulary.
        path: output file.
        per: ``"sense"`` (key = sense key, one line per row) or ``"word"``
            (key = lower-cased lemma, the mean of its senses).
        precision: significant digits per value.

    Returns:
        The path written.
    """
    if per == "sense":
        keys, vectors = [_clean_key(w) for w in vocab.id_to_word], embeddings
    elif per == "word":
        keys, vectors = word_vectors(embeddings, vocab)
        keys = [_clean_key(k) for k in keys]
    else:
        raise AnalysisError(f"per must be 'sense' or 'word' (got {per!r})")
    if len(keys) != len(vectors):
        raise AnalysisError(f"{len(vectors)} vectors for {len(keys)} keys")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n, d = vectors.shape
    row_format = "%s " + " ".join([f"%.{precision}g"] * d) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{n} {d}\n")
        for sl in _row_chunks(n, d, 1 << 20):
            f.write("".join(row_format % (key, *row) for key, row in zip(keys[sl], vectors[sl].tolist())))
    os.replace(tmp, path)
    return path


def load_word2vec(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read a word2vec text file (as written by `export_word2vec`, or by gensim).

    Returns:
        ``(keys, vectors)`` with vectors float32 (N, D).

    Raises:
        AnalysisError: one line, for a missing file or a malformed header or row.
    """
    path = Path(path)
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise AnalysisError(f"{path} is missing") from None
    with f:
        header = f.readline().split()
        if len(header) != 2 or not all(h.isdigit() for h in header):
            raise AnalysisError(f"{path}: first line should be 'N D', got {' '.join(header)!r}")
        n, d = map(int, header)
        keys, vectors = [], np.empty((n, d), np.float32)
        for i, line in enumerate(f):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if i >= n or len(parts) != d + 1:
                raise AnalysisError(f"{path}: line {i + 2} has {len(parts) - 1} values, expected {d}"
                                    if i < n else f"{path}: more than the {n} rows the header announces")
            keys.append(parts[0])
            try:
                vectors[i] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise AnalysisError(f"{path}: line {i + 2} holds a value that is not a number") from None
    if len(keys) != n:
        raise AnalysisError(f"{path}: header announces {n} rows, found {len(keys)}")
    return keys, vectors


# ---------------------------------------------------------------- the report


def _jsonable(x):
    """numpy and tuples -> plain JSON; NaN/inf -> None."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, Path):
        return str(x)
    return x


def _round(values: np.ndarray, digits: int = 6) -> list:
    return [float(v) for v in np.round(np.asarray(values, np.float64), digits)]


def analyze_run(run_dir, graph: Graph | None = None, log=print, figures: bool = True, k: int = 10,
                ranking_sample: int | None = 1000) -> dict:
    """Analyse a run directory: compute every section, write ``report.json`` and figures, log a summary.

    Args:
        run_dir: a run directory, or a `Run` already returned by `load_run`.
        graph: the training graph (loaded from the config's ``training_data`` when None;
            unused when ``run_dir`` is a `Run`, which carries its own).
        log: where the summary lines go (``print``, a logger's ``info``, or ``lambda s: None``).
        figures: write PNGs into ``run_dir/figures/``.
        k: senses per pole of each semantic axis.
        ranking_sample: held-out hypernym edges to rank (None = all).

    Returns:
        The report dict (as written to ``report.json``). Sections that need
        the graph (``antonyms``, ``validation``) are None when it was not found,
        with the reason under ``skipped``.

    Raises:
        RunError: one line, for a missing or corrupt run directory.
    """
    t0 = time.perf_counter()
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir, graph)
    cfg, emb, vocab, graph = run.config, run.embeddings, run.vocab, run.graph
    eps = float(cfg.get("activity_eps", 1e-6))
    seed = int(cfg.get("seed", 0))
    val_fraction = float(cfg.get("val_fraction", 0.1))
    timings = {}

    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - t, 3)
        return out

    dims = timed("dimensions", dimension_stats, emb, eps)
    axes = timed("axes", semantic_axes, emb, vocab, graph, k, eps, dims["l1"])
    skipped = {}
    antonyms = validation = None
    if graph is None:
        skipped["antonyms"] = skipped["validation"] = run.graph_problem
    else:
        antonyms = timed("antonyms", antonym_analysis, emb, graph, seed=seed)
        if antonyms is None:
            skipped["antonyms"] = "the graph has no antonym edges"
        _, val_idx = graph.split(seed=seed, val_fraction=val_fraction)
        if len(val_idx):
            validation = timed("validation", validation_metrics, emb, graph, val_idx, ranking_sample, seed)
        else:
            skipped["validation"] = f"no validation edges (val_fraction = {val_fraction})"

    report = {
        "run_dir": str(run.run_dir),
        "n_senses": int(emb.shape[0]),
        "n_dims": int(emb.shape[1]),
        "config": {key: cfg.get(key) for key in ("training_data", "seed", "val_fraction", "sparsity_mode",
                                                 "sparsity_weight", "activity_eps", "embedding_dim")},
        "training": {"epochs": len(run.history), "last_epoch": run.history[-1] if run.history else None,
                     "metrics": run.metrics},
        "dimensions": {
            **{key: dims[key] for key in ("eps", "near_zero", "unused", "sparse", "moderate", "saturated",
                                          "sparsity_pct", "zero_pct", "median_active_dims", "mean_active_dims")},
            "bands": {"unused": "< 10% of senses active", "sparse": "10-30%", "moderate": "30-70%",
                      "saturated": ">= 70%"},
            "activity": _round(dims["activity"]),
            "l1": _round(dims["l1"], 3),
            "variance": _round(dims["variance"], 8),
        },
        "axes": axes,
        "antonyms": antonyms,
        "validation": None if validation is None else {k_: v for k_, v in validation.items() if k_ != "distances"},
        "skipped": skipped,
        "figures": [],
        "timings": timings,
    }
    if figures:
        report["figures"] = timed("figures", save_figures, run.run_dir / "figures", emb, dims, axes,
                                  validation["distances"] if validation else None,
                                  dict(zip(graph.relations, graph.targets.tolist())) if graph else None, seed)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    report = _jsonable(report)
    atomic_write_bytes(run.run_dir / "report.json", json.dumps(report, indent=1).encode())
    for line in summary_lines(report):
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
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []

    def save(fig, name):
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=100)
        paths.append(str(path))

    # activity per dimension, most active first, coloured by band
    activity = dims["activity"]
    order = np.argsort(-activity, kind="stable")
    lo, mid, hi = ACTIVITY_BANDS
    colours = np.where(activity[order] >= hi, "tab:red", np.where(activity[order] >= mid, "tab:orange",
                       np.where(activity[order] >= lo, "tab:blue", "tab:gray")))
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    ax.bar(np.arange(len(order)), activity[order], width=1.0, color=colours)
    for y in ACTIVITY_BANDS:
        ax.axhline(y, color="k", lw=0.6, ls="--")
    ax.set(xlabel="dimension (sorted by activity)", ylabel="share of senses active", ylim=(0, 1.02),
           title=f"dimension activity (|x| > {dims['eps']:g}): {dims['unused']} unused, {dims['sparse']} sparse, "
                 f"{dims['moderate']} moderate, {dims['saturated']} saturated")
    save(fig, "activity.png")

    # distribution of values (a seeded row sample) and active dims per word
    rng = np.random.default_rng(seed)
    rows = rng.choice(emb.shape[0], min(emb.shape[0], max(1, 2_000_000 // emb.shape[1])), replace=False)
    values = emb[np.sort(rows)].ravel()
    fig = Figure(figsize=(10, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.hist(values, bins=101, color="tab:blue", log=True)
    ax1.set(xlabel="value", ylabel="count (log)",
            title=f"values: {dims['sparsity_pct']:.1f}% |x|<{dims['near_zero']:g}, {dims['zero_pct']:.1f}% exactly 0")
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
    fig = Figure(figsize=(12, 2.6 * ((len(top) + 1) // 2)))
    grid = fig.subplots((len(top) + 1) // 2, 2, squeeze=False)
    for ax, axis in zip(grid.ravel(), top):
        senses = axis["negative"]["senses"][:5][::-1] + axis["positive"]["senses"][:5][::-1]
        senses = sorted(senses, key=lambda s: s[1])
        ax.barh(np.arange(len(senses)), [v for _, v in senses],
                color=["tab:red" if v < 0 else "tab:blue" for _, v in senses])
        ax.set_yticks(np.arange(len(senses)), [s if len(s) <= 30 else s[:29] + "~" for s, _ in senses], fontsize=7)
        ax.axvline(0, color="k", lw=0.6)
        ax.locator_params(axis="x", nbins=5)
        ax.set_title(f"dim {axis['dim']} ({axis['coherence']:.2f}): "
                     f"{_pole_label(axis['negative'])} <-> {_pole_label(axis['positive'])}", fontsize=9)
    for ax in grid.ravel()[len(top):]:
        ax.set_visible(False)
    save(fig, "axes.png")
    return paths


# ---------------------------------------------------------------- text for logs and notebooks


def summary_lines(report: dict) -> list[str]:
    """The short summary `analyze_run` logs, one string per line."""
    d = report["dimensions"]
    lines = [f"analysis of {report['run_dir']}: {report['n_senses']:,} senses x {report['n_dims']} dims",
             f"  dimensions: {d['unused']} unused, {d['sparse']} sparse, {d['moderate']} moderate, "
             f"{d['saturated']} saturated; {d['sparsity_pct']:.1f}% |x|<{d['near_zero']:g}, "
             f"{d['zero_pct']:.1f}% exact zeros; median {d['median_active_dims']:.0f} active dims per sense"]
    v = report.get("validation")
    if v:
        r = v["hypernym_ranking"]
        lines.append(f"  held-out edges: MAE {v['mae']:.4f} over {v['n_edges']:,} edges (macro {v['macro_mae']:.4f})")
        if r["n"]:
            lines.append(f"  hypernym ranking ({r['n_sampled']:,} of {r['n_held_out']:,} held-out edges): "
                         f"MRR {r['mrr']:.4f}, hits@10 {r['hits@10']:.1%}, mean rank {r['mean_rank']:,.0f}")
        if v["antonym_synonym_auc"] is not None:
            lines.append(f"  antonym vs synonym distance AUC {v['antonym_synonym_auc']:.3f}")
    a = report.get("antonyms")
    if a:
        lines.append(f"  antonyms: {a['n_pairs']:,} pairs, mean distance {_num(a['distance']['mean'])} "
                     f"(target {a['target']:g}); synonyms {_num(a['synonym']['mean'])}; random pairs "
                     f"{_num(a['random_pairs']['mean'])}; selective polarity {a['selective']:.1%}")
    for section, why in report.get("skipped", {}).items():
        lines.append(f"  {section}: skipped ({why})")
    clear = [x for x in report["axes"][:3] if x["coherence"] > 0]
    if clear:
        lines.append("  clearest axes: " + "; ".join(
            f"dim {x['dim']} {_pole_label(x['negative'])} <-> {_pole_label(x['positive'])} ({x['coherence']:.2f})"
            for x in clear))
    lines.append(f"  report: {Path(report['run_dir']) / 'report.json'}"
                 + (f", {len(report['figures'])} figures in {Path(report['run_dir']) / 'figures'}"
                    if report["figures"] else "") + f" ({report['seconds']:.1f} s)")
    return lines


def summary_text(report: dict) -> str:
    """The summary as one string."""
    return "\n".join(summary_lines(report))


def neighbors_text(emb: np.ndarray, vocab: Vocabulary, query, k: int = 10, metric: str = "l2",
                   sq_norms: np.ndarray | None = None) -> str:
    """Nearest neighbours of every sense of ``query`` as plain text (a message if the word is unknown)."""
    try:
        result = nearest_neighbors(emb, vocab, query, k, metric, sq_norms)
    except AnalysisError as e:
        return str(e)
    lines = []
    for entry in result:
        lines.append(f"{entry['sense']}")
        lines.extend(f"    {dist:7.4f}  {key}" for key, dist in entry["neighbors"])
    return "\n".join(lines)


def axis_text(emb: np.ndarray, vocab: Vocabulary, dim: int, k: int = 10, eps: float = 1e-6) -> str:
    """The top senses at both poles of one dimension, side by side, as plain text."""
    if not 0 <= dim < emb.shape[1]:
        return f"dimension {dim} does not exist (0..{emb.shape[1] - 1})"
    (pos,), (neg,) = pole_ids(emb, k, eps, dims=[dim])
    column = emb[:, dim]
    active = np.count_nonzero(np.abs(column) > eps)
    left = [f"{column[i]:+.4f} {vocab.id_to_word[i]}" for i in neg]
    right = [f"{column[i]:+.4f} {vocab.id_to_word[i]}" for i in pos]
    width = max([len(s) for s in left] + [len("negative pole")])
    lines = [f"dimension {dim}: active in {active:,} of {len(column):,} senses ({active / len(column):.1%})",
             f"{'negative pole':<{width}}   positive pole"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        lines.append(f"{a:<{width}}   {b}")
    return "\n".join(lines)


def axes_text(report: dict, n: int = 10, per_pole: int = 3) -> str:
    """The n clearest axes of a report, one line each with their labels and strongest senses."""
    lines = []
    for axis in report["axes"][:n]:
        neg = ", ".join(s for s, _ in axis["negative"]["senses"][:per_pole]) or "-"
        pos = ", ".join(s for s, _ in axis["positive"]["senses"][:per_pole]) or "-"
        lines.append(f"dim {axis['dim']:>3}  {axis['coherence']:.2f}  "
                     f"[{_pole_label(axis['negative'])}] {neg}  <->  [{_pole_label(axis['positive'])}] {pos}")
    return "\n".join(lines)


def _num(x, fmt: str = ".3f") -> str:
    """A figure of the report, or "n/a" where the graph had nothing to compute it from."""
    return "n/a" if x is None else format(x, fmt)


def antonym_text(report: dict) -> str:
    """The report's antonym summary and example pairs as a plain-text table."""
    a = report.get("antonyms")
    if not a:
        return f"no antonym analysis ({report.get('skipped', {}).get('antonyms', 'not computed')})"
    lines = [f"{a['n_pairs']:,} antonym pairs: distance mean {_num(a['distance']['mean'])} "
             f"(target {a['target']:g}), synonyms {_num(a['synonym']['mean'])}, "
             f"random pairs {_num(a['random_pairs']['mean'])}",
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


def live_text(control, render):
    """Show ``render(control.value)`` now, and again below the control whenever its value changes.

    The first rendering is printed directly, so headless runs (nbmake,
    papermill) keep it as ordinary output; later ones go to an
    ``ipywidgets.Output`` that only a live notebook shows.

    Args:
        control: an ipywidgets value widget (``Text``, ``IntSlider``, ...).
        render: ``value -> str``.

    Returns:
        A ``VBox`` of the control and its output area, to ``display``.
    """
    import ipywidgets as widgets

    out = widgets.Output()
    print(render(control.value))

    def update(change):
        with out:
            out.clear_output(wait=True)
            print(render(change["new"]))

    control.observe(update, names="value")
    return widgets.VBox([control, out])
