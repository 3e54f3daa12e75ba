"""The training core: embeddings of word senses whose distances match WordNet's relations.

Read ``train()`` at the bottom first; everything above it is a step it calls. The objective (its loss terms
and their gradient) lives in `naomi_nb.objectives`, one module each, the sparsity term and the statistics in
`naomi_nb.sparsity`, the decisions (batch size, expansion, early stopping) in `naomi_nb.dims`, the epoch record
in `naomi_nb.record`, the files in `naomi_nb.rundir`, the device in `naomi_nb.device`. The loop owns the
optimizer step and never asks which objective it runs. The trainer prints and plots nothing: it emits one
record per epoch to its callbacks, and stage lines to ``log``.

A callback is ``cb(record)``, called once per epoch; one that also has ``on_start(cfg, run_dir)`` and
``on_end(result)`` hears when the run begins and ends (``on_end(None)`` after a failure), so a tracker opens and
closes itself.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import components
from . import device as DV
from . import dims as D
from . import memory as M
from . import record as R
from . import rundir
from .config import TrainConfig
from .edges import Buffers, EdgeSet
from .graph import Graph, GraphError, load_graph
from .memory import is_oom
from .objectives import Objective
from .optim import adam_state, expand, make_optimizer, prune_columns, set_adam_state  # noqa: F401 - read here too
from .rundir import RunDirError
from .runtime import Stopped, StopOnInterrupt, hold, releasing
from .schedules import Schedule
from .sparsity import SparsityMode, embedding_stats, keep_top_k_, l1_coefficient, l1_gradient


@dataclass
class TrainResult:
    run_dir: Path
    history: list[dict]
    metrics: dict
    embeddings: np.ndarray = field(repr=False)
    config: TrainConfig | None = None


# ---------------------------------------------------------------- the run's state

@dataclass
class State:
    """What changes during a run; last.pt holds all of it, so a resumed run continues as if never stopped."""

    E: torch.Tensor  # (V, D) embeddings, requires_grad; E.grad is G, written by hand
    opt: torch.optim.Adam
    gen: torch.Generator  # all randomness: one CPU generator, so a run resumes on another device
    stopper: D.EarlyStopping
    batch_size: int
    oom_cap: int | None  # a batch size that ran out of memory stays out of reach
    best_E: torch.Tensor  # the best model so far, kept in memory; best.pt follows it when checkpoints are written
    best_saved: bool  # best.pt holds best_E
    last_saved: tuple | None = None  # (epoch, partial, edges done) of the last.pt on disk
    buf: Buffers | None = None
    G: torch.Tensor | None = None
    rng_at_start: torch.Tensor | None = None  # the generator before the current epoch's shuffle
    steps: int = 0  # steps taken in the current epoch (a stop after any is a stop inside the epoch)
    sums: torch.Tensor | None = None  # the current epoch's running sums (`train_epoch`)
    edges_done: int = 0  # the current epoch's edges trained so far
    events: list = field(default_factory=list)  # the current epoch's events so far
    inside: dict | None = None  # where a resumed run continues inside an epoch (`position`), until it does
    lr: float = 0.0  # the learning rate now (the schedule moves it)
    objective: Objective | None = None
    sparsity: SparsityMode | None = None  # what the loss and each step do for sparsity (--sparsity-mode)
    schedule: Schedule | None = None  # how the learning rate moves (--lr-schedule)

    def buffers(self, rows: int) -> Buffers:
        return self.objective.buffers(rows, self.E.shape[1], self.E.device)

    def set_matrix(self, E: torch.Tensor, opt: torch.optim.Adam) -> None:
        self.E, self.opt = E, opt
        self.G = torch.zeros_like(E)
        E.grad = self.G  # the optimizer reads the gradient we write here

    def epoch_done(self) -> None:
        """The epoch is complete: a stop from here loses nothing."""
        self.steps, self.rng_at_start, self.edges_done = 0, self.gen.get_state(), 0

    def position(self, epoch: int) -> dict:
        """Where a stop inside epoch ``epoch`` leaves it: the generator before the epoch's shuffle (the order
        of its edges comes from it again), the edges trained, the running sums, the events so far and the
        objective's own generators (its draws go on from there): what a resume needs to continue with the
        next batch, as if never stopped."""
        return {"epoch": epoch, "rng": self.rng_at_start, "edges_done": self.edges_done, "steps": self.steps,
                "sums": self.sums.detach().cpu(), "events": list(self.events),
                "generators": [g.get_state() for g in self.objective.generators()]}


MEMORY_HINT = "use a smaller --embedding-dim (or --max-dims), or another --device"


def new_state(cfg: TrainConfig, n_senses: int, n_train: int, device: torch.device) -> State:
    gen = torch.Generator()
    gen.manual_seed(cfg.seed)
    with M.allocating(f"the {n_senses:,} x {cfg.embedding_dim} embeddings and their Adam state on {device}",
                      MEMORY_HINT):
        E = (torch.randn(n_senses, cfg.embedding_dim, generator=gen) * cfg.init_scale).to(device).requires_grad_(True)
        st = State(E, make_optimizer(E, cfg.lr), gen, D.EarlyStopping(cfg.patience, cfg.min_delta),
                   min(cfg.batch_size, n_train), None, E.detach().clone(), best_saved=False, lr=cfg.lr)
        st.set_matrix(E, st.opt)
    return st


def resumed_state(cfg: TrainConfig, run_dir: Path, ckpt: dict, device: torch.device) -> State:
    V, dims = ckpt["embeddings"].shape
    lr = float(ckpt.get("lr", cfg.lr))
    with M.allocating(f"the {V:,} x {dims} embeddings and their Adam state on {device}", MEMORY_HINT):
        E = ckpt["embeddings"].to(device).requires_grad_(True)
        opt = make_optimizer(E, lr, (ckpt["exp_avg"].to(device), ckpt["exp_avg_sq"].to(device), ckpt["adam_step"]))
        gen = torch.Generator()
        gen.set_state(ckpt["rng"])
        stopper = D.EarlyStopping(cfg.patience, cfg.min_delta)
        stopper.load_state_dict(ckpt["early_stopping"])
        best_E = rundir.load_best(run_dir)["embeddings"].to(device)
        inside = ckpt.get("inside")  # older runs stopped inside an epoch run it again in full
        st = State(E, opt, gen, stopper, ckpt["batch_size"], ckpt["oom_cap"], best_E, best_saved=True,
                   last_saved=(ckpt["epoch"], ckpt["partial"], inside["edges_done"] if inside else 0), lr=lr,
                   inside=inside)
        st.set_matrix(E, opt)
    return st


def resume_point(ckpt: dict) -> str:
    """The resume line's account of a stop inside an epoch."""
    inside = ckpt.get("inside")
    if inside is not None:
        return f" (stopped inside epoch {inside['epoch']} after {inside['edges_done']:,} edges: it goes on from there)"
    if ckpt["partial"]:  # written before stops inside an epoch kept their place
        return " (stopped inside the next epoch: it runs again in full)"
    return ""


