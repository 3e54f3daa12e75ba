"""The training core: embeddings of word senses whose distances match WordNet's relations.

Read ``train()`` at the bottom first; everything above it is a helper it calls.

The objective is the seed's: for an edge (s, r, d) with confidence c and target
distance t_r, the loss is ``c * (||E[s] - E[d]|| - t_r)^2``, averaged over the
batch, plus ``sparsity_weight * mean(|E|)`` over the whole matrix, minimised
with Adam. The gradient of the distance term is computed by hand and scattered
with ``index_add_`` (autograd through the row gather is several times slower);
the L1 term's gradient is the dense ``sparsity_weight / numel * sign(E)``. A
test checks this against the plain autograd formulation.

``sparsity_mode="proximal"`` drops the L1 term from the gradient and instead
soft-thresholds after every Adam step: each value moves ``proximal_strength * lr``
toward zero and stops at exactly zero, so a value survives only while its
gradient keeps pulling harder than that. Exact zeros make "sparsity",
"dimension activity" and so expansion and pruning mean something.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import dims as D
from .checkpoint import (HistoryWriter, atomic_open, RunDirError, atomic_write_bytes, atomic_write_json,
                         check_resumable, load_checkpoint, new_run_dir, read_history, save_checkpoint)
from .config import ConfigError, TrainConfig
from .graph import Graph, GraphError, load_graph


@dataclass
class TrainResult:
    run_dir: Path
    history: list[dict]
    metrics: dict
    embeddings: np.ndarray = field(repr=False)


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else the CPU. (Apple's MPS has no float64, which the epoch sums use.)"""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {name}: only cpu and cuda are supported")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
    return device


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
    """Preallocated (batch, dims) work buffers: fresh large tensors every step cost page faults."""

    def __init__(self, rows: int, dims: int, device: torch.device, dtype=torch.float32):
        self.rows, self.dims = rows, dims
        self.a = torch.empty(rows, dims, device=device, dtype=dtype)
        self.b = torch.empty(rows, dims, device=device, dtype=dtype)

    def fits(self, rows: int, dims: int) -> bool:
        return rows <= self.rows and dims == self.dims


def make_optimizer(E: torch.Tensor, lr: float) -> torch.optim.Adam:
    """Adam over the whole matrix; the fused kernel (one pass over p, grad and both moments) where available."""
    if E.device.type in ("cpu", "cuda"):
        return torch.optim.Adam([E], lr=lr, fused=True)
    return torch.optim.Adam([E], lr=lr)


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


def _edge_grad_kernel(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, c: torch.Tensor, scale: float):
    """Rows ``a = E[s]``, ``b = E[d]`` of a batch -> ``a`` holds d(loss)/d E[s]; returns sum c * err^2.

    d(scale/2 * c * err^2)/d diff = scale * c * err * diff / dist with err = dist - t; zero where
    dist == 0, as autograd's norm gives. One pass instead of five when compiled.
    """
    diff = a - b
    dist = torch.sqrt((diff * diff).sum(1))
    err = dist - t
    coef = torch.where(dist > 0, scale * c * err / dist, torch.zeros_like(dist))
    a.copy_(diff * coef[:, None])
    return (c * err * err).sum()


def _l1_grad_kernel(W: torch.Tensor, G: torch.Tensor, coef: float) -> torch.Tensor:
    G.copy_(torch.sign(W) * coef)
    return W.abs().sum(dtype=torch.float32)


_l1_grad = D.compiled(_l1_grad_kernel)
_edge_grad = D.compiled(_edge_grad_kernel)


def train_step(E, G, opt, rows, buf: Buffers, l1_coef: float):
    """One Adam step on a batch of packed edge rows. Returns (sum of c*err^2, sum |E| before the step),
    as device scalars."""
    n = rows.shape[0]
    W = E.detach()  # the same storage, outside autograd: every gradient here is written by hand
    # sorted by source, the gather and the scatter below walk E's rows in order
    rows = rows.index_select(0, torch.argsort(rows[:, 0]))
    s, d, t, c = unpack(rows)
    grad = torch.index_select(W, 0, s, out=buf.a[:n])
    loss_sum = _edge_grad(grad, torch.index_select(W, 0, d, out=buf.b[:n]), t, c, 2.0 / n)
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


