"""Negative samplers: where the senses that should sit far from an edge's ends come from, chosen by name.

A sampler is a subclass of `Sampler` registered with ``@register("sampler")`` in a module of this folder
(`naomi_nb.components`), so ``--negative-sampler NAME`` finds it and its ``knobs`` become flags. An objective asks a sampler for ``draw(n)`` sense ids once per chunk of
a batch; a sampler whose ``gathers`` is False draws nothing and the objective uses the batch's own rows
(`BatchSampler`). Draws come from a device generator re-seeded from the run's generator once per epoch
(`reseed`), so runs and resumes repeat exactly.
"""
from __future__ import annotations

import numpy as np
import torch

from ..graph import Graph


class Sampler:
    """Draws negative senses. Subclasses set ``name`` (and ``gathers``) and implement `draw`."""

    name = ""
    knobs: dict = {}
    gathers = True  # draws senses of its own (gathered and scattered); False: the batch's own rows serve

    def __init__(self, graph: Graph, train_idx: np.ndarray, device: torch.device):
        self.V, self.device = graph.vocab.size, device
        self.gen = torch.Generator(device=device)

    def reseed(self, gen: torch.Generator) -> None:
        """One draw from the run's generator seeds this epoch's negatives."""
        self.gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))

    def draw(self, n: int) -> torch.Tensor:
        """n sense ids (a chunk's negatives; pairs that hit an edge's own end are masked by the objective)."""
        raise NotImplementedError


def cumulative(weights: np.ndarray, power: float, device: torch.device) -> torch.Tensor:
    """The cumulative distribution of ``weights ** power`` (float64, on ``device``) for inverse-CDF draws."""
    w = np.power(np.asarray(weights, np.float64), power)
    return torch.from_numpy(np.cumsum(w) / w.sum()).to(device)


__all__ = ["Sampler", "cumulative"]
