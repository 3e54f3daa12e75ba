"""Run directories, atomic checkpoint writes, exact resume.

A run directory holds:
  config.json        the resolved TrainConfig
  history.jsonl      one record per epoch (the same record every consumer sees)
  checkpoints/       best.pt (embeddings at the best epoch), last.pt (everything needed to resume),
                     final.pt (the result: best embeddings, pruned if asked)
  embeddings.npy     the final embeddings (float32, V x D)
  vocabulary.json    the graph's vocabulary + embedding_dim, starting_dim, dynamic_dims_enabled
  metrics.json       the run's headline figures
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import torch

CHECKPOINT_FORMAT = "naomi-nb-checkpoint/1"


class RunDirError(ValueError):
    """A run directory that cannot be created or resumed; one line for the user."""


def timestamped_dir(parent: str | os.PathLike) -> Path:
    """``parent/<date-time>`` (with ``-2``, ``-3`` ... when taken); not created."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = Path(parent) / stamp, 1
    while path.exists():
        n += 1
        path = Path(parent) / f"{stamp}-{n}"
    return path


def new_run_dir(output_dir: str | None) -> Path:
    """Create a fresh run directory; refuse to reuse one that already holds a run."""
    path = timestamped_dir("runs") if output_dir is None else Path(output_dir)
    if (path / "config.json").exists() or (path / "history.jsonl").exists():
        raise RunDirError(f"{path} already holds a run; continue it with --resume {path} or choose another --output-dir")
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path} exists and is not a directory")
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    return path


def check_resumable(run_dir: str | os.PathLike) -> Path:
    path = Path(run_dir)
    if not (path / "config.json").is_file():
        raise RunDirError(f"{path} is not a run directory (no config.json)")
    for name in ("last.pt", "best.pt"):
        if not (path / "checkpoints" / name).is_file():
            raise RunDirError(f"{path} has no checkpoints/{name} to resume from")
    return path


@contextmanager
def atomic_open(path: str | os.PathLike):
    """A binary file that appears at ``path`` only once it is completely written (temporary + rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        yield f
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(Path(path), json.dumps(obj, indent=1).encode())


def save_checkpoint(path: Path, payload: dict) -> None:
    """``torch.save`` to a temporary beside ``path``, then rename: a reader never sees half a file."""
    with atomic_open(path) as f:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, f)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - a damaged file of any kind is reported in one line
        raise RunDirError(f"{path} cannot be read ({e.__class__.__name__}); it is damaged or not a checkpoint") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunDirError(f"{path} is not a naomi-nb checkpoint")
    return ckpt


def read_history(run_dir: Path, upto_epoch: int | None = None) -> list[dict]:
    path = Path(run_dir) / "history.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line half-written when the process was killed
        if upto_epoch is None or rec["epoch"] <= upto_epoch:
            records.append(rec)
    return records


class HistoryWriter:
    """Appends each epoch record to history.jsonl as one JSON line, flushed at once."""

    def __init__(self, run_dir: Path, keep: list[dict]):
        path = Path(run_dir) / "history.jsonl"
        # rewrite what is kept (on resume: the epochs up to the checkpoint), then append
        atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in keep).encode())
        self._f = open(path, "a")

    def __call__(self, record: dict) -> None:
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()
