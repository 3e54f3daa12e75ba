"""The seed's objective: the distance term on linked pairs only (``--objective seed``).

Each training edge pulls (or pushes) its two senses to the relation's target distance; nothing keeps
unrelated senses apart. Its behaviour and log are the seed's exactly.
"""
from __future__ import annotations

import torch

from .base import Objective, compiled, distance_sum, distance_terms, scatter_rows, sorted_by_source, unpack


def _edge_grad_kernel(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, c: torch.Tensor):
    """``a`` := d(loss)/d E[s] and ``b`` := d(loss)/d E[d] (its negation) in place, row by row; returns
    sum c * err^2. One pass instead of six when compiled."""
    g, loss = distance_terms(a, b, t, c)
    a.copy_(g)
    b.copy_(-g)
    return loss


_edge_grad = compiled(_edge_grad_kernel)


class Seed(Objective):
    name = "seed"
    terms = ("distance",)
    auto_lr_schedule = "constant"

    def step(self, W, G, rows, buf):
        n = rows.shape[0]
        rows = sorted_by_source(rows)
        s, d, t, c = unpack(rows)
        ga = torch.index_select(W, 0, s, out=buf.a[:n])
        gb = torch.index_select(W, 0, d, out=buf.b[:n])
        loss_sum = _edge_grad(ga, gb, t, c)
        G.index_add_(0, s, ga)
        scatter_rows(G, d, gb, buf.a[:n])  # scratch (a GPU sorts first): the buffer just scattered
        return [loss_sum]

    def validation_sums(self, W, edges, buf):
        return [distance_sum(W, edges, buf)]
