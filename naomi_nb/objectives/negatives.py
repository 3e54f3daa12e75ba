"""The default objective: the seed's distance term plus a hinge that keeps sampled unrelated senses apart
(``--objective negatives``).

For every training edge, k sampled senses n that should be unrelated add
``negative_weight * max(0, margin - ||E[s] - E[n]||)^2``, averaged over the k negatives of the batch (and, with
``corrupt_source``, as many pairs (n, d)). The gradient is written by hand, like the distance term's.

A batch sorted by source is cut into chunks of k + 1 edges whose sources are far apart (`chunks`: chunk j is
rows j, j + m, j + 2m, ... of the sorted batch; kept as (k + 1, m, D) slabs, so nothing is reordered).
Where the negatives come from is the sampler's business (`naomi_nb.samplers`): a sampler that draws gives k
senses per chunk, shared by the chunk's edges (gathered once, scattered once: a k-th of the rows that one draw
per edge would move); the batch sampler draws nothing and each edge's negatives are the other k destinations
of its chunk. A negative never counts when it equals either end of the edge (masked). Validation uses k
uniform negatives per edge drawn once from the seed, the same every epoch.
"""
from __future__ import annotations

import torch

from .. import components
from ..components import knob, register
from .base import (Objective, compiled, distance_grad, distance_sum, distance_terms, scatter_rows, sorted_by_source,
                   unpack)
from .plain import distance_loss


def _coefficients(A, n, mask, margin: float, scale: torch.Tensor):
    """Every anchor of a chunk against every candidate of it: ``A`` (C, m, D), ``n`` (K, m, D), ``mask``
    (C, K, m) with 1 where the pair is a negative (chunk j holds row j of each of the C and K slabs).
    Returns coef (C, K, m, 1) with d(loss)/d(A[c] - n[e]) = coef[c, e] * (A[c] - n[e]), and the sum of squared
    hinges ``(margin - ||A[c] - n[e]||)^2`` where positive; the gradients are scaled by ``scale / 2`` (a 0-d
    tensor: a float that changes with the batch size would be compiled again for every size). Called inside
    compiled kernels, which fuse the (C, K, m, D) differences into one reduction (never made)."""
    diff = A[:, None] - n[None]
    dist = torch.sqrt(torch.clamp((diff * diff).sum(-1), min=1e-12))
    viol = torch.clamp(margin - dist, min=0.0) * mask
    return (-scale * viol / dist)[..., None], (viol * viol).sum()


def _anchor_grad(A, n, coef):
    """d(hinge)/dA, (C, m, D): a sum over the K candidate slabs (unrolled: K is fixed for a run, and a
    reduction over a middle dimension is slow in the CPU compiler's code)."""
    return sum(coef[:, e] * (A - n[e][None]) for e in range(n.shape[0]))


def _candidate_grad(A, n, coef):
    """d(hinge)/dn, (K, m, D): a sum over the C anchor slabs."""
    return sum(coef[c] * (n - A[c][None]) for c in range(A.shape[0]))


def _rows_to(x: torch.Tensor, n: int) -> torch.Tensor:
    """(C, m, D) chunk slabs as the first C * m of n rows (slab c is rows c*m ... c*m + m - 1), zeros after."""
    rows = x.reshape(-1, x.shape[-1])
    return torch.nn.functional.pad(rows, (0, 0, 0, n - rows.shape[0]))


def _chunk_hinge_kernel(A, n, mask, margin: float, scale: torch.Tensor, gA, gn):
    """The hinge of anchors ``A`` against candidates ``n``: d/dA added into ``gA``, d/dn written into ``gn``;
    returns the sum of squared hinges (both ends corrupted, one end at a time)."""
    coef, hinge = _coefficients(A, n, mask, margin, scale)
    gn.copy_(_candidate_grad(A, n, coef))
    gA.add_(_anchor_grad(A, n, coef))
    return hinge


