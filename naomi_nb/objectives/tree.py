"""Features owned by synsets and inherited down the hierarchy (``--objective tree``): the default objective on
vectors that are sums of their ancestors' features.

The trained matrix holds each sense's *own* features F; its vector is ``E[i] = F[i] + sum of F[a]`` over
every ancestor a of i (the training edges' hypernym links, any number of links up): ``E = A @ F`` with A the
sense-by-sense closure of the hierarchy (1 on the diagonal, ``tree_weight`` at each ancestor: 1 inherits
every feature whole, 0 is the default objective's free vectors). A feature that ``animal.n.01`` owns is then in
every animal's vector and costs the sparsity term once, not once per animal, so a dimension can stand for a
whole subtree; two senses share exactly the features of their common ancestors, and their distance grows
with the links between them. With ``--sparsity-mode nonneg`` the features are non-negative and the vectors too.

The distance and negative terms are the default objective's, on E; their gradient reaches F through
``A.T``. `vectors` gives E: what the run saves, measures and returns. Each step multiplies the whole matrix by
A twice (A has about 15 entries per sense on full WordNet).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .graded import ancestor_pairs
from .inherit import hierarchy_pairs
from .negatives import Negatives

MAX_LINKS = 30  # deeper than WordNet's deepest hypernym chain (19 links)


def closure(graph, index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(sense, ancestor) pairs at any number of links from the edges ``index``, each once, plus (i, i)."""
    up = hierarchy_pairs(graph, index)
    far, _ = ancestor_pairs(up, n, MAX_LINKS)
    pairs = np.concatenate([np.stack([np.arange(n), np.arange(n)], 1), up, far])
    return pairs[:, 0], pairs[:, 1]


def _csr(rows: np.ndarray, cols: np.ndarray, n: int, device, weight: float = 1.0) -> torch.Tensor:
    """The (n, n) CSR matrix with 1 at (i, i) and ``weight`` at every other (rows[k], cols[k])."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta": its matrix product is all that is used
        warnings.simplefilter("ignore", UserWarning)
        idx = torch.from_numpy(np.stack([rows, cols]))
        values = torch.from_numpy(np.where(rows == cols, 1.0, weight).astype(np.float32))
        coo = torch.sparse_coo_tensor(idx, values, (n, n)).coalesce()
        return coo.to_sparse_csr().to(device)


class Tree(Negatives):
    name = "tree"
    flags = Negatives.flags + ("tree_weight",)
    matrices = 2  # the vectors and their gradient, made every step

    def __init__(self, cfg, graph, train_idx, val_edges, device):
        super().__init__(cfg, graph, train_idx, val_edges, device)
        n = graph.vocab.size
        rows, cols = closure(graph, train_idx, n)
        w = cfg.tree_weight
        self.A, self.At = _csr(rows, cols, n, device, w), _csr(cols, rows, n, device, w)
        self.links = len(rows) / n

    def describe(self):
        return (super().describe() + f"\n  Tree: each vector sums its own and its ancestors' features "
                f"({self.links:.1f} per sense on average)")

    def vectors(self, W):
        return self.A @ W

    def step(self, W, G, rows, buf):
        E = self.vectors(W)
        GE = torch.zeros_like(E)
        sums = super().step(E, GE, rows, buf)
        G.add_(self.At @ GE)
        return sums

    @torch.no_grad()
    def validation_sums(self, W, edges, buf):
        return super().validation_sums(self.vectors(W), edges, buf)
