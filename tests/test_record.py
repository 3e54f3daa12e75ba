"""The record's words: event constructors, stop reasons, metrics.json built and read back."""
from __future__ import annotations

import json

import pytest

from naomi_nb import record as R


def test_event_constructors_produce_the_documented_fields_in_order():
    # history.jsonl keeps these exact dicts, key order included (the file is diffed between runs)
    stats = {"dead": 1, "sparse": 2}
    assert list(R.expand_event(128, 192, stats).items()) == [
        ("type", "expand"), ("old_dims", 128), ("new_dims", 192), ("stats", stats)]
    assert list(R.batch_event(4096, 192).items()) == [
        ("type", "batch"), ("batch_size", 4096), ("dims", 192), ("reason", "expand")]
    assert R.optimizer_event("reset") == {"type": "optimizer", "mode": "reset"}
    assert R.max_dims_event(512) == {"type": "max_dims", "dims": 512}
    assert list(R.oom_event(64, 32).items()) == [("type", "oom"), ("old_batch", 64), ("new_batch", 32)]
    assert list(R.oom_event(64, 32, site=R.VALIDATION).items()) == [
        ("type", "oom"), ("site", "validation"), ("old_batch", 64), ("new_batch", 32)]
    assert list(R.oom_event(64, 64, site=R.EXPAND, old_dims=4, new_dims=8).items()) == [
        ("type", "oom"), ("site", "expand"), ("old_dims", 4), ("new_dims", 8), ("old_batch", 64), ("new_batch", 64)]
    assert list(R.nan_event(3, 2).items()) == [("type", "nan"), ("epoch", 3), ("best_epoch", 2)]
    assert list(R.early_stop_event(0.5, 4, 2, 6).items()) == [
        ("type", "early_stop"), ("best_val", 0.5), ("best_epoch", 4), ("patience", 2), ("epoch", 6)]
    assert R.lr_event(0.04, 0.02) == {"type": "lr", "old_lr": 0.04, "new_lr": 0.02}
    assert list(R.interrupted_event(4, 3).items()) == [("type", "interrupted"), ("epoch", 4), ("completed_epochs", 3)]
    assert R.interrupted_record(3, 10, 4)["events"] == [R.interrupted_event(4, 3)]


def test_every_event_constructor_is_read_by_the_readers():
    record = {"kind": R.EPOCH, "epoch": 2, "events": [R.expand_event(4, 8, {}), R.early_stop_event(1.0, 1, 1, 2)]}
    assert R.event_in(record, R.EXPAND)["new_dims"] == 8 and R.ends_run(record)
    assert R.stop_reason([record]) == "early stop at epoch 2 (patience 1)"


def test_stop_reasons_have_one_name_each():
    assert R.STOP_REASONS == ("epochs", "early_stop", "nan", "interrupted")
    assert set(R.FINISHED) == set(R.STOP_REASONS) - {R.INTERRUPTED}
    assert [R.finished({"stopped": s}) for s in R.STOP_REASONS] == [True, True, True, False]
    assert not R.finished({})


def test_read_metrics_is_empty_for_a_missing_or_damaged_file(tmp_path):
    assert R.read_metrics(tmp_path) == {}
    (tmp_path / R.METRICS_FILE).write_text("{not json")
    assert R.read_metrics(tmp_path) == {}
    (tmp_path / R.METRICS_FILE).write_text("[1, 2]")
    assert R.read_metrics(tmp_path) == {}
    (tmp_path / R.METRICS_FILE).write_text(json.dumps({"stopped": "nan", "best_epoch": 0}))
    assert R.read_metrics(tmp_path) == {"stopped": "nan", "best_epoch": 0}
    assert not R.trained(R.read_metrics(tmp_path)) and R.trained({}) and R.trained({"best_epoch": 3})


def _epoch(epoch, val, dims_before, dims, best_val, best_epoch, seconds=2.0):
    return {"kind": R.EPOCH, "epoch": epoch, "epochs": 10, "val_total": val, "dims_before": dims_before,
            "dims": dims, "batch_before": 64, "batch_size": 64, "best_val": best_val, "best_epoch": best_epoch,
            "seconds": seconds, "events": []}


def test_headline_prefers_metrics_and_falls_back_on_the_records():
    history = [_epoch(1, 0.9, 8, 8, 0.9, 1), _epoch(2, 0.5, 8, 16, 0.5, 2), _epoch(3, 0.6, 16, 16, 0.5, 2)]
    assert R.headline(history) == {"best_val": 0.5, "best_epoch": 2, "epochs_run": 3, "final_dims": 8,
                                   "dims_reached": 16, "minutes": pytest.approx(0.1)}
    assert R.headline(history, {"best_val": 0.25, "final_dims": 12})["best_val"] == 0.25
    assert R.headline([], {})["best_epoch"] is None


def test_run_metrics_rebuilds_what_train_writes(tmp_path):
    from naomi_nb.config import TrainConfig
    from naomi_nb.graph import tiny_graph
    from naomi_nb.trainer import train

    cfg = TrainConfig(output_dir=str(tmp_path / "run"), epochs=3, embedding_dim=8, batch_size=64, min_batch_size=16,
                      analyze=False)
    result = train(cfg, tiny_graph(), log=lambda *a: None)
    m = result.metrics
    rebuilt = R.run_metrics(
        stopped=m["stopped"], history=result.history, best_val=m["best_val"], best_epoch=m["best_epoch"],
        final_dims=m["final_dims"], start_dims=cfg.embedding_dim, pruned_dims=m["pruned_dims"], minutes=m["minutes"],
        n_train=m["n_train"], n_val=m["n_val"], vocab_size=m["vocab_size"], device=m["device"],
        embeddings_bytes=m["embeddings_bytes"], sparse_bytes=m["sparse_bytes"], memory=m["memory"])
    assert list(rebuilt.items()) == list(m.items())
    assert R.read_metrics(result.run_dir) == m and m["stopped"] in R.STOP_REASONS
    assert R.run_metrics(**{**_metrics_args(), "stopped": R.NAN, "nan_epoch": 2})["nan_epoch"] == 2
    assert R.run_metrics(**{**_metrics_args(), "stopped": R.INTERRUPTED, "signal": "SIGTERM"})["signal"] == "SIGTERM"
    assert R.run_metrics(**_metrics_args())["trained"] is False  # no finite epoch: the initial embeddings


def _metrics_args() -> dict:
    return dict(stopped=R.EPOCHS, history=[], best_val=float("inf"), best_epoch=0, final_dims=8, start_dims=8,
                pruned_dims=0, minutes=0.0, n_train=10, n_val=2, vocab_size=6, device="cpu", embeddings_bytes=192,
                sparse_bytes=None)
