"""Graded targets beyond one hop (``--objective graded``): the default objective plus a distance term on a
sense and its ancestors 2 to ``graded_hops`` hypernym links up, whose target grows with the number of links.

The graph trains a hypernym at 0.3 and keeps unrelated senses beyond the negatives' margin (0.8); nothing
places a grandparent, so it sits as far as a stranger. Here an ancestor h links up gets the target
``margin * (1 - (1 - t1 / margin) ** h)`` (t1 = the hypernym target): 0.30, 0.49, 0.60, 0.68 for h = 1..4
with the defaults, always nearer than a stranger and farther the more links apart (the graded similarity
that path2vec, Kutuzov et al. 2019, trains on). The pairs come from the training edges' (hyponym,
hypernym) pairs (``hypernym``/``instance_hypernym`` and the ``hyponym`` ones read backwards), joined
``h - 1`` times; a pair reachable in fewer links keeps the shorter count. Each step draws ``inherit_pairs``
times the batch's size of them (`naomi_nb.objectives.pairs`, shared with `naomi_nb.objectives.inherit`);
validation uses the pairs that only the validation edges make, the same every epoch.
"""
from __future__ import annotations

import numpy as np
import torch

from ..components import knob, register
from ..hierarchy import ancestor_pairs, hierarchy_pairs
from .base import distance_grad, scatter_rows
from .negatives import Negatives
from .pairs import PairTerm
from .plain import distance_loss


def graded_target(hops, t1: float, margin: float):
    """The target distance of an ancestor ``hops`` links up: ``margin * (1 - (1 - t1/margin) ** hops)``."""
    return margin * (1.0 - (1.0 - t1 / margin) ** hops)


@register("objective")
class Graded(PairTerm):
    """Negatives plus ancestors 2 to --graded-hops hypernym links up, at targets that grow with the links."""

    name = "graded"
    terms = Negatives.terms + ("graded",)
    knobs = {
        "graded_hops": knob(4, "objective graded: ancestors up to this many hypernym links up get a target "
                               "distance that grows with the links (2 .. N)", range="[2, 20]", search=[2, 3, 4, 6]),
        "graded_weight": knob(1.0, "objective graded: weight of the distance term on (sense, ancestor) pairs",
                              range=">= 0", search=(0.1, 10.0, "log")),
    }

    def __init__(self, cfg, graph, train_idx, val_edges, device):
        super().__init__(cfg, graph, train_idx, val_edges, device)
        self.pair_weight = cfg.graded_weight
        n = graph.vocab.size
        hyper = graph.relations.index("hypernym") if "hypernym" in graph.relations else None
        t1 = float(graph.targets[hyper]) if hyper is not None else 0.3
        train_pairs, train_hops = ancestor_pairs(hierarchy_pairs(graph, train_idx), n, cfg.graded_hops)
        all_pairs, all_hops = ancestor_pairs(hierarchy_pairs(graph, np.arange(len(graph.src))), n, cfg.graded_hops)
        # validation: the pairs that only a path through a validation edge makes
        fresh = ~np.isin(all_pairs[:, 0] * n + all_pairs[:, 1], train_pairs[:, 0] * n + train_pairs[:, 1])
        self.pairs, self.val_pairs = (self._pack(p, h, t1, cfg.negative_margin, device)
                                      for p, h in ((train_pairs, train_hops), (all_pairs[fresh], all_hops[fresh])))

    @staticmethod
    def _pack(pairs, hops, t1, margin, device) -> torch.Tensor:
        """Rows as `naomi_nb.edges.EdgeSet` packs them: sense, ancestor, target bits, confidence bits (1.0)."""
        packed = np.empty((len(pairs), 4), np.int32)
        packed[:, :2] = pairs
        packed[:, 2] = graded_target(hops, t1, margin).astype(np.float32).view(np.int32)
        packed[:, 3] = np.ones(len(pairs), np.float32).view(np.int32)
        return torch.from_numpy(packed).to(device)

    def describe(self):
        return (super().describe() + f"\n  Graded: weight {self.pair_weight}, ancestors 2-{self.cfg.graded_hops} "
                f"links up, {self.share:g} x batch of {len(self.pairs):,} pairs per step")

    def pair_step(self, W, G, drawn, buf):
        h = drawn.shape[0]
        s, d = drawn[:, 0].long(), drawn[:, 1].long()
        t, c = drawn[:, 2].view(torch.float32), drawn[:, 3].view(torch.float32) * self.pair_weight
        a = torch.index_select(W, 0, s, out=buf.a[:h])
        b = torch.index_select(W, 0, d, out=buf.b[:h])
        total = distance_grad(a, b, t.contiguous(), c.contiguous(), a, b)  # the gradients over the rows
        G.index_add_(0, s, a)
        scatter_rows(G, d, b, buf.a[:h])
        return total / self.pair_weight

    def pair_validation_sum(self, W, rows):
        s, d, t = rows[:, 0].long(), rows[:, 1].long(), rows[:, 2].view(torch.float32)
        err = torch.linalg.vector_norm(W[s] - W[d], dim=1) - t
        return (err * err).sum(dtype=torch.float64)

    def pair_loss(self, batch):
        """The plain form of `pair_step` (`naomi_nb.objectives.plain`), over a batch of drawn (sense, ancestor)
        pair rows: ``graded_weight`` times the distance term at the graded target, per pair."""
        return {"graded": self.pair_weight * distance_loss(batch)}
