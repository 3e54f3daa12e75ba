"""The run directory: its files, the checkpoint schemas, history, and loading a run back.

The files are named in `naomi_nb.runfiles` (and imported here: ``rundir.CONFIG`` is config.json too).

A run directory holds:
  config.json            the resolved TrainConfig; written when the run starts: from then on the directory
                         resumes (without last.pt a resume starts at epoch 1, the seed fixes that state)
  graph.json             the training graph's fingerprint, checked on every resume (`graph_fingerprint`)
  .lock                  held (flock) by the process training in the directory; names its pid and host
  history.jsonl          one epoch record per line (`naomi_nb.record`)
  checkpoints/last.pt    everything needed to continue exactly (`LAST_KEYS`), and the history up to its epoch
  checkpoints/best.pt    the best epoch so far (`BEST_KEYS`): its embeddings while training; once the run
                         has written them unpruned as embeddings.npy, only a pointer to that file and its
                         checksum (`save_best_pointer`), so no matrix is stored twice
  embeddings.npy         the returned model: the best epoch's embeddings, pruned if asked (float32, V x D);
                         embeddings_csr.npz when at least 3/4 zeros
  embeddings.npy.sha256  its checksum, in ``sha256sum`` format (``sha256sum -c`` checks it too)
  vocabulary.json        the graph's vocabulary + embedding_dim, starting_dim, dynamic_dims_enabled
  metrics.json           the run's headline figures
  report.json, figures/  the analysis (`naomi_nb.report`); summary.txt, its figures and readable axes as text
  dashboard.png          the loss, sparsity, width and batch size per epoch (CLI and notebook runs)
  notebook_metrics.json  written by the notebooks

Every file is written through `naomi_nb.files.atomic_open`; history grows by one flushed line per epoch.
Only the holder of ``.lock`` writes, so it may also remove temporaries a killed process left behind.

Integrity: every checkpoint carries a sha256 of its contents (`checkpoint_digest`), computed when it is saved
and verified when it is loaded (0.5 to 2 GB/s: 1 to 3 s for the 1.3 GB last.pt of 512 dims on full WordNet,
once per resume, and once per save, which happens at most every --checkpoint-seconds); embeddings.npy has its
checksum file, verified whenever a run is loaded, and a best.pt that points at it holds the same checksum;
graph.json, metrics.json and vocabulary.json have theirs too (`write_checked`), and config.json must match the
configuration last.pt was trained with (`check_config_matches`). A damaged file is a one-line `RunDirError`
naming the file and the way out; checkpoints and embeddings written before checksums existed load with a
warning line, older JSON files as before.

History after a crash: history.jsonl is fsynced each time last.pt is written, and last.pt carries the
records up to its epoch. A resume continues after last.pt's epoch with exactly those records (`resume_history`):
whatever the file lost (a torn or garbage line, a deleted file) comes back from the checkpoint, the records of
epochs after it are dropped (those epochs run again), and a warning line says what was repaired. So a
finished run's history holds every epoch exactly once, in order.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import RESUMABLE_CHANGES, TrainConfig, resolve_resume
from .errors import RunDirError
from .files import (atomic_open, atomic_write_bytes, dumps, read_json, remove_stale_temporaries,
                    sha256, warn, write_error)
from .graph import Graph, GraphError, Vocabulary, load_graph
from .history import HistoryWriter, read_history, resume_history, sync_history  # noqa: F401 - a run's files
from .project import runs_dir as default_runs_dir
from .runlock import RunLock
# the file names, which callers also read from here (rundir.CONFIG)
from .runfiles import (BEST, CHECKPOINTS, CHECKSUM_SUFFIX, CONFIG, DASHBOARD, EMBEDDINGS, EMBEDDINGS_CSR,  # noqa: F401
                       FIGURES, FINAL, GRAPH_INFO, HISTORY, LAST, LOCK, METRICS, NOTEBOOK_METRICS, REPORT, SUMMARY,
                       VOCABULARY)

CHECKPOINT_FORMAT = "naomi-nb-checkpoint/1"
LAST_KEYS = ("epoch", "embeddings", "exp_avg", "exp_avg_sq", "adam_step", "batch_size", "oom_cap", "rng",
             "partial", "early_stopping", "config")
BEST_KEYS = ("epoch", "embeddings", "val_loss", "config")
POINTER_KEYS = ("epoch", "val_loss", "config", "embeddings_file", "embeddings_sha256")  # a best.pt without its matrix


def timestamped_dir(parent: str | os.PathLike) -> Path:
    """``parent/<date-time>`` (with ``-2``, ``-3`` ... when taken); not created."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = Path(parent) / stamp, 1
    while path.exists():
        n += 1
        path = Path(parent) / f"{stamp}-{n}"
    return path


