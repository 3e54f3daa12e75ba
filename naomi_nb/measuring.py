"""Measuring a run: the measures' `Context` (one run's vectors, vocabulary and graph, and what several
measures share, computed once), the rotation control (`random_rotation`, `axis_advantage`) and
`run_measures`, which runs every registered measure (`naomi_nb.measures`) on the vectors and, for the
readability figures, on a seeded random rotation of them. `naomi_nb.report` turns the results into
report.json, figures and text.
"""
from __future__ import annotations

import time

import numpy as np

from . import semantics
from .analysis import AnalysisError, dimension_stats, row_chunks, validation_metrics
from .components import get, registry
from .graph import Graph, Vocabulary

ROTATION_BAND = 0.08  # an axis advantage within 8% of the rotated figure is noise: see `axis_advantage`
_FIND = object()  # Context(wordnet=_FIND): look for NLTK's WordNet on this machine when a measure first asks


def random_rotation(d: int, seed: int) -> np.ndarray:
    """A uniformly random rotation of R^d, float64 (d, d), the same for the same seed.

    Q of the QR decomposition of a seeded Gaussian matrix, each column's sign set so that R's diagonal is
    positive (numpy's QR leaves the signs arbitrary, and without the fix Q is not uniformly distributed),
    then the first column negated if det Q = -1, so that Q is a proper rotation (uniform over SO(d)).
    ``emb @ Q`` keeps every distance, norm and dot product of ``emb`` and mixes its axes.
    """
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    if np.linalg.slogdet(q)[0] < 0:
        q[:, 0] = -q[:, 0]
    return q


def axis_advantage(axes, rotated, band: float = ROTATION_BAND) -> dict:
    """One readability figure beside the same figure on the rotated vectors.

    ``advantage = axes - rotated``: how much better single dimensions read than arbitrary directions of the
    same space. A figure that the rotation reaches too (``advantage <= band * |rotated|``) ``measures the
    space, not the axes``: it would hold in any basis, so it says nothing about what one dimension means.
    ``band`` is the noise of one seeded rotation: over five rotation seeds, on two short full-WordNet runs
    (free geometry, and tree with proximal sparsity; 128 dims, 8 epochs), the rotated category score,
    DistRatio (plain and on unit vectors), purity and distinct hub share each spread with a standard
    deviation of 0.1% to 3.8% of the figure, and the advantage of DistRatio, whose intruders are drawn
    again, by 4%: `ROTATION_BAND` (8%) is two standard deviations of the noisiest.

    Returns:
        ``{"axes", "rotated", "advantage", "space_not_axes"}`` (the last two None when a figure is missing).
    """
    if axes is None or rotated is None:
        return {"axes": axes, "rotated": rotated, "advantage": None, "space_not_axes": None}
    advantage = float(axes - rotated)
    return {"axes": float(axes), "rotated": float(rotated), "advantage": advantage,
            "space_not_axes": bool(advantage <= band * abs(rotated))}


