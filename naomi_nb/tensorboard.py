"""A training callback that writes every epoch record to TensorBoard event files in the run directory.

``tensorboard --logdir runs`` then shows every run (and every search trial, each an ordinary run
directory) side by side: losses, sparsity, exact zeros, dimensions, batch size and learning rate per
epoch, and the run's events (expansions, batch changes, early stop, interruption) as text.

The trainer does not know this module exists: it is one more ``cb(record)``, with ``on_start`` (the run
directory is known: the event file goes there) and ``on_end`` (the file is closed).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import record as R

# record key -> TensorBoard tag; the group before the slash is a section in TensorBoard's scalar tab. The
# loss terms are the record's own (`naomi_nb.record.terms_of`): loss/train_<term>, loss/val_<term>.
LOSS_GROUP = "loss"
SCALARS: dict[str, str] = {
    "train_total": "loss/train_total",
    "val_total": "loss/val_total",
    "sparsity_pct": "sparsity/sparsity_pct",
    "zeros_pct": "sparsity/zeros_pct",
    "active_per_word": "sparsity/active_per_word",
    "dims": "shape/dims",
    "batch_size": "shape/batch_size",
    "lr": "optim/lr",
    "seconds": "speed/seconds",
    "edges_per_s": "speed/edges_per_s",
}
EVENTS_TAG = "events"
CONFIG_TAG = "config"


def describe_event(event: dict) -> str:
    """One readable line for a record's event (``expand: 128 -> 192 dims``); unknown kinds as JSON."""
    kind = event.get("type", "?")
    if kind == R.EXPAND:
        return f"expand: {event['old_dims']} -> {event['new_dims']} dims"
    if kind == R.BATCH:
        return f"batch: {event['batch_size']} edges for {event['dims']} dims"
    if kind == R.EARLY_STOP:
        return f"early_stop: best validation loss {event['best_val']:.6g} at epoch {event['best_epoch']}"
    if kind == R.INTERRUPTED:
        return f"interrupted during epoch {event['epoch']} ({event['completed_epochs']} epochs complete)"
    if kind == R.OOM:
        return f"out of memory: batch {event['old_batch']} -> {event['new_batch']}"
    if kind == R.NAN:
        return f"nan: loss became NaN, best epoch {event['best_epoch']}"
    rest = {k: v for k, v in event.items() if k != "type"}
    return f"{kind}: {json.dumps(rest, default=str)}" if rest else kind


class TensorBoardCallback:
    """``cb(record)`` that writes each epoch's scalars and events to ``logdir``.

    The writer opens on the first record and flushes after every epoch, so a killed run keeps what it
    logged; `train` closes it when the run ends (``on_end``), and a closed callback reopens on the next record.

    Args:
        logdir: where the event file goes; default: the run directory (``on_start``), so that
            ``tensorboard --logdir runs`` lists runs.
        config: a dict written once as text under the tag ``config``; default: the run's config.
    """

    def __init__(self, logdir: str | os.PathLike | None = None, config: dict | None = None):
        self.logdir = None if logdir is None else Path(logdir)
        self.config = config
        self._writer = None

    def on_start(self, cfg, run_dir) -> None:
        if self.logdir is None:
            self.logdir = Path(run_dir)
        if self.config is None and self._writer is None:
            self.config = cfg.to_dict()

    def on_end(self, result) -> None:
        self.close()

    def _open(self):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(self.logdir))
        if self.config is not None:
            text = "\n".join(f"    {k} = {v!r}" for k, v in self.config.items())  # indented: markdown code block
            self._writer.add_text(CONFIG_TAG, text, global_step=0)
            self.config = None
        return self._writer

    def __call__(self, record: dict) -> None:
        writer = self._writer or self._open()
        step = int(record["epoch"])
        tags = {**{f"{side}_{t}": f"{LOSS_GROUP}/{side}_{t}" for t in R.terms_of(record)
                    for side in ("train", "val")},
                **SCALARS} if R.is_epoch(record) else {}
        for key, tag in tags.items():
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(tag, float(value), global_step=step)
        events = record.get("events") or []
        if events:
            writer.add_text(EVENTS_TAG, "  \n".join(describe_event(e) for e in events), global_step=step)
        writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_scalars(logdir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files under ``logdir``: tag -> [(step, value)] in step order.

    Uses TensorBoard's own event reader, the one ``tensorboard --logdir`` uses.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})  # 0: keep every value
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def read_texts(logdir: str | os.PathLike, tag: str = EVENTS_TAG) -> list[tuple[int, str]]:
    """The text summaries of one tag under ``logdir`` (events by default): [(step, text)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    tag = f"{tag}/text_summary"  # the name add_text gives it
    if tag not in acc.Tags().get("tensors", []):
        return []
    out = []
    for e in acc.Tensors(tag):
        values = e.tensor_proto.string_val
        out.append((e.step, b"".join(values).decode()))
    return out
