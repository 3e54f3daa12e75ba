"""The epoch record: the one plain dict the trainer emits per epoch, and the readers every consumer uses.

A record is JSON-serialisable (floats, ints, lists, dicts) so that the CLI printer, ``history.jsonl``, the
notebook dashboard, the sweeps and the analysis all read the same thing. Two kinds:

- ``kind == "epoch"``: a finished epoch, with the fields of `epoch_record`;
- ``kind == "interrupted"``: sent to the callbacks (never written to history) when a run is stopped inside
  or before an epoch: ``epoch`` (the last finished epoch), ``epochs`` and one ``interrupted`` event.

Loss figures: ``terms`` names the loss terms, the objective's then ``sparsity``; each is held as
``train_<term>`` and ``val_<term>`` (the seed's objective: distance; the negatives: distance and negative),
with ``train_total`` / ``val_total`` their sums.

Width and batch size in an epoch record are the values *after* the epoch (an expansion at the end of
epoch 2 shows in epoch 2's ``dims``); ``dims_before`` / ``batch_before`` are what the epoch trained with.

Events (``record["events"]``, each a dict with a ``type``):
  expand      old_dims, new_dims, stats (the activity bands before the expansion)
  batch       batch_size, dims, reason            the batch size adapted to a new width
  optimizer   mode                                Adam carried over or reset at an expansion
  max_dims    dims                                the ceiling was reached
  oom         old_batch, new_batch                out of memory: batch halved, step retried
              site (absent: a step; ``validation``: its chunks halved; ``expand``: old_dims, new_dims,
              the width kept)
  nan         epoch, best_epoch                   the loss became NaN: the run stops
  early_stop  best_val, best_epoch, patience, epoch
  lr          old_lr, new_lr                      the plateau schedule lowered the rate for the next epoch
  interrupted epoch, completed_epochs             (the interrupted record's only event)
Each has its constructor here (`expand_event` ... `interrupted_event`), so the field names have one owner.

metrics.json (`run_metrics` builds it, `read_metrics` reads it back) holds the run's headline figures;
its ``stopped`` is one of `STOP_REASONS`: ``epochs`` (every epoch ran), ``early_stop``, ``nan`` (the
three of `FINISHED`: the run ended by itself) or ``interrupted`` (resumable).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

EPOCH, INTERRUPTED = "epoch", "interrupted"
EXPAND, BATCH, OPTIMIZER, MAX_DIMS, OOM, NAN, EARLY_STOP, LR = (
    "expand", "batch", "optimizer", "max_dims", "oom", "nan", "early_stop", "lr")
STOPS = (EARLY_STOP, INTERRUPTED, NAN)  # events that end a run
VALIDATION = "validation"  # an oom event's site when validation's chunks were halved (EXPAND: at an expansion)

# metrics.json's "stopped": why the loop ended
EPOCHS = "epochs"  # every epoch of the config ran
STOP_REASONS = (EPOCHS, EARLY_STOP, NAN, INTERRUPTED)
FINISHED = (EPOCHS, EARLY_STOP, NAN)  # the run ended by itself (an interrupted run can be resumed)
METRICS_FILE = "metrics.json"


# ---------------------------------------------------------------- events

def expand_event(old_dims: int, new_dims: int, stats: dict) -> dict:
    """The width grew; ``stats``: `naomi_nb.dims.dimension_classes` before the expansion."""
    return {"type": EXPAND, "old_dims": old_dims, "new_dims": new_dims, "stats": stats}


def batch_event(batch_size: int, dims: int, reason: str = EXPAND) -> dict:
    """The batch size adapted to a new width (``reason``: what changed it)."""
    return {"type": BATCH, "batch_size": batch_size, "dims": dims, "reason": reason}


def optimizer_event(mode: str) -> dict:
    """Adam's moments carried over or reset at an expansion (``mode``: ``carry`` / ``reset``)."""
    return {"type": OPTIMIZER, "mode": mode}


