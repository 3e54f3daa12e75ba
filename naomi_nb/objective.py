"""The objective on device tensors: edges packed for the GPU, the loss and its hand-written gradient, the
proximal step and the per-epoch statistics.

For an edge (s, r, d) with confidence c and target distance t_r the seed's loss is
``c * (||E[s] - E[d]|| - t_r)^2`` averaged over the batch, plus ``sparsity_weight * mean(|E|)`` over the
whole matrix. The gradient of the distance term is computed by hand and scattered with ``index_add_``
(autograd through the row gather is several times slower); the L1 term's gradient is the dense
``sparsity_weight / numel * sign(E)``. A test checks this against the plain autograd formulation.

``objective="negatives"`` adds, for every training edge, k sampled senses n that should be unrelated:
``negative_weight * max(0, margin - ||E[s] - E[n]||)^2`` averaged over the k negatives of the batch (and, with
``corrupt_source``, as many pairs (n, d)). Its gradient is written by hand too (`train_step_negatives`); the
samplers are in `Negatives`.

``sparsity_mode="proximal"`` drops the L1 term from the gradient and soft-thresholds after every Adam
step instead (`soft_threshold_`): each value moves ``proximal_strength * lr`` toward zero and stops at
exactly zero.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .dims import NEAR_ZERO
from .graph import Graph
from .memory import is_oom  # noqa: F401 - the trainer's retries and `compiled` share one test


def compiled(fn):
    """``fn`` through ``torch.compile`` (one fused pass instead of several), or ``fn`` itself where compiling
    is not possible here (no C++ compiler, an unsupported device): same results, only slower.

    Decided per call: an out-of-memory error (while compiling or running) goes to the caller, which shrinks
    its batch and calls again, compiled; any other failure of the compiled version switches to ``fn`` for
    good, with a warning (a real error of the computation then comes back from ``fn`` itself).
    """
    state = {"fn": None}

    def call(*args):
        if state["fn"] is None:
            state["fn"] = torch.compile(fn, dynamic=True)
        if state["fn"] is fn:
            return fn(*args)
        try:
            return state["fn"](*args)
        except Exception as err:  # noqa: BLE001 - any compiler failure means: run it eagerly
            if is_oom(err):
                raise  # not the compiler's fault: memory; the next call compiles again
            warnings.warn(f"torch.compile unavailable ({err.__class__.__name__}); {fn.__name__} runs eagerly")
            state["fn"] = fn
        return fn(*args)

    call.__name__ = fn.__name__
    return call


# ---------------------------------------------------------------- edges on the device

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
    """Preallocated (batch, dims) work buffers: fresh large tensors every step cost page faults.

    ``a`` and ``b`` hold the gathered rows; with ``negatives`` also ``ga``/``gb`` (their gradients) and
    ``n``/``gn`` (a negative's rows and their gradient).
    """

    def __init__(self, rows: int, dims: int, device: torch.device, dtype=torch.float32, negatives: bool = False):
        self.rows, self.dims = rows, dims
        names = ("a", "b", "ga", "gb", "n", "gn") if negatives else ("a", "b")
        for name in names:
            setattr(self, name, torch.empty(rows, dims, device=device, dtype=dtype))

    def fits(self, rows: int, dims: int) -> bool:
        return rows <= self.rows and dims == self.dims


# ---------------------------------------------------------------- the loss and its gradient

def _edge_terms(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, c: torch.Tensor):
    """The distance term of a batch's rows ``a = E[s]``, ``b = E[d]``: (d(loss)/d E[s], sum of c * err^2).

    d(scale/2 * c * err^2)/d diff = scale * c * err * diff / dist with err = dist - t and scale = 2 / n;
    zero where dist == 0, as autograd's norm gives. n comes from the tensor's shape, not a Python float
    argument: torch.compile (2.5 and older) bakes float arguments in as constants, and every batch size would
    compile again until the recompile limit. Called inside the compiled kernels below, so it fuses with them.
    """
    scale = 2.0 / a.shape[0]
    diff = a - b
    dist = torch.sqrt((diff * diff).sum(1))
    err = dist - t
    coef = torch.where(dist > 0, scale * c * err / dist, torch.zeros_like(dist))
    return diff * coef[:, None], (c * err * err).sum()


def _edge_grad_kernel(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, c: torch.Tensor):
    """``a`` := d(loss)/d E[s] in place (the seed's step scatters it and its negation); returns sum c * err^2.
    One pass instead of five when compiled."""
    g, loss = _edge_terms(a, b, t, c)
    a.copy_(g)
    return loss


def _l1_grad_kernel(W: torch.Tensor, G: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """``coef`` is a 0-d tensor (sparsity_weight / numel changes with every expansion: as a float it would
    be compiled in as a constant)."""
    G.copy_(torch.sign(W) * coef)
    return W.abs().sum(dtype=torch.float32)


_l1_grad = compiled(_l1_grad_kernel)
_edge_grad = compiled(_edge_grad_kernel)


def l1_coefficient(value: float, E: torch.Tensor) -> torch.Tensor:
    """The L1 gradient's coefficient as a 0-d tensor on E's device (rounded to E's dtype as a scalar would be)."""
    return torch.tensor(value, dtype=E.dtype, device=E.device)


def train_step(E, G, opt, rows, buf: Buffers, l1_coef):
    """One Adam step on a batch of packed edge rows. Returns (sum of c*err^2, sum |E| before the step),
    as device scalars. ``l1_coef``: a 0-d tensor (`l1_coefficient`) or a float."""
    n = rows.shape[0]
    if not isinstance(l1_coef, torch.Tensor):
        l1_coef = l1_coefficient(l1_coef, E)
    W = E.detach()  # the same storage, outside autograd: every gradient here is written by hand
    # sorted by source, the gather and the scatter below walk E's rows in order
    rows = rows.index_select(0, torch.argsort(rows[:, 0]))
    s, d, t, c = unpack(rows)
    grad = torch.index_select(W, 0, s, out=buf.a[:n])
    loss_sum = _edge_grad(grad, torch.index_select(W, 0, d, out=buf.b[:n]), t, c)
    # the dense gradient of sparsity_weight * mean|E| (sign(0) = 0, as autograd's), written over last step's
    # gradient, and sum |E| for the log, in one pass
    l1_sum = _l1_grad(W, G, l1_coef)
    G.index_add_(0, s, grad)
    # the destination side, sorted too: an unsorted index_add_ is several times slower (and alpha=-1 would
    # allocate a scaled copy), so reorder into the free buffer and negate there
    d_sorted, d_order = torch.sort(d)
    G.index_add_(0, d_sorted, torch.index_select(grad, 0, d_order, out=buf.b[:n]).neg_())
    opt.step()
    return loss_sum, l1_sum


@torch.no_grad()
def distance_loss_sum(E: torch.Tensor, edges: EdgeSet, buf: Buffers) -> torch.Tensor:
    """Sum of c * (||E[s] - E[d]|| - t)^2 over a set of edges, in buffer-sized chunks."""
    total = torch.zeros((), dtype=torch.float64, device=E.device)
    for start in range(0, len(edges), buf.rows):
        s, d, t, c = unpack(edges.rows[start:start + buf.rows])
        n = s.shape[0]
        diff = torch.index_select(E, 0, s, out=buf.a[:n])
        diff.sub_(torch.index_select(E, 0, d, out=buf.b[:n]))
        err = torch.linalg.vector_norm(diff, dim=1) - t
        total += (c * err * err).sum(dtype=torch.float64)
    return total


# ---------------------------------------------------------------- negatives

class Negatives:
    """Where the negatives of a batch come from, and the term's settings.

    A batch is cut into chunks of k + 1 edges whose sources are far apart in the sorted batch (`chunk_order`).
    ``batch``: each edge's negatives are the other k destinations of its chunk: no rows are gathered or
    scattered beyond the batch's own, and a batch's endpoints are themselves a sample in proportion to
    degree (PyTorch-BigGraph batches its negatives this way). ``uniform``: k senses with equal chance,
    shared by the chunk's edges. ``degree``: k senses in proportion to degree^0.75 in the training edges
    (as word2vec draws noise words), shared likewise. A negative never counts when it equals either end
    of the edge (masked). Draws come from a device generator re-seeded from the run's generator once per
    epoch, so runs and resumes repeat exactly.
    """

    def __init__(self, k: int, sampler: str, margin: float, weight: float, both: bool, n_senses: int,
                 device: torch.device, degree: np.ndarray | None = None):
        self.k, self.sampler, self.margin, self.weight, self.both = k, sampler, margin, weight, both
        self.V, self.device = n_senses, device
        self.gen = torch.Generator(device=device)
        self.cdf = None
        if sampler == "degree":
            w = np.power(np.asarray(degree, np.float64), 0.75)
            self.cdf = torch.from_numpy(np.cumsum(w) / w.sum()).to(device)

    @classmethod
    def from_config(cls, cfg, graph: Graph, train_idx: np.ndarray, device: torch.device) -> "Negatives | None":
        if cfg.objective != "negatives":
            return None
        degree = None
        if cfg.negative_sampler == "degree":
            degree = (np.bincount(graph.src[train_idx], minlength=graph.vocab.size)
                      + np.bincount(graph.dst[train_idx], minlength=graph.vocab.size))
        return cls(cfg.negatives, cfg.negative_sampler, cfg.negative_margin, cfg.negative_weight,
                   cfg.corrupt_source, graph.vocab.size, device, degree)

    @property
    def sides(self) -> int:
        """Ends corrupted per edge (batch negatives corrupt both by construction: counted once)."""
        return 2 if self.both and self.sampler != "batch" else 1

    def reseed(self, gen: torch.Generator) -> None:
        """One draw from the run's generator seeds this epoch's negatives."""
        self.gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))

    def draw(self, n: int) -> torch.Tensor:
        """n sense ids from the sampler (a chunk's negatives; pairs that hit an edge's own end are masked)."""
        if self.sampler == "degree":
            u = torch.rand(n, generator=self.gen, device=self.device, dtype=torch.float64)
            return torch.searchsorted(self.cdf, u).clamp_(max=self.V - 1)
        return torch.randint(0, self.V, (n,), generator=self.gen, device=self.device)


def _chunk_hinge_kernel(a, n, mask, margin: float, scale: torch.Tensor, ga, gn):
    """Every anchor row against every candidate row of its chunk: ``a`` (m, C, D), ``n`` (m, K, D), ``mask``
    (m, C, K) with 1 where the pair is a negative. Squared hinge ``(margin - ||a_c - n_e||)^2`` where positive;
    ``ga += d/da``, ``gn += d/dn`` (scaled by ``scale / 2``, a 0-d tensor: a float that changes with the batch
    size would be compiled again for every size); returns the sum of squared hinges.

    Distances come from ``|a|^2 + |n|^2 - 2 a.n`` (three batched products instead of one pass per pair),
    which is exact enough where the hinge acts (distances below the margin).
    """
    # (m, C, K, D) products reduced at once: compiled, no such tensor is ever made (small bmm's are slow on CPUs)
    dots = (a[:, :, None, :] * n[:, None, :, :]).sum(-1)
    d2 = (a * a).sum(-1)[:, :, None] + (n * n).sum(-1)[:, None, :] - 2.0 * dots
    dist = torch.sqrt(torch.clamp(d2, min=1e-12))
    viol = torch.clamp(margin - dist, min=0.0) * mask
    coef = -scale * viol / dist  # d(loss)/d(a_c - n_e) = coef * (a_c - n_e)
    ga.add_(coef.sum(2)[:, :, None] * a - (coef[:, :, :, None] * n[:, None, :, :]).sum(2))
    gn.add_(coef.sum(1)[:, :, None] * n - (coef[:, :, :, None] * a[:, :, None, :]).sum(1))
    return (viol * viol).sum()


def _pos_grad_kernel(a, b, t, c, ga, gb):
    """The distance term's gradients into separate buffers (``a``, ``b`` stay: the negatives need them)."""
    g, loss = _edge_terms(a, b, t, c)
    ga.copy_(g)
    gb.copy_(-g)
    return loss


_chunk_hinge = compiled(_chunk_hinge_kernel)
_pos_grad = compiled(_pos_grad_kernel)


def chunk_order(n: int, size: int, device) -> torch.Tensor:
    """A batch sorted by source, reordered so that chunk j (rows j*size ... j*size + size - 1) takes rows
    j, j + m, j + 2m, ... of the sorted order (m = n // size): far apart, so of different sources, while the
    gathers and scatters still walk ``size`` ascending streams. Rows beyond m * size keep their place."""
    m = n // size
    head = torch.arange(m * size, device=device).view(size, m).t().reshape(-1)
    return torch.cat([head, torch.arange(m * size, n, device=device)])


def _negatives(W, G, neg: "Negatives", a, s_ids, ga, b, d_ids, gb, buf: Buffers, n: int, scale: float):
    """The negative term of a batch in chunks of k + 1 edges (rows already in `chunk_order`).

    batch: each edge's negatives are the other k destinations of its chunk (so each destination also serves
    as a corrupted source for the others). uniform / degree: each chunk draws k senses, shared by its edges,
    gathered once and scattered once (a k-th of the rows that one draw per edge would move).
    """
    C = neg.k + 1
    m = n // C
    if m == 0:
        return torch.zeros((), dtype=torch.float32, device=W.device)
    rows = m * C
    A, GA = a[:rows].view(m, C, -1), ga[:rows].view(m, C, -1)
    S, Dd = s_ids[:rows].view(m, C), d_ids[:rows].view(m, C)
    if neg.sampler == "batch":
        Bm, GB = b[:rows].view(m, C, -1), gb[:rows].view(m, C, -1)
        # a pair is a negative when its destination is neither the edge's own destination nor its source
        mask = ((Dd[:, None, :] != Dd[:, :, None]) & (Dd[:, None, :] != S[:, :, None])).to(W.dtype)
        return _chunk_hinge(A, Bm, mask, neg.margin, scale, GA, GB)
    total = torch.zeros((), dtype=torch.float32, device=W.device)
    for anchor, grad in ((A, GA), (b[:rows].view(m, C, -1), gb[:rows].view(m, C, -1)))[:neg.sides]:
        ids = neg.draw(m * neg.k).view(m, neg.k)
        mask = ((ids[:, None, :] != S[:, :, None]) & (ids[:, None, :] != Dd[:, :, None])).to(W.dtype)
        N = torch.index_select(W, 0, ids.reshape(-1), out=buf.n[:m * neg.k]).view(m, neg.k, -1)
        GN = buf.gn[:m * neg.k].zero_().view(m, neg.k, -1)
        total = total + _chunk_hinge(anchor, N, mask, neg.margin, scale, grad, GN)
        ids_sorted, order = torch.sort(ids.reshape(-1))
        G.index_add_(0, ids_sorted, torch.index_select(buf.gn[:m * neg.k], 0, order, out=buf.n[:m * neg.k]))
    return total


def train_step_negatives(E, G, opt, rows, buf: Buffers, l1_coef: float, neg: "Negatives"):
    """One Adam step of the distance term plus the negative term. Returns (sum of c*err^2, sum |E| before the
    step, sum of the negatives' squared hinge), as device scalars."""
    n = rows.shape[0]
    W = E.detach()
    rows = rows.index_select(0, torch.argsort(rows[:, 0]))
    rows = rows.index_select(0, chunk_order(n, neg.k + 1, rows.device))
    s, d, t, c = unpack(rows)
    a = torch.index_select(W, 0, s, out=buf.a[:n])
    b = torch.index_select(W, 0, d, out=buf.b[:n])
    ga, gb = buf.ga[:n], buf.gb[:n]
    loss_sum = _pos_grad(a, b, t, c, ga, gb)
    l1_sum = _l1_grad(W, G, l1_coef)  # G starts as the L1 gradient; everything else adds to it
    scale = torch.tensor(2.0 * neg.weight / (n * neg.k * neg.sides), dtype=W.dtype, device=W.device)
    neg_sum = _negatives(W, G, neg, a, s, ga, b, d, gb, buf, n, scale)
    G.index_add_(0, s, ga)
    d_sorted, d_order = torch.sort(d)
    G.index_add_(0, d_sorted, torch.index_select(gb, 0, d_order, out=buf.b[:n]))
    opt.step()
    return loss_sum, l1_sum, neg_sum


@torch.no_grad()
def negative_loss_sum(E: torch.Tensor, edges: EdgeSet, negatives: torch.Tensor, margin: float,
                      buf: Buffers) -> torch.Tensor:
    """Sum of max(0, margin - ||E[s] - E[n]||)^2 over a fixed (N, k) set of negatives of ``edges``."""
    total = torch.zeros((), dtype=torch.float64, device=E.device)
    for start in range(0, len(edges), buf.rows):
        s = edges.rows[start:start + buf.rows, 0].long()
        m = s.shape[0]
        a = torch.index_select(E, 0, s, out=buf.a[:m])
        for j in range(negatives.shape[1]):
            diff = torch.index_select(E, 0, negatives[start:start + m, j], out=buf.b[:m]).sub_(a)
            viol = torch.clamp(margin - torch.linalg.vector_norm(diff, dim=1), min=0.0)
            total += (viol * viol).sum(dtype=torch.float64)
    return total


def fixed_negatives(edges: EdgeSet, k: int, n_senses: int, seed: int) -> torch.Tensor:
    """k uniform negatives per edge, drawn once from ``seed`` (the validation set's, the same every epoch)."""
    gen = torch.Generator().manual_seed(seed)
    s, d = (edges.rows[:, 0].long().cpu(), edges.rows[:, 1].long().cpu())
    ids = torch.randint(0, n_senses, (len(edges), k), generator=gen)
    for _ in range(2):
        bad = (ids == s[:, None]) | (ids == d[:, None])
        ids = torch.where(bad, (ids + 1) % n_senses, ids)
    return ids.to(edges.rows.device)


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