def _fused_kernel(a, b, t, c, n, mask, margin: float, scale: torch.Tensor, ga, gn):
    """One pass over a batch sorted by source whose first C * m rows are the chunk slabs (C, K, m = mask's
    sizes): the distance term and the hinge of each chunk's sources against its candidates ``n`` (K, m, D).
    Writes ``ga`` := d/dE[s] (both terms), ``b`` := d/dE[d] (the distance term, in place: row by row),
    ``gn`` := d/dn. Returns the sums of c * err^2 and of the squared hinges. The sources' gradient goes to
    its own buffer: written over ``a`` while other rows of ``a`` are still read, the compiler would make a
    whole-batch temporary (a fresh allocation every step: page faults, 3x slower)."""
    C, _, m = mask.shape
    g, loss = distance_terms(a, b, t, c)
    A = a[:C * m].view(C, m, -1)
    coef, hinge = _coefficients(A, n, mask, margin, scale)
    gn.copy_(_candidate_grad(A, n, coef))
    ga.copy_(g + _rows_to(_anchor_grad(A, n, coef), a.shape[0]))
    b.copy_(-g)
    return loss, hinge


def _shifted_grads(A, B, mask, margin: float, scale: torch.Tensor):
    """The batch sampler's hinge without the pairs the mask always drops (an edge against its own
    destination): for each shift r = 1 .. C - 1, anchor slab c against destination slab (c + r) mod C.
    Returns d/dA, d/dB (each (C, m, D)) and the sum of squared hinges."""
    C = A.shape[0]
    slab = torch.arange(C, device=A.device)
    GA = GB = hinge = None
    for r in range(1, C):
        diff = A - torch.roll(B, -r, 0)
        dist = torch.sqrt(torch.clamp((diff * diff).sum(-1, keepdim=True), min=1e-12))
        viol = torch.clamp(margin - dist, min=0.0) * mask[slab, (slab + r) % C][..., None]
        coef = -scale * viol / dist
        ga, gb = coef * diff, torch.roll(coef, r, 0) * (B - torch.roll(A, r, 0))
        GA, GB = (ga, gb) if GA is None else (GA + ga, GB + gb)
        hinge = (viol * viol).sum() if hinge is None else hinge + (viol * viol).sum()
    return GA, GB, hinge


def _fused_batch_kernel(a, b, t, c, mask, margin: float, scale: torch.Tensor, ga, gb):
    """`_fused_kernel` where the candidates are the chunk's own destinations (the batch sampler, K = C):
    ``ga`` := d/dE[s], ``gb`` := d/dE[d], both terms; nothing else is gathered or scattered. With one negative
    (C = 2) by shifts (`_shifted_grads`: half the pairs; 47 against 61 ms per step at 128 dims, 209 against
    281 at 512); with more, every pair at once (the shifts were slower there: 323 against 232 ms for C = 6)."""
    C, _, m = mask.shape
    g, loss = distance_terms(a, b, t, c)
    A, B = a[:C * m].view(C, m, -1), b[:C * m].view(C, m, -1)
    if C == 2:
        GA, GB, hinge = _shifted_grads(A, B, mask, margin, scale)
    else:
        coef, hinge = _coefficients(A, B, mask, margin, scale)
        GA, GB = _anchor_grad(A, B, coef), _candidate_grad(A, B, coef)
    ga.copy_(g + _rows_to(GA, a.shape[0]))
    gb.copy_(_rows_to(GB, b.shape[0]) - g)
    return loss, hinge


_chunk_hinge = compiled(_chunk_hinge_kernel)
_fused = compiled(_fused_kernel)
_fused_batch = compiled(_fused_batch_kernel)


def chunks(s: torch.Tensor, d: torch.Tensor, size: int):
    """The chunk slabs of a batch sorted by source: chunk j holds rows j, j + m, ..., j + (size - 1) m
    (m = n // size), far apart, so of different sources. Returns m and the (size, m) views of the sources and
    destinations; rows beyond m * size belong to no chunk (the distance term alone)."""
    m = s.shape[0] // size
    return m, s[:m * size].view(size, m), d[:m * size].view(size, m)


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


MAX_NEGATIVES = 10_000  # more per edge is a typo, not a setting


