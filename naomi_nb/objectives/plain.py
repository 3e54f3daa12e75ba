"""Losses in plain PyTorch: write the loss as a differentiable function, autograd writes its gradient.

A subclass of `PlainObjective` sets ``terms`` and implements `loss`: given a `Batch` (the gathered rows of
both ends of its edges, ``batch.source`` and ``batch.target``, (n, D), their target distance
``batch.distance`` and confidence ``batch.confidence``, (n,)), it returns one tensor per term, either a
per-edge loss of shape (n,) or the batch's sum. A subclass that samples senses implements `draw` too: it
returns sense ids with one row per edge, and their rows reach `loss` under the same name. Then register it:

    @register("objective")
    class Ranking(PlainObjective):
        name = "ranking"
        terms = ("distance", "ranking")
        knobs = {"ranking_margin": knob(0.5, "...", range="> 0", search=(0.1, 1.0))}

        def draw(self, s, d, gen):
            return {"negative": uniform(s, d, self.senses, gen)}

        def loss(self, batch):
            near = torch.linalg.vector_norm(batch.source - batch.target, dim=1)
            far = torch.linalg.vector_norm(batch.source - batch.negative, dim=1)
            return {"distance": distance_loss(batch),
                    "ranking": torch.clamp(self.cfg.ranking_margin + near - far, min=0)}

(`naomi_nb.objectives.ranking` is that example in full: it reads its margin once and reuses the norm of
``E[s] - E[d]``.) Each step the kit sorts the batch by source, draws, gathers the rows as leaves of the
autograd graph, takes the loss, backpropagates the mean over the edges of the summed terms and adds each
leaf's gradient into the gradient matrix with ``index_add_``. An
objective's loss is the mean over its edges of its per-edge terms, the convention of the hand kernels
(`naomi_nb.objectives.base.distance_terms` scales by 2 / n): a plain form and a hand kernel of one loss
give one gradient. Validation evaluates the same loss without gradients over the validation edges, with
draws made once from the run's seed, so the validation loss is comparable across epochs; each term's
epoch figure is its sum divided by the edge count, logged as ``train_<term>`` and ``val_<term>``.

The hand-written objectives keep their fused kernels as the fast path and carry their plain form beside
them (``Seed.loss``, ``Negatives.draw`` and ``Negatives.loss``, ``Graded.pair_loss``), which
`autograd_step` runs; ``tests/objectives/test_plain.py`` checks each kernel equal to its plain form.
The price of autograd: the seed's loss this way (``--objective seed-plain``) trains an epoch of the full
graph 2.8x slower than the seed's kernel on one CPU thread, mostly page faults of the fresh batch-sized
tensors autograd makes (docs/training.md has the figures).
"""
from __future__ import annotations

from typing import Callable

import torch

from ..components import register
from ..edges import Buffers, unpack
from .base import Objective, sorted_by_source

# batch-sized (rows, dims) tensors a step holds at its peak per gathered row set (the rows, the differences
# the loss takes, their gradients): measured on the CPU at 9.2 for the ranking loss's three row sets and 5.1
# for the seed's two (200,000 edges of 128 dims, torch 2.13); counted a little high
TEMPORARIES = 3.5


class Batch:
    """What a plain loss reads: the rows gathered for each end and each draw (``batch.source``,
    ``batch.target``, ``batch.<draw>``; leaves that autograd differentiates), the edges' target distance
    ``distance`` and confidence ``confidence`` ((n,) each), and ``ids``: the sense ids behind each row set,
    by the same names (for masks: a drawn sense that is an end of its edge)."""

    def __init__(self, rows: dict[str, torch.Tensor], ids: dict[str, torch.Tensor], distance: torch.Tensor,
                 confidence: torch.Tensor):
        self.rows, self.ids, self.distance, self.confidence = rows, ids, distance, confidence

    def __getattr__(self, name: str) -> torch.Tensor:
        rows = self.__dict__.get("rows", {})
        if name not in rows:
            raise AttributeError(f"the batch has no rows named {name!r} (it has {', '.join(rows)})")
        return rows[name]

    def __len__(self) -> int:
        return int(self.distance.shape[0])


def gather(W: torch.Tensor, rows: torch.Tensor, drawn: dict[str, torch.Tensor], grad: bool = False) -> Batch:
    """The `Batch` of packed edge ``rows`` and of the ``drawn`` sense ids ((n,) or (n, k) each), their rows
    gathered from ``W`` (fresh tensors: with ``grad``, leaves that collect their gradient)."""
    s, d, t, c = unpack(rows)
    ids = {"source": s, "target": d, **drawn}
    gathered = {name: W.index_select(0, i.reshape(-1)).view(*i.shape, W.shape[1]).requires_grad_(grad)
                for name, i in ids.items()}
    return Batch(gathered, ids, t, c)


