"""Uniform negatives (``--negative-sampler uniform``): every sense with equal chance."""
from __future__ import annotations

import torch

from ..components import register
from . import Sampler


@register("sampler")
class UniformSampler(Sampler):
    """Every sense with equal chance."""

    name = "uniform"
    order = 0  # the default first in --help and the panel

    def draw(self, n: int) -> torch.Tensor:
        return torch.randint(0, self.V, (n,), generator=self.gen, device=self.device)
