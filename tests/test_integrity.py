"""Nothing lost, ever: non-finite settings refused, checkpoints and embeddings verified by checksum, a history
with every epoch exactly once after any crash, and resumes that cannot shrink or overrun a run. The fault
machinery (kills, damaged files, one-line errors) is `test_reliability`'s."""
from __future__ import annotations

import errno
import json
import math
import os
import pickle
import shutil
import signal
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from naomi_nb import files, rundir, trainer as T
from naomi_nb.__main__ import main
from naomi_nb.config import NEVER_SECONDS, ConfigError, TrainConfig, config_from_args
from naomi_nb.graph import tiny_graph
from test_reliability import (HANG, SMALL, cfg_for, cli, nan_after_every_step, one_line_error, temporaries,
                              without_timing)

FLOAT_FIELDS = [f for f, d in TrainConfig.__dataclass_fields__.items() if isinstance(d.default, float)]


# ---------------------------------------------------------------- non-finite and out-of-range settings

@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
@pytest.mark.parametrize("field", FLOAT_FIELDS)
def test_every_float_flag_refuses_non_finite_values_in_one_line(tmp_path, capsys, field, value):
    flag = "--" + field.replace("_", "-")
    code = main(["train", "--training-data", str(tmp_path / "g"), "--output-dir", str(tmp_path / "r"),
                 f"{flag}={value}"])  # "--lr=-inf": argparse would read a bare "-inf" as a flag
    assert code == 2
    one_line_error(capsys.readouterr().err, flag, "finite")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("field", FLOAT_FIELDS)
def test_a_config_never_holds_a_non_finite_float(tmp_path, field):
    """Notebooks and config.json pass through `validate` too, so config.json can never get a null for one."""
    for bad in (math.inf, -math.inf, math.nan, 10**400):
        with pytest.raises(ConfigError, match="finite"):
            TrainConfig(**{field: bad})
    good = TrainConfig().to_dict()
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**good, field: math.inf}))  # Python's json writes Infinity, and reads it back
    with pytest.raises(ConfigError, match="finite"):
        TrainConfig.load(path)