def max_dims_event(dims: int) -> dict:
    """The width reached its ceiling: no more expansions."""
    return {"type": MAX_DIMS, "dims": dims}


def oom_event(old_batch: int, new_batch: int, site: str | None = None, old_dims: int | None = None,
              new_dims: int | None = None) -> dict:
    """Out of memory: in a training step (``site`` None: the batch halved, the step retried), in validation
    (``site=VALIDATION``: its chunks halved) or at an expansion (``site=EXPAND`` with ``old_dims`` /
    ``new_dims``: the width kept, the batch unchanged)."""
    where = {} if site is None else {"site": site}
    if site == EXPAND:
        where.update(old_dims=old_dims, new_dims=new_dims)
    return {"type": OOM, **where, "old_batch": old_batch, "new_batch": new_batch}


def nan_event(epoch: int, best_epoch: int) -> dict:
    """The loss became NaN at ``epoch``: the run stops with the model of ``best_epoch``."""
    return {"type": NAN, "epoch": epoch, "best_epoch": best_epoch}


def early_stop_event(best_val: float, best_epoch: int, patience: int, epoch: int) -> dict:
    """Validation stopped improving for ``patience`` epochs: the run stops after ``epoch``."""
    return {"type": EARLY_STOP, "best_val": best_val, "best_epoch": best_epoch, "patience": patience,
            "epoch": epoch}


def lr_event(old_lr: float, new_lr: float) -> dict:
    """The plateau schedule lowered the rate for the next epoch."""
    return {"type": LR, "old_lr": old_lr, "new_lr": new_lr}


def interrupted_event(epoch: int, completed_epochs: int) -> dict:
    """The run stopped inside (or before) ``epoch`` with ``completed_epochs`` finished."""
    return {"type": INTERRUPTED, "epoch": epoch, "completed_epochs": completed_epochs}


# ---------------------------------------------------------------- records


def total(terms: dict) -> float:
    """A split's total loss: its terms added in order (the objective's, then the sparsity term)."""
    out = 0.0
    for value in terms.values():
        out += value
    return out


def terms_of(record: dict) -> list[str]:
    """The loss terms a record holds (``train_<term>``, ``val_<term>``), the sparsity term last; records
    written before records named them hold the distance term, the negative one where present, and sparsity."""
    if "terms" in record:
        return list(record["terms"])
    return ["distance"] + (["negative"] if "val_negative" in record else []) + ["sparsity"]


def epoch_record(*, epoch: int, epochs: int, train: dict, val: dict, stats: dict, dims_before: int, dims: int,
                 batch_before: int, batch_size: int, lr: float, seconds: float, train_seconds: float, n_train: int,
                 best: bool, stopper, events: list[dict]) -> dict:
    """The record of one finished epoch (see the module doc for what each figure means).

    Args:
        train, val: loss term name -> the epoch's mean, in order (the objective's terms, then ``sparsity``);
            the record holds each as ``train_<term>`` / ``val_<term>``, their sums as ``train_total`` /
            ``val_total``, and the names as ``terms``.
        stats: `naomi_nb.sparsity.embedding_stats` of the embeddings after the epoch's last step.
        stopper: the run's `naomi_nb.dims.EarlyStopping` after this epoch's update.
    """
    return {
        "kind": EPOCH, "epoch": epoch, "epochs": epochs, "terms": list(train),
        "train_total": total(train), **{f"train_{k}": v for k, v in train.items()},
        "val_total": total(val), **{f"val_{k}": v for k, v in val.items()},
        "sparsity_pct": stats["sparsity_pct"], "zeros_pct": stats["zeros_pct"],
        "active_per_word": stats["active_per_word"],
        "dims_before": dims_before, "dims": dims, "batch_before": batch_before, "batch_size": batch_size,
        "lr": lr, "seconds": seconds, "train_seconds": train_seconds, "edges_per_s": n_train / train_seconds,
        "best": best, "best_val": stopper.best, "best_epoch": stopper.best_epoch, "bad_epochs": stopper.bad_epochs,
        "events": events,
    }