def save_state(st: State, run_dir: Path, cfg: TrainConfig, epoch: int, partial: bool = False,
               rng: torch.Tensor | None = None) -> None:
    """last.pt: everything needed to continue after ``epoch``; best.pt first when the best changed.

    ``partial``: the weights carry some steps of epoch ``epoch + 1`` (a stop inside an epoch); last.pt then
    holds `State.position` too, and a resume continues that epoch with its next batch: the run ends as one
    never stopped would, bit for bit on the eager path. ``rng``: the generator state to resume with
    (default: the current one).
    """
    if not st.best_saved:  # first: last.pt's early-stopping state names this epoch
        rundir.save_best(run_dir, epoch=st.stopper.best_epoch, embeddings=st.best_E.cpu(), val_loss=st.stopper.best,
                         config=cfg.to_dict())
        st.best_saved = True
    key = (epoch, partial, st.edges_done if partial else 0)
    if st.last_saved == key:
        return
    m, v, step = adam_state(st.opt, st.E)
    inside = {"inside": st.position(epoch + 1)} if partial else {}
    rundir.save_last(run_dir, epoch=epoch, embeddings=st.E.detach().cpu(), exp_avg=m.cpu(), exp_avg_sq=v.cpu(),
                     adam_step=step, batch_size=st.batch_size, oom_cap=st.oom_cap,
                     rng=st.gen.get_state() if rng is None else rng, partial=partial,
                     early_stopping=st.stopper.state_dict(), config=cfg.to_dict(), lr=st.lr, **inside)
    st.last_saved = key


