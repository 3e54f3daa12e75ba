"""Geometries: how the trained matrix's rows become sense vectors, one module each, found by name
(`naomi_nb.components`, kind ``geometry``; ``--geometry NAME``).

An objective places vectors; a geometry decides what a vector is made of. ``free`` (the seed's): each
sense's vector is its own row. ``tree``: each vector sums its own features and its ancestors'
(`naomi_nb.geometries.tree`). A geometry wraps the objective (`Geometry.wrap`): the objective's terms run on
the vectors and their gradient reaches the trained rows; ``vectors`` gives what a run measures, saves and
returns. Any objective runs in any geometry. A new geometry is a subclass of `Geometry` registered with
``@register("geometry")`` in a new module of this folder; its ``knobs`` become flags.
"""
from __future__ import annotations

import numpy as np
import torch

from ..graph import Graph


class Geometry:
    """The identity: an objective's own step on the matrix itself. Subclasses set ``name`` and override `wrap`."""

    name = ""
    knobs: dict = {}

    def __init__(self, cfg, graph: Graph, train_idx: np.ndarray, device: torch.device):
        self.cfg, self.device = cfg, device

    def wrap(self, objective):
        """The objective as the trainer sees it in this geometry."""
        return objective


__all__ = ["Geometry"]