@register("objective")
class Negatives(Objective):
    """The seed's loss plus a hinge that pushes k sampled unrelated senses at least --negative-margin apart."""

    name = "negatives"
    terms = ("distance", "negative")
    knobs = {
        "negatives": knob(1, "negatives per training edge (objectives negatives, graded, inherit)",
                          range=f"[1, {MAX_NEGATIVES}]", search=[1, 2, 4]),
        "negative_sampler": knob("uniform", "where negatives come from (see 'negative sampler settings' below)",
                                 choices="sampler"),
        "negative_margin": knob(0.8, "a negative pair closer than this is pushed apart: weight * (margin - d)^2",
                                range="> 0", search=(0.4, 1.6)),
        "negative_weight": knob(1.0, "weight of the negative term in the loss", range=">= 0", search=(0.1, 10.0, "log")),
        "corrupt_source": knob(False, "also corrupt the source of each edge (negatives on both ends)"),
    }
    auto_lr_schedule = "plateau"

    def __init__(self, cfg, graph, train_idx, val_edges, device):
        super().__init__(cfg, graph, train_idx, val_edges, device)
        self.k, self.margin, self.weight = cfg.negatives, cfg.negative_margin, cfg.negative_weight
        self.both = cfg.corrupt_source
        self.sampler = components.get("sampler", cfg.negative_sampler)(graph, train_idx, device)
        self.val_negatives = fixed_negatives(val_edges, self.k, graph.vocab.size, cfg.seed + 1)

    @classmethod
    def buffer_plan(cls, cfg):
        # each end's gradient has its own buffer (ga, gb); the batch sampler gathers no rows beyond the batch's
        if not components.get("sampler", cfg.negative_sampler).gathers:
            return dict.fromkeys(("a", "b", "ga", "gb"), 1.0)
        k = cfg.negatives
        plan = dict.fromkeys(("a", "b", "ga"), 1.0) | dict.fromkeys(("n", "gn"), k / (k + 1))  # k draws per k + 1
        return plan | ({"gb": 1.0} if cfg.corrupt_source else {})  # both ends: the distance gradients apart

    @property
    def sides(self) -> int:
        """Ends corrupted per edge (the batch sampler corrupts both by construction: counted once)."""
        return 2 if self.both and self.sampler.gathers else 1

    def start_epoch(self, gen):
        self.sampler.reseed(gen)

    def generators(self):
        return [self.sampler.gen]

    def describe(self):
        return (f"  Negatives: {self.k} per edge ({self.sampler.name}), margin {self.margin}, weight {self.weight}"
                + (", both ends corrupted" if self.both else ""))

    def means(self, sums, n_edges, split):
        distance, negative = sums
        pairs = n_edges * self.k * (self.sides if split == "train" else 1)  # validation: one fixed set per edge
        return {"distance": distance / n_edges, "negative": self.weight * negative / pairs}

    def step(self, W, G, rows, buf):
        n, C, k = rows.shape[0], self.k + 1, self.k
        s, d, t, c = unpack(sorted_by_source(rows))
        a = torch.index_select(W, 0, s, out=buf.a[:n])
        b = torch.index_select(W, 0, d, out=buf.b[:n])
        scale = torch.tensor(2.0 * self.weight / (n * k * self.sides), dtype=W.dtype, device=W.device)
        if self.sides == 2:
            return self._both_ends(W, G, a, s, b, d, t, c, buf, n, scale)
        m, S, Dd = chunks(s, d, C)
        if m == 0:  # fewer edges than a chunk: the distance term alone
            loss = distance_grad(a, b, t, c, a, b)
            G.index_add_(0, s, a)
            scatter_rows(G, d, b, buf.ga[:n])
            return [loss, torch.zeros((), dtype=W.dtype, device=W.device)]
        # one chunk runs eagerly: compiled again for a single chunk, the kernels fail in torch 2.13's inductor
        eager = m == 1
        ga = buf.ga[:n]
        if not self.sampler.gathers:
            # mask[c, e, j]: chunk j's destination e is a negative for its edge c (neither its end nor its source)
            mask = ((Dd[None, :, :] != Dd[:, None, :]) & (Dd[None, :, :] != S[:, None, :])).to(W.dtype)
            gb = buf.gb[:n]
            kernel = _fused_batch_kernel if eager else _fused_batch
            loss, hinge = kernel(a, b, t, c, mask, self.margin, scale, ga, gb)
            G.index_add_(0, s, ga)
            scatter_rows(G, d, gb, buf.a[:n])  # a is free once the kernel ran
            return [loss, hinge]
        # k draws per chunk, shared by its edges: gathered once, scattered once
        ids = self.sampler.draw(m * k)
        drawn = ids.view(k, m)
        mask = ((drawn[None, :, :] != S[:, None, :]) & (drawn[None, :, :] != Dd[:, None, :])).to(W.dtype)
        N = torch.index_select(W, 0, ids, out=buf.n[:m * k]).view(k, m, -1)
        GN = buf.gn[:m * k]
        kernel = _fused_kernel if eager else _fused
        loss, hinge = kernel(a, b, t, c, N, mask, self.margin, scale, ga, GN.view(k, m, -1))
        scatter_rows(G, ids, GN, buf.n[:m * k])
        G.index_add_(0, s, ga)
        scatter_rows(G, d, b, buf.a[:n])  # a is free once the kernel ran
        return [loss, hinge]

    def _both_ends(self, W, G, a, s, b, d, t, c, buf, n: int, scale):
        """``corrupt_source`` with a sampler that draws: the sources against one draw per chunk, the
        destinations against another; the distance term's gradients into separate buffers first."""
        ga, gb = buf.ga[:n], buf.gb[:n]
        loss_sum = distance_grad(a, b, t, c, ga, gb)
        neg_sum = self._chunks(W, G, a, s, ga, b, d, gb, buf, n, scale)
        G.index_add_(0, s, ga)
        scatter_rows(G, d, gb, buf.b[:n])
        return [loss_sum, neg_sum]

    def _chunks(self, W, G, a, s_ids, ga, b, d_ids, gb, buf, n: int, scale):
        """The negative term of a sorted batch in chunks of k + 1 edges (`chunks`), both ends corrupted: each
        side draws k senses per chunk, shared by its edges."""
        C, k = self.k + 1, self.k
        m, S, Dd = chunks(s_ids, d_ids, C)
        if m == 0:
            return torch.zeros((), dtype=torch.float32, device=W.device)
        rows = m * C
        total = torch.zeros((), dtype=torch.float32, device=W.device)
        kernel = _chunk_hinge_kernel if m == 1 else _chunk_hinge
        for anchor, grad in ((a[:rows].view(C, m, -1), ga[:rows].view(C, m, -1)),
                             (b[:rows].view(C, m, -1), gb[:rows].view(C, m, -1))):
            ids = self.sampler.draw(m * k)
            drawn = ids.view(k, m)
            mask = ((drawn[None, :, :] != S[:, None, :]) & (drawn[None, :, :] != Dd[:, None, :])).to(W.dtype)
            N = torch.index_select(W, 0, ids, out=buf.n[:m * k]).view(k, m, -1)
            total = total + kernel(anchor, N, mask, self.margin, scale, grad, buf.gn[:m * k].view(k, m, -1))
            scatter_rows(G, ids, buf.gn[:m * k], buf.n[:m * k])
        return total

    def validation_sums(self, W, edges, buf):
        return [distance_sum(W, edges, buf), negative_sum(W, edges, self.val_negatives, self.margin, buf)]

    # the plain form (`naomi_nb.objectives.plain`): the definition `step` computes by hand

    def draw(self, s, d, gen=None):
        """The negatives `step` uses for a batch sorted by source (``s`` -> ``d``), as k ids per edge: the
        sampler's draws (k per chunk of k + 1 edges and per corrupted end, in `step`'s order; ``gen`` is
        unused) or, with the batch sampler, the chunk's k + 1 destinations. An edge in no chunk gets its own
        source, which `loss` masks."""
        C, k = self.k + 1, self.k
        m, _, Dd = chunks(s, d, C)

        def per_edge(ids):  # (K, m) ids of each chunk -> (n, K): edge c*m + j gets chunk j's
            return torch.cat([ids.t().repeat(C, 1), s[m * C:, None].expand(-1, ids.shape[0])])

        if not self.sampler.gathers:
            return {"negatives": per_edge(Dd)}
        names = ("negatives", "target_negatives")[:self.sides]  # the sources' draw first, as `step` makes them
        return {name: per_edge(self.sampler.draw(m * k).view(k, m) if m else s.new_empty(k, 0)) for name in names}

    def loss(self, batch):
        """Per edge: the distance term, and ``negative_weight / (k * sides)`` times the sum of
        ``max(0, margin - ||anchor - E[n]||)^2`` over its negatives n (anchor: the source; with
        ``corrupt_source`` the destination too, against its own draw), a negative that is an end of the edge
        masked. Subclasses' pair terms are apart (``Graded.pair_loss``)."""
        s, d = batch.ids["source"][:, None], batch.ids["target"][:, None]
        hinge = 0.0
        for anchor, name in ((batch.source, "negatives"), (batch.target, "target_negatives")):
            if name in batch.rows:
                keep = (batch.ids[name] != s) & (batch.ids[name] != d)
                dist = torch.linalg.vector_norm(anchor[:, None] - batch.rows[name], dim=-1)
                hinge = hinge + (keep * torch.clamp(self.margin - dist, min=0.0) ** 2).sum(1)
        return {"distance": distance_loss(batch), "negative": self.weight * hinge / (self.k * self.sides)}
