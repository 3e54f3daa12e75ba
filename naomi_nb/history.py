"""history.jsonl: one epoch record per line, written as the run goes, made whole again on resume.

After a crash: history.jsonl is fsynced each time last.pt is written, and last.pt carries the records up to
its epoch (`sync_history`). A resume continues after last.pt's epoch with exactly those records
(`resume_history`): whatever the file lost (a torn or garbage line, a deleted file) comes back from the
checkpoint, the records of epochs after it are dropped (those epochs run again), and a warning line says
what was repaired. So a finished run's history holds every epoch exactly once, in order.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .files import atomic_write_bytes, dumps, warn, write_error
from .runfiles import CHECKPOINTS, HISTORY, LAST


def _parse_history(path: Path) -> tuple[list[dict], int]:
    """The epoch records of a history file in file order, and how many lines were not records (a line
    half-written by a killed process, garbage)."""
    records, bad = [], 0
    for line in path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(rec, dict) and isinstance(rec.get("epoch"), int) and not isinstance(rec["epoch"], bool):
            records.append(rec)
        else:
            bad += 1  # valid JSON but not an epoch record
    return records, bad


def read_history(run_dir: str | os.PathLike, upto_epoch: int | None = None) -> list[dict]:
    """The epoch records of history.jsonl (lines that are not records are skipped; `resume_history` repairs)."""
    path = Path(run_dir) / HISTORY
    if not path.exists():
        return []
    records, _ = _parse_history(path)
    return [r for r in records if upto_epoch is None or r["epoch"] <= upto_epoch]


def sync_history(run_dir: str | os.PathLike, upto_epoch: int) -> list[dict]:
    """fsync history.jsonl (its lines reach the disk before the checkpoint that names their epoch) and return
    its records up to ``upto_epoch``; [] when there is no file."""
    path = Path(run_dir) / HISTORY
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise write_error(path, err) from None
    try:
        os.fsync(fd)
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        os.close(fd)
    return read_history(run_dir, upto_epoch)


def _epochs_text(epochs: list[int]) -> str:
    return ", ".join(map(str, epochs[:5])) + (f" and {len(epochs) - 5} more" if len(epochs) > 5 else "")


def resume_history(run_dir: str | os.PathLike, ckpt: dict) -> list[dict]:
    """The history a resumed run continues with: one record for each epoch 1..``ckpt["epoch"]``, in order.

    The records saved in last.pt win over the file (the file may have lost lines to a crash, or been
    damaged); records after the checkpoint's epoch are dropped, since those epochs run again. A warning line
    names every repair. A last.pt from before it carried the history: the file's records, with a warning for
    epochs that cannot be restored.
    """
    path, upto = Path(run_dir) / HISTORY, int(ckpt["epoch"])
    on_disk, bad = _parse_history(path) if path.exists() else ([], 0)
    kept = [r for r in on_disk if r["epoch"] <= upto]
    repairs = []
    if not path.exists() and upto > 0:
        repairs.append(f"{HISTORY} was missing")
    if bad:
        repairs.append(f"{bad} unreadable line{'s' if bad > 1 else ''} dropped")
    saved = ckpt.get("history")
    if saved is not None:
        have = {r["epoch"]: r for r in kept}
        restored = [r["epoch"] for r in saved if have.get(r["epoch"]) != r]
        if restored:
            repairs.append(f"epoch{'s' if len(restored) > 1 else ''} {_epochs_text(restored)} restored from "
                           f"{CHECKPOINTS}/{LAST}")
        records = list(saved)
    else:
        by_epoch = {}
        for r in kept:  # a duplicated epoch: its last record wins
            by_epoch[r["epoch"]] = r
        records = [by_epoch[e] for e in sorted(by_epoch)]
        if len(records) < len(kept) or [r["epoch"] for r in kept] != sorted(by_epoch):
            repairs.append("duplicated or out-of-order records put in order")
    lost = sorted(set(range(1, upto + 1)) - {r["epoch"] for r in records})
    if lost:
        why = "holds no history (an older version of naomi-nb wrote it)" if saved is None else "lacks them too"
        repairs.append(f"epoch{'s' if len(lost) > 1 else ''} {_epochs_text(lost)} cannot be restored "
                       f"({CHECKPOINTS}/{LAST} {why})")
    if repairs:
        warn(f"{path} repaired on resume: {'; '.join(repairs)}")
    return records


class HistoryWriter:
    """Appends each epoch record to history.jsonl as one strict-JSON line, flushed at once."""

    def __init__(self, run_dir: Path, keep: list[dict]):
        path = Path(run_dir) / HISTORY
        # rewrite what is kept (on resume: the epochs up to the checkpoint), then append
        atomic_write_bytes(path, "".join(dumps(r) + "\n" for r in keep).encode())
        self.path = path
        try:
            self._f = open(path, "a")
        except OSError as err:
            raise write_error(path, err) from None

    def __call__(self, record: dict) -> None:
        try:
            self._f.write(dumps(record) + "\n")
            self._f.flush()
        except OSError as err:
            raise write_error(self.path, err) from None

    def close(self) -> None:
        try:
            self._f.close()
        except OSError:
            pass  # a line that could not be flushed was reported when it was written