def checkpoint_path(run_dir: str | os.PathLike, name: str) -> Path:
    return Path(run_dir) / CHECKPOINTS / name


def _claim_timestamped(parent: Path) -> Path:
    """A fresh ``parent/<date-time>`` created atomically (two runs started in the same second get two)."""
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        path = timestamped_dir(parent)
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def holds_run(path: Path) -> bool:
    return (path / CONFIG).exists() or (path / HISTORY).exists()


def new_run_dir(output_dir: str | None) -> tuple[Path, RunLock]:
    """Create a fresh run directory and lock it; refuse one that already holds a run or another process uses.

    ``output_dir`` None: a new ``<date-time>`` folder in `naomi_nb.project.runs_dir`. The check comes after
    the lock, so of two processes started on one directory exactly one trains.
    Returns the directory and its (held) lock.
    """
    path = _claim_timestamped(default_runs_dir()) if output_dir is None else Path(output_dir)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path} exists and is not a directory")
    if holds_run(path):
        raise RunDirError(f"{path} already holds a run; continue it with --resume {path} or choose another --output-dir")
    try:
        (path / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(str(write_error(path, err))) from None
    lock = RunLock(path).acquire()
    if holds_run(path):  # another process got there between our check and our lock
        lock.release()
        raise RunDirError(f"{path} already holds a run; continue it with --resume {path} or choose another --output-dir")
    clean(path)
    return path, lock


def clean(path: Path) -> None:
    """Remove temporaries a killed writer left (the caller holds the lock)."""
    for d in (path, path / CHECKPOINTS):
        if d.is_dir():
            remove_stale_temporaries(d)


def check_resumable(run_dir: str | os.PathLike) -> Path:
    """A directory with a config.json: resumable from its last.pt and best.pt, or, when the run was stopped
    before its first checkpoint, from the start (the seed makes that state again)."""
    path = Path(run_dir)
    if not (path / CONFIG).is_file():
        raise RunDirError(f"{path} is not a run directory (no {CONFIG})")
    if checkpoint_path(path, LAST).is_file() and not checkpoint_path(path, BEST).is_file():
        raise RunDirError(f"{path} has no {CHECKPOINTS}/{BEST} to resume from")
    return path


def check_resume_changes(run_dir: str | os.PathLike, cfg: TrainConfig | dict, ckpt: dict | None) -> str | None:
    """Refuse a resume that would shrink the run; say when there is nothing left to train.

    Args:
        run_dir: the run; its config.json holds the settings it ran with.
        cfg: the config the resume would train with (a `TrainConfig` or its dict).
        ckpt: the run's last.pt (None when it has none: the run starts again from its first epoch).

    Returns:
        None when there are epochs to train; otherwise one line saying the run is finished (all its epochs
        run, or early stopping ended it) and what would continue it. The caller then trains nothing.

    Raises:
        RunDirError: one line, for ``epochs`` below the epochs the run has done.
    """
    if ckpt is None:
        return None
    run_dir = Path(run_dir)
    new = cfg.to_dict() if isinstance(cfg, TrainConfig) else cfg
    saved = read_json(run_dir / CONFIG, RunDirError, "the run's configuration")
    check_config_matches(run_dir, saved, ckpt)
    done, epochs, patience = int(ckpt["epoch"]), int(new["epochs"]), int(new["patience"])
    if epochs < done:
        raise RunDirError(f"--epochs {epochs} is below the {done} epochs {run_dir} has done: give more than {done} "
                          f"to continue it, or leave --epochs out")
    if epochs == done:
        more = "" if epochs != saved.get("epochs") else "; give a larger --epochs to train on"
        return f"{run_dir} is finished: it has run all its {epochs} epochs{more}"
    bad = int(ckpt.get("early_stopping", {}).get("bad_epochs", 0))
    if bad >= max(patience, 1):  # `EarlyStopping.should_stop` with the patience the resume would use
        return (f"{run_dir} is finished: early stopping ended it after epoch {done} ({bad} epochs without "
                f"improvement, --patience {patience}); give a larger --patience to train on")
    return None


def check_config_matches(run_dir: Path, saved, ckpt: dict) -> None:
    """Refuse (one line, naming the key) a config.json that differs from the configuration last.pt was trained
    with, beyond what a resume may change (`naomi_nb.config.RESUMABLE_CHANGES`): config.json is what the run
    was, so an edit (``lr``) or a damaged byte would otherwise be used, or ignored, without a word. Keys only
    one of them has (a setting added or removed by another version of naomi-nb) are not compared."""
    trained = ckpt.get("config")
    if not isinstance(saved, dict) or not isinstance(trained, dict):
        return
    for key in sorted(set(saved) & set(trained) - set(RESUMABLE_CHANGES)):
        if saved[key] != trained[key]:
            raise RunDirError(f"{run_dir / CONFIG} says {key} = {json.dumps(saved[key])}, but {CHECKPOINTS}/{LAST} "
                              f"was trained with {json.dumps(trained[key])}: config.json is what the run was, so "
                              f"restore it (a resume changes only {', '.join(RESUMABLE_CHANGES)}), or start a new run")


def resume_config(run_dir: str | os.PathLike, cfg_or_changes) -> TrainConfig:
    """The one entry to a resumed run's settings: its own config.json, with only the settings a resume may
    change (`naomi_nb.config.RESUMABLE_CHANGES`) taken from ``cfg_or_changes``: a `TrainConfig` (the notebook
    panel's, the trainer's argument: those fields of it) or a dict of explicitly given values (the CLI's flags,
    where any other key is refused in one line)."""
    path = check_resumable(run_dir)
    changes = cfg_or_changes
    if isinstance(changes, TrainConfig):
        changes = {k: getattr(changes, k) for k in RESUMABLE_CHANGES}
    return resolve_resume(TrainConfig.load(path / CONFIG), changes)


def lock_for_resume(run_dir: Path) -> RunLock:
    lock = RunLock(run_dir).acquire()
    try:
        (run_dir / CHECKPOINTS).mkdir(exist_ok=True)
    except OSError as err:
        lock.release()
        raise RunDirError(str(write_error(run_dir / CHECKPOINTS, err))) from None
    clean(run_dir)
    return lock


# ---------------------------------------------------------------- the graph a run trains on

def graph_fingerprint(graph: Graph) -> dict:
    """What identifies a training graph: a sha256 over its arrays, relation table and sense keys (the same
    for a graph however it was loaded: our directory, NAOMI-II's pickle, or built in memory), plus its counts
    for the message. About 0.1 s on full WordNet."""
    h = hashlib.sha256()
    for arr in (graph.src, graph.dst, graph.rel, graph.conf, graph.targets):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update("\0".join(graph.relations).encode())
    h.update("\0".join(graph.vocab.id_to_word).encode())
    return {"sha256": h.hexdigest(), "n_senses": graph.vocab.size, "n_edges": graph.n_edges}


def save_graph_info(run_dir: Path, graph: Graph, training_data: str) -> None:
    info = {**graph_fingerprint(graph), "training_data": training_data}
    write_checked(run_dir / GRAPH_INFO, dumps(info, 1).encode())


def check_graph(run_dir: Path, graph: Graph, training_data: str, rows: int | None) -> None:
    """Refuse (one line) to resume on a graph other than the run's: its fingerprint, and the checkpoint's rows.

    Runs written before graph.json existed are checked on the vocabulary size only, and get one now.
    """
    where = f"the graph at {training_data}"
    if rows is not None and rows != graph.vocab.size:
        raise RunDirError(f"{where} has {graph.vocab.size:,} senses but {run_dir} was trained on {rows:,}: not "
                          "this run's graph (restore it, or start a new run)")
    info = run_dir / GRAPH_INFO
    if not info.exists():
        save_graph_info(run_dir, graph, training_data)
        return
    verify_checked(info, f"delete it (and {info.name}{CHECKSUM_SUFFIX}) to resume: the graph is then checked by "
                         "its number of senses, and graph.json written again")
    saved = read_json(info, RunDirError, "the run's graph fingerprint")
    now = graph_fingerprint(graph)
    if not isinstance(saved, dict) or saved.get("sha256") != now["sha256"]:
        then = (f"{saved.get('n_senses', '?'):,} senses, {saved.get('n_edges', '?'):,} edges"
                if isinstance(saved, dict) and isinstance(saved.get("n_senses"), int)
                and isinstance(saved.get("n_edges"), int) else "another graph")
        raise RunDirError(f"{where} ({now['n_senses']:,} senses, {now['n_edges']:,} edges) is not the graph "
                          f"{run_dir} was trained on ({then}; fingerprints differ): restore it, or start a new run")


# ---------------------------------------------------------------- checkpoints

def _feed(h, x) -> None:
    """Add a checkpoint value to the hash ``h``: tensors by dtype, shape and bytes, containers in order (dict keys
    sorted), everything else by type and repr (what torch.load gives back equals what was saved)."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().contiguous()
        h.update(f"tensor {t.dtype} {tuple(t.shape)};".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(x, dict):
        h.update(f"dict {len(x)};".encode())
        for k in sorted(x, key=repr):
            _feed(h, k)
            _feed(h, x[k])
    elif isinstance(x, (list, tuple)):
        h.update(f"{type(x).__name__} {len(x)};".encode())
        for v in x:
            _feed(h, v)
    else:
        h.update(f"{type(x).__name__} {x!r};".encode())


def checkpoint_digest(payload: dict) -> str:
    """sha256 of a checkpoint's contents (all but its ``sha256`` key); about 0.4 GB/s."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != "sha256"})
    return h.hexdigest()


def _way_out(path: Path) -> str:
    """What to do about a damaged or unreadable checkpoint."""
    run = path.parent.parent
    return {LAST: f"delete it to resume {run} from its first epoch, or start a new run",
            BEST: f"delete {path.parent} to resume {run} from its first epoch, or start a new run"}.get(
        path.name, "start a new run")


def save_checkpoint(path: Path, payload: dict) -> None:
    """``torch.save`` through `atomic_open`, with the contents' sha256 inside (`checkpoint_digest`): a reader
    never sees half a file, and a damaged one is noticed on load; a full disk is a one-line `WriteError` and
    leaves no temporary."""
    payload = {"format": CHECKPOINT_FORMAT, **payload}
    payload["sha256"] = checkpoint_digest(payload)
    with atomic_open(path) as f:
        torch.save(payload, f)


def load_checkpoint(path: Path, keys: tuple[str, ...] = ("embeddings",), map_location="cpu") -> dict:
    """A checkpoint written by `save_checkpoint`, with at least ``keys`` and its checksum verified; one-line
    `RunDirError` otherwise. A checkpoint from before checksums loads with a warning line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's own lines about a plain pickle precede our refusal
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged file of any kind is reported in one line
        raise RunDirError(f"{path} cannot be read ({e.__class__.__name__}); it is damaged or not a checkpoint: "
                          f"{_way_out(path)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunDirError(f"{path} is not a naomi-nb checkpoint")
    if "sha256" not in ckpt:
        warn(f"{path} has no checksum (written by an older version of naomi-nb): loaded unverified")
    elif ckpt["sha256"] != checkpoint_digest(ckpt):
        raise RunDirError(f"{path} is damaged (its contents do not match their checksum): {_way_out(path)}")
    missing = [k for k in keys if k not in ckpt]
    if missing:
        raise RunDirError(f"{path} lacks {', '.join(missing)}; it was not written by this version of naomi-nb")
    return ckpt


def save_last(run_dir: Path, **state) -> None:
    """last.pt: the state to continue exactly after ``state["epoch"]`` (at least `LAST_KEYS`; ``lr``, the
    schedule's current rate, is optional so that older runs still resume)."""
    missing = [k for k in LAST_KEYS if k not in state]
    if missing:
        raise ValueError(f"last.pt needs {', '.join(missing)}")
    # the history up to this epoch goes to disk first, and into last.pt: a resume restores what the file lost
    records = sync_history(run_dir, state["epoch"])
    save_checkpoint(checkpoint_path(run_dir, LAST), {**state, "history": records})


def load_last(run_dir: Path) -> dict:
    return load_checkpoint(checkpoint_path(run_dir, LAST), LAST_KEYS)


def save_best(run_dir: Path, **state) -> None:
    """best.pt: embeddings of the best epoch plus its loss, epoch and config (`BEST_KEYS`)."""
    save_checkpoint(checkpoint_path(run_dir, BEST), state)


def save_best_pointer(run_dir: Path, **state) -> None:
    """best.pt without its matrix, once embeddings.npy holds the best epoch's embeddings unpruned: the epoch,
    loss and config (``state``), the file's name and the sha256 its checksum file holds. It replaces the
    full best.pt atomically, so a resume always finds the best model in one of the two."""
    digest = checksum_path(run_dir / EMBEDDINGS).read_text().split()[0]
    save_checkpoint(checkpoint_path(run_dir, BEST), {**state, "embeddings_file": EMBEDDINGS,
                                                     "embeddings_sha256": digest})


def load_best(run_dir: Path) -> dict:
    """best.pt with its ``embeddings`` (a CPU tensor), also when it points at embeddings.npy: that file is then
    loaded and must match the checksum best.pt holds (else a one-line `RunDirError`)."""
    path = checkpoint_path(run_dir, BEST)
    ckpt = load_checkpoint(path, ("epoch", "val_loss", "config"))
    if "embeddings" in ckpt:
        return ckpt
    if any(k not in ckpt for k in POINTER_KEYS):
        raise RunDirError(f"{path} lacks embeddings; it was not written by this version of naomi-nb")
    target = Path(run_dir) / ckpt["embeddings_file"]
    way = _way_out(path)
    if not target.is_file():
        raise RunDirError(f"{target} is missing, and {path} keeps the best model there: {way}")
    emb = load_embeddings(target, expected=ckpt["embeddings_sha256"], where=str(path), way=way)
    ckpt["embeddings"] = torch.from_numpy(emb)
    return ckpt


def best_holds_embeddings(run_dir: Path) -> bool:
    """Whether best.pt holds its matrix intact (not a pointer to embeddings.npy); False without a best.pt."""
    try:
        return "embeddings" in load_checkpoint(checkpoint_path(run_dir, BEST), ())
    except RunDirError:
        return False


# ---------------------------------------------------------------- results

def save_sparse_if_worth_it(path: Path, emb: np.ndarray, min_zero_share: float = 0.75) -> int | None:
    """Also store the embeddings as a CSR matrix when at least three quarters of the entries are exact zeros;
    its size or None. A non-zero costs 8 bytes in CSR (value and column) against 4 per entry dense, so below
    that share the copy would take more than half the dense file's space for little gain (at 52% zeros on
    full WordNet: 407 MB beside the 424 MB dense file).

    A CSR copy left by an earlier part of a resumed run is removed when this one does not qualify.
    """
    if emb.size == 0 or np.count_nonzero(emb) > (1 - min_zero_share) * emb.size:
        path.unlink(missing_ok=True)
        return None
    import scipy.sparse

    with atomic_open(path) as f:
        scipy.sparse.save_npz(f, scipy.sparse.csr_matrix(emb), compressed=False)
    return path.stat().st_size


def write_results(run_dir: Path, emb: np.ndarray, vocab: Vocabulary, starting_dim: int, dynamic: bool) -> int | None:
    """embeddings.npy and its checksum file, vocabulary.json (with the width) and, when mostly zeros,
    embeddings_csr.npz (its size)."""
    write_embeddings(run_dir / EMBEDDINGS, emb)
    write_checked(run_dir / VOCABULARY, json.dumps(vocab.to_json(
        embedding_dim=int(emb.shape[1]), starting_dim=starting_dim, dynamic_dims_enabled=dynamic)).encode())
    return save_sparse_if_worth_it(run_dir / EMBEDDINGS_CSR, emb)


def checksum_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def write_embeddings(path: Path, emb: np.ndarray) -> None:
    """``path`` (.npy) and ``path.sha256`` beside it. The old checksum goes first: a kill between the two
    writes leaves a file without a checksum (loaded with a warning), never one with a wrong checksum."""
    sidecar = checksum_path(path)
    sidecar.unlink(missing_ok=True)
    with atomic_open(path) as f:
        np.save(f, emb)
    atomic_write_bytes(sidecar, f"{sha256(path)}  {path.name}\n".encode())


def verify_embeddings(path: Path, expected: str | None = None, where: str | None = None,
                      way: str | None = None) -> None:
    """Compare ``path`` with its checksum: one-line `RunDirError` when they differ, a warning line when there is
    none (a run from an older version, or one killed while writing its results).

    Args:
        path: an embeddings.npy.
        expected: the sha256 to compare with, held by ``where`` (best.pt's pointer); default: the one in the
            file's checksum file.
        way: what to do about a damaged file; default: resume the run when its best.pt holds the best model
            intact (resuming writes embeddings.npy again from it), else start a new run.
    """
    if expected is None:
        sidecar = checksum_path(path)
        where = sidecar.name
        try:
            expected = sidecar.read_text().split()[0]
        except FileNotFoundError:
            warn(f"{path} has no checksum ({sidecar.name}): loaded unverified")
            return
        except (OSError, UnicodeDecodeError, IndexError):
            expected = ""
    if sha256(path) != expected:
        if way is None:
            best = checkpoint_path(path.parent, BEST)
            way = (f"{best} holds the best model (train --resume {path.parent} writes them again)"
                   if best_holds_embeddings(path.parent) else "start a new run")
        raise RunDirError(f"{path} is damaged (it does not match its checksum in {where}): {way}")


def write_checked(path: Path, data: bytes) -> None:
    """``path`` and ``path.sha256`` beside it (`sha256sum -c` reads it), for the run's JSON files; the old
    checksum goes first, as in `write_embeddings`."""
    sidecar = checksum_path(path)
    sidecar.unlink(missing_ok=True)
    atomic_write_bytes(path, data)
    atomic_write_bytes(sidecar, f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode())


def verify_checked(path: Path, way: str) -> bool:
    """Compare a file written by `write_checked` with its checksum: a one-line `RunDirError` naming the file and
    ``way`` (what to do) when they differ; False when it has none (written by an older version of naomi-nb,
    read as before) or is missing itself (its reader says so), True when it matches."""
    sidecar = checksum_path(path)
    if not path.is_file():
        return False
    try:
        expected = sidecar.read_text().split()[0]
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError, IndexError):
        expected = ""
    if sha256(path) != expected:
        raise RunDirError(f"{path} is damaged (it does not match its checksum in {sidecar.name}): {way}")
    return True


def write_metrics(run_dir: Path, metrics: dict) -> None:
    write_checked(run_dir / METRICS, dumps(metrics, 1).encode())


def load_metrics(run_dir: Path) -> dict:
    """metrics.json for a reader that reports on it (`load_run`, so ``analyze``): {} when the run has none yet,
    a one-line `RunDirError` when it is damaged (truncated, not an object, not matching its checksum), where
    `naomi_nb.record.read_metrics` (a courtesy reader) gives {}."""
    path = run_dir / METRICS
    if not path.exists():
        return {}
    way = f"train --resume {run_dir} writes it again"
    verify_checked(path, way)
    metrics = read_json(path, RunDirError, way)
    if not isinstance(metrics, dict):
        raise RunDirError(f"{path} is damaged (a JSON {type(metrics).__name__}, not an object): {way}")
    return metrics


def named_dims(metrics: dict) -> dict[int, str]:
    """The dimensions a run's stage named, {dim: name}, from its metrics.json ({} when none or unreadable)."""
    stage = metrics.get("stage") if isinstance(metrics, dict) else None
    named = stage.get("named_dims") if isinstance(stage, dict) else None
    if not isinstance(named, dict):
        return {}
    return {int(k): str(v) for k, v in named.items() if str(k).isdigit() and isinstance(v, str)}


def earlier_metrics(run_dir: Path, log=None) -> dict:
    """metrics.json when it is whole, else {}: what a resume that trains nothing keeps of it (the minutes and
    peak memory are the run's, not those of the process that found it finished). A damaged one is written
    again from the checkpoint, and ``log`` says so."""
    try:
        return load_metrics(Path(run_dir))
    except RunDirError:
        if log is not None and (Path(run_dir) / METRICS).exists():
            log(f"  warning: {Path(run_dir) / METRICS} is damaged: written again from the checkpoint (its minutes "
                "and peak memory are this process's)")
        return {}


# ---------------------------------------------------------------- loading a run

@dataclass
class Run:
    """A finished (or interrupted) training run, loaded from its directory."""

    run_dir: Path
    config: dict
    embeddings: np.ndarray  # float32 (V, D), row i = sense id i
    vocab: Vocabulary
    graph: Graph | None  # None when the training data could not be found
    history: list = field(default_factory=list)  # one record per epoch
    metrics: dict = field(default_factory=dict)
    graph_problem: str | None = None  # why graph is None


def load_embeddings(path: str | os.PathLike, **checksum) -> np.ndarray:
    """Load an ``embeddings.npy`` as float32 (V, D), verified against its checksum (`verify_embeddings`, which
    takes ``checksum``), refusing pickles, wrong shapes and NaN/inf.

    Raises:
        RunDirError: one line, for a missing, damaged, truncated or non-finite file.
    """
    path = Path(path)
    if path.is_file():
        verify_embeddings(path, **checksum)
    try:
        emb = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing (did training finish? it is written at the end)") from None
    except (ValueError, OSError, EOFError) as e:
        raise RunDirError(f"{path} is corrupt or truncated ({e.__class__.__name__})") from None
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0 or emb.dtype.kind != "f":
        raise RunDirError(f"{path}: expected a non-empty 2-D float array, got {emb.dtype} {emb.shape}")
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    step = max(1, (1 << 23) // emb.shape[1])
    bad = sum(int(np.count_nonzero(~np.isfinite(emb[i:i + step]))) for i in range(0, len(emb), step))
    if bad:
        raise RunDirError(f"{path} holds {bad:,} NaN/inf values (the run diverged; try a lower --lr)")
    return emb


def _training_data_candidates(value: str, run_dir: Path) -> list[Path]:
    """Where a (possibly relative) ``training_data`` path may point: as given, then beside the run."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return [p]
    # relative paths were relative to wherever training started: try the usual places
    return [p, run_dir / p, run_dir.parent / p, run_dir.parent.parent / p]


def _find_graph(config: dict, run_dir: Path) -> tuple[Graph | None, str | None]:
    value = config.get("training_data")
    if not value:
        return None, f"{CONFIG} names no training_data"
    found = next((c for c in _training_data_candidates(str(value), run_dir) if c.is_dir()), None)
    if found is None:
        return None, f"training data {value} not found"
    try:
        return load_graph(found), None
    except GraphError as e:
        return None, str(e)


def load_vocabulary(run_dir: Path) -> Vocabulary:
    verify_checked(run_dir / VOCABULARY, f"{CHECKPOINTS}/{BEST} holds the model, and train --resume {run_dir} "
                                         "writes the vocabulary again from the training graph")
    try:
        return Vocabulary.from_json(read_json(run_dir / VOCABULARY, RunDirError, "vocabulary"),
                                    where=str(run_dir / VOCABULARY))
    except GraphError as e:
        raise RunDirError(str(e)) from None


def load_run(run_dir: str | os.PathLike, graph: Graph | None = None) -> Run:
    """Load a run directory: config, embeddings, vocabulary, history, metrics and (if found) the graph.

    Args:
        run_dir: directory written by the trainer.
        graph: the training graph, when the caller has it; otherwise it is loaded from the config's
            ``training_data``. When that fails the run still loads, with ``graph=None`` and the reason in
            ``graph_problem``.

    Raises:
        RunDirError: one line, when the directory, ``config.json`` or ``embeddings.npy`` is missing or
            corrupt, or the vocabulary does not match the embeddings.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist")
    config = read_json(run_dir / CONFIG, RunDirError, "not a run directory?")
    if not isinstance(config, dict):
        raise RunDirError(f"{run_dir / CONFIG}: expected a JSON object")
    emb = load_embeddings(run_dir / EMBEDDINGS)
    problem = None
    if graph is None:
        graph, problem = _find_graph(config, run_dir)
    if (run_dir / VOCABULARY).exists():
        vocab = load_vocabulary(run_dir)
    elif graph is not None:
        vocab = graph.vocab
    else:
        raise RunDirError(f"{run_dir / VOCABULARY} is missing and the training graph is unavailable ({problem})")
    if vocab.size != emb.shape[0]:
        raise RunDirError(f"{EMBEDDINGS} has {emb.shape[0]:,} rows but the vocabulary has {vocab.size:,} senses")
    if graph is not None:
        if graph.vocab.size != vocab.size:
            raise RunDirError(f"the training graph has {graph.vocab.size:,} senses but the run has {vocab.size:,}: "
                              "not the graph this run was trained on")
        if graph.vocab.id_to_word != vocab.id_to_word:
            first = next(i for i, (a, b) in enumerate(zip(graph.vocab.id_to_word, vocab.id_to_word)) if a != b)
            raise RunDirError(f"the training graph's vocabulary differs from the run's at id {first} "
                              f"({graph.vocab.id_to_word[first]!r} vs {vocab.id_to_word[first]!r})")
        # the graph's vocabulary may carry lexnames the run's copy lacks
        vocab = graph.vocab if vocab.lexname is None else vocab
    return Run(run_dir, config, emb, vocab, graph, read_history(run_dir), load_metrics(run_dir), problem)


def latest_run(runs_dir: str | os.PathLike | None = None) -> Path | None:
    """The most recently written run under ``runs_dir`` (default: `naomi_nb.project.runs_dir`) that holds
    ``embeddings.npy``, or None."""
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not runs_dir.is_dir():
        return None
    done = [d for d in runs_dir.iterdir() if (d / EMBEDDINGS).is_file()]
    if not done:
        return None
    return max(done, key=lambda d: (d / EMBEDDINGS).stat().st_mtime)