def autograd_step(loss: Callable, W: torch.Tensor, G: torch.Tensor, rows: torch.Tensor,
                  draw: Callable | None = None, gen: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Add d(loss)/dW into ``G`` through autograd for packed edge ``rows``, in their order (sort them first).

    ``draw(s, d, gen)`` picks the senses to gather beside the ends; ``loss(batch)`` gives the terms. The
    mean over the edges of the summed terms is backpropagated to the gathered rows only (``W`` stays out of
    the graph) and each row set's gradient is added into ``G`` with ``index_add_``. Returns each term's sum
    over the batch, detached (device scalars: no sync).
    """
    s, d = unpack(rows)[:2]
    with torch.enable_grad():
        batch = gather(W, rows, draw(s, d, gen) if draw else {}, grad=True)
        sums = {name: value.sum() for name, value in loss(batch).items()}
        total = sum(sums.values()) / len(batch)
        names = list(batch.rows)
        grads = (torch.autograd.grad(total, [batch.rows[k] for k in names], allow_unused=True)
                 if torch.is_tensor(total) and total.requires_grad else [None] * len(names))
    for name, grad in zip(names, grads):
        if grad is not None:  # None: a row set the loss did not read
            G.index_add_(0, batch.ids[name].reshape(-1), grad.reshape(-1, G.shape[1]))
    return {name: value.detach() for name, value in sums.items()}


def distance_loss(batch: Batch) -> torch.Tensor:
    """The seed's distance term per edge: ``c * (||E[s] - E[d]|| - t)^2``."""
    err = torch.linalg.vector_norm(batch.source - batch.target, dim=-1) - batch.distance
    return batch.confidence * err * err


def uniform(s: torch.Tensor, d: torch.Tensor, senses: int, gen: torch.Generator, k: int | None = None):
    """Uniform sense ids drawn from ``gen`` (on its device), one per edge ((n,)) or ``k`` ((n, k)), never an
    end of the edge: a hit moves on to the next sense (twice, which clears both ends)."""
    ids = torch.randint(0, senses, (s.shape[0],) if k is None else (s.shape[0], k), generator=gen,
                        device=gen.device)
    ends = (s, d) if k is None else (s[:, None], d[:, None])
    for _ in range(2):
        ids = torch.where((ids == ends[0]) | (ids == ends[1]), (ids + 1) % senses, ids)
    return ids


class PlainObjective(Objective):
    """Base of the objectives written as a plain loss; not an objective by itself (no ``name``).

    A subclass sets ``terms`` (and ``draws_per_edge`` where it draws) and implements `loss` (and `draw`);
    the step, the validation sums and the epoch's means are the kit's.
    """

    name = ""
    draws_per_edge: int = 0  # rows `draw` gathers per edge: the memory estimate counts their temporaries

    def __init__(self, cfg, graph, train_idx, val_edges, device):
        super().__init__(cfg, graph, train_idx, val_edges, device)
        self.senses = graph.vocab.size
        self.gen = torch.Generator(device=device)  # the step's draws, re-seeded from the run's every epoch
        self._val = None  # (the validation edges, their draws): drawn once, the same every epoch

    def draw(self, s: torch.Tensor, d: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """Senses to gather beside the ends of edges ``s`` -> ``d``: name -> ids with one row per edge ((n,)
        or (n, k)), drawn from ``gen`` alone (so runs and resumes repeat). None by default."""
        return {}

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """term -> the per-edge loss (n,) or the batch's sum, for every name in ``terms``, differentiable in
        the batch's rows."""
        raise NotImplementedError

    @classmethod
    def buffer_plan(cls, cfg):
        # nothing preallocated: the plan counts what autograd allocates, for the memory estimate
        return {"autograd": TEMPORARIES * (2 + cls.draws_per_edge)}

    def buffers(self, rows, dims, device):
        return Buffers(rows, dims, device, names=())  # the chunk size alone: autograd makes its own tensors

    def start_epoch(self, gen):
        if type(self).draw is not PlainObjective.draw:  # one that draws nothing leaves the run's generator alone
            self.gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))

    def generators(self):
        return [self.gen]

    def step(self, W, G, rows, buf):
        sums = autograd_step(self.loss, W, G, sorted_by_source(rows), self.draw, self.gen)
        return [sums[term] for term in self.terms]

    @torch.no_grad()
    def validation_sums(self, W, edges, buf):
        if self._val is None or self._val[0] is not edges:
            gen = torch.Generator(device=edges.rows.device).manual_seed(self.cfg.seed + 1)
            self._val = (edges, self.draw(edges.rows[:, 0].long(), edges.rows[:, 1].long(), gen))
        drawn = self._val[1]
        total = torch.zeros(len(self.terms), dtype=torch.float64, device=W.device)
        for start in range(0, len(edges), buf.rows):
            part = slice(start, start + buf.rows)
            terms = self.loss(gather(W, edges.rows[part], {name: ids[part] for name, ids in drawn.items()}))
            total += torch.stack([terms[term].sum(dtype=torch.float64) for term in self.terms])
        return list(total)


@register("objective")
class SeedPlain(PlainObjective):
    """The seed's loss through autograd (``--objective seed-plain``): ``seed`` trains the same loss with its
    hand kernel; a bench of the two prices the autograd path."""

    name = "seed-plain"
    terms = ("distance",)

    def loss(self, batch):
        return {"distance": distance_loss(batch)}


__all__ = ["Batch", "PlainObjective", "SeedPlain", "autograd_step", "distance_loss", "gather", "uniform"]
