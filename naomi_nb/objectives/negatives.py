"""The default objective: the seed's distance term plus a hinge that keeps sampled unrelated senses apart
(``--objective negatives``).

For every training edge, k sampled senses n that should be unrelated add
``negative_weight * max(0, margin - ||E[s] - E[n]||)^2``, averaged over the k negatives of the batch (and, with
``corrupt_source``, as many pairs (n, d)). The gradient is written by hand, like the distance term's.

A batch is cut into chunks of k + 1 edges whose sources are far apart in the sorted batch (`chunk_order`).
Where the negatives come from is the sampler's business (`naomi_nb.samplers`): a sampler that draws gives k
senses per chunk, shared by the chunk's edges (gathered once, scattered once: a k-th of the rows that one draw
per edge would move); the batch sampler draws nothing and each edge's negatives are the other k destinations
of its chunk. A negative never counts when it equals either end of the edge (masked). Validation uses k
uniform negatives per edge drawn once from the seed, the same every epoch.
"""
from __future__ import annotations

import torch

from .. import samplers
from .base import Objective, compiled, distance_sum, distance_terms, scatter_sorted, sorted_by_source, unpack


def _hinge(a, n, mask, margin: float, scale: torch.Tensor):
    """Every anchor row against every candidate row of its chunk: ``a`` (m, C, D), ``n`` (m, K, D), ``mask``
    (m, C, K) with 1 where the pair is a negative. Squared hinge ``(margin - ||a_c - n_e||)^2`` where positive.
    Returns (d/da, d/dn, the sum of squared hinges), the gradients scaled by ``scale / 2`` (a 0-d tensor: a
    float that changes with the batch size would be compiled again for every size).

    Distances come from ``|a|^2 + |n|^2 - 2 a.n`` (three batched products instead of one pass per pair),
    which is exact enough where the hinge acts (distances below the margin). Called inside compiled kernels:
    no (m, C, K, D) tensor is ever made (small bmm's are slow on CPUs).
    """
    dots = (a[:, :, None, :] * n[:, None, :, :]).sum(-1)
    d2 = (a * a).sum(-1)[:, :, None] + (n * n).sum(-1)[:, None, :] - 2.0 * dots
    dist = torch.sqrt(torch.clamp(d2, min=1e-12))
    viol = torch.clamp(margin - dist, min=0.0) * mask
    coef = -scale * viol / dist  # d(loss)/d(a_c - n_e) = coef * (a_c - n_e)
    ga = coef.sum(2)[:, :, None] * a - (coef[:, :, :, None] * n[:, None, :, :]).sum(2)
    gn = coef.sum(1)[:, :, None] * n - (coef[:, :, :, None] * a[:, :, None, :]).sum(1)
    return ga, gn, (viol * viol).sum()


def _chunk_hinge_kernel(a, n, mask, margin: float, scale: torch.Tensor, ga, gn):
    """`_hinge` added into ``ga`` and ``gn``; returns the sum of squared hinges (both ends corrupted)."""
    da, dn, total = _hinge(a, n, mask, margin, scale)
    ga.add_(da)
    gn.add_(dn)
    return total


def _rows_to(x: torch.Tensor, n: int) -> torch.Tensor:
    """(m, C, D) chunk rows as the first m * C of n rows, zeros after."""
    rows = x.reshape(-1, x.shape[-1])
    return torch.nn.functional.pad(rows, (0, 0, 0, n - rows.shape[0]))


def _fused_kernel(a, b, t, c, n, mask, margin: float, scale: torch.Tensor, gn):
    """One pass over a batch whose first m * C rows form the chunks (m, C = mask's first two sizes): the
    distance term and the hinge of each chunk's sources against its candidates ``n`` (m, K, D). In place:
    ``a`` := d/dE[s] (both terms), ``b`` := d/dE[d] (the distance term), ``gn`` := d/dn. Returns the sums
    of c * err^2 and of the squared hinges."""
    g, loss = distance_terms(a, b, t, c)
    m, C, _ = mask.shape
    da, dn, hinge = _hinge(a[:m * C].view(m, C, -1), n, mask, margin, scale)
    gn.copy_(dn)
    b.copy_(-g)
    a.copy_(g + _rows_to(da, a.shape[0]))
    return loss, hinge


def _fused_batch_kernel(a, b, t, c, mask, margin: float, scale: torch.Tensor):
    """`_fused_kernel` where the candidates are the chunk's own destinations (the batch sampler): ``b`` :=
    d/dE[d] gets the hinge's share too, and nothing else is gathered or scattered."""
    g, loss = distance_terms(a, b, t, c)
    m, C, _ = mask.shape
    da, db, hinge = _hinge(a[:m * C].view(m, C, -1), b[:m * C].view(m, C, -1), mask, margin, scale)
    a.copy_(g + _rows_to(da, a.shape[0]))
    b.copy_(_rows_to(db, b.shape[0]) - g)
    return loss, hinge