def test_checkpoint_seconds_never_is_a_named_option_and_strict_json(tmp_path):
    from naomi_nb.__main__ import build_parser

    cfg = config_from_args(build_parser().parse_args(["train", "--checkpoint-seconds", "never"]))
    assert cfg.checkpoint_seconds == NEVER_SECONDS
    cfg.save(tmp_path / "config.json")
    json.loads((tmp_path / "config.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert TrainConfig.load(tmp_path / "config.json") == cfg


@pytest.mark.parametrize("args, message", [
    (["--output-dir", ""], "--output-dir must name a directory"),
    (["--output-dir", "r", "--val-fraction", "0.9999"], "--val-fraction must be in (0, 0.5]"),
    (["--output-dir", "r", "--val-fraction", "0"], "--val-fraction must be in (0, 0.5]"),
    (["--output-dir", "r", "--lr", "1e6"], "--lr must be in (0, 10]"),
])
def test_out_of_range_train_flags_are_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--training-data", str(tmp_path / "g"), *args]) == 2
    one_line_error(capsys.readouterr().err, message)
    assert list(tmp_path.iterdir()) == []  # nothing trained into the current directory


# ---------------------------------------------------------------- checksums of checkpoints and embeddings

def _flip_a_tensor_byte(path: Path) -> None:
    """Flip one bit inside the largest tensor's bytes of a torch zip checkpoint (its structure stays valid)."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name, way_out", [("last.pt", "delete it to resume"), ("embeddings.npy", "delete")])
def test_a_bit_flip_in_a_checkpoint_is_refused_naming_the_file_and_the_way_out(tiny, tmp_path, capsys, name,
                                                                               way_out):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2", *SMALL]) == 0
    if name == "embeddings.npy":  # a finished run's best model: best.pt points at it (tests/test_rundir.py)
        data = bytearray((run / name).read_bytes())
        data[-3] ^= 0x01
        (run / name).write_bytes(bytes(data))
    else:
        _flip_a_tensor_byte(run / "checkpoints" / name)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 2
    one_line_error(capsys.readouterr().err, name, "damaged", way_out)


def test_checkpoint_checksum_covers_every_value():
    payload = {"epoch": 3, "embeddings": torch.arange(12.0).reshape(3, 4), "rng": torch.zeros(5, dtype=torch.uint8),
               "early_stopping": {"best": math.inf, "best_epoch": 0}, "partial": False, "adam_step": torch.tensor(7)}
    ref = rundir.checkpoint_digest(payload)
    assert rundir.checkpoint_digest({**payload, "sha256": "anything"}) == ref
    for change in ({"epoch": 4}, {"partial": True}, {"early_stopping": {"best": 1.0, "best_epoch": 0}},
                   {"embeddings": torch.arange(12.0).reshape(4, 3)}, {"adam_step": torch.tensor(8)}):
        assert rundir.checkpoint_digest({**payload, **change}) != ref, change


def test_a_checkpoint_without_checksum_loads_with_a_warning(tmp_path, capsys):
    path = tmp_path / "best.pt"
    torch.save({"format": rundir.CHECKPOINT_FORMAT, "embeddings": torch.ones(2, 2)}, path)  # an older writer
    assert torch.equal(rundir.load_checkpoint(path)["embeddings"], torch.ones(2, 2))
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and err.count("\n") == 1 and "no checksum" in err


@pytest.mark.slow
def test_a_plain_pickle_checkpoint_is_refused_in_exactly_one_line(tiny, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "1", *SMALL]) == 0
    with open(run / "checkpoints" / "last.pt", "wb") as f:
        pickle.dump({"format": rundir.CHECKPOINT_FORMAT}, f, protocol=4)
    proc = cli("train", "--resume", str(run), "--epochs", "2")
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 2
    one_line_error(err, "last.pt cannot be read")


def test_damaged_embeddings_are_refused_and_old_ones_warn(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "1", *SMALL]) == 0
    emb = run / "embeddings.npy"
    assert (run / "embeddings.npy.sha256").read_text().split() == [files.sha256(emb), "embeddings.npy"]
    capsys.readouterr()
    assert main(["export", str(run)]) == 0
    assert capsys.readouterr().err == ""
    data = bytearray(emb.read_bytes())
    data[-3] ^= 0x01  # one bit of one value: still a valid, finite float32 matrix
    emb.write_bytes(bytes(data))
    assert main(["export", str(run)]) == 2
    one_line_error(capsys.readouterr().err, "embeddings.npy is damaged", "start a new run")  # the only copy
    (run / "embeddings.npy.sha256").unlink()  # a run written before checksums existed
    assert main(["export", str(run)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and err.count("\n") == 1 and "no checksum" in err


# ---------------------------------------------------------------- history after a crash

def _damage(history: Path, how: str) -> None:
    lines = history.read_text().splitlines(keepends=True)
    if how == "torn_last_line":  # killed while writing the epoch after the checkpoint's
        history.write_text("".join(lines) + lines[-1][: len(lines[-1]) // 2])
    elif how == "torn_inside":  # an epoch before the checkpoint's cut short (a file that was not synced)
        lines[1] = lines[1][:10] + "\n"
        history.write_text("".join(lines))
    elif how == "garbage_line":
        history.write_text("".join(lines[:2]) + "\x00\x00 not json\n" + "".join(lines[2:]))
    elif how == "lost_lines":
        history.write_text("".join(lines[:1]))
    elif how == "missing_file":
        history.unlink()


@pytest.mark.parametrize("how", ["torn_last_line", "torn_inside", "garbage_line", "lost_lines", "missing_file"])
def test_history_holds_every_epoch_once_after_damage_and_resume(tmp_path, capsys, how):
    graph = tiny_graph()
    part = T.train(cfg_for(tmp_path, "part", epochs=4), graph=graph)
    shutil.copytree(part.run_dir, tmp_path / "intact")
    intact = T.train(cfg_for(tmp_path, "ignored", epochs=6), graph=graph, resume=tmp_path / "intact")
    _damage(part.run_dir / "history.jsonl", how)
    capsys.readouterr()
    resumed = T.train(cfg_for(tmp_path, "ignored", epochs=6), graph=graph, resume=part.run_dir)
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "history.jsonl repaired" in err and err.count("\n") == 1, err
    on_disk = rundir.read_history(part.run_dir)
    assert [r["epoch"] for r in on_disk] == [1, 2, 3, 4, 5, 6]
    assert without_timing(on_disk) == without_timing(resumed.history) == without_timing(intact.history)
    assert (part.run_dir / "history.jsonl").read_text().count("\n") == 6  # nothing unreadable kept


def test_an_undamaged_resume_warns_nothing(tmp_path, capsys):
    graph = tiny_graph()
    part = T.train(cfg_for(tmp_path, "part", epochs=2), graph=graph)
    capsys.readouterr()
    T.train(cfg_for(tmp_path, "ignored", epochs=3), graph=graph, resume=part.run_dir)
    assert capsys.readouterr().err == ""


def test_history_is_fsynced_before_last_pt_is_written(tmp_path, monkeypatch):
    events = []
    real_fsync, real_save = os.fsync, rundir.save_checkpoint
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(rundir, "save_checkpoint", lambda path, payload: (events.append("save " + path.name),
                                                                          real_save(path, payload))[1])
    T.train(cfg_for(tmp_path, epochs=2), graph=tiny_graph())
    saves = [i for i, e in enumerate(events) if e == "save last.pt"]
    assert saves and all("history.jsonl" in events[i - 1] for i in saves), events


def test_an_older_last_pt_without_history_keeps_the_file_and_names_the_gap(tmp_path, capsys):
    graph = tiny_graph()
    part = T.train(cfg_for(tmp_path, "part", epochs=3), graph=graph)
    last = part.run_dir / "checkpoints" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    del ckpt["history"], ckpt["sha256"]
    torch.save(ckpt, last)
    _damage(part.run_dir / "history.jsonl", "torn_inside")
    capsys.readouterr()
    resumed = T.train(cfg_for(tmp_path, "ignored", epochs=4), graph=graph, resume=part.run_dir)
    err = capsys.readouterr().err
    assert "no checksum" in err and "epoch 2 cannot be restored" in err and err.count("\n") == 2, err
    assert [r["epoch"] for r in resumed.history] == [1, 3, 4]


# ---------------------------------------------------------------- resuming a finished run

def test_resume_with_fewer_epochs_than_done_is_refused_and_changes_nothing(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "3", *SMALL]) == 0
    before = {p: p.read_bytes() for p in (run / "config.json", run / "history.jsonl", run / "embeddings.npy")}
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "1"]) == 2
    one_line_error(capsys.readouterr().err, "--epochs 1 is below the 3 epochs", str(run))
    assert {p: p.read_bytes() for p in before} == before


def _ckpt(epoch, bad=0, partial=False):
    return {"epoch": epoch, "partial": partial, "early_stopping": {"best": 0.1, "best_epoch": epoch - bad,
                                                                    "bad_epochs": bad}}


def test_check_resume_changes_knows_a_finished_run(tmp_path):
    saved = TrainConfig(epochs=12, patience=3)
    saved.save(tmp_path / "config.json")
    check = rundir.check_resume_changes
    assert check(tmp_path, saved, None) is None  # no last.pt: it starts again from epoch 1
    assert check(tmp_path, saved, _ckpt(5)) is None  # interrupted: five epochs done, seven to go
    assert "run all its 12 epochs; give a larger --epochs" in check(tmp_path, saved, _ckpt(12))
    assert check(tmp_path, saved.replace(epochs=20), _ckpt(12)) is None
    stopped = check(tmp_path, saved, _ckpt(7, bad=3))  # early stopping ended it (or a kill in its final save)
    assert "early stopping ended it after epoch 7" in stopped and "--patience" in stopped
    assert check(tmp_path, saved.replace(patience=5), _ckpt(7, bad=3)) is None
    assert check(tmp_path, saved.replace(epochs=30), _ckpt(7, bad=3)) is not None  # more epochs do not undo a stop
    with pytest.raises(rundir.RunDirError, match="--epochs 1 is below the 12 epochs"):
        check(tmp_path, saved.replace(epochs=1), _ckpt(12))
    assert check(tmp_path, saved.replace(epochs=12).to_dict(), _ckpt(12)) is not None


def test_resuming_an_early_stopped_run_trains_nothing(tmp_path, monkeypatch):
    graph = tiny_graph()
    stopped = T.train(cfg_for(tmp_path, epochs=50, patience=1, lr=0.5), graph=graph)
    assert stopped.metrics["stopped"] == "early_stop"
    done = len(stopped.history)
    resumed = T.train(cfg_for(tmp_path, "ignored", epochs=50, patience=1, lr=0.5), graph=graph,
                      resume=stopped.run_dir)
    assert len(resumed.history) == done and resumed.metrics["stopped"] == "early_stop"


# ---------------------------------------------------------------- other commands' arguments

@pytest.mark.parametrize("argv, message", [
    (["export", "RUN", "--limit", "-1"], "argument --limit: must be at least 1 (got -1)"),
    (["export", "RUN", "--limit", "0"], "argument --limit: must be at least 1 (got 0)"),
    (["search", "--threads", "0"], "argument --threads: must be at least 1 (got 0)"),
    (["search", "--n-trials", "0"], "argument --n-trials: must be at least 1"),
    (["bench", "--dims", "abc"], "argument --dims: expected a whole number, got 'abc'"),
    (["bench", "--dims", "128,0"], "argument --dims: must be at least 1 (got 0)"),
    (["prepare-wordnet", "--output", "FILE"], "exists and is not a directory"),
    (["prepare-wordnet", "--root", ""], "argument --root: must not be empty"),
    (["train", "--resume", ""], "argument --resume: must not be empty"),
    (["export", "RUN", "--output", " "], "argument --output: must not be empty"),
    (["search", "--study", ""], "argument --study: must not be empty"),
    (["search", "--storage", ""], "argument --storage: must not be empty"),
    (["search", "--pruner-startup-trials", "-1"], "argument --pruner-startup-trials: must be at least 0 (got -1)"),
    (["search", "--pruner-warmup-epochs", "-1"], "argument --pruner-warmup-epochs: must be at least 0 (got -1)"),
    (["search", "--max-retry", "-1"], "argument --max-retry: must be at least 0 (got -1)"),
    (["search", "--grace", "0"], "argument --grace: must be at least 1 (got 0)"),
    (["search", "--sampler-seed", "-1"], "argument --sampler-seed: must be at least 0 (got -1)"),
    (["search", "--sampler-seed", str(2**32)], "argument --sampler-seed: must be below 2**32"),
    (["bench", "--objectives", ""], "argument --objectives: expected comma-separated objectives, got ''"),
    (["bench", "--objectives", " , "], "argument --objectives: expected comma-separated objectives"),
    (["bench", "--objectives", "uniform:x"], "argument --objectives: 'uniform:x': SAMPLER:K needs"),
    (["bench", "--objectives", "seed,uniform:0"], "argument --objectives: 'uniform:0': SAMPLER:K needs"),
    (["bench", "--output", ""], "argument --output: must not be empty"),
    (["bench", "--device", ""], "argument --device: must not be empty"),
])
def test_bad_arguments_of_other_commands_are_refused_at_parse_time(tmp_path, capsys, argv, message):
    (tmp_path / "FILE").write_text("not a directory")
    argv = [str(tmp_path / a) if a in ("RUN", "FILE") else a for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err.splitlines()[-1] and "Traceback" not in err, err


def test_export_projector_refuses_a_limit_below_one(tmp_path):
    from naomi_nb.export import export_projector

    graph = tiny_graph()
    for limit in (0, -1):
        with pytest.raises(ValueError, match="limit must be a whole number >= 1"):
            export_projector(np.zeros((graph.vocab.size, 2), np.float32), graph.vocab, tmp_path / "p", limit)
    assert not (tmp_path / "p").exists()


# ---------------------------------------------------------------- relations.json

@pytest.mark.parametrize("target", [-5, "nan", 1e300, "Infinity"])
def test_a_bad_relation_target_is_refused_in_one_line(tmp_path, capsys, target):
    from naomi_nb.graph import GraphError, load_graph

    data = tiny_graph().save(tmp_path / "g")
    table = json.loads((data / "relations.json").read_text())
    table[1]["target"] = target
    (data / "relations.json").write_text(json.dumps(table))
    with pytest.raises(GraphError, match="relations.json is corrupt"):
        load_graph(data)  # the manifest's checksum covers relations.json
    manifest = json.loads((data / "manifest.json").read_text())
    del manifest["sha256"]["relations.json"]  # a graph built before it did
    (data / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GraphError, match=f"relation '{table[1]['name']}' has target distance"):
        load_graph(data)
    capsys.readouterr()
    assert main(["train", "--training-data", str(data), "--output-dir", str(tmp_path / "r"), *SMALL]) == 2
    one_line_error(capsys.readouterr().err, "must be finite and in [0, 10]")


def test_a_full_disk_while_writing_the_lock_file_is_one_line(tiny, tmp_path, monkeypatch, capsys):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), *SMALL]) == 2
    one_line_error(capsys.readouterr().err, ".lock", "free some space")


@pytest.mark.parametrize("args, message", [
    (["--negatives", "100000000"], "--negatives must be in [1, 10000]"),
    (["--negatives", str(2**70)], "--negatives must be in [1, 10000]"),
    (["--dynamic-dims", "--max-dims", str(2**70), "--expand-by", str(2**70)], "must be at most 2,147,483,647"),
    (["--embedding-dim", str(2**70)], "must be at most 2,147,483,647"),
])
def test_absurd_sizes_are_refused_before_any_allocation(tiny, tmp_path, capsys, args, message):
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), *args]) == 2
    one_line_error(capsys.readouterr().err, message)
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- flags that contradict each other

@pytest.mark.parametrize("args, message", [
    (["--objective", "seed", "--negatives", "5"], "--negatives takes effect only with --objective graded|inherit|negatives"),
    (["--objective", "seed", "--negative-sampler", "degree"], "--negative-sampler takes effect only with"),
    (["--dynamic-dims", "--no-dynamic-dims"], "--dynamic-dims and --no-dynamic-dims are both given"),
    (["--no-prune", "--prune"], "--prune and --no-prune are both given"),
    (["--sparsity-mode", "seed", "--proximal-strength", "5"], "--proximal-strength takes effect only with "
                                                              "--sparsity-mode proximal"),
    (["--sparsity-mode", "proximal", "--sparsity-weight", "0.1"], "--sparsity-weight takes effect only with"),
    (["--no-dynamic-dims", "--max-dims", "600"], "--max-dims takes effect only with --dynamic-dims"),
    (["--expand-by", "-8"], "--expand-by must be >= 1 (got -8)"),
    (["--expand-interval", "0"], "--expand-interval must be >= 1 (got 0)"),
])
def test_contradicting_flags_are_refused_in_one_line(tiny, tmp_path, capsys, args, message):
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), *args]) == 2
    one_line_error(capsys.readouterr().err, message)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, inert", [
    (["--proximal-strength", "5"], "--proximal-strength takes no effect without --sparsity-mode proximal|nonneg"),
    (["--max-dims", "16"], "--max-dims takes no effect without --dynamic-dims"),
    (["--preset", "fixed", "--expand-by", "16"], "--expand-by takes no effect without --dynamic-dims"),
])
def test_a_flag_whose_switch_is_left_at_its_default_is_warned_about(tiny, tmp_path, capsys, args, inert):
    code = main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), "--epochs", "1",
                 "--embedding-dim", "4", "--batch-size", "64", "--no-analyze", "--device", "cpu", *args])
    err = capsys.readouterr().err
    assert code == 0 and [line for line in err.splitlines() if line.startswith("warning:")] == [f"warning: {inert} "
                                                                                                  "(ignored)"], err


def test_search_refuses_a_switch_given_both_ways(tmp_path, capsys):
    assert main(["search", "--prune", "--no-prune", "--output-dir", str(tmp_path / "s"), "--param", "lr=0.001:0.01"]) == 2
    one_line_error(capsys.readouterr().err, "--prune and --no-prune are both given")
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------- export of a run that holds no trained model

@pytest.mark.parametrize("metrics", [{"trained": False, "stopped": "nan", "best_epoch": 0},
                                     {"stopped": "nan", "best_epoch": 0}])
def test_export_refuses_an_untrained_run_unless_allowed(tiny, tmp_path, capsys, metrics):
    run = tmp_path / "r"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "1", *SMALL]) == 0
    (run / "metrics.json.sha256").unlink()  # edited below, as an older version (without checksums) wrote it
    (run / "metrics.json").write_text(json.dumps({**json.loads((run / "metrics.json").read_text()), **metrics}))
    if "trained" not in metrics:
        raw = json.loads((run / "metrics.json").read_text())
        raw.pop("trained", None)
        (run / "metrics.json").write_text(json.dumps(raw))
    capsys.readouterr()
    for fmt in ("word2vec", "projector"):
        assert main(["export", str(run), "--format", fmt]) == 2
        one_line_error(capsys.readouterr().err, "holds no trained model", "--allow-untrained")
    assert not list(run.glob("*.w2v.txt")) and not (run / "projector").exists()
    assert main(["export", str(run), "--allow-untrained"]) == 0
    assert (run / "embeddings.sense.w2v.txt").exists()


def test_export_of_a_nan_run_without_a_good_epoch_is_refused(tiny, tmp_path, monkeypatch, capsys):
    nan_after_every_step(monkeypatch)
    run = tmp_path / "r"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2", *SMALL]) == 1
    capsys.readouterr()
    assert main(["export", str(run)]) == 2
    one_line_error(capsys.readouterr().err, "holds no trained model", "nan")


# ---------------------------------------------------------------- signals while the command starts

PAUSE = """
import os, sys, time


class _Pause:  # holds the process inside one import (where a signal used to turn into a traceback)
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["NAOMI_TEST_PAUSE_AT"]:
            open(os.environ["NAOMI_TEST_PAUSED"], "w").close()
            time.sleep(600)
        return None


sys.meta_path.insert(0, _Pause())
"""


@pytest.mark.slow
@pytest.mark.parametrize("module", ["numpy", "torch", "naomi_nb.wordnet"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_is_one_line_and_130_or_143(tiny, tmp_path, signum, module):
    """Ctrl-C or SIGTERM while ``python -m naomi_nb train`` imports numpy (the module's first imports), torch
    or the last module before the command starts: one line and the signal's exit code, never a traceback
    and never a silent kill. The child is held inside that import by an import hook."""
    import time

    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(PAUSE)
    paused = tmp_path / "paused"
    proc = cli("train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), *SMALL,
               env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "hook"), str(Path(__file__).parents[1])]),
                    "NAOMI_TEST_PAUSE_AT": module, "NAOMI_TEST_PAUSED": str(paused)})
    deadline = time.monotonic() + HANG
    while not paused.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert paused.exists(), proc.communicate()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=HANG)
    expected = 130 if signum == signal.SIGINT else 143
    assert proc.returncode == expected and err.endswith("during start-up\n") and err.count("\n") == 1, \
        (proc.returncode, err)
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- analyze on a full or read-only disk

@pytest.mark.parametrize("where, code", [("savefig", errno.ENOSPC), ("savefig", errno.EROFS),
                                         ("mkdir", errno.EROFS)])
@pytest.mark.slow
def test_analyze_on_a_full_or_read_only_disk_is_one_line(tiny, tmp_path, monkeypatch, capsys, where, code):
    """The figures fail (report.json and summary.txt go through the checked atomic writes already): one
    line naming the file and exit 2, no temporary left, no half-written PNG."""
    from matplotlib.figure import Figure

    run = tmp_path / "r"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2", *SMALL]) == 0
    capsys.readouterr()

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if where == "savefig":
        real = Figure.savefig

        def savefig(fig, target, *args, **kwargs):  # the first figure goes to disk, the second finds it full
            if list((run / "figures").glob("*.png")):
                fail()
            return real(fig, target, *args, **kwargs)

        monkeypatch.setattr(Figure, "savefig", savefig)
    else:
        real_mkdir = Path.mkdir
        monkeypatch.setattr(Path, "mkdir", lambda p, *a, **k: fail() if p.name == "figures" else real_mkdir(p, *a, **k))
    assert main(["analyze", str(run)]) == 2
    hint = "free some space" if code == errno.ENOSPC else "read-only"
    one_line_error(capsys.readouterr().err, "cannot write", "figures", hint)
    assert not temporaries(run) and not (run / "report.json").exists()
    for png in (run / "figures").glob("*.png") if (run / "figures").exists() else ():
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000  # whole figures only


# ---------------------------------------------------------------- compiled kernels and exactness

@pytest.mark.slow
def test_a_resume_with_compiled_kernels_is_bit_identical_on_the_cpu(tmp_path):
    """The default (compiled kernels, compiled again in the resuming process): a SIGKILL after the third
    epoch and a resume end where the uninterrupted run does, in the weights, Adam's moments and every
    figure of the history (docs/reliability.md, "Compiled kernels and exactness")."""
    import subprocess
    import sys
    import time

    from test_reliability import ROOT, medium_graph

    data = tmp_path / "g"
    medium_graph().save(data)
    common = ["--training-data", str(data), "--embedding-dim", "16", "--max-dims", "32", "--dynamic-dims",
              "--expand-interval", "2", "--expand-by", "8", "--batch-size", "4096", "--min-batch-size", "1024",
              "--epochs", "5", "--patience", "100", "--checkpoint-seconds", "0", "--no-analyze", "--device", "cpu"]
    env = {k: v for k, v in os.environ.items() if k != "TORCHDYNAMO_DISABLE"}
    ref = cli("train", "--output-dir", str(tmp_path / "ref"), *common, env=env)
    assert ref.wait(timeout=HANG) == 0, ref.stderr.read()
    run = tmp_path / "run"
    proc = cli("train", "--output-dir", str(run), *common, env=env)
    deadline = time.monotonic() + HANG
    while proc.poll() is None and time.monotonic() < deadline:
        if (run / "history.jsonl").exists() and len((run / "history.jsonl").read_text().splitlines()) >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert proc.wait(timeout=HANG) == -signal.SIGKILL  # killed before it finished
    done = subprocess.run([sys.executable, "-m", "naomi_nb", "train", "--resume", str(run)], capture_output=True,
                          text=True, env={**env, "PYTHONPATH": str(ROOT)}, timeout=HANG)
    assert done.returncode == 0, done.stderr
    assert "compile" not in done.stderr  # compiled, not fallen back to eager
    ours, theirs = (rundir.read_history(d) for d in (run, tmp_path / "ref"))
    assert without_timing(ours) == without_timing(theirs) and len(ours) == 5
    a, b = (torch.load(d / "checkpoints" / "last.pt", weights_only=True) for d in (run, tmp_path / "ref"))
    for key in ("embeddings", "exp_avg", "exp_avg_sq", "rng"):
        assert torch.equal(a[key], b[key]), key


FIRST_CALL = """
import sys
import torch
torch.set_num_threads(8)  # as on an 8-thread CPU: there a sum of 4096 rows was split, one of 2730 was not
from naomi_nb.objectives.base import distance_grad
for size in sys.argv[1:]:
    n, d = map(int, size.split("x"))
    losses = []
    for seed in range(8):  # eight batches: one pair of sums may round alike in either order
        gen = torch.Generator().manual_seed(seed)
        a, b = torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen)
        t, c = torch.rand(n, generator=gen), torch.rand(n, generator=gen)
        loss = distance_grad(a, b, t, c, torch.empty_like(a), torch.empty_like(b))
        losses.append(loss.item().hex())
print(" ".join(losses))
"""


@pytest.mark.slow
def test_a_compiled_kernel_adds_a_batch_alike_whatever_sizes_its_first_call_had(tmp_path):
    """What a resume relies on: the uninterrupted run compiled its kernels at epoch 1's sizes (4096 rows of
    16 dims here), the resumed process compiles them at the sizes of the epoch it resumes (2730 of 24 after an
    expansion); a batch of that epoch must give the same loss, to the last bit, in both processes."""
    import subprocess
    import sys

    from test_reliability import ROOT

    env = {k: v for k, v in os.environ.items() if k != "TORCHDYNAMO_DISABLE"}
    figures = []
    for i, sizes in enumerate((["4096x16", "2730x24"], ["2730x24"])):
        done = subprocess.run([sys.executable, "-c", FIRST_CALL, *sizes], capture_output=True, text=True,
                              timeout=HANG, env={**env, "PYTHONPATH": str(ROOT),
                                                 "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / f"cache-{i}")})
        assert done.returncode == 0 and "compile" not in done.stderr, done.stderr
        figures.append(done.stdout.split())
    assert figures[0] == figures[1]


# ---------------------------------------------------------------- every file checked before anything is written

def _files(run: Path) -> dict:
    return {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}


def _trained(tiny, tmp_path, epochs: int = 2) -> Path:
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", str(epochs),
                 *SMALL]) == 0
    return run


def test_a_resume_refused_for_a_damaged_best_pt_leaves_config_json_as_it_was(tiny, tmp_path, capsys):
    """--epochs 5 would be written into config.json: only once best.pt has been read whole."""
    import threading

    stop = threading.Event()
    stopped = T.train(cfg_for(tmp_path, epochs=4, training_data=str(tiny)), stop_event=stop,
                      callbacks=[lambda r: stop.set() if r.get("epoch") == 2 else None])
    run, best = stopped.run_dir, stopped.run_dir / "checkpoints" / "best.pt"
    assert stopped.metrics["stopped"] == "interrupted" and not rundir.best_holds_embeddings(run)
    digest = torch.load(best, weights_only=True)["embeddings_sha256"].encode()  # a pointer to embeddings.npy
    data = best.read_bytes()
    at = data.index(digest) + 5
    best.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])  # inside a string: still loadable
    before = _files(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "5"]) == 2
    one_line_error(capsys.readouterr().err, f"{best} is damaged")
    assert _files(run) == before


def test_analyze_refuses_a_truncated_metrics_json_in_one_line(tiny, tmp_path, capsys):
    run = _trained(tiny, tmp_path)
    text = (run / "metrics.json").read_text()
    (run / "metrics.json").write_text(text[:len(text) // 2])
    capsys.readouterr()
    assert main(["analyze", str(run)]) == 2
    one_line_error(capsys.readouterr().err, "metrics.json is damaged", f"train --resume {run}")
    assert not (run / "report.json").exists() and not (run / "figures").exists()


@pytest.mark.parametrize("name, command", [("graph.json", "train"), ("metrics.json", "analyze"),
                                           ("metrics.json", "export"), ("vocabulary.json", "export"),
                                           ("vocabulary.json", "analyze")])
def test_a_bit_flip_in_a_run_file_is_refused_naming_it(tiny, tmp_path, capsys, name, command):
    """graph.json's sense count, metrics.json's epochs, vocabulary.json's size: valid JSON, a wrong figure."""
    run = _trained(tiny, tmp_path)
    key = {"graph.json": "n_senses", "metrics.json": "epochs_run", "vocabulary.json": "vocab_size"}[name]
    text = (run / name).read_text()
    value = json.loads(text)[key]
    flipped = text.replace(f'"{key}": {value}', f'"{key}": {value ^ 1}', 1)
    assert flipped != text
    (run / name).write_text(flipped)
    before = _files(run)
    capsys.readouterr()
    argv = {"train": ["train", "--resume", str(run), "--epochs", "4"], "analyze": ["analyze", str(run)],
            "export": ["export", str(run)]}[command]
    assert main(argv) == 2
    one_line_error(capsys.readouterr().err, f"{run / name} is damaged", f"{name}.sha256")
    assert _files(run) == before


@pytest.mark.slow
def test_an_older_run_without_checksums_of_its_json_files_still_resumes(tiny, tmp_path, capsys):
    run = _trained(tiny, tmp_path)
    for name in ("graph.json", "metrics.json", "vocabulary.json"):
        (run / f"{name}.sha256").unlink()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert not (run / "graph.json.sha256").exists()  # read as before, never rewritten by a resume's checks
    for name in ("metrics.json", "vocabulary.json"):  # written again when the resumed part ends
        assert (run / f"{name}.sha256").read_text().split() == [files.sha256(run / name), name]
    assert main(["analyze", str(run)]) == 0


def test_a_setting_changed_in_config_json_is_refused_on_resume_naming_it(tiny, tmp_path, capsys):
    run = _trained(tiny, tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    trained_with = cfg["lr"]
    (run / "config.json").write_text(json.dumps({**cfg, "lr": trained_with * 2}))
    before = _files(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "4"]) == 2
    one_line_error(capsys.readouterr().err, f"says lr = {trained_with * 2}", f"trained with {trained_with}")
    assert _files(run) == before
    (run / "config.json").write_text(json.dumps({**cfg, "epochs": 3}))  # what a resume may change: not refused
    assert main(["train", "--resume", str(run), "--epochs", "4"]) == 0


@pytest.mark.slow
def test_resuming_a_finished_run_keeps_its_metrics(tiny, tmp_path, capsys):
    """Nothing trained: the minutes and peak memory stay the run's, not those of the process that found it done."""
    run = _trained(tiny, tmp_path)
    before = json.loads((run / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    assert "is finished" in capsys.readouterr().out
    assert json.loads((run / "metrics.json").read_text()) == before
    # a damaged one is written again, and the resume says so
    (run / "metrics.json").write_text((run / "metrics.json").read_text()[:40])
    assert main(["train", "--resume", str(run)]) == 0
    assert f"warning: {run / 'metrics.json'} is damaged: written again" in capsys.readouterr().out
    again = json.loads((run / "metrics.json").read_text())
    assert again["epochs_run"] == before["epochs_run"] and again["best_val"] == before["best_val"]


def test_out_of_memory_while_an_objective_builds_its_tables_is_one_line(tiny, tmp_path, monkeypatch, capsys):
    """numpy's MemoryError from graded's ancestor pairs (full WordNet at 512 dims under ``ulimit -v 1G``) comes
    before the memory estimate; it is one line, and no run directory is made."""
    import naomi_nb.objectives.graded as graded

    def no_memory(*args, **kwargs):
        return np.empty(2**45, dtype=np.int64)  # 256 TiB: numpy's own _ArrayMemoryError, as ulimit -v gives

    monkeypatch.setattr(graded, "ancestor_pairs", no_memory)
    run = tmp_path / "run"
    argv = ["train", "--training-data", str(tiny), "--output-dir", str(run), *SMALL[:-2], "--objective", "graded"]
    assert main(argv) == 2
    one_line_error(capsys.readouterr().err, "out of memory")
    assert not run.exists()


@pytest.mark.slow
def test_analyze_says_when_history_jsonl_lost_epochs(tiny, tmp_path, capsys):
    """history.jsonl has no checksum (it grows every epoch): a torn file shows as fewer readable epochs than
    metrics.json counts, and analyze says so instead of reporting the shorter history silently."""
    run = _trained(tiny, tmp_path)
    lines = (run / "history.jsonl").read_text().splitlines(keepends=True)
    (run / "history.jsonl").write_text("".join(lines[:-1]) + lines[-1][:10])
    capsys.readouterr()
    assert main(["analyze", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"warning: {run / 'history.jsonl'} holds {len(lines) - 1} readable epochs, metrics.json says {len(lines)}" in out