class Context:
    """What a measure (`naomi_nb.measures`) reads: one run's vectors, vocabulary and graph, the analysis'
    settings, and the things several measures share, each computed on first use and kept.

    `rotated` gives the same vectors times a seeded random rotation (`random_rotation`): the rotation
    control of every readability measure. What does not depend on the axes (the frequent senses, WordNet,
    the validation split) is shared with it, never computed twice; the rotated vectors themselves are made
    only as far as a measure asks (the frequent senses' rows, usually, not the whole table).

    Args:
        emb: (V, D) embeddings (float32 is kept as is, anything else converted).
        vocab: the run's vocabulary.
        graph: the training graph, or None where it was not found (``graph_problem`` says why).
        seed: the run's seed: every sample a measure draws, and the rotation, are seeded by it.
        eps: activity threshold (the config's ``activity_eps``).
        val_fraction: the run's validation share (the held-out edges are its split).
        k: senses per pole of the report's semantic axes.
        ranking_sample: held-out hypernym edges to rank (None: all).
        graph_problem: why ``graph`` is None, for the measures that need one.
        wordnet: an NLTK WordNet reader, None for none; by default one is looked for on this machine (no
            download) the first time a measure asks.
        dim_names: {dim: name} of the dimensions the run's stage named (`naomi_nb.rundir.named_dims`).
    """

    def __init__(self, emb: np.ndarray, vocab: Vocabulary, graph: Graph | None = None, *, seed: int = 0,
                 eps: float = 1e-6, val_fraction: float = 0.1, k: int = 10, ranking_sample: int | None = 1000,
                 graph_problem: str | None = None, wordnet=_FIND, dim_names: dict | None = None):
        self._emb = np.asarray(emb, dtype=np.float32)
        self.vocab, self.graph = vocab, graph
        self.seed, self.eps, self.val_fraction, self.k, self.ranking_sample = seed, eps, val_fraction, k, ranking_sample
        self.graph_problem = graph_problem or ("no training graph" if graph is None else None)
        self.dim_names = dict(dim_names or {})
        self.base: Context | None = None  # the unrotated context, on a rotated one
        self.rotation: np.ndarray | None = None  # (D, D) float32, on a rotated one
        self._shared = {} if wordnet is _FIND else {"wordnet": wordnet}  # rotation-invariant, shared
        self._own = {}  # results and caches of these vectors
        self._running: list[str] = []

    @property
    def n_senses(self) -> int:
        return self._emb.shape[0] if self.base is None else self.base.n_senses

    @property
    def n_dims(self) -> int:
        return self._emb.shape[1] if self.base is None else self.base.n_dims

    def _keep(self, key: str, make, shared: bool = False):
        store = self._shared if shared else self._own
        if key not in store:
            store[key] = make()
        return store[key]

    def rotated(self) -> "Context":
        """The rotation control: this context's vectors times `random_rotation` (seeded by ``seed``), built once."""
        if self.base is not None:
            raise AnalysisError("the rotation control is not rotated again")

        def make():
            other = Context.__new__(Context)
            other.__dict__.update(self.__dict__)
            other._own, other._running, other._emb, other.base = {}, [], None, self
            other.rotation = random_rotation(self.n_dims, self.seed).astype(np.float32)
            return other

        return self._keep("rotated", make)

    @property
    def emb(self) -> np.ndarray:
        """(V, D) float32 vectors (on the rotation control: rotated in row chunks, the first time asked)."""
        if self.base is None:
            return self._emb

        def rotate():
            src, out = self.base.emb, np.empty((self.n_senses, self.n_dims), np.float32)
            for sl in row_chunks(*src.shape):
                out[sl] = src[sl] @ self.rotation
            return out

        return self._keep("emb", rotate)

    @property
    def frequent(self) -> np.ndarray | None:
        """Ids of the frequent senses (`naomi_nb.semantics.frequent_senses`), or None without SemCor counts."""
        return self._keep("frequent", lambda: semantics.frequent_senses(self.vocab), shared=True)

    @property
    def frequent_emb(self) -> np.ndarray:
        """The frequent senses' rows of `emb` (F, D), in id order; (0, D) without SemCor counts."""
        if self.base is not None:
            return self._keep("frequent_emb", lambda: self.base.frequent_emb @ self.rotation)
        ids = self.frequent
        return self._keep("frequent_emb", lambda: np.zeros((0, self.n_dims), np.float32) if ids is None
                          else np.ascontiguousarray(self.emb[ids]))

    @property
    def pole_rows(self) -> np.ndarray | None:
        """The senses a pole is drawn from: the frequent ones when there are at least 2k, else None (all)."""
        ids = self.frequent
        return ids if ids is not None and len(ids) >= 2 * self.k else None

    @property
    def pole_emb(self) -> np.ndarray:
        """The rows of `pole_rows` (all of `emb` when it is None)."""
        return self.emb if self.pole_rows is None else self.frequent_emb

    @property
    def dims(self) -> dict:
        """`dimension_stats` of these vectors."""
        return self._keep("dims", lambda: dimension_stats(self.emb, self.eps))

    @property
    def wordnet(self):
        """NLTK's WordNet reader if this machine has it (never downloaded), else None; looked for once."""
        return self._keep("wordnet", semantics._find_wordnet, shared=True)

    @property
    def val_idx(self) -> np.ndarray | None:
        """The held-out edges of the run's split (the same seed and fraction as training); None without a graph."""
        if self.graph is None:
            return None
        return self._keep("val_idx", lambda: self.graph.split(seed=self.seed, val_fraction=self.val_fraction)[1],
                          shared=True)

    @property
    def validation(self) -> dict | None:
        """`validation_metrics` of the held-out edges, with their ``distances``; None without any."""
        idx = self.val_idx
        if idx is None or len(idx) == 0:
            return None
        return self._keep("validation", lambda: validation_metrics(self.emb, self.graph, idx, self.ranking_sample,
                                                                   self.seed))

    def result(self, name: str):
        """The measure ``name``'s result on these vectors, computed once (a measure may read another's).

        A measure that needs the graph (``needs_graph``) is skipped without one: ``{"skipped": reason}``.

        Raises:
            AnalysisError: one line, for measures that read each other in a circle.
        """
        if name in self._own.get("results", {}):
            return self._own["results"][name]
        if name in self._running:
            raise AnalysisError(f"measures read each other in a circle: {' -> '.join(self._running + [name])}")
        fn = get("measure", name)
        self._running.append(name)
        t0 = time.perf_counter()
        try:
            if getattr(fn, "needs_graph", False) and self.graph is None:
                out = {"skipped": self.graph_problem}
            else:
                out = fn(self)
        finally:
            self._running.pop()
        self._own.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 3)
        return self._own.setdefault("results", {}).setdefault(name, out)

    def seconds(self, name: str) -> float | None:
        """How long the measure ``name`` took on these vectors (None: not run)."""
        return self._own.get("seconds", {}).get(name)