def interrupted_record(completed: int, epochs: int, during: int) -> dict:
    """What the callbacks get when a run stops before finishing epoch ``during``."""
    return {"kind": INTERRUPTED, "epoch": completed, "epochs": epochs,
            "events": [interrupted_event(during, completed)]}


def is_epoch(record: dict) -> bool:
    """A finished epoch's record (history.jsonl written before records had a kind holds only these)."""
    return record.get("kind", EPOCH) == EPOCH


def epochs_of(records) -> list[dict]:
    """The records of finished epochs, in order."""
    return [r for r in records if is_epoch(r)]


def events_of(records, kind: str) -> list[tuple[int, dict]]:
    """(epoch, event) for every event of one type; the epoch is the event's own where it names one (an
    interruption names the epoch it cut short), else its record's."""
    return [(e.get("epoch", r["epoch"]), e) for r in records for e in r.get("events", ()) if e.get("type") == kind]


def event_in(record: dict, kind: str) -> dict | None:
    """The record's first event of a type, or None."""
    return next((e for e in record.get("events", ()) if e.get("type") == kind), None)


def ends_run(record: dict) -> bool:
    return any(e.get("type") in STOPS for e in record.get("events", ()))


def start_dims(records) -> int | None:
    """The width the first epoch trained with."""
    history = epochs_of(records)
    return history[0]["dims_before"] if history else None


def start_batch(records) -> int | None:
    """The batch size the first epoch started with (before any out-of-memory halving)."""
    history = epochs_of(records)
    if not history:
        return None
    first = history[0]
    oom = event_in(first, OOM)
    return oom["old_batch"] if oom else first["batch_before"]


def distinct(values) -> list:
    """Consecutive duplicates dropped: [1M, 1M, 512K, 512K] -> [1M, 512K]."""
    values = list(values)
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def batch_path(records) -> list[int]:
    """The batch sizes a run went through, in order, each once per stretch."""
    history = epochs_of(records)
    start = start_batch(history)
    return distinct(([start] if start is not None else []) + [r["batch_size"] for r in history])


def best_of(records) -> dict | None:
    """The finished epoch with the lowest finite validation loss."""
    valid = [r for r in epochs_of(records) if r.get("val_total") is not None and math.isfinite(r["val_total"])]
    return min(valid, key=lambda r: r["val_total"], default=None)


def stop_reason(records, metrics: dict | None = None) -> str:
    """Why a run ended, in words: from its records' events, else metrics.json's ``stopped``."""
    stops = sorted(events_of(records, EARLY_STOP) + events_of(records, INTERRUPTED) + events_of(records, NAN),
                   key=lambda pair: pair[0], reverse=True)
    for epoch, event in stops:
        if event["type"] == EARLY_STOP:
            return f"early stop at epoch {epoch} (patience {event.get('patience', '?')})"
        if event["type"] == INTERRUPTED:
            return f"interrupted during epoch {event.get('epoch', epoch)}"
        return f"NaN loss at epoch {epoch}"
    full = epochs_of(records)
    stopped = (metrics or {}).get("stopped")
    done = full[-1]["epoch"] if full else 0
    if stopped == INTERRUPTED:
        return f"interrupted after epoch {done}"
    if stopped == NAN:
        return f"NaN loss at epoch {(metrics or {}).get('nan_epoch', done)}"
    if stopped == EARLY_STOP:
        return f"early stop at epoch {done}"
    if not full:
        return "no epoch finished"
    last = full[-1]
    if last["epoch"] >= last.get("epochs", last["epoch"]):
        return f"completed {last['epoch']} epochs"
    return f"ended at epoch {last['epoch']} of {last['epochs']}"


# ---------------------------------------------------------------- metrics.json

