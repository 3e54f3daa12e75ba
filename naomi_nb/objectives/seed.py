"""The seed's objective: the distance term on linked pairs only (``--objective seed``).

Each training edge pulls (or pushes) its two senses to the relation's target distance; nothing keeps
unrelated senses apart. Its behaviour and log are the seed's exactly.
"""
from __future__ import annotations

import torch

from .base import Objective, compiled, distance_sum, distance_terms, scatter_sorted, sorted_by_source, unpack


def _edge_grad_kernel(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, c: torch.Tensor):
    """``a`` := d(loss)/d E[s] in place (the step scatters it and its negation); returns sum c * err^2.
    One pass instead of five when compiled."""
    g, loss = distance_terms(a, b, t, c)
    a.copy_(g)
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
        grad = torch.index_select(W, 0, s, out=buf.a[:n])
        loss_sum = _edge_grad(grad, torch.index_select(W, 0, d, out=buf.b[:n]), t, c)
        G.index_add_(0, s, grad)
        # the destination side gets the negated gradient, reordered into the free buffer
        scatter_sorted(G, d, grad, buf.b[:n], negate=True)
        return [loss_sum]

    def validation_sums(self, W, edges, buf):
        return [distance_sum(W, edges, buf)]
