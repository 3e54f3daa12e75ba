"""What every objective is: the interface the trainer calls, and the distance term all of them share.

An objective owns its gradient, its validation sums, the names of its loss terms and its flags; the trainer
owns the optimizer step, the sparsity term, batching, validation chunks and out-of-memory retries. The
trainer never asks which objective it runs.

For an edge (s, r, d) with confidence c and target distance t_r the seed's distance term is
``c * (||E[s] - E[d]|| - t_r)^2`` averaged over the batch. Its gradient is written by hand and scattered with
``index_add_`` (autograd through the row gather is several times slower); tests check it against autograd.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..device import compiled
from ..edges import Buffers, EdgeSet, unpack
from ..graph import Graph


class Objective:
    """Base class: a subclass registered with ``@register("objective")`` in a module of `naomi_nb.objectives`
    is an objective.

    Class attributes:
        name: the ``--objective`` value.
        terms: the loss terms it adds to each epoch record, as ``train_<term>`` and ``val_<term>`` (the
            record's totals add them up with the sparsity term); the CLI log, the dashboard, TensorBoard and
            the search read them from the record's ``terms``.
        knobs: the settings it reads beyond the common ones, name -> `naomi_nb.components.Knob` (added up
            along its bases): each becomes a `naomi_nb.config.TrainConfig` field, a ``--flag``, a notebook
            parameter and a search range, and takes effect only with an objective that declares it
            (`naomi_nb.config.applies`: the panel greys it out otherwise).
        auto_lr_schedule: what ``--lr-schedule auto`` means with it.
        buffer_names: the (batch, dims) work buffers a step needs (`naomi_nb.edges.Buffers`); an objective
            whose buffers depend on its flags overrides `buffer_plan` instead.
        matrices: the whole-matrix (senses, dims) temporaries a step makes (the memory estimate counts them).
    """

    name: str = ""
    terms: tuple[str, ...] = ("distance",)
    knobs: dict = {}
    auto_lr_schedule: str = "constant"
    buffer_names: tuple[str, ...] = ("a", "b")
    matrices: int = 0

    def __init__(self, cfg, graph: Graph, train_idx: np.ndarray, val_edges: EdgeSet, device: torch.device):
        self.cfg, self.device = cfg, device

    @classmethod
    def buffer_plan(cls, cfg) -> dict[str, float]:
        """The work buffers a step needs, name -> rows as a share of the batch's (1 unless it needs fewer); from
        the configuration alone, so the memory estimate needs no objective built."""
        return {name: 1.0 for name in cls.buffer_names}

    @classmethod
    def buffer_units(cls, cfg) -> float:
        """The work buffers in batch-sized units: what the memory estimate counts."""
        return sum(cls.buffer_plan(cfg).values())

    def buffers(self, rows: int, dims: int, device: torch.device) -> Buffers:
        plan = self.buffer_plan(self.cfg)
        sizes = {name: max(1, math.ceil(rows * share)) for name, share in plan.items()}
        return Buffers(rows, dims, device, names=tuple(plan), sizes=sizes)

    def start_epoch(self, gen: torch.Generator) -> None:
        """Called before each epoch's shuffle with the run's generator (the only source of randomness)."""

    def generators(self) -> list[torch.Generator]:
        """The generators its steps draw from (re-seeded by `start_epoch`): a stop inside an epoch saves their
        states, so a resume draws on as an uninterrupted run would."""
        return []

    def step(self, W: torch.Tensor, G: torch.Tensor, rows: torch.Tensor, buf: Buffers) -> list[torch.Tensor]:
        """Add d(loss)/dW for a batch of packed edge rows to ``G`` (which holds the sparsity term's gradient);
        never step the optimizer. Returns one device scalar per term: the batch's sum of that term's
        per-pair losses (the epoch's mean comes from `means`)."""
        raise NotImplementedError

    def vectors(self, W: torch.Tensor) -> torch.Tensor:
        """The sense vectors of the trained matrix: what a run measures, saves and returns. W itself (no copy)
        unless the objective trains another parametrisation (a geometry's wrapper, `naomi_nb.geometries`)."""
        return W

    @torch.no_grad()
    def validation_sums(self, W: torch.Tensor, edges: EdgeSet, buf: Buffers) -> list[torch.Tensor]:
        """One float64 device scalar per term: its sum over ``edges`` (the validation set), in buffer-sized
        chunks; fixed across epochs so that the validation loss stays comparable."""
        raise NotImplementedError

    def means(self, sums: list[float], n_edges: int, split: str) -> dict[str, float]:
        """Each term's epoch figure (``split``: ``train`` or ``val``) from its sums over ``n_edges`` edges."""
        return {term: s / n_edges for term, s in zip(self.terms, sums)}

    def describe(self) -> str | None:
        """A line for the log's configuration stage, or None."""
        return None


# ---------------------------------------------------------------- the distance term

def distance_terms(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, c: torch.Tensor):
    """The distance term of a batch's rows ``a = E[s]``, ``b = E[d]``: (d(loss)/d E[s], sum of c * err^2).

    d(scale/2 * c * err^2)/d diff = scale * c * err * diff / dist with err = dist - t and scale = 2 / n;
    zero where dist == 0, as autograd's norm gives. n comes from the tensor's shape, not a Python float
    argument: torch.compile (2.5 and older) bakes float arguments in as constants, and every batch size would
    compile again until the recompile limit. Called inside compiled kernels, so it fuses with them.
    """
    scale = 2.0 / a.shape[0]
    diff = a - b
    dist = torch.sqrt((diff * diff).sum(1))
    err = dist - t
    coef = torch.where(dist > 0, scale * c * err / dist, torch.zeros_like(dist))
    return diff * coef[:, None], (c * err * err).sum()


def _distance_grad_kernel(a, b, t, c, ga, gb):
    """The distance term's gradients: ``ga`` := d/dE[s], ``gb`` := d/dE[d] (its negation); they may be ``a``
    and ``b`` themselves (row by row, in place). Returns the sum of c * err^2. One pass when compiled."""
    g, loss = distance_terms(a, b, t, c)
    ga.copy_(g)
    gb.copy_(-g)
    return loss


distance_grad = compiled(_distance_grad_kernel)


@torch.no_grad()
def distance_sum(W: torch.Tensor, edges: EdgeSet, buf: Buffers) -> torch.Tensor:
    """Sum of c * (||W[s] - W[d]|| - t)^2 over a set of edges, in buffer-sized chunks (float64)."""
    total = torch.zeros((), dtype=torch.float64, device=W.device)
    for start in range(0, len(edges), buf.rows):
        s, d, t, c = unpack(edges.rows[start:start + buf.rows])
        n = s.shape[0]
        diff = torch.index_select(W, 0, s, out=buf.a[:n])
        diff.sub_(torch.index_select(W, 0, d, out=buf.b[:n]))
        err = torch.linalg.vector_norm(diff, dim=1) - t
        total += (c * err * err).sum(dtype=torch.float64)
    return total


def sorted_by_source(rows: torch.Tensor) -> torch.Tensor:
    """A batch's rows sorted by source: the gather and the scatter then walk the matrix's rows in order."""
    return rows.index_select(0, torch.argsort(rows[:, 0]))


def scatter_rows(G: torch.Tensor, ids: torch.Tensor, grad: torch.Tensor, scratch: torch.Tensor) -> None:
    """``G[ids] += grad`` for unsorted ``ids``. On the CPU one ``index_add_``: measured on 2 cores with torch
    2.13 it is 1.8x faster than sorting the ids and the rows first (21.7 against 39.9 ms for 262,144 rows of
    128 dims, 61 against 107 ms at 512). On a GPU the rows are sorted first into ``scratch`` (the path the
    CUDA figures were measured with)."""
    if G.device.type == "cpu":
        G.index_add_(0, ids, grad)
        return
    ids_sorted, order = torch.sort(ids)
    G.index_add_(0, ids_sorted, torch.index_select(grad, 0, order, out=scratch))


__all__ = ["Objective", "Buffers", "EdgeSet", "compiled", "distance_terms", "distance_grad", "distance_sum", "sorted_by_source",
           "scatter_rows", "unpack"]
