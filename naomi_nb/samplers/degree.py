"""Degree negatives (``--negative-sampler degree``): senses in proportion to degree^0.75."""
from __future__ import annotations

import numpy as np
import torch

from ..components import register
from ..graph import Graph
from . import Sampler, cumulative


@register("sampler")
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