def run_metrics(*, stopped: str, history: list[dict], best_val: float, best_epoch: int, final_dims: int,
                start_dims: int, pruned_dims: int, minutes: float, n_train: int, n_val: int, vocab_size: int,
                device: str, embeddings_bytes: int, sparse_bytes: int | None, nan_epoch: int | None = None,
                signal: str | None = None, memory: dict | None = None) -> dict:
    """The run's headline figures, as metrics.json holds them.

    Args:
        stopped: one of `STOP_REASONS`.
        history: the run's epoch records (a resumed run's include the earlier ones).
        best_val, best_epoch: the early stopper's best validation loss and its epoch (0: none finite).
        final_dims: the returned model's width (after pruning ``pruned_dims`` unused dimensions).
        start_dims: the width reported as reached when no epoch finished.
        nan_epoch: with ``stopped == NAN``, the epoch whose loss was not finite.
        signal: with ``stopped == INTERRUPTED``, ``SIGINT`` / ``SIGTERM``, or None for a stop request.
        memory: the training's measured peak against the start-up estimate (`naomi_nb.memory.peak_report`).
    """
    epoch_times = [r["seconds"] for r in history]
    metrics = {
        "stopped": stopped, "epochs_run": len(history), "best_val": best_val,
        "best_epoch": best_epoch, "final_dims": final_dims,
        "dims_reached": max((r["dims"] for r in history), default=start_dims),
        "pruned_dims": pruned_dims, "batch_sizes": sorted({r["batch_size"] for r in history}, reverse=True),
        "minutes": minutes,
        "seconds_per_epoch": float(np.median(epoch_times)) if epoch_times else None,
        "sparsity_pct": history[-1]["sparsity_pct"] if history else None,
        "zeros_pct": history[-1]["zeros_pct"] if history else None,
        "n_train": n_train, "n_val": n_val, "vocab_size": vocab_size, "device": device,
        "embeddings_bytes": embeddings_bytes, "sparse_bytes": sparse_bytes, "memory": memory,
    }
    if stopped == NAN:
        metrics["nan_epoch"] = nan_epoch
    if stopped == INTERRUPTED:
        metrics["signal"] = signal  # SIGINT, SIGTERM, or None for a stop_event
    metrics["trained"] = best_epoch > 0  # False: the embeddings are the untrained initialisation
    return metrics


def read_metrics(run_dir: str | os.PathLike) -> dict:
    """A run directory's metrics.json, or {} when it is missing or damaged (a courtesy copy: the history
    and the checkpoints are the truth, so a reader falls back on them)."""
    try:
        metrics = json.loads((Path(run_dir) / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def finished(metrics: dict) -> bool:
    """True when the run ended by itself (all epochs, early stop or NaN), False when interrupted or unknown."""
    return metrics.get("stopped") in FINISHED


def trained(metrics: dict) -> bool:
    """False when metrics.json says no epoch finished with a finite validation loss (the embeddings are the
    untrained initialisation); True otherwise, also when it says nothing."""
    return metrics.get("trained") is not False and metrics.get("best_epoch") != 0


def headline(records, metrics: dict | None = None) -> dict:
    """The figures that tell runs apart, from metrics.json where it has them, else from the records (a run
    stopped before writing metrics.json): ``best_val``, ``best_epoch``, ``epochs_run``, ``final_dims``,
    ``dims_reached``, ``minutes`` (None where neither says)."""
    metrics = metrics or {}
    history = epochs_of(records)
    best = best_of(history)
    last = history[-1] if history else {}
    best_epoch = metrics.get("best_epoch", last.get("best_epoch", best and best["epoch"]))
    # the returned model is the best epoch's, saved before that epoch's expansion
    at_best = next((r for r in history if r["epoch"] == best_epoch), None)
    own = {"best_val": last.get("best_val", best and best["val_total"]),
           "best_epoch": best_epoch,
           "epochs_run": len(history),
           "final_dims": at_best.get("dims_before", at_best["dims"]) if at_best else None,
           "dims_reached": max((r["dims"] for r in history), default=None),
           "minutes": sum(r.get("seconds", 0.0) for r in history) / 60}
    return {key: metrics.get(key, value) for key, value in own.items()}
