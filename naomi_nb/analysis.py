"""The numbers of a trained run: dimensions, semantic axes, antonyms, neighbours, held-out metrics, hubs.

Everything here is a plain function of numpy arrays plus the graph's vocabulary, so it works the same on
a run directory (`naomi_nb.rundir.load_run`), on ``result.embeddings`` straight from ``train()``, and on the
hand-made arrays of the tests. The measures of a run (`naomi_nb.measures`, one module each) call these
functions through one `Context` per run, which keeps what several of them share and makes the rotation
control (`random_rotation`, `axis_advantage`); `run_measures` runs them all, and `naomi_nb.report` turns
their results into report.json, figures and text.

Memory: a 207K x 512 float32 table is 424 MB, so anything that would make a same-sized temporary
(``abs``, gathers of edge endpoints, distance matrices) works in row chunks of about ``CHUNK`` elements.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dims import NEAR_ZERO, dimension_classes, lower_median
from .graph import Graph, Vocabulary
from .hierarchy import UP as HYPERNYM_RELATIONS  # used to label semantic axes

CHUNK = 1 << 23  # elements per temporary block (32 MB of float32)


class AnalysisError(ValueError):
    """Something the analysis cannot do; the message is one line for the user."""


# ---------------------------------------------------------------- small helpers


def row_chunks(n_rows: int, n_cols: int, budget: int = CHUNK):
    """Row slices of about ``budget`` elements each."""
    step = max(1, budget // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def squared_norms(emb: np.ndarray) -> np.ndarray:
    """Each row's squared L2 norm, float32 (V,), computed in row chunks."""
    out = np.empty(len(emb), np.float32)
    for sl in row_chunks(*emb.shape):
        out[sl] = np.einsum("ij,ij->i", emb[sl], emb[sl])
    return out


def edge_distances(emb: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """L2 distance ``||emb[src[i]] - emb[dst[i]]||`` for every edge, float32 (E,)."""
    out = np.empty(len(src), np.float32)
    for sl in row_chunks(len(src), emb.shape[1]):
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
        ``dense`` (>=70%) (`naomi_nb.dims.dimension_classes`); ``sparsity_pct`` (% of |x| < near_zero),
        ``zeros_pct`` (% exact zeros), ``median_active_dims`` (the lower median, as the trainer's log) and
        ``mean_active_dims``.
    """
    n, d = emb.shape
    active = np.zeros(d, np.int64)
    l1 = np.zeros(d, np.float64)
    total = np.zeros(d, np.float64)
    total_sq = np.zeros(d, np.float64)
    per_word = np.empty(n, np.int32)
    n_small = n_zero = 0
    for sl in row_chunks(n, d):
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
        "zeros_pct": 100.0 * n_zero / (n * d),
        "median_active_dims": lower_median(per_word),
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
                  eps: float = 1e-6, l1: np.ndarray | None = None, rows: np.ndarray | None = None) -> list[dict]:
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
        rows: only these senses may stand at a pole (the report passes the frequent ones, so that a reader
            knows the words), and label shares are compared with their share among these senses.

    Returns:
        One dict per dimension, sorted clearest first: ``dim``, ``coherence``,
        ``l1``, and ``positive`` / ``negative`` each with ``senses``
        ([(sense key, value)]), ``coherence`` and, per kind of label available,
        ``lexname`` / ``lexname_share`` / ``lexname_base`` and
        ``hypernym`` / ``hypernym_share`` / ``hypernym_base``.
    """
    labellings = _labellings(vocab, graph)
    if rows is not None:  # poles among these senses only (the frequent ones), chance levels among them too
        rows = np.asarray(rows, np.int64)
        positive, negative = pole_ids(emb[rows], min(k, len(rows)), eps)
        positive, negative = [rows[p] for p in positive], [rows[q] for q in negative]
        for lab in labellings:
            held = np.concatenate([lab.labels[lab.indptr[i]:lab.indptr[i + 1]] for i in rows]) if len(rows) else []
            lab.base = np.bincount(np.asarray(held, np.int64), minlength=len(lab.names)) / max(1, len(rows))
        k = min(k, len(rows))
    else:
        k = min(k, emb.shape[0])
        positive, negative = pole_ids(emb, k, eps)
    if l1 is None:
        l1 = sum(np.abs(emb[sl]).sum(axis=0, dtype=np.float64) for sl in row_chunks(*emb.shape))
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


def pole_label(pole: dict) -> str:
    """The pole's most telling label: the kind whose best label beats chance by more."""
    best, label = 0.0, "-"
    for kind in ("lexname", "hypernym"):
        if pole.get(kind) is not None:
            lift = pole[f"{kind}_share"] - pole[f"{kind}_base"]
            if lift > best:
                best, label = lift, pole[kind]
    return label


def axis_label(axis: dict) -> str:
    """An axis named by its poles' labels, ``negative <-> positive``; a pole without senses is left out (a
    non-negative code's dimensions have no negative pole), an axis without any is ``(inactive)``."""
    sides = [pole_label(axis[side]) for side in ("negative", "positive") if axis[side].get("senses")]
    return " <-> ".join(sides) or "(inactive)"


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
    for sl in row_chunks(p, d):
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
    sq = squared_norms(emb) if sq_norms is None else sq_norms
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
    """Probability that a random positive scores above a random negative (ties count half): the area under
    the ROC curve with the score as the classifier, i.e. the Mann-Whitney U of ``positive`` over
    ``len(positive) * len(negative)``. None when either side is empty.
    """
    from scipy.stats import mannwhitneyu

    if len(positive) == 0 or len(negative) == 0:
        return None
    u = mannwhitneyu(np.asarray(positive, np.float64), np.asarray(negative, np.float64), method="asymptotic").statistic
    return float(u / (len(positive) * len(negative)))


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
    sq = squared_norms(emb)
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


# ---------------------------------------------------------------- hubs


def pole_hubs(positive: list, negative: list, n_top: int = 10) -> dict:
    """Senses that stand at the top of many poles: how many poles each sense tops.

    A sense *tops* a pole when it is one of that pole's senses (`pole_ids` gives the top k active senses of
    each dimension's positive and negative pole). A hub sense tops many unrelated poles, so a reader meets
    the same few words on every axis; SPINE reported the same failure of sparse codes.

    Args:
        positive, negative: `pole_ids` output (lists of sense-id arrays, one per dimension).
        n_top: hubs listed.

    Returns:
        ``n_poles`` (poles with at least one sense), ``n_slots`` (senses at the poles, with repeats),
        ``distinct`` (different senses over slots: 1 when no sense tops two poles), ``top_count`` (poles the
        strongest hub tops), ``top_share`` (``top_count / n_poles``: the share of poles the most frequent
        hub sense tops) and ``top`` ([(sense id, poles topped)], most first, only senses topping two or more).
    """
    poles = [np.asarray(p, np.int64) for p in list(positive) + list(negative) if len(p)]
    if not poles:
        return {"n_poles": 0, "n_slots": 0, "distinct": None, "top_count": 0, "top_share": None, "top": []}
    ids, counts = np.unique(np.concatenate(poles), return_counts=True)
    order = np.lexsort((ids, -counts))[:n_top]
    return {"n_poles": len(poles), "n_slots": int(counts.sum()), "distinct": float(len(ids) / counts.sum()),
            "top_count": int(counts[order[0]]), "top_share": float(counts[order[0]] / len(poles)),
            "top": [(int(ids[i]), int(counts[i])) for i in order if counts[i] >= 2]}
