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
"""
from __future__ import annotations

import math

EPOCH, INTERRUPTED = "epoch", "interrupted"
EPOCHS = "epochs"  # metrics.json's "stopped" when every epoch asked for ran
EXPAND, BATCH, OPTIMIZER, MAX_DIMS, OOM, NAN, EARLY_STOP, LR = (
    "expand", "batch", "optimizer", "max_dims", "oom", "nan", "early_stop", "lr")
STOPS = (EARLY_STOP, INTERRUPTED, NAN)  # events that end a run


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
            "events": [{"type": INTERRUPTED, "epoch": during, "completed_epochs": completed}]}


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