# ---------------------------------------------------------------- the steps of an epoch

def train_step(E: torch.Tensor, G: torch.Tensor, opt: torch.optim.Adam, rows: torch.Tensor, buf: Buffers,
               l1_coef: torch.Tensor, objective: Objective):
    """One Adam step on a batch of packed edge rows: the sparsity term's gradient, the objective's added to
    it, then the optimizer. Returns (the objective's term sums, sum |E| before the step) as device scalars."""
    W = E.detach()  # the same storage, outside autograd: every gradient here is written by hand
    l1_sum = l1_gradient(W, G, l1_coef)  # G := the L1 term's gradient, over last step's
    term_sums = objective.step(W, G, rows, buf)  # G += the objective's gradient
    opt.step()
    return term_sums, l1_sum


def train_epoch(st: State, cfg: TrainConfig, edges: EdgeSet, epoch: int, events: list, stop: StopOnInterrupt,
                progress: bool):
    """One pass over the training edges in a fresh random order; an out-of-memory step halves the batch and
    runs again. Returns the float64 device sums of each objective term, then of |E| weighted by batch size."""
    device, n_train = st.E.device, len(edges)
    l1_coef = l1_coefficient(st.sparsity.l1_weight / st.E.numel(), st.E)
    n_terms = len(st.objective.terms)
    stop.check()  # before the resume's position is taken: a stop here leaves last.pt as it is
    inside, st.inside = st.inside, None
    if inside is not None and inside["epoch"] != epoch:
        inside = None
    if inside is not None:  # a resume inside this epoch: its order and draws again, from where it stopped
        st.gen.set_state(inside["rng"])
    st.rng_at_start, st.steps, st.events = st.gen.get_state(), 0, events
    perm = torch.randperm(n_train, generator=st.gen).to(device, non_blocking=True)
    st.objective.start_epoch(st.gen)
    sums = torch.zeros(n_terms + 1, dtype=torch.float64, device=device)
    start = 0
    if inside is not None:
        for gen, state in zip(st.objective.generators(), inside["generators"], strict=True):
            gen.set_state(state)
        sums.copy_(inside["sums"])
        start, st.steps = inside["edges_done"], inside["steps"]
        events.extend(inside["events"])
    st.sums, st.edges_done = sums, start
    from tqdm.auto import tqdm

    bar = tqdm(total=n_train, desc=f"epoch {epoch}", unit="edge", unit_scale=True, leave=False,
               disable=not (progress is True and sys.stderr.isatty()))
    report = progress if callable(progress) else None  # progress(epoch, edges done, edges total): <= 4 per s
    bar.update(start)
    reported = time.perf_counter()
    while start < n_train:
        stop.check()
        idx = perm[start:start + st.batch_size]
        n = idx.shape[0]
        try:
            if st.buf is None or not st.buf.fits(n, st.E.shape[1]):
                st.buf = None  # free the old buffers before allocating the new ones
                st.buf = st.buffers(n)
            batch = edges.rows.index_select(0, idx)
            term_sums, l1 = train_step(st.E, st.G, st.opt, batch, st.buf, l1_coef, st.objective)
        except Exception as err:  # noqa: BLE001 - only out-of-memory errors are survived, the rest re-raised
            if not is_oom(err):
                raise
            # survive it: free what we can, halve the batch, retry the same edges
            st.buf = None
            DV.release_cached()
            if st.batch_size <= 1:
                raise M.NotEnoughMemory(f"out of memory in a training step even at batch size 1 "
                                        f"({st.E.shape[0]:,} x {st.E.shape[1]} on {device}); {MEMORY_HINT}") from None
            old, st.batch_size = st.batch_size, max(1, st.batch_size // 2)
            st.oom_cap = st.batch_size
            events.append(R.oom_event(old, st.batch_size))
            continue
        st.sparsity.after_step(st.E.detach(), st.lr, scratch=st.G)
        if cfg.max_active:
            keep_top_k_(st.E.detach(), cfg.max_active)
        st.steps += 1
        for i, term in enumerate(term_sums):
            sums[i] += term
        sums[n_terms] += l1 * n
        start += n
        st.edges_done = start
        bar.update(n)
        if report is not None and (start >= n_train or time.perf_counter() - reported >= 0.25):
            report(epoch, start, n_train)  # no device sync: the host only knows how many edges were queued
            reported = time.perf_counter()
    bar.close()
    return sums


def set_lr(st: State, lr: float) -> None:
    st.lr = lr
    for group in st.opt.param_groups:
        group["lr"] = lr


def evaluate(st: State, cfg: TrainConfig, val_edges: EdgeSet, events: list):
    """The objective's validation sums as one float64 tensor (a term each), and the epoch's statistics. Out of
    memory: validation runs again in chunks half as large (an ``oom`` event), the statistics again in row blocks."""
    while True:
        try:
            if st.buf is None:
                st.buf = st.buffers(min(st.batch_size, len(val_edges)))
            val_sum = torch.stack(st.objective.validation_sums(st.E.detach(), val_edges, st.buf))
            break
        except Exception as err:  # noqa: BLE001 - only out-of-memory errors are survived
            rows = st.buf.rows if st.buf is not None else st.batch_size
            if not is_oom(err) or rows <= 1:
                raise
            st.buf = None
            DV.release_cached()
            st.buf = st.buffers(max(1, rows // 2))
            events.append(R.oom_event(rows, st.buf.rows, site=R.VALIDATION))
    block = None
    while True:
        try:
            return val_sum, embedding_stats(st.objective.vectors(st.E.detach()), cfg.activity_eps, block)
        except Exception as err:  # noqa: BLE001 - only out-of-memory errors are survived
            if not is_oom(err) or block == 1:
                raise
            st.buf = None  # the next epoch makes them again
            DV.release_cached()
            block = max(1, (block or st.E.shape[0]) // 8)


def expansion_due(st: State, cfg: TrainConfig, epoch: int, activity: np.ndarray) -> bool:
    return (cfg.dynamic_dims and epoch % cfg.expand_interval == 0 and epoch < cfg.epochs
            and st.E.shape[1] < cfg.max_dims and D.should_expand(activity, cfg.saturation_threshold))


def grow(st: State, cfg: TrainConfig, new_dims: int):
    """`expand` with the memory it can do without freed first (the buffers and the gradient, which every step
    rewrites); None when even then memory runs out, with the state as before (the generator too)."""
    rng = st.gen.get_state()
    st.buf, st.G, st.E.grad = None, None, None
    DV.release_cached()
    try:
        return expand(st.E, st.opt, new_dims, st.gen, cfg)
    except Exception as err:  # noqa: BLE001 - only out-of-memory errors are survived
        if not is_oom(err):
            raise
    DV.release_cached()
    st.gen.set_state(rng)
    with M.allocating(f"the gradient of the {st.E.shape[0]:,} x {st.E.shape[1]} embeddings", MEMORY_HINT):
        st.set_matrix(st.E, st.opt)
    return None


def expand_step(st: State, cfg: TrainConfig, activity: np.ndarray, n_train: int, events: list) -> None:
    """Grow the matrix by ``expand_by`` columns, then adapt the batch size to the new width."""
    old_dims, new_dims = st.E.shape[1], D.expanded_dims(st.E.shape[1], cfg.expand_by, cfg.max_dims)
    grown = grow(st, cfg, new_dims)
    if grown is None:  # out of memory: the run goes on at this width (and tries again at the next check)
        events.append(R.oom_event(st.batch_size, st.batch_size, site=R.EXPAND, old_dims=old_dims, new_dims=new_dims))
        return
    events.append(R.expand_event(old_dims, new_dims, D.dimension_classes(activity, cfg.saturation_threshold)))
    st.set_matrix(*grown)
    new_batch = D.adapted_batch_size(cfg.batch_size, cfg.embedding_dim, new_dims, cfg.min_batch_size, n_train)
    if st.oom_cap is not None:  # a size that ran out of memory stays out of reach, scaled to the new width
        st.oom_cap = max(1, st.oom_cap * old_dims // new_dims)
        new_batch = min(new_batch, st.oom_cap)
    if new_batch != st.batch_size:
        events.append(R.batch_event(new_batch, new_dims))
    st.batch_size = new_batch
    st.buf = None  # made at the first step, where running out of memory halves the batch
    events.append(R.optimizer_event(cfg.optimizer_on_expand))
    if new_dims >= cfg.max_dims:
        events.append(R.max_dims_event(new_dims))


# ---------------------------------------------------------------- before and after the loop

def open_run(cfg: TrainConfig, resume) -> tuple[TrainConfig, Path | None, dict | None, str | None]:
    """The config to train with, the run directory when resuming (locked), its last checkpoint (None when
    the run stopped before writing one: it starts again from the seed's state), and a line saying the run is
    finished when a resume has nothing left to train (else None)."""
    if resume is None:
        return cfg, None, None, None
    run_dir = rundir.check_resumable(resume)
    hold(rundir.lock_for_resume(run_dir))
    cfg = rundir.resume_config(run_dir, cfg)
    has_last = rundir.checkpoint_path(run_dir, rundir.LAST).is_file()
    ckpt = rundir.load_last(run_dir) if has_last else None
    finished = rundir.check_resume_changes(run_dir, cfg, ckpt)  # refuses --epochs below those done
    return cfg, run_dir, ckpt, finished


def prepare_device(cfg: TrainConfig) -> torch.device:
    device = DV.pick(cfg.device)
    hold(DV.deterministic_algorithms(cfg.deterministic, device))
    return device


def claim_run_dir(cfg: TrainConfig, run_dir: Path | None, graph: Graph, ckpt: dict | None):
    """A fresh run: create and lock its directory, record the graph's fingerprint, then config.json (from
    then on it resumes). A resumed one: check the graph is the run's, and save the config it continues with.
    Returns (cfg, run_dir)."""
    if run_dir is None:
        if Path(cfg.training_data).is_dir():  # absolute, so analysis and resume find it from any directory
            cfg = cfg.replace(training_data=str(Path(cfg.training_data).resolve()))
        run_dir, lock = rundir.new_run_dir(cfg.output_dir)
        hold(lock)
        rundir.save_graph_info(run_dir, graph, cfg.training_data)
    else:
        rows = ckpt["embeddings"].shape[0] if ckpt is not None else None
        rundir.check_graph(run_dir, graph, cfg.training_data, rows)
    if ckpt is None:  # a resume with a checkpoint saves it once best.pt has been read (`train`)
        cfg.save(run_dir / rundir.CONFIG)
    return cfg, run_dir


def load_edges(cfg: TrainConfig, graph: Graph | None, device: torch.device, say):
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
    with M.allocating(f"the {cfg.objective} objective's tables for {graph.vocab.size:,} senses",
                      "use another --objective, a smaller graph or a machine with more memory"):
        objective = components.get("objective", cfg.objective)(cfg, graph, train_idx, val_edges, device)
        objective = components.get("geometry", cfg.geometry)(cfg, graph, train_idx, device).wrap(objective)
    return graph, train_edges, val_edges, objective


def say_configuration(cfg: TrainConfig, batch_size: int, objective: Objective, say) -> None:
    say("[5/7] Configuration:")
    if cfg.dynamic_dims:
        say(f"  Dynamic dimensions enabled: {cfg.embedding_dim} -> max {cfg.max_dims}")
        say(f"  Expansion check interval: every {cfg.expand_interval} epochs")
        say(f"  Expansion amount: {cfg.expand_by} dims per expansion")
    say(f"  Early stopping enabled: patience={cfg.patience}, min_delta={cfg.min_delta}")
    say(f"  Batch size: {batch_size:,}; sparsity mode: {cfg.sparsity_mode}")
    if objective.describe():
        say(objective.describe())
    if components.get("schedule", cfg.schedule).moves:
        say(f"  Learning rate: {cfg.lr} with the {cfg.schedule} schedule")


def apply_stage(cfg: TrainConfig, vectors: np.ndarray, graph: Graph, device, say) -> tuple[np.ndarray, dict | None]:
    """The run's vectors made by its post-training stage (``--stage``) from the trained ones, and what
    metrics.json says of it (None for the identity, whose result is the trained vectors themselves)."""
    stage = components.get("stage", cfg.stage)(cfg)
    t0 = time.perf_counter()
    out = stage.apply(vectors, graph, device, log=say)
    if out is vectors:
        return vectors, None
    from .stages import stage_entry

    out = np.ascontiguousarray(out, dtype=np.float32)
    return out, stage_entry(stage, vectors, out, time.perf_counter() - t0)


def finish(st: State, cfg: TrainConfig, run_dir: Path, graph: Graph, history: list, stopped: str, epoch: int,
           n_train: int, n_val: int, t_start: float, signal_name: str | None = None,
           memory: dict | None = None, log=None, earlier: dict | None = None) -> tuple[dict, np.ndarray]:
    """The result is the best model seen (early stopping's promise), pruned if asked, then made into the
    run's vectors by its post-training stage (``--stage``; none by default): embeddings.npy, vocabulary.json
    and metrics.json (its epoch, loss, pruned columns and stage). Returns (metrics, embeddings).

    No matrix is stored twice: once embeddings.npy holds the best model unpruned, best.pt becomes a pointer
    to it (a resume loads it from there). best.pt holds the matrix until then, and stays whole when the
    result is pruned (a resume needs the columns pruning dropped) or made by a stage (embeddings.npy then
    holds the stage's vectors, and best.pt the trained ones: a resume trains on from them, and `sparsify`
    reads them)."""
    final = st.best_E.detach()
    best = dict(epoch=st.stopper.best_epoch, val_loss=st.stopper.best, config=cfg.to_dict())
    pruned = 0
    if cfg.prune and history:
        keep = embedding_stats(final, cfg.activity_eps)["activity"] > 0
        if keep.any() and not keep.all():
            pruned = int((~keep).sum())
            final = prune_columns(final, keep)
    if not st.best_saved or pruned:  # whole before embeddings.npy changes (best.pt may point at it)
        rundir.save_best(run_dir, embeddings=st.best_E.detach().cpu(), **best)
        st.best_saved = True
    emb, stage = final.cpu().numpy(), None
    if history:  # no epoch finished: the initial values are not worth a stage's time
        emb, stage = apply_stage(cfg, emb, graph, final.device, log)
    sparse_bytes = rundir.write_results(run_dir, emb, graph.vocab, cfg.embedding_dim, cfg.dynamic_dims)
    if not pruned and stage is None:
        rundir.save_best_pointer(run_dir, **best)
    rundir.checkpoint_path(run_dir, rundir.FINAL).unlink(missing_ok=True)  # an older version's copy
    metrics = R.run_metrics(
        stopped=stopped, history=history, best_val=st.stopper.best, best_epoch=st.stopper.best_epoch,
        final_dims=int(emb.shape[1]), start_dims=cfg.embedding_dim, pruned_dims=pruned,
        minutes=(earlier or {}).get("minutes", (time.perf_counter() - t_start) / 60), n_train=n_train, n_val=n_val,
        vocab_size=graph.vocab.size, device=str(st.E.device), embeddings_bytes=int(emb.nbytes),
        sparse_bytes=sparse_bytes, nan_epoch=epoch, signal=signal_name, memory=(earlier or {}).get("memory", memory))
    if stage is not None:
        metrics["stage"] = stage
    rundir.write_metrics(run_dir, metrics)
    return metrics, emb


# ---------------------------------------------------------------- after each epoch

def epoch_terms(st: State, cfg: TrainConfig, sums: list[float], n_train: int, n_val: int, stats: dict):
    """(train, validation) loss terms of the epoch, each term name -> its mean, the sparsity term last, from the
    training sums (the objective's terms, then sum |E| by batch size) and the validation sums (a term each)."""
    n_terms = len(st.objective.terms)
    train_sums, train_l1, val_sums = sums[:n_terms], sums[n_terms], sums[n_terms + 1:]
    train = st.objective.means(train_sums, n_train, "train")
    train["sparsity"] = cfg.sparsity_weight * train_l1 / (n_train * st.E.numel())
    val = st.objective.means(val_sums, n_val, "val")
    val["sparsity"] = cfg.sparsity_weight * stats["l1_mean"]
    return train, val


def decide(st: State, cfg: TrainConfig, epoch: int, train: dict, val: dict, activity: np.ndarray, n_train: int,
           events: list) -> tuple[str, bool]:
    """The epoch's decisions, in order: a NaN ends the run; early stopping on the validation total (the best
    model is kept); dimension expansion (then the batch size adapts); the plateau schedule's lr. Returns
    (why the run stops, or ``epochs`` to go on; whether the epoch improved)."""
    stopped = R.EPOCHS
    if not (math.isfinite(train["distance"]) and math.isfinite(R.total(val))):
        stopped = R.NAN
        events.append(R.nan_event(epoch, st.stopper.best_epoch))
    improved = stopped != R.NAN and st.stopper.update(R.total(val), epoch)
    if improved:
        vectors = st.objective.vectors(st.E.detach())
        if st.best_E.shape != vectors.shape:
            st.best_E = torch.empty_like(vectors)
        st.best_E.copy_(vectors)
        st.best_saved = False
    if stopped != R.NAN and st.stopper.should_stop:
        stopped = R.EARLY_STOP
        events.append(R.early_stop_event(st.stopper.best, st.stopper.best_epoch, cfg.patience, epoch))
    # dynamic dimensions: grow when most dimensions are saturated, then adapt the batch size
    if stopped == R.EPOCHS and expansion_due(st, cfg, epoch, activity):
        expand_step(st, cfg, activity, n_train, events)
    new_lr = st.schedule.after_epoch(st.lr, improved, st.stopper.bad_epochs)
    if stopped == R.EPOCHS and epoch < cfg.epochs and new_lr != st.lr:
        events.append(R.lr_event(st.lr, new_lr))
        set_lr(st, new_lr)
    return stopped, improved


class Tracking:
    """The callbacks' ``on_start(cfg, run_dir)`` when entered, their ``on_end(result)`` when left however the
    run ends (``result`` None after a failure), for those that have them: trackers open and close themselves."""

    def __init__(self, callbacks, cfg: TrainConfig, run_dir: Path):
        self.callbacks, self.cfg, self.run_dir, self.result = list(callbacks), cfg, run_dir, None

    def _each(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if method is not None:
                method(*args)

    def __enter__(self) -> "Tracking":
        self._each("on_start", self.cfg, self.run_dir)
        return self

    def __exit__(self, *exc) -> None:
        self._each("on_end", self.result)


# ---------------------------------------------------------------- the loop

@releasing
def train(cfg: TrainConfig, graph: Graph | None = None, callbacks=(), stop_event: threading.Event | None = None,
          resume: str | Path | None = None, log=None, progress=False) -> TrainResult:
    """Train embeddings; write a run directory; return its history, metrics and embeddings.

    Args:
        cfg: the configuration.
        graph: an already loaded graph; default: ``load_graph(cfg.training_data)``.
        callbacks: each called ``cb(record)`` once per epoch with the same plain dict (`naomi_nb.record`);
            ``cb.on_start(cfg, run_dir)`` and ``cb.on_end(result)`` too where it has them.
        stop_event: when set, training ends cleanly at the next batch boundary (as does Ctrl-C).
        resume: a run directory to continue exactly from its last checkpoint; ``cfg`` is then read from it
            (only `naomi_nb.config.RESUMABLE_CHANGES` of the given cfg are taken over).
        log: where stage lines go (``print`` for the CLI); the trainer itself prints nothing.
        progress: True: a tqdm bar per epoch when stderr is a terminal; a callable: called as
            ``progress(epoch, edges_done, edges_total)`` inside an epoch at most four times a second, and at its end.
    """
    say = log or (lambda *a, **k: None)
    t_start = time.perf_counter()
    cfg, run_dir, ckpt, finished = open_run(cfg, resume)
    device = prepare_device(cfg)
    graph, train_edges, val_edges, objective = load_edges(cfg, graph, device, say)
    n_train, n_val, V = len(train_edges), len(val_edges), graph.vocab.size

    say("[4/7] Initializing model...")
    M.reset_peak(device)
    estimate = M.check_run(cfg, V, n_train, n_val, ckpt, device, say, MEMORY_HINT, buffers=objective.buffer_units(cfg),
                matrices=objective.matrices)
    cfg, run_dir = claim_run_dir(cfg, run_dir, graph, ckpt)
    if ckpt is None:
        st, start_epoch, history = new_state(cfg, V, n_train, device), 1, []
        say(f"  {V:,} x {cfg.embedding_dim} embeddings on {device}, run directory {run_dir}")
    else:
        st, start_epoch = resumed_state(cfg, run_dir, ckpt, device), ckpt["epoch"] + 1
        cfg.save(run_dir / rundir.CONFIG)  # with the epochs, patience and device this part runs with
        history = rundir.resume_history(run_dir, ckpt)
        say(f"  resumed {run_dir} after epoch {ckpt['epoch']}: {V:,} x {st.E.shape[1]} embeddings on {device}"
            + resume_point(ckpt))
    st.objective = objective
    st.sparsity = components.get("sparsity", cfg.sparsity_mode)(cfg)
    st.schedule = components.get("schedule", cfg.schedule)(cfg)
    sync = DV.synchronizer(device)  # the batch buffers are made at the first step, where an OOM halves the batch
    say_configuration(cfg, st.batch_size, objective, say)
    say("[6/7] Training...")

    if finished:  # resumed with nothing left to train: write its results again, train nothing
        say(f"  {finished}")
    stopped = R.EARLY_STOP if finished and st.stopper.should_stop else R.EPOCHS
    epoch, last_write = start_epoch - 1, time.perf_counter()
    st.epoch_done()
    write_history = rundir.HistoryWriter(run_dir, history)
    tracking = hold(Tracking(callbacks, cfg, run_dir))  # on_start now, on_end however the run ends
    try:
        with StopOnInterrupt(stop_event) as stop:
            for epoch in range(start_epoch, start_epoch if finished else cfg.epochs + 1):
                t0, events = time.perf_counter(), []
                set_lr(st, st.schedule.epoch_lr(st.lr, epoch))
                lr = st.lr
                sums = train_epoch(st, cfg, train_edges, epoch, events, stop, progress)
                sync()
                train_seconds = time.perf_counter() - t0

                # validation and the epoch's statistics (one device sync for the scalars)
                val_sum, stats = evaluate(st, cfg, val_edges, events)
                train, val = epoch_terms(st, cfg, torch.cat([sums, val_sum]).tolist(), n_train, n_val, stats)
                dims_before, batch_before = st.E.shape[1], st.batch_size
                stopped, improved = decide(st, cfg, epoch, train, val, stats["activity"], n_train, events)

                record = R.epoch_record(
                    epoch=epoch, epochs=cfg.epochs, train=train, val=val, stats=stats, dims_before=dims_before,
                    dims=st.E.shape[1], batch_before=batch_before, batch_size=st.batch_size, lr=lr,
                    seconds=time.perf_counter() - t0, train_seconds=train_seconds, n_train=n_train, best=improved,
                    stopper=st.stopper, events=events)
                history.append(record)
                write_history(record)
                st.epoch_done()
                for cb in callbacks:
                    cb(record)
                if stopped == R.NAN:
                    break
                # checkpoints: the disk is slow next to an epoch, so write at most every checkpoint_seconds
                if time.perf_counter() - last_write >= cfg.checkpoint_seconds:
                    save_state(st, run_dir, cfg, epoch)
                    last_write = time.perf_counter()
                if stopped == R.EARLY_STOP:
                    break
    except Stopped:
        # Ctrl-C, the notebook's interrupt button or stop_event: end cleanly with a resumable run directory
        stopped = R.INTERRUPTED
        done = history[-1]["epoch"] if history else start_epoch - 1
        if st.inside is None:  # else stopped before the resume went on: last.pt holds this very point
            save_state(st, run_dir, cfg, done, partial=st.steps > 0, rng=st.rng_at_start)
        for cb in callbacks:
            cb(R.interrupted_record(done, cfg.epochs, epoch))
    finally:
        write_history.close()
    if stopped in (R.EPOCHS, R.EARLY_STOP) and history:
        save_state(st, run_dir, cfg, history[-1]["epoch"])  # the state the loop ended in: --resume extends it

    memory = M.peak_report(device, estimate)
    say("[7/7] Saving results...")
    say("  " + M.peak_line(memory))
    metrics, emb = finish(st, cfg, run_dir, graph, history, stopped, epoch, n_train, n_val, t_start,
                          stop.signal, memory, log=say,
                          earlier=rundir.earlier_metrics(run_dir, say) if finished else None)  # nothing trained
    tracking.result = TrainResult(run_dir, history, metrics, emb, cfg)
    return tracking.result


__all__ = ["TrainResult", "train", "RunDirError"]