@torch.no_grad()
def expand(E: torch.Tensor, opt: torch.optim.Adam, new_dims: int, gen: torch.Generator, cfg: TrainConfig):
    """Append columns (small random values) on E's device and dtype; old values are kept bit for bit.

    Adam: ``carry`` keeps the moments of the old columns (new ones start at zero) and the step count;
    ``reset`` starts a fresh Adam, as the seed did.
    """
    V, old = E.shape
    extra = (torch.randn(V, new_dims - old, generator=gen) * cfg.expand_init_scale).to(E.device, E.dtype)
    E2 = torch.cat([E.detach(), extra], dim=1).requires_grad_(True)
    opt2 = make_optimizer(E2, cfg.lr)
    if cfg.optimizer_on_expand == "carry":
        m, v, step = adam_state(opt, E)
        pad = torch.zeros(V, new_dims - old, device=E.device, dtype=E.dtype)
        set_adam_state(opt2, E2, torch.cat([m, pad], 1), torch.cat([v, pad], 1), step)
    return E2, opt2


def prune_columns(E: torch.Tensor, keep: np.ndarray) -> torch.Tensor:
    """Keep the listed columns, on the same device and dtype."""
    idx = torch.as_tensor(np.flatnonzero(keep), device=E.device)
    return E.detach().index_select(1, idx).contiguous()


def save_sparse_if_worth_it(path: Path, emb: np.ndarray, min_zero_share: float = 0.5) -> int | None:
    """Also store the embeddings as a CSR matrix when at least half the entries are exact zeros; its size or None.

    A CSR copy left by an earlier part of a resumed run is removed when this one does not qualify.
    """
    if emb.size == 0 or np.count_nonzero(emb) > (1 - min_zero_share) * emb.size:
        path.unlink(missing_ok=True)
        return None
    import scipy.sparse

    with atomic_open(path) as f:
        scipy.sparse.save_npz(f, scipy.sparse.csr_matrix(emb), compressed=False)
    return path.stat().st_size


class StopOnInterrupt:
    """While active (main thread only), Ctrl-C or a notebook's interrupt button sets ``event`` instead of
    raising at whatever line runs: the loop stops at the next batch boundary, never with a matrix half
    updated. A second Ctrl-C raises at once."""

    def __init__(self):
        self.event = threading.Event()
        self._previous = None

    def _handle(self, signum, frame):
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()

    def __enter__(self) -> "StopOnInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _vocab_json(graph: Graph, dims: int, cfg: TrainConfig) -> bytes:
    import json

    return json.dumps(graph.vocab.to_json(embedding_dim=dims, starting_dim=cfg.embedding_dim,
                                          dynamic_dims_enabled=cfg.dynamic_dims)).encode()


