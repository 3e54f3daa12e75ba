"""Batch negatives (``--negative-sampler batch``): the batch's own destinations."""
from __future__ import annotations

import torch

from ..components import register
from . import Sampler


@register("sampler")
class BatchSampler(Sampler):
    """The batch's own destinations: no rows are gathered or scattered beyond the batch's, and a batch's endpoints are themselves a sample in proportion to degree (PyTorch-BigGraph batches its negatives this way)."""

    name = "batch"
    gathers = False

    def draw(self, n: int) -> torch.Tensor:
        raise TypeError("the batch sampler draws nothing: its negatives are the batch's own destinations")
