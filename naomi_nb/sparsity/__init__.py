"""Sparsity, whatever the objective: the modes (one module each in this folder, found by name:
``--sparsity-mode NAME``, `naomi_nb.components` kind ``sparsity``), the kernels they use (the seed's L1 term
with its gradient written by hand, the proximal and non-negative steps that make exact zeros), the k-sparse
cut, and the per-epoch statistics of the matrix (sparsity %, exact zeros, dimension activity).

A mode is a subclass of `SparsityMode` registered with ``@register("sparsity")``: it says how much of the L1
term's gradient the loss carries (`SparsityMode.l1_weight`) and what happens to the matrix after every
optimizer step (`SparsityMode.after_step`); its ``knobs`` become flags.

``sparsity_mode="seed"`` adds ``sparsity_weight * mean(|E|)`` to the loss: its gradient is the dense
``sparsity_weight / numel * sign(E)``, written into the gradient buffer before the objective adds its own.
``sparsity_mode="proximal"`` drops that term from the gradient and soft-thresholds after every Adam step
instead (`soft_threshold_`): each value moves ``proximal_strength * lr`` toward zero and stops at exactly zero.
``sparsity_mode="nonneg"`` moves every value down by as much and clamps at zero (`nonneg_threshold_`): no
value is ever negative. ``max_active=K`` keeps each row's K largest magnitudes after every step
(`keep_top_k_`), whatever the mode.
"""
from __future__ import annotations

import torch

from ..device import compiled
from ..dims import NEAR_ZERO


class SparsityMode:
    """The identity mode: no L1 gradient, nothing after a step. Subclasses set ``name`` and override."""

    name = ""
    knobs: dict = {}

    def __init__(self, cfg):
        self.cfg = cfg

    @property
    def l1_weight(self) -> float:
        """The weight of ``mean(|E|)`` whose gradient the loss carries (0: none)."""
        return 0.0

    def after_step(self, E: torch.Tensor, lr: float, scratch: torch.Tensor | None = None) -> None:
        """Change the matrix in place after an optimizer step taken at learning rate ``lr``."""

    def label(self) -> str:
        """A few words for a run's one-line description (the notebook's settings line)."""
        return self.name


def _l1_grad_kernel(W: torch.Tensor, G: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """``coef`` is a 0-d tensor (sparsity_weight / numel changes with every expansion: as a float it would
    be compiled in as a constant)."""
    G.copy_(torch.sign(W) * coef)
    if W.is_cuda:
        # per-row sums first: fused with the copy, a sum over the whole matrix compiles to one reduction that
        # a GPU runs in a single slow block (measured on an H200: 178 ms a step at 207K x 512, the epoch's
        # whole cost); by rows it spreads over the GPU. The CPU keeps the one sum (its results unchanged).
        return W.abs().sum(1).sum(dtype=torch.float32)
    return W.abs().sum(dtype=torch.float32)


l1_gradient = compiled(_l1_grad_kernel)
l1_gradient.__doc__ = """``G := coef * sign(W)`` (sign(0) = 0, as autograd's), written over the last step's
gradient, and sum |W| for the log, in one pass."""


def l1_coefficient(value: float, E: torch.Tensor) -> torch.Tensor:
    """The L1 gradient's coefficient as a 0-d tensor on E's device (rounded to E's dtype as a scalar would be)."""
    return torch.tensor(value, dtype=E.dtype, device=E.device)


@torch.no_grad()
def soft_threshold_(E: torch.Tensor, tau: float, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """Proximal step of ``tau * |x|`` in place: every value moves ``tau`` toward 0; values that would cross zero become 0.

    Args:
        scratch: optional buffer of E's shape (the gradient buffer will do: it is rewritten every step).
    """
    if tau > 0:
        shrunk = torch.abs(E, out=scratch) if scratch is not None else E.abs()
        shrunk.sub_(tau).clamp_(min=0)
        # E changes in one operation, so an interrupt can never leave it half-updated
        E.copy_(torch.copysign(shrunk, E, out=shrunk))
    return E


@torch.no_grad()
def nonneg_threshold_(E: torch.Tensor, tau: float, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """Proximal step of ``tau * x`` restricted to ``x >= 0``, in place: every value moves ``tau`` down and
    stops at exactly 0, so no value is ever negative (a dimension is a feature a sense has or lacks).

    Args:
        scratch: optional buffer of E's shape (the gradient buffer will do: it is rewritten every step).
    """
    out = torch.sub(E, tau, out=scratch) if scratch is not None else E - tau
    E.copy_(out.clamp_(min=0))  # one write: an interrupt never leaves E half-updated
    return E


@torch.no_grad()
def keep_top_k_(E: torch.Tensor, k: int, block_rows: int = 65536) -> torch.Tensor:
    """Every row keeps its ``k`` values of largest magnitude and the rest become exactly 0, in place (a
    k-sparse code per sense; ties at the k-th magnitude are all kept). Rows in blocks: the sort's temporaries
    stay a block's size."""
    if 0 < k < E.shape[1]:
        for start in range(0, E.shape[0], block_rows):
            rows = E[start:start + block_rows]
            kth = torch.topk(rows.abs(), k, dim=1, sorted=False).values.amin(1, keepdim=True)
            rows.mul_(rows.abs() >= kth)
    return E


# ---------------------------------------------------------------- statistics of an epoch

def _stats_kernel(E: torch.Tensor, eps: float, small: float):
    a = E.abs()
    active = (a > eps).to(E.dtype)
    return (a.sum(1), (a < small).to(E.dtype).sum(1), (E != 0).to(E.dtype).sum(1), active.sum(1), active.sum(0))


_stats = compiled(_stats_kernel)


@torch.no_grad()
def embedding_stats(E: torch.Tensor, eps: float, block_rows: int | None = None) -> dict:
    """One pass over the embedding matrix: sparsity, exact zeros, L1 mean, per-dimension and per-word activity.

    Args:
        E: (V, D) embeddings.
        eps: a value is active when ``|x| > eps``.
        block_rows: take the pass in blocks of this many rows (less memory for the kernel's temporaries
            when it runs uncompiled; same results: per-row sums, and per-column counts of exact integers).

    Returns:
        dict with ``sparsity_pct`` (share of |x| < `NEAR_ZERO`, in %), ``zeros_pct``, ``l1_mean``,
        ``activity`` (np.ndarray, share of words active per dimension), ``active_per_word`` (median count,
        the lower middle value for an even vocabulary, as `naomi_nb.dims.lower_median`).
    """
    V, D = E.shape
    if block_rows is None or block_rows >= V:
        row_l1, row_small, row_nonzero, row_active, col_active = _stats(E, float(eps), NEAR_ZERO)
    else:
        parts = [_stats(E[i:i + block_rows], float(eps), NEAR_ZERO) for i in range(0, V, max(1, block_rows))]
        row_l1, row_small, row_nonzero, row_active = (torch.cat([p[k] for p in parts]) for k in range(4))
        col_active = torch.stack([p[4] for p in parts]).sum(0)
    # per-row partial sums are exact small integers (at most D); the totals are taken in float64
    sums = torch.stack([row_small.sum(dtype=torch.float64), row_nonzero.sum(dtype=torch.float64),
                        row_l1.sum(dtype=torch.float64)])
    small, nonzero, l1 = sums.tolist()  # one device sync
    total = V * D
    return {
        "sparsity_pct": 100.0 * small / total,
        "zeros_pct": 100.0 * (total - nonzero) / total,
        "l1_mean": l1 / total,
        "activity": (col_active.double() / V).cpu().numpy(),
        "active_per_word": float(row_active.median().item()),
    }
