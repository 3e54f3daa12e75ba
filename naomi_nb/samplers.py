"""Negative samplers: where the senses that should sit far from an edge's ends come from, chosen by name.

A sampler is a subclass of `Sampler` with a ``name``; defining it registers it (`SAMPLERS`), so
``--negative-sampler NAME`` finds it. An objective asks a sampler for ``draw(n)`` sense ids once per chunk of
a batch; a sampler whose ``gathers`` is False draws nothing and the objective uses the batch's own rows
(`BatchSampler`). Draws come from a device generator re-seeded from the run's generator once per epoch
(`reseed`), so runs and resumes repeat exactly.
"""
from __future__ import annotations

import numpy as np
import torch

from .graph import Graph

SAMPLERS: dict[str, type["Sampler"]] = {}


class Sampler:
    """Draws negative senses. Subclasses set ``name`` (and ``gathers``) and implement `draw`."""

    name = ""
    gathers = True  # draws senses of its own (gathered and scattered); False: the batch's own rows serve

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            SAMPLERS[cls.name] = cls

    def __init__(self, graph: Graph, train_idx: np.ndarray, device: torch.device):
        self.V, self.device = graph.vocab.size, device
        self.gen = torch.Generator(device=device)

    def reseed(self, gen: torch.Generator) -> None:
        """One draw from the run's generator seeds this epoch's negatives."""
        self.gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))

    def draw(self, n: int) -> torch.Tensor:
        """n sense ids (a chunk's negatives; pairs that hit an edge's own end are masked by the objective)."""
        raise NotImplementedError


class UniformSampler(Sampler):
    """Every sense with equal chance."""

    name = "uniform"

    def draw(self, n: int) -> torch.Tensor:
        return torch.randint(0, self.V, (n,), generator=self.gen, device=self.device)


class DegreeSampler(Sampler):
    """Senses in proportion to degree^0.75 in the training edges (as word2vec draws noise words)."""

    name = "degree"
    power = 0.75

    def __init__(self, graph: Graph, train_idx: np.ndarray, device: torch.device):
        super().__init__(graph, train_idx, device)
        degree = (np.bincount(graph.src[train_idx], minlength=self.V)
                  + np.bincount(graph.dst[train_idx], minlength=self.V))
        self.cdf = cumulative(degree, self.power, device)

    def draw(self, n: int) -> torch.Tensor:
        u = torch.rand(n, generator=self.gen, device=self.device, dtype=torch.float64)
        return torch.searchsorted(self.cdf, u).clamp_(max=self.V - 1)


class BatchSampler(Sampler):
    """The batch's own destinations: no rows are gathered or scattered beyond the batch's, and a batch's
    endpoints are themselves a sample in proportion to degree (PyTorch-BigGraph batches its negatives this way)."""

    name = "batch"
    gathers = False

    def draw(self, n: int) -> torch.Tensor:
        raise TypeError("the batch sampler draws nothing: its negatives are the batch's own destinations")


def cumulative(weights: np.ndarray, power: float, device: torch.device) -> torch.Tensor:
    """The cumulative distribution of ``weights ** power`` (float64, on ``device``) for inverse-CDF draws."""
    w = np.power(np.asarray(weights, np.float64), power)
    return torch.from_numpy(np.cumsum(w) / w.sum()).to(device)


def get(name: str) -> type[Sampler]:
    """The sampler class registered under ``name``."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown negative sampler {name!r} (choose from {', '.join(SAMPLERS)})") from None
