"""Hypernym features inherited by hyponyms (``--objective inherit``): the default objective plus an order term.

For a sense c and its hypernym p (the graph's ``hypernym`` and ``instance_hypernym`` edges, and the ``hyponym``
ones read backwards) every coordinate of c should be at least p's:
``inherit_weight * ||max(0, E[p] - E[c])||^2`` (order embeddings, Vendrov et al. 2016). With
``--sparsity-mode nonneg`` (every coordinate >= 0) a dimension becomes a feature: a sense has it or lacks it, and
what a hypernym has all of its hyponyms have, so the senses below one synset share its dimensions and two
senses share the features of every common ancestor. Each step draws ``inherit_pairs`` times the batch's size of
(hyponym, hypernym) pairs from the training edges (`naomi_nb.objectives.pairs`); validation sums the term over
the validation edges' hierarchy pairs, the same every epoch.

Measured on full WordNet (docs/quality.md) the term does not make dimensions stand for subtrees: it moves both
ends, and the cheapest way to satisfy it is a hypernym with few features. Moving only the hyponym made the
values ratchet up until the run failed, and a hard max(hyponym, hypernym) after each step made every value
active. `naomi_nb.geometries` (``--geometry tree``) builds the inheritance into the vectors instead.
"""
from __future__ import annotations

import numpy as np
import torch

from ..components import knob, register
from ..hierarchy import hierarchy_pairs
from .base import compiled, scatter_rows
from .negatives import Negatives
from .pairs import PairTerm

def _order_kernel(c, p, scale: torch.Tensor, gc, gp):
    """``scale * ||max(0, p - c)||^2`` summed; its gradients written into ``gc`` (d/dc) and ``gp`` (d/dp)."""
    v = torch.clamp(p - c, min=0.0)
    g = 2.0 * scale * v
    gp.copy_(g)
    gc.copy_(-g)
    return (v * v).sum()


_order = compiled(_order_kernel)


@register("objective")
class Inherit(PairTerm):
    """Negatives plus an order term: a hyponym holds its hypernym's features."""

    name = "inherit"
    terms = Negatives.terms + ("inherit",)
    knobs = {
        "inherit_weight": knob(1.0, "objective inherit: weight of the order term ||max(0, E[hypernym] - "
                                    "E[hyponym])||^2 (a hyponym has every feature of its hypernym)",
                               range=">= 0", search=(0.1, 10.0, "log")),
    }

    def __init__(self, cfg, graph, train_idx, val_edges, device):
        super().__init__(cfg, graph, train_idx, val_edges, device)
        self.pair_weight = cfg.inherit_weight
        self.pairs = torch.from_numpy(hierarchy_pairs(graph, train_idx)).to(device)
        rows = val_edges.rows[:, :2].long().cpu().numpy()
        every = hierarchy_pairs(graph, np.arange(len(graph.src)))
        keys = every[:, 0] * graph.vocab.size + every[:, 1]
        fwd = rows[:, 0] * graph.vocab.size + rows[:, 1]
        back = rows[:, 1] * graph.vocab.size + rows[:, 0]
        val = np.concatenate([rows[np.isin(fwd, keys)], rows[np.isin(back, keys)][:, ::-1]])
        self.val_pairs = torch.from_numpy(np.unique(val, axis=0).reshape(-1, 2)).to(device)

    def describe(self):
        return (super().describe() + f"\n  Inherit: weight {self.pair_weight}, {self.share:g} x batch pairs per "
                f"step from {len(self.pairs):,} (hyponym, hypernym) pairs")

    def pair_step(self, W, G, drawn, buf):
        h = drawn.shape[0]
        child, parent = drawn[:, 0], drawn[:, 1]
        c = torch.index_select(W, 0, child, out=buf.a[:h])
        p = torch.index_select(W, 0, parent, out=buf.b[:h])
        scale = torch.tensor(self.pair_weight / h, dtype=W.dtype, device=W.device)
        total = _order(c, p, scale, c, p)  # the gradients overwrite the gathered rows
        G.index_add_(0, child, c)
        scatter_rows(G, parent, p, buf.a[:h])
        return total

    def pair_validation_sum(self, W, rows):
        v = torch.clamp(W[rows[:, 1]] - W[rows[:, 0]], min=0.0)
        return (v * v).sum(dtype=torch.float64)
