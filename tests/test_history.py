"""history.jsonl: reading its records past damaged lines, the history a resume continues with (the
checkpoint's records win, every repair named in one warning line), the fsync before a checkpoint, and the
writer's strict, flushed lines. Whole runs that damage and resume a history are `test_integrity`'s."""
import errno
import json
import math
import os

import numpy as np
import pytest

from naomi_nb import history
from naomi_nb.files import WriteError
from naomi_nb.history import HistoryWriter, read_history, resume_history, sync_history
from naomi_nb.runfiles import HISTORY


def rec(epoch, **kw):
    return {"epoch": epoch, "val_total": 1.0 / epoch, **kw}


def write(run, *lines):
    (run / HISTORY).write_text("".join(line + "\n" for line in lines))


def warning(capsys) -> str:
    err = capsys.readouterr().err
    assert err == "" or (err.startswith("warning: ") and err.count("\n") == 1), err
    return err


def test_history_lines_that_are_not_records_are_skipped(tmp_path):
    write(tmp_path, json.dumps(rec(1)), json.dumps(rec(2)))
    with open(tmp_path / HISTORY, "a") as f:
        f.write('[1, 2]\n42\n{"no": "epoch"}\n{"epoch": "3"}\n{"epoch": true}\n{"epoch": 2, "kind"')
    assert [r["epoch"] for r in read_history(tmp_path)] == [1, 2]
    # a resume after epoch 2 keeps the records, drops the rest and appends the next epoch's
    writer = HistoryWriter(tmp_path, resume_history(tmp_path, {"epoch": 2, "history": [rec(1), rec(2)]}))
    writer(rec(3))
    writer.close()
    assert [json.loads(x)["epoch"] for x in (tmp_path / HISTORY).read_text().splitlines()] == [1, 2, 3]


def test_read_history_stops_at_an_epoch_and_a_missing_file_is_empty(tmp_path):
    assert read_history(tmp_path) == []
    write(tmp_path, *(json.dumps(rec(e)) for e in (1, 2, 3)))
    assert [r["epoch"] for r in read_history(tmp_path, upto_epoch=2)] == [1, 2]


def test_an_intact_history_resumes_without_a_warning(tmp_path, capsys):
    write(tmp_path, *(json.dumps(rec(e)) for e in (1, 2)))
    assert resume_history(tmp_path, {"epoch": 2, "history": [rec(1), rec(2)]}) == [rec(1), rec(2)]
    assert warning(capsys) == ""


def test_the_checkpoints_records_win_and_later_epochs_are_dropped(tmp_path, capsys):
    write(tmp_path, json.dumps(rec(1)), json.dumps(rec(2, val_total=9.0)), json.dumps(rec(3)), "torn {")
    got = resume_history(tmp_path, {"epoch": 2, "history": [rec(1), rec(2)]})
    assert got == [rec(1), rec(2)]  # epoch 3 runs again
    err = warning(capsys)
    assert "1 unreadable line dropped" in err and "epoch 2 restored from checkpoints/last.pt" in err


def test_a_missing_file_comes_back_from_the_checkpoint(tmp_path, capsys):
    got = resume_history(tmp_path, {"epoch": 2, "history": [rec(1), rec(2)]})
    assert got == [rec(1), rec(2)]
    err = warning(capsys)
    assert f"{HISTORY} was missing" in err and "epochs 1, 2 restored" in err


def test_an_older_checkpoint_without_records_keeps_the_file_in_order_and_names_the_gap(tmp_path, capsys):
    write(tmp_path, json.dumps(rec(3)), json.dumps(rec(1)), json.dumps(rec(3, val_total=0.5)))
    got = resume_history(tmp_path, {"epoch": 3})
    assert got == [rec(1), rec(3, val_total=0.5)]  # in order; of a duplicated epoch the last record
    err = warning(capsys)
    assert "put in order" in err and "epoch 2 cannot be restored" in err and "holds no history" in err


def test_many_repaired_epochs_are_named_briefly(tmp_path, capsys):
    resume_history(tmp_path, {"epoch": 8, "history": [rec(e) for e in range(1, 9)]})
    assert "epochs 1, 2, 3, 4, 5 and 3 more restored" in warning(capsys)


def test_sync_history_fsyncs_the_file_and_returns_its_records(tmp_path, monkeypatch):
    assert sync_history(tmp_path, 5) == []  # nothing written yet
    write(tmp_path, *(json.dumps(rec(e)) for e in (1, 2, 3)))
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd))[1])
    assert [r["epoch"] for r in sync_history(tmp_path, 2)] == [1, 2]
    assert synced == [str(tmp_path / HISTORY)]


def test_the_writer_keeps_what_it_is_given_and_flushes_strict_json_lines(tmp_path):
    write(tmp_path, json.dumps(rec(1)), json.dumps(rec(2)), json.dumps(rec(3)))
    writer = HistoryWriter(tmp_path, [rec(1)])
    writer(rec(2, lr=np.float32(0.5), dims=np.int64(8), bad=math.nan))
    lines = (tmp_path / HISTORY).read_text().splitlines()  # readable before close: flushed at once
    writer.close()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert "NaN" not in lines[1] and json.loads(lines[1])["lr"] == 0.5 and json.loads(lines[1])["dims"] == 8


def test_a_failed_write_is_one_line_naming_the_file(tmp_path, monkeypatch):
    class FullDisk:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            pass

    monkeypatch.setattr(history, "open", lambda *a, **k: FullDisk(), raising=False)
    writer = HistoryWriter(tmp_path, [])
    with pytest.raises(WriteError, match=f"^cannot write {tmp_path / HISTORY}: No space left on device; free some"):
        writer(rec(1))
    writer.close()