def skipped(result) -> str | None:
    """The reason a measure's result gives for being skipped, or None."""
    return result.get("skipped") if isinstance(result, dict) else None


def axis_figures(measure, result) -> tuple[str, ...]:
    """A readability measure's figures that depend on the axes: ``measure.axis_dependent`` (a tuple of
    names, or True for every float figure at the top of its result); empty for any other measure and for a
    skipped result."""
    declared = getattr(measure, "axis_dependent", ())
    if not declared or not isinstance(result, dict) or skipped(result):
        return ()
    if declared is True:
        return tuple(key for key, v in result.items() if isinstance(v, float) and key != "seconds")
    return tuple(declared)


def run_measures(ctx: Context, names=None) -> dict[str, dict]:
    """Every registered measure (or those in ``names``) on ``ctx``, each readability measure also on its
    rotation control.

    A readability measure (one with ``axis_dependent`` figures, `axis_figures`) runs a second time on
    ``ctx.rotated()``; each of its figures gets `axis_advantage`. Nothing else runs on the rotation, so the
    rotation-invariant work (ranking, reconstruction, Wu-Palmer) is done once.

    Returns:
        name -> ``{"result", "seconds", "rotation", "rotated_seconds"}``: the measure's result
        (``{"skipped": reason}`` when it could not be computed), its time, and for a readability measure
        ``{figure: axis_advantage}`` and the time of its rotated run (else None); in the registry's order.
    """
    out = {}
    for name, measure in registry("measure").items():
        if names is not None and name not in names:
            continue
        result = ctx.result(name)
        control = None
        figures = axis_figures(measure, result)
        if figures:
            rotated = ctx.rotated().result(name)
            rotated = {} if skipped(rotated) else rotated
            control = {key: axis_advantage(result.get(key), rotated.get(key)) for key in figures}
        out[name] = {"result": result, "seconds": ctx.seconds(name), "rotation": control,
                     "rotated_seconds": ctx.rotated().seconds(name) if figures else None}
    return out
