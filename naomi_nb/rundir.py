"""The run directory: its files, the checkpoint schemas, history, and loading a run back.

A run directory holds:
  config.json            the resolved TrainConfig
  history.jsonl          one epoch record per line (`naomi_nb.record`)
  checkpoints/last.pt    everything needed to continue exactly (`LAST_KEYS`)
  checkpoints/best.pt    embeddings of the best epoch (`BEST_KEYS`)
  checkpoints/final.pt   the result: the best embeddings, pruned if asked
  embeddings.npy         the final embeddings (float32, V x D); embeddings_csr.npz when mostly zeros
  vocabulary.json        the graph's vocabulary + embedding_dim, starting_dim, dynamic_dims_enabled
  metrics.json           the run's headline figures
  report.json, figures/  the analysis (`naomi_nb.report`)
  dashboard.png, notebook_metrics.json   written by the notebooks

Every file is written through `naomi_nb.files.atomic_open`; history grows by one flushed line per epoch.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .files import atomic_open, atomic_write_bytes, atomic_write_json, dumps, read_json
from .graph import Graph, GraphError, Vocabulary, load_graph

CONFIG, HISTORY, METRICS, REPORT = "config.json", "history.jsonl", "metrics.json", "report.json"
EMBEDDINGS, EMBEDDINGS_CSR, VOCABULARY = "embeddings.npy", "embeddings_csr.npz", "vocabulary.json"
CHECKPOINTS, FIGURES, DASHBOARD, NOTEBOOK_METRICS = "checkpoints", "figures", "dashboard.png", "notebook_metrics.json"
LAST, BEST, FINAL = "last.pt", "best.pt", "final.pt"

CHECKPOINT_FORMAT = "naomi-nb-checkpoint/1"
LAST_KEYS = ("epoch", "embeddings", "exp_avg", "exp_avg_sq", "adam_step", "batch_size", "oom_cap", "rng",
             "partial", "early_stopping", "config")
BEST_KEYS = ("epoch", "embeddings", "val_loss", "config")


class RunDirError(ValueError):
    """A run directory that cannot be created, resumed or read; one line for the user."""


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


def new_run_dir(output_dir: str | None) -> Path:
    """Create a fresh run directory; refuse to reuse one that already holds a run."""
    path = timestamped_dir("runs") if output_dir is None else Path(output_dir)
    if (path / CONFIG).exists() or (path / HISTORY).exists():
        raise RunDirError(f"{path} already holds a run; continue it with --resume {path} or choose another --output-dir")
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path} exists and is not a directory")
    (path / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    return path


def check_resumable(run_dir: str | os.PathLike) -> Path:
    path = Path(run_dir)
    if not (path / CONFIG).is_file():
        raise RunDirError(f"{path} is not a run directory (no {CONFIG})")
    for name in (LAST, BEST):
        if not checkpoint_path(path, name).is_file():
            raise RunDirError(f"{path} has no {CHECKPOINTS}/{name} to resume from")
    return path


# ---------------------------------------------------------------- checkpoints

def save_checkpoint(path: Path, payload: dict) -> None:
    """``torch.save`` through `atomic_open`: a reader never sees half a file."""
    with atomic_open(path) as f:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, f)


def load_checkpoint(path: Path, keys: tuple[str, ...] = ("embeddings",), map_location="cpu") -> dict:
    """A checkpoint written by `save_checkpoint`, with at least ``keys``; one-line `RunDirError` otherwise."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged file of any kind is reported in one line
        raise RunDirError(f"{path} cannot be read ({e.__class__.__name__}); it is damaged or not a checkpoint") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunDirError(f"{path} is not a naomi-nb checkpoint")
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
    save_checkpoint(checkpoint_path(run_dir, LAST), state)


def load_last(run_dir: Path) -> dict:
    return load_checkpoint(checkpoint_path(run_dir, LAST), LAST_KEYS)


def save_best(run_dir: Path, name: str = BEST, **state) -> None:
    """best.pt (or final.pt): embeddings of the best epoch plus its loss, epoch and config."""
    save_checkpoint(checkpoint_path(run_dir, name), state)


def load_best(run_dir: Path) -> dict:
    return load_checkpoint(checkpoint_path(run_dir, BEST), BEST_KEYS)


# ---------------------------------------------------------------- history and results

def read_history(run_dir: str | os.PathLike, upto_epoch: int | None = None) -> list[dict]:
    """The epoch records of history.jsonl (a line half-written by a killed process is skipped)."""
    path = Path(run_dir) / HISTORY
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if upto_epoch is None or rec["epoch"] <= upto_epoch:
            records.append(rec)
    return records


class HistoryWriter:
    """Appends each epoch record to history.jsonl as one strict-JSON line, flushed at once."""

    def __init__(self, run_dir: Path, keep: list[dict]):
        path = Path(run_dir) / HISTORY
        # rewrite what is kept (on resume: the epochs up to the checkpoint), then append
        atomic_write_bytes(path, "".join(dumps(r) + "\n" for r in keep).encode())
        self._f = open(path, "a")

    def __call__(self, record: dict) -> None:
        self._f.write(dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


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


def write_results(run_dir: Path, emb: np.ndarray, vocab: Vocabulary, starting_dim: int, dynamic: bool) -> int | None:
    """embeddings.npy, vocabulary.json (with the width) and, when mostly zeros, embeddings_csr.npz (its size)."""
    with atomic_open(run_dir / EMBEDDINGS) as f:
        np.save(f, emb)
    atomic_write_bytes(run_dir / VOCABULARY, json.dumps(vocab.to_json(
        embedding_dim=int(emb.shape[1]), starting_dim=starting_dim, dynamic_dims_enabled=dynamic)).encode())
    return save_sparse_if_worth_it(run_dir / EMBEDDINGS_CSR, emb)


def write_metrics(run_dir: Path, metrics: dict) -> None:
    atomic_write_json(run_dir / METRICS, metrics)


def read_metrics(run_dir: str | os.PathLike) -> dict:
    """metrics.json, or {} when it is missing or damaged (a courtesy copy: nothing depends on it)."""
    try:
        metrics = json.loads((Path(run_dir) / METRICS).read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


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


def load_embeddings(path: str | os.PathLike) -> np.ndarray:
    """Load an ``embeddings.npy`` as float32 (V, D), refusing pickles, wrong shapes and NaN/inf.

    Raises:
        RunDirError: one line, for a missing, truncated or non-finite file.
    """
    path = Path(path)
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
    return Run(run_dir, config, emb, vocab, graph, read_history(run_dir), read_metrics(run_dir), problem)


def latest_run(runs_dir: str | os.PathLike) -> Path | None:
    """The most recently written run under ``runs_dir`` (one holding ``embeddings.npy``), or None."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return None
    done = [d for d in runs_dir.iterdir() if (d / EMBEDDINGS).is_file()]
    if not done:
        return None
    return max(done, key=lambda d: (d / EMBEDDINGS).stat().st_mtime)
