"""Edges on the device: the training and validation edges packed for one gather per batch, and the
preallocated work buffers a step fills."""
from __future__ import annotations

import numpy as np
import torch

from .graph import Graph


class EdgeSet:
    """Edges on the device, packed as one (N, 4) int32 tensor: source, destination, and the float32 bits of
    the target distance and the confidence, so a batch is one row gather instead of four."""

    def __init__(self, graph: Graph, index: np.ndarray, device: torch.device):
        packed = np.empty((len(index), 4), dtype=np.int32)
        packed[:, 0] = graph.src[index]
        packed[:, 1] = graph.dst[index]
        packed[:, 2] = graph.targets[graph.rel[index]].astype(np.float32).view(np.int32)
        packed[:, 3] = graph.conf[index].astype(np.float32).view(np.int32)
        t = torch.from_numpy(packed)
        if device.type == "cuda":  # cross to the GPU once, from pinned memory
            t = t.pin_memory()
        self.rows = t.to(device, non_blocking=device.type == "cuda")

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def unpack(rows: torch.Tensor):
    """(source, destination, target, confidence) of packed edge rows, each contiguous (strided index and
    value vectors make the gathers and scatters that use them markedly slower)."""
    cols = rows.t().contiguous()
    # int64 indices: index_add_ with int32 ones takes a path about twice as slow on the CPU
    return cols[0].long(), cols[1].long(), cols[2].view(torch.float32), cols[3].view(torch.float32)


class Buffers:
    """Preallocated (rows, dims) work buffers, one per name: fresh large tensors every step cost page faults.

    ``a`` and ``b`` (the gathered rows of a batch's two ends) always; an objective names more
    (`naomi_nb.objectives.Objective.buffer_names`), and may ask for fewer rows in some (``sizes``: name -> rows,
    e.g. the negatives' draws, k for every k + 1 edges).
    """

    def __init__(self, rows: int, dims: int, device: torch.device, dtype=torch.float32, names=("a", "b"),
                 sizes: dict[str, int] | None = None):
        self.rows, self.dims = rows, dims
        for name in names:
            setattr(self, name, torch.empty((sizes or {}).get(name, rows), dims, device=device, dtype=dtype))

    def fits(self, rows: int, dims: int) -> bool:
        return rows <= self.rows and dims == self.dims
