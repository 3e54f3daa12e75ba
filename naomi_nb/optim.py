"""The optimizer and the matrix: Adam made with its state at once, its moments read and set, columns added
(old values kept bit for bit, moments carried or reset) and unused columns dropped. The trainer
(`naomi_nb.trainer`) calls these; they hold no state of a run.
"""
from __future__ import annotations

import numpy as np
import torch

def make_optimizer(E: torch.Tensor, lr: float, state: tuple | None = None) -> torch.optim.Adam:
    """Adam over the whole matrix with its state made now: ``state`` = (exp_avg, exp_avg_sq, step), default
    zeros. Made eagerly, an out-of-memory error can only happen here, never halfway through a step (Adam
    makes its state lazily, in the first step). The fused kernel (one pass over p, grad and both moments)
    where this torch has it (CUDA; the CPU from torch 2.4), else the single-tensor one."""
    try:
        opt = torch.optim.Adam([E], lr=lr, fused=True)
    except (RuntimeError, ValueError):  # fused Adam not available for this device in this torch
        opt = torch.optim.Adam([E], lr=lr, foreach=False)
    if state is None:
        state = (torch.zeros_like(E), torch.zeros_like(E), 0.0)
    set_adam_state(opt, E, *state)
    return opt


def set_adam_state(opt: torch.optim.Adam, E: torch.Tensor, exp_avg, exp_avg_sq, step: float) -> None:
    fused = bool(opt.param_groups[0].get("fused"))
    opt.state[E] = {
        "step": torch.tensor(float(step), dtype=torch.float32, device=E.device if fused else "cpu"),
        "exp_avg": exp_avg,
        "exp_avg_sq": exp_avg_sq,
    }


def adam_state(opt: torch.optim.Adam, E: torch.Tensor):
    st = opt.state.get(E)
    if not st:
        return torch.zeros_like(E), torch.zeros_like(E), 0.0
    return st["exp_avg"], st["exp_avg_sq"], float(st["step"])


@torch.no_grad()
def expand(E: torch.Tensor, opt: torch.optim.Adam, new_dims: int, gen: torch.Generator, cfg):
    """Append columns (small random values) on E's device and dtype; old values are kept bit for bit.

    Adam: ``carry`` keeps the moments of the old columns (new ones start at zero) and the step count;
    ``reset`` starts a fresh Adam, as the seed did.
    """
    V, old = E.shape
    extra = (torch.randn(V, new_dims - old, generator=gen) * cfg.expand_init_scale).to(E.device, E.dtype)
    E2 = torch.cat([E.detach(), extra], dim=1).requires_grad_(True)
    del extra
    lr = opt.param_groups[0]["lr"]  # the schedule's current rate
    if cfg.optimizer_on_expand == "carry":
        m, v, step = adam_state(opt, E)
        pad = torch.zeros(V, new_dims - old, device=E.device, dtype=E.dtype)
        return E2, make_optimizer(E2, lr, (torch.cat([m, pad], 1), torch.cat([v, pad], 1), step))
    return E2, make_optimizer(E2, lr)


def prune_columns(E: torch.Tensor, keep: np.ndarray) -> torch.Tensor:
    """Keep the listed columns, on the same device and dtype."""
    idx = torch.as_tensor(np.flatnonzero(keep), device=E.device)
    return E.detach().index_select(1, idx).contiguous()