def _pos_grad_kernel(a, b, t, c, ga, gb):
    """The distance term's gradients into separate buffers (``a``, ``b`` stay: the negatives need them)."""
    g, loss = distance_terms(a, b, t, c)
    ga.copy_(g)
    gb.copy_(-g)
    return loss


_chunk_hinge = compiled(_chunk_hinge_kernel)
_pos_grad = compiled(_pos_grad_kernel)
_fused = compiled(_fused_kernel)
_fused_batch = compiled(_fused_batch_kernel)


def chunk_order(n: int, size: int, device) -> torch.Tensor:
    """A batch sorted by source, reordered so that chunk j (rows j*size ... j*size + size - 1) takes rows
    j, j + m, j + 2m, ... of the sorted order (m = n // size): far apart, so of different sources, while the
    gathers and scatters still walk ``size`` ascending streams. Rows beyond m * size keep their place."""
    m = n // size
    head = torch.arange(m * size, device=device).view(size, m).t().reshape(-1)
    return torch.cat([head, torch.arange(m * size, n, device=device)])


def fixed_negatives(edges, k: int, n_senses: int, seed: int) -> torch.Tensor:
    """k uniform negatives per edge, drawn once from ``seed`` (the validation set's, the same every epoch)."""
    gen = torch.Generator().manual_seed(seed)
    s, d = (edges.rows[:, 0].long().cpu(), edges.rows[:, 1].long().cpu())
    ids = torch.randint(0, n_senses, (len(edges), k), generator=gen)
    for _ in range(2):
        bad = (ids == s[:, None]) | (ids == d[:, None])
        ids = torch.where(bad, (ids + 1) % n_senses, ids)
    return ids.to(edges.rows.device)


@torch.no_grad()
def negative_sum(W: torch.Tensor, edges, negatives: torch.Tensor, margin: float, buf) -> torch.Tensor:
    """Sum of max(0, margin - ||W[s] - W[n]||)^2 over a fixed (N, k) set of negatives of ``edges``."""
    total = torch.zeros((), dtype=torch.float64, device=W.device)
    for start in range(0, len(edges), buf.rows):
        s = edges.rows[start:start + buf.rows, 0].long()
        m = s.shape[0]
        a = torch.index_select(W, 0, s, out=buf.a[:m])
        for j in range(negatives.shape[1]):
            diff = torch.index_select(W, 0, negatives[start:start + m, j], out=buf.b[:m]).sub_(a)
            viol = torch.clamp(margin - torch.linalg.vector_norm(diff, dim=1), min=0.0)
            total += (viol * viol).sum(dtype=torch.float64)
    return total


