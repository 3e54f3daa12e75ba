"""The tree geometry (``--geometry tree``): each row holds a sense's *own* features F, and its vector sums
them with its ancestors' (the training edges' hypernym links, any number of links up):
``E[i] = F[i] + tree_weight * sum of F[a]`` (the lemmas of one ancestor synset shared: their mean), i.e.
``E = A @ F`` with A the sense-by-sense closure of the hierarchy. A feature that ``animal.n.01`` owns is
then in every animal's vector and costs the sparsity term once, not once per animal, so a dimension can
stand for a whole subtree; two senses share exactly the features of their common ancestors, and their
distance grows with the links between them.

It wraps the objective (`OnTree`): the objective's terms run on the vectors E and their gradient reaches F
through ``A.T``; ``vectors`` gives E, which a run measures, saves and returns.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ..components import knob, register
from ..hierarchy import closure, hierarchy_pairs, synset_codes
from ..memory import is_oom
from . import Geometry


def closure_weights(rows: np.ndarray, cols: np.ndarray, synset: np.ndarray | None, weight: float) -> np.ndarray:
    """The value of each (sense, ancestor) entry: 1 on the diagonal; ``weight`` shared equally by the lemma
    senses of one ancestor synset (a sense inherits the mean of ``canine.n.02``'s lemmas, not their sum:
    else its hypernym ``canine.n.02.canine`` would sit as far as the other lemma's features, farther than
    its own siblings). ``synset``: each sense's synset code, or None (each sense its own synset)."""
    values = np.where(rows == cols, 1.0, weight)
    if synset is not None:
        up = rows != cols
        key = rows[up].astype(np.int64) * (int(synset.max()) + 1) + synset[cols[up]]
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        values[up] = weight / counts[inverse]
    return values.astype(np.float32)


def _csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int, device) -> torch.Tensor:
    """The (n, n) CSR matrix with ``values`` at (rows[k], cols[k])."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta": its matrix product is all that is used
        warnings.simplefilter("ignore", UserWarning)
        idx = torch.from_numpy(np.stack([rows, cols]))
        coo = torch.sparse_coo_tensor(idx, torch.from_numpy(values), (n, n)).coalesce()
        return coo.to_sparse_csr().to(device)


@register("geometry")
class Tree(Geometry):
    """A row holds a sense's own features and its vector adds its ancestors' (a feature of animal.n.01 is in every animal)."""

    name = "tree"
    knobs = {
        "tree_weight": knob(1.0, "geometry tree: how much of each ancestor's features a sense's vector holds "
                                 "(1: all of them; 0: none, free vectors)", range="[0, 1]", search=(0.25, 1.0)),
    }

    def __init__(self, cfg, graph, train_idx, device):
        super().__init__(cfg, graph, train_idx, device)
        n = graph.vocab.size
        rows, cols = closure(hierarchy_pairs(graph, train_idx), n)
        values = closure_weights(rows, cols, synset_codes(graph.vocab)[1], cfg.tree_weight)
        self.A, self.At = _csr(rows, cols, values, n, device), _csr(cols, rows, values, n, device)
        self.links = len(rows) / n

    def vectors(self, W: torch.Tensor) -> torch.Tensor:
        return self.A @ W

    def wrap(self, objective):
        return OnTree(objective, self)


def _product(A: torch.Tensor, X: torch.Tensor, out: torch.Tensor, add: bool = False) -> torch.Tensor:
    """``out := A @ X`` (``add``: ``out += A @ X``) for a sparse ``A``, written into ``out``: a fresh (V, D)
    result every step costs its page faults (at 512 dims on full WordNet the plain product took 1.3x as long,
    the accumulating one 1.6x). Where a backend has no such form, the plain product."""
    try:
        return out.addmm_(A, X) if add else torch.mm(A, X, out=out)
    except (RuntimeError, NotImplementedError) as err:
        if is_oom(err):
            raise
        return out.add_(A @ X) if add else out.copy_(A @ X)


class OnTree:
    """An objective whose terms run on the tree's vectors: everything else is the objective's own."""

    def __init__(self, objective, tree: Tree):
        self.inner, self.tree = objective, tree
        # the vectors and their gradient, kept between steps (remade when the width changes), and the vectors
        # the trainer asks for its statistics and the best model's copy
        self.matrices = objective.matrices + 3
        self._E = self._GE = None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def vectors(self, W):
        return self.tree.vectors(W)

    def describe(self):
        own = self.inner.describe()
        line = (f"  Geometry tree: each vector sums its own features and {self.tree.cfg.tree_weight:g} x its "
                f"ancestors' ({self.tree.links:.1f} per sense on average)")
        return f"{own}\n{line}" if own else line

    def _buffers(self, W):
        """The vectors' and their gradient's (V, D) buffers for ``W``'s width."""
        if self._E is None or self._E.shape != W.shape or self._E.device != W.device:
            self._E = self._GE = None  # the old width's first
            self._E, self._GE = torch.empty_like(W), torch.empty_like(W)
        return self._E, self._GE

    def step(self, W, G, rows, buf):
        E, GE = self._buffers(W)
        _product(self.tree.A, W, E)
        sums = self.inner.step(E, GE.zero_(), rows, buf)
        _product(self.tree.At, GE, G, add=True)
        return sums

    @torch.no_grad()
    def validation_sums(self, W, edges, buf):
        E, _ = self._buffers(W)
        return self.inner.validation_sums(_product(self.tree.A, W, E), edges, buf)
