"""The seed's objective: the distance term on linked pairs only (``--objective seed``).

Each training edge pulls (or pushes) its two senses to the relation's target distance; nothing keeps
unrelated senses apart. Its behaviour and log are the seed's exactly.
"""
from __future__ import annotations

import torch

from ..components import register
from .base import Objective, distance_grad, distance_sum, scatter_rows, sorted_by_source, unpack
from .plain import distance_loss


@register("objective")
class Seed(Objective):
    """The seed's loss on linked pairs only (its behaviour and log exactly)."""

    name = "seed"
    terms = ("distance",)
    auto_lr_schedule = "constant"

    def step(self, W, G, rows, buf):
        n = rows.shape[0]
        rows = sorted_by_source(rows)
        s, d, t, c = unpack(rows)
        ga = torch.index_select(W, 0, s, out=buf.a[:n])
        gb = torch.index_select(W, 0, d, out=buf.b[:n])
        loss_sum = distance_grad(ga, gb, t, c, ga, gb)  # in place: one pass
        G.index_add_(0, s, ga)
        scatter_rows(G, d, gb, buf.a[:n])  # scratch (a GPU sorts first): the buffer just scattered
        return [loss_sum]

    def validation_sums(self, W, edges, buf):
        return [distance_sum(W, edges, buf)]

    def loss(self, batch):
        """The plain form of `step` (`naomi_nb.objectives.plain`): the distance term per edge."""
        return {"distance": distance_loss(batch)}