def train(cfg: TrainConfig, graph: Graph | None = None, callbacks=(), stop_event: threading.Event | None = None,
          resume: str | Path | None = None, log=None, progress: bool = False) -> TrainResult:
    """Train embeddings; write a run directory; return its history, metrics and embeddings.

    Args:
        cfg: the configuration (validated here).
        graph: an already loaded graph; default: ``load_graph(cfg.training_data)``.
        callbacks: each called ``cb(record)`` once per epoch with the same plain dict.
        stop_event: when set, training ends cleanly at the next batch boundary (as does Ctrl-C).
        resume: a run directory to continue exactly from its last checkpoint; ``cfg`` is then read from it
            (only ``epochs``, ``patience`` and ``device`` of the given cfg are taken over).
        log: where stage lines go (``print`` for the CLI); the trainer itself prints nothing.
        progress: a tqdm bar per epoch when stderr is a terminal.
    """
    say = log or (lambda *a, **k: None)
    t_start = time.perf_counter()
    ckpt = None
    if resume is not None:
        run_dir = check_resumable(resume)
        saved = TrainConfig.load(run_dir / "config.json")
        cfg = saved.replace(epochs=cfg.epochs, patience=cfg.patience, device=cfg.device)
        ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    cfg.validate()
    device = pick_device(cfg.device)

    say("[1/7] Loading training data...")
    if graph is None:
        graph = load_graph(cfg.training_data)
    say(f"  {graph.vocab.size:,} senses, {graph.n_edges:,} edges, {len(graph.relations)} relations")
    say("[2/7] Splitting train/validation...")
    train_idx, val_idx = graph.split(cfg.seed, cfg.val_fraction)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise GraphError(f"{graph.n_edges} edges are too few for a training and a validation split "
                         f"(val_fraction {cfg.val_fraction})")
    say(f"  {len(train_idx):,} training edges, {len(val_idx):,} validation edges (seed {cfg.seed})")
    say(f"[3/7] Moving edges to {device}...")
    train_edges, val_edges = EdgeSet(graph, train_idx, device), EdgeSet(graph, val_idx, device)
    n_train, V = len(train_edges), graph.vocab.size

    say("[4/7] Initializing model...")
    # all randomness comes from one CPU generator: the same run on any device, and resumable on another
    gen = torch.Generator()
    gen.manual_seed(cfg.seed)
    stopper = D.EarlyStopping(cfg.patience, cfg.min_delta)
    if ckpt is None:
        if Path(cfg.training_data).is_dir():  # absolute, so analysis and resume find it from any directory
            cfg = cfg.replace(training_data=str(Path(cfg.training_data).resolve()))
        run_dir = new_run_dir(cfg.output_dir)
        cfg.save(run_dir / "config.json")
        E = (torch.randn(V, cfg.embedding_dim, generator=gen) * cfg.init_scale).to(device).requires_grad_(True)
        opt = make_optimizer(E, cfg.lr)
        batch_size, oom_cap = min(cfg.batch_size, n_train), None
        start_epoch, history = 1, []
        say(f"  {V:,} x {cfg.embedding_dim} embeddings on {device}, run directory {run_dir}")
    else:
        cfg.save(run_dir / "config.json")  # with the epochs, patience and device this part runs with
        E = ckpt["embeddings"].to(device).requires_grad_(True)
        opt = make_optimizer(E, cfg.lr)
        set_adam_state(opt, E, ckpt["exp_avg"].to(device), ckpt["exp_avg_sq"].to(device), ckpt["adam_step"])
        gen.set_state(ckpt["rng"])
        stopper.load_state_dict(ckpt["early_stopping"])
        batch_size, oom_cap, start_epoch = ckpt["batch_size"], ckpt["oom_cap"], ckpt["epoch"] + 1
        history = read_history(run_dir, upto_epoch=ckpt["epoch"])
        say(f"  resumed {run_dir} after epoch {ckpt['epoch']}: {V:,} x {E.shape[1]} embeddings on {device}"
            + (" (stopped inside the next epoch: it runs again in full)" if ckpt.get("partial") else ""))
    G = torch.zeros_like(E)
    E.grad = G  # the optimizer reads the gradient we write here
    buf = Buffers(batch_size, E.shape[1], device)
    # the best model so far: best.pt is rewritten whenever last.pt is and the best has changed
    best_E = (load_checkpoint(run_dir / "checkpoints" / "best.pt")["embeddings"].to(device) if ckpt is not None
              else E.detach().clone())
    history_writer = HistoryWriter(run_dir, history)
    best_written = ckpt is not None
    last_written = (ckpt["epoch"], ckpt["partial"]) if ckpt is not None else None
    last_write = time.perf_counter()

    def write_checkpoints(epoch: int, rng: torch.Tensor | None = None, partial: bool = False) -> None:
        """last.pt: everything needed to continue exactly after ``epoch``; best.pt when the best changed.

        ``partial``: the weights carry some steps of epoch ``epoch + 1`` (a stop inside an epoch); a resume
        then runs that epoch again in full from these weights, so no step is lost, though the run is no
        longer bit-identical to one never stopped.
        """
        nonlocal best_written, last_written
        if not best_written:  # first: last.pt's early-stopping state names this epoch
            save_checkpoint(run_dir / "checkpoints" / "best.pt", {
                "epoch": stopper.best_epoch, "embeddings": best_E.cpu(), "val_loss": stopper.best,
                "config": cfg.to_dict()})
            best_written = True
        if last_written == (epoch, partial):
            return
        m, v, step = adam_state(opt, E)
        save_checkpoint(run_dir / "checkpoints" / "last.pt", {
            "epoch": epoch, "embeddings": E.detach().cpu(), "exp_avg": m.cpu(), "exp_avg_sq": v.cpu(),
            "adam_step": step, "batch_size": batch_size, "oom_cap": oom_cap,
            "rng": gen.get_state() if rng is None else rng, "partial": partial,
            "early_stopping": stopper.state_dict(), "config": cfg.to_dict()})
        last_written = (epoch, partial)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    say("[5/7] Configuration:")
    if cfg.dynamic_dims:
        say(f"  Dynamic dimensions enabled: {cfg.embedding_dim} -> max {cfg.max_dims}")
        say(f"  Expansion check interval: every {cfg.expand_interval} epochs")
        say(f"  Expansion amount: {cfg.expand_by} dims per expansion")
    say(f"  Early stopping enabled: patience={cfg.patience}, min_delta={cfg.min_delta}")
    say(f"  Batch size: {batch_size:,}; sparsity mode: {cfg.sparsity_mode}")
    say("[6/7] Training...")

    from tqdm.auto import tqdm

    stopped, epoch, steps = "epochs", start_epoch - 1, 0
    rng_at_start = gen.get_state()
    interrupt = StopOnInterrupt().__enter__()

    def stopping() -> bool:
        return interrupt.event.is_set() or (stop_event is not None and stop_event.is_set())

    try:
        for epoch in range(start_epoch, cfg.epochs + 1):
            t0 = time.perf_counter()
            l1_coef = cfg.sparsity_weight / E.numel() if cfg.sparsity_mode == "seed" else 0.0
            tau = cfg.lr * cfg.proximal_strength if cfg.sparsity_mode == "proximal" else 0.0
            events: list[dict] = []
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            l1_weighted = torch.zeros((), dtype=torch.float64, device=device)
            if stopping():
                raise KeyboardInterrupt
            rng_at_start, steps = gen.get_state(), 0
            perm = torch.randperm(n_train, generator=gen).to(device, non_blocking=True)
            bar = tqdm(total=n_train, desc=f"epoch {epoch}", unit="edge", unit_scale=True, leave=False,
                       disable=not (progress and sys.stderr.isatty()))
            start = 0
            while start < n_train:
                if stopping():
                    raise KeyboardInterrupt
                idx = perm[start:start + batch_size]
                n = idx.shape[0]
                try:
                    if buf is None or not buf.fits(n, E.shape[1]):
                        buf = None  # free the old buffers before allocating the new ones
                        buf = Buffers(n, E.shape[1], device)
                    ls, l1 = train_step(E, G, opt, train_edges.rows.index_select(0, idx), buf, l1_coef)
                except (RuntimeError, MemoryError) as err:
                    if not D.is_oom(err) or batch_size <= 1:
                        raise
                    # survive it: free what we can, halve the batch, retry the same edges
                    buf = None
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                    old, batch_size = batch_size, max(1, batch_size // 2)
                    oom_cap = batch_size
                    events.append({"type": "oom", "old_batch": old, "new_batch": batch_size})
                    continue
                if tau:
                    D.soft_threshold_(E.detach(), tau, scratch=G)
                steps += 1
                loss_sum += ls
                l1_weighted += l1 * n
                start += n
                bar.update(n)
            bar.close()
            sync()
            train_seconds = time.perf_counter() - t0

            # validation and the epoch's statistics (one device sync for the scalars)
            val_sum = distance_loss_sum(E.detach(), val_edges, buf)
            stats = D.embedding_stats(E.detach(), cfg.activity_eps)
            train_dist, train_l1, val_dist = torch.stack([loss_sum, l1_weighted, val_sum.double()]).tolist()
            train_dist /= n_train
            train_sparsity = cfg.sparsity_weight * train_l1 / (n_train * E.numel())
            val_dist = val_dist / len(val_edges)
            val_sparsity = cfg.sparsity_weight * stats["l1_mean"]
            val_total = val_dist + val_sparsity
            dims_before, batch_before = E.shape[1], batch_size  # batch_before: the size this epoch trained with

            if not (math.isfinite(train_dist) and math.isfinite(val_total)):
                stopped = "nan"
                events.append({"type": "nan", "epoch": epoch, "best_epoch": stopper.best_epoch})
            improved = stopped != "nan" and stopper.update(val_total, epoch)
            if improved:
                if best_E.shape != E.shape:
                    best_E = torch.empty_like(E.detach())
                best_E.copy_(E.detach())
                best_written = False
            if stopped != "nan" and stopper.should_stop:
                stopped = "early_stop"
                events.append({"type": "early_stop", "best_val": stopper.best, "best_epoch": stopper.best_epoch,
                               "patience": cfg.patience, "epoch": epoch})

            # dynamic dimensions: grow when most dimensions are saturated, then adapt the batch size
            if (stopped == "epochs" and cfg.dynamic_dims and epoch % cfg.expand_interval == 0 and epoch < cfg.epochs
                    and E.shape[1] < cfg.max_dims and D.should_expand(stats["activity"], cfg.saturation_threshold)):
                old_dims, new_dims = E.shape[1], D.expanded_dims(E.shape[1], cfg.expand_by, cfg.max_dims)
                events.append({"type": "expand", "old_dims": old_dims, "new_dims": new_dims,
                               "stats": D.dimension_classes(stats["activity"])})
                del buf
                E, opt = expand(E, opt, new_dims, gen, cfg)
                G = torch.zeros_like(E)
                E.grad = G
                new_batch = D.adapted_batch_size(cfg.batch_size, cfg.embedding_dim, new_dims, cfg.min_batch_size, n_train)
                if oom_cap is not None:  # a size that ran out of memory stays out of reach, scaled to the new width
                    oom_cap = max(1, oom_cap * old_dims // new_dims)
                    new_batch = min(new_batch, oom_cap)
                if new_batch != batch_size:
                    events.append({"type": "batch", "batch_size": new_batch, "dims": new_dims, "reason": "expand"})
                batch_size = new_batch
                buf = Buffers(batch_size, new_dims, device)
                events.append({"type": "optimizer", "mode": cfg.optimizer_on_expand})
                if new_dims >= cfg.max_dims:
                    events.append({"type": "max_dims", "dims": new_dims})

            epoch_seconds = time.perf_counter() - t0
            record = {
                "epoch": epoch, "epochs": cfg.epochs,
                "train_total": train_dist + train_sparsity, "train_distance": train_dist,
                "train_sparsity": train_sparsity,
                "val_total": val_total, "val_distance": val_dist, "val_sparsity": val_sparsity,
                "sparsity_pct": stats["sparsity_pct"], "zeros_pct": stats["zeros_pct"],
                "active_per_word": stats["active_per_word"],
                "dims_before": dims_before, "dims": E.shape[1], "batch_before": batch_before,
                "batch_size": batch_size, "lr": cfg.lr,
                "seconds": epoch_seconds, "train_seconds": train_seconds, "edges_per_s": n_train / train_seconds,
                "best": improved, "best_val": stopper.best, "best_epoch": stopper.best_epoch,
                "bad_epochs": stopper.bad_epochs, "events": events,
            }
            history.append(record)
            history_writer(record)
            steps, rng_at_start = 0, gen.get_state()  # the epoch is complete: a stop from here loses nothing
            for cb in callbacks:
                cb(record)
            if stopped == "nan":
                break

            # checkpoints: the disk is slow next to an epoch, so write at most every checkpoint_seconds
            if time.perf_counter() - last_write >= cfg.checkpoint_seconds:
                write_checkpoints(epoch)
                last_write = time.perf_counter()
            if stopped == "early_stop":
                break
    except KeyboardInterrupt:
        # Ctrl-C, the notebook's interrupt button or stop_event: end cleanly with a resumable run directory
        stopped = "interrupted"
        done = history[-1]["epoch"] if history else start_epoch - 1
        write_checkpoints(done, rng=rng_at_start, partial=steps > 0)
        record = {"epoch": done, "epochs": cfg.epochs,
                  "events": [{"type": "interrupted", "epoch": epoch, "completed_epochs": done}]}
        for cb in callbacks:
            cb(record)
    finally:
        interrupt.__exit__()
        history_writer.close()
    if stopped in ("epochs", "early_stop") and history:
        write_checkpoints(history[-1]["epoch"])  # the state the loop ended in, so --resume can extend the run

    # [7/7] the result is the best model seen (early stopping's promise), pruned if asked
    say("[7/7] Saving results...")
    final = best_E.detach()
    if not best_written:
        save_checkpoint(run_dir / "checkpoints" / "best.pt", {
            "epoch": stopper.best_epoch, "embeddings": final.cpu(), "val_loss": stopper.best, "config": cfg.to_dict()})
    pruned = 0
    if cfg.prune and history:
        activity = D.embedding_stats(final, cfg.activity_eps)["activity"]
        keep = activity > 0
        if keep.any() and not keep.all():
            pruned = int((~keep).sum())
            final = prune_columns(final, keep)
    emb = final.cpu().numpy()
    save_checkpoint(run_dir / "checkpoints" / "final.pt", {
        "epoch": stopper.best_epoch, "embeddings": final.cpu(), "val_loss": stopper.best, "pruned": pruned,
        "config": cfg.to_dict()})
    with atomic_open(run_dir / "embeddings.npy") as f:
        np.save(f, emb)
    atomic_write_bytes(run_dir / "vocabulary.json", _vocab_json(graph, emb.shape[1], cfg))
    sparse_bytes = save_sparse_if_worth_it(run_dir / "embeddings_csr.npz", emb)
    epoch_times = [r["seconds"] for r in history]
    metrics = {
        "stopped": stopped, "epochs_run": len(history), "best_val": stopper.best, "best_epoch": stopper.best_epoch,
        "final_dims": int(emb.shape[1]), "dims_reached": max((r["dims"] for r in history), default=cfg.embedding_dim),
        "pruned_dims": pruned, "batch_sizes": sorted({r["batch_size"] for r in history}, reverse=True),
        "minutes": (time.perf_counter() - t_start) / 60,
        "seconds_per_epoch": float(np.median(epoch_times)) if epoch_times else None,
        "sparsity_pct": history[-1]["sparsity_pct"] if history else None,
        "zeros_pct": history[-1]["zeros_pct"] if history else None,
        "n_train": n_train, "n_val": len(val_edges), "vocab_size": V, "device": str(device),
        "embeddings_bytes": int(emb.nbytes), "sparse_bytes": sparse_bytes,
    }
    if stopped == "nan":
        metrics["nan_epoch"] = epoch
    atomic_write_json(run_dir / "metrics.json", metrics)
    if cfg.analyze and history and stopped != "nan":
        from .analysis import analyze_run

        analyze_run(run_dir, graph=graph, log=say)
    return TrainResult(run_dir, history, metrics, emb)


__all__ = ["TrainResult", "train", "pick_device", "RunDirError"]
