"""Hypernym features inherited by hyponyms (``--objective inherit``): the default objective plus an order term.

For a sense c and its hypernym p (the graph's ``hypernym`` and ``instance_hypernym`` edges, and the ``hyponym``
ones read backwards) every coordinate of c should be at least p's:
``inherit_weight * ||max(0, E[p] - E[c])||^2`` (order embeddings, Vendrov et al. 2016). With
``--sparsity-mode nonneg`` (every coordinate >= 0) a dimension becomes a feature: a sense has it or lacks it, and
what a hypernym has all of its hyponyms have, so the senses below one synset share its dimensions and two
senses share the features of every common ancestor. Each step draws ``inherit_pairs`` times the batch's size of
(hyponym, hypernym) pairs from the training edges; validation sums the term over the validation edges'
hierarchy pairs, the same every epoch.

Measured on full WordNet (docs/quality.md) the term does not make dimensions stand for subtrees: it moves both
ends, and the cheapest way to satisfy it is a hypernym with few features. Moving only the hyponym made the
values ratchet up until the run failed, and a hard max(hyponym, hypernym) after each step made every value
active. `naomi_nb.geometries` (``--geometry tree``) builds the inheritance into the vectors instead.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import compiled, scatter_sorted
from .negatives import Negatives

UP = ("hypernym", "instance_hypernym")  # source below destination
DOWN = ("hyponym", "instance_hyponym")  # source above destination


def hierarchy_pairs(graph, index: np.ndarray) -> np.ndarray:
    """Unique (hyponym, hypernym) sense pairs of the edges ``index``, as an (N, 2) int64 array."""
    rel = graph.rel[index]
    up = np.isin(rel, [graph.relations.index(r) for r in UP if r in graph.relations])
    down = np.isin(rel, [graph.relations.index(r) for r in DOWN if r in graph.relations])
    src, dst = graph.src[index].astype(np.int64), graph.dst[index].astype(np.int64)
    child = np.concatenate([src[up], dst[down]])
    parent = np.concatenate([dst[up], src[down]])
    key = np.unique(child * graph.vocab.size + parent)
    return np.stack([key // graph.vocab.size, key % graph.vocab.size], axis=1)


def _order_kernel(c, p, scale: torch.Tensor, gc, gp):
    """``scale * ||max(0, p - c)||^2`` summed; its gradients written into ``gc`` (d/dc) and ``gp`` (d/dp)."""
    v = torch.clamp(p - c, min=0.0)
    g = 2.0 * scale * v
    gp.copy_(g)
    gc.copy_(-g)
    return (v * v).sum()


_order = compiled(_order_kernel)


class Inherit(Negatives):
    name = "inherit"
    terms = ("distance", "negative", "inherit")
    flags = Negatives.flags + ("inherit_weight", "inherit_pairs")

    def __init__(self, cfg, graph, train_idx, val_edges, device):
        super().__init__(cfg, graph, train_idx, val_edges, device)
        self.iw, self.share = cfg.inherit_weight, cfg.inherit_pairs
        self.pairs = torch.from_numpy(hierarchy_pairs(graph, train_idx)).to(device)
        rows = val_edges.rows[:, :2].long().cpu().numpy()
        every = hierarchy_pairs(graph, np.arange(len(graph.src)))
        keys = every[:, 0] * graph.vocab.size + every[:, 1]
        fwd = rows[:, 0] * graph.vocab.size + rows[:, 1]
        back = rows[:, 1] * graph.vocab.size + rows[:, 0]
        val = np.concatenate([rows[np.isin(fwd, keys)], rows[np.isin(back, keys)][:, ::-1]])
        self.val_pairs = torch.from_numpy(np.unique(val, axis=0).reshape(-1, 2)).to(device)
        self.gen = torch.Generator(device=device)

    def start_epoch(self, gen):
        super().start_epoch(gen)
        self.gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))

    def describe(self):
        return (super().describe() + f"\n  Inherit: weight {self.iw}, {self.share:g} x batch pairs per step from "
                f"{len(self.pairs):,} (hyponym, hypernym) pairs")

    def means(self, sums, n_edges, split):
        out = super().means(sums[:2], n_edges, split)
        pairs = n_edges * self.share if split == "train" else max(1, len(self.val_pairs))
        out["inherit"] = self.iw * sums[2] / pairs
        return out

    def step(self, W, G, rows, buf):
        n = rows.shape[0]
        sums = super().step(W, G, rows, buf)
        h = min(buf.rows, max(1, int(n * self.share)))
        if self.iw == 0 or len(self.pairs) == 0 or h == 0:
            return sums + [torch.zeros((), dtype=W.dtype, device=W.device)]
        pick = torch.randint(0, len(self.pairs), (h,), generator=self.gen, device=W.device)
        pairs = self.pairs.index_select(0, torch.sort(pick).values)  # children in order: the gather walks rows
        child, parent = pairs[:, 0], pairs[:, 1]
        c = torch.index_select(W, 0, child, out=buf.a[:h])
        p = torch.index_select(W, 0, parent, out=buf.b[:h])
        scale = torch.tensor(self.iw / h, dtype=W.dtype, device=W.device)
        total = _order(c, p, scale, c, p)  # the gradients overwrite the gathered rows
        G.index_add_(0, child, c)
        scatter_sorted(G, parent, p, buf.a[:h])
        return sums + [total]

    @torch.no_grad()
    def validation_sums(self, W, edges, buf):
        total = torch.zeros((), dtype=torch.float64, device=W.device)
        for start in range(0, len(self.val_pairs), buf.rows):
            pair = self.val_pairs[start:start + buf.rows]
            v = torch.clamp(W[pair[:, 1]] - W[pair[:, 0]], min=0.0)
            total += (v * v).sum(dtype=torch.float64)
        return super().validation_sums(W, edges, buf) + [total]