class Negatives(Objective):
    name = "negatives"
    terms = ("distance", "negative")
    flags = ("negatives", "negative_sampler", "negative_margin", "negative_weight", "corrupt_source")
    auto_lr_schedule = "plateau"
    buffer_names = ("a", "b", "n", "gn")  # a drawing sampler; set per instance in __init__

    def __init__(self, cfg, graph, train_idx, val_edges, device):
        super().__init__(cfg, graph, train_idx, val_edges, device)
        self.k, self.margin, self.weight = cfg.negatives, cfg.negative_margin, cfg.negative_weight
        self.both = cfg.corrupt_source
        self.sampler = samplers.get(cfg.negative_sampler)(graph, train_idx, device)
        self.val_negatives = fixed_negatives(val_edges, self.k, graph.vocab.size, cfg.seed + 1)
        # the batch sampler needs no rows beyond the batch's; both ends corrupted keep the distance gradients apart
        self.buffer_names = (("a", "b") if not self.sampler.gathers else
                             ("a", "b", "n", "gn") + (("ga", "gb") if self.sides == 2 else ()))

    @property
    def sides(self) -> int:
        """Ends corrupted per edge (the batch sampler corrupts both by construction: counted once)."""
        return 2 if self.both and self.sampler.gathers else 1

    def start_epoch(self, gen):
        self.sampler.reseed(gen)

    def describe(self):
        return (f"  Negatives: {self.k} per edge ({self.sampler.name}), margin {self.margin}, weight {self.weight}"
                + (", both ends corrupted" if self.both else ""))

    def means(self, sums, n_edges, split):
        distance, negative = sums
        pairs = n_edges * self.k * (self.sides if split == "train" else 1)  # validation: one fixed set per edge
        return {"distance": distance / n_edges, "negative": self.weight * negative / pairs}

    def step(self, W, G, rows, buf):
        n, C, k = rows.shape[0], self.k + 1, self.k
        rows = sorted_by_source(rows)
        rows = rows.index_select(0, chunk_order(n, C, rows.device))
        s, d, t, c = unpack(rows)
        a = torch.index_select(W, 0, s, out=buf.a[:n])
        b = torch.index_select(W, 0, d, out=buf.b[:n])
        scale = torch.tensor(2.0 * self.weight / (n * k * self.sides), dtype=W.dtype, device=W.device)
        if self.sides == 2:
            return self._both_ends(W, G, a, s, b, d, t, c, buf, n, scale)
        m = n // C
        S, Dd = s[:m * C].view(m, C), d[:m * C].view(m, C)
        if m == 0:  # fewer edges than a chunk: the distance term alone
            loss, hinge = _pos_grad(a, b, t, c, a, b), torch.zeros((), dtype=W.dtype, device=W.device)
        elif not self.sampler.gathers:
            # a pair is a negative when its destination is neither the edge's own destination nor its source
            mask = ((Dd[:, None, :] != Dd[:, :, None]) & (Dd[:, None, :] != S[:, :, None])).to(W.dtype)
            # one chunk runs eagerly: compiled again for a single chunk, the kernel fails in torch 2.13's inductor
            kernel = _fused_batch if m > 1 else _fused_batch_kernel
            loss, hinge = kernel(a, b, t, c, mask, self.margin, scale)
        else:  # k draws per chunk, shared by its edges: gathered once, scattered once
            ids = self.sampler.draw(m * k).view(m, k)
            mask = ((ids[:, None, :] != S[:, :, None]) & (ids[:, None, :] != Dd[:, :, None])).to(W.dtype)
            N = torch.index_select(W, 0, ids.reshape(-1), out=buf.n[:m * k]).view(m, k, -1)
            kernel = _fused if m > 1 else _fused_kernel
            loss, hinge = kernel(a, b, t, c, N, mask, self.margin, scale, buf.gn[:m * k].view(m, k, -1))
            scatter_sorted(G, ids.reshape(-1), buf.gn[:m * k], buf.n[:m * k])
        G.index_add_(0, s, a)
        scatter_sorted(G, d, b, buf.a[:n])  # a is free once scattered
        return [loss, hinge]

    def _both_ends(self, W, G, a, s, b, d, t, c, buf, n: int, scale):
        """``corrupt_source`` with a sampler that draws: the sources against one draw per chunk, the
        destinations against another; the distance term's gradients into separate buffers first."""
        ga, gb = buf.ga[:n], buf.gb[:n]
        loss_sum = _pos_grad(a, b, t, c, ga, gb)
        neg_sum = self._chunks(W, G, a, s, ga, b, d, gb, buf, n, scale)
        G.index_add_(0, s, ga)
        scatter_sorted(G, d, gb, buf.b[:n])
        return [loss_sum, neg_sum]

    def _chunks(self, W, G, a, s_ids, ga, b, d_ids, gb, buf, n: int, scale):
        """The negative term of a batch in chunks of k + 1 edges (rows already in `chunk_order`), both ends
        corrupted: each side draws k senses per chunk, shared by its edges."""
        C, k = self.k + 1, self.k
        m = n // C
        if m == 0:
            return torch.zeros((), dtype=torch.float32, device=W.device)
        rows = m * C
        S, Dd = s_ids[:rows].view(m, C), d_ids[:rows].view(m, C)
        total = torch.zeros((), dtype=torch.float32, device=W.device)
        for anchor, grad in ((a[:rows].view(m, C, -1), ga[:rows].view(m, C, -1)),
                             (b[:rows].view(m, C, -1), gb[:rows].view(m, C, -1))):
            ids = self.sampler.draw(m * k).view(m, k)
            mask = ((ids[:, None, :] != S[:, :, None]) & (ids[:, None, :] != Dd[:, :, None])).to(W.dtype)
            N = torch.index_select(W, 0, ids.reshape(-1), out=buf.n[:m * k]).view(m, k, -1)
            GN = buf.gn[:m * k].zero_().view(m, k, -1)
            total = total + _chunk_hinge(anchor, N, mask, self.margin, scale, grad, GN)
            scatter_sorted(G, ids.reshape(-1), buf.gn[:m * k], buf.n[:m * k])
        return total

    def validation_sums(self, W, edges, buf):
        return [distance_sum(W, edges, buf), negative_sum(W, edges, self.val_negatives, self.margin, buf)]
