"""The command line end to end on a small graph: the seed's log lines, exit codes, one-line errors."""
import json
import subprocess
import sys

import pytest
import torch

from naomi_nb import trainer as T
from naomi_nb.__main__ import main
from naomi_nb.config import TrainConfig

SMALL = ["--embedding-dim", "4", "--batch-size", "64", "--min-batch-size", "8", "--no-analyze",
         "--checkpoint-seconds", "0", "--device", "cpu", "--objective", "seed"]
DYNAMIC = ["--dynamic-dims", "--max-dims", "8", "--expand-interval", "2", "--expand-by", "4"]  # with SMALL


def test_train_prints_the_seed_log(tiny, tmp_path, capsys):
    code = main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "run"), "--unsupervised",
                 *DYNAMIC, "--patience", "2", "--min-delta", "0.5", "--epochs", "50", *SMALL])
    out = capsys.readouterr().out
    assert code == 0
    for line in ["[1/7] Loading training data...", "[6/7] Training...", "[7/7] Saving results...",
                 "  Dynamic dimensions enabled: 4 -> max 8", "  Expansion check interval: every 2 epochs",
                 "  Expansion amount: 4 dims per expansion", "  Early stopping enabled: patience=2, min_delta=0.5",
                 "Epoch 1/50", "[Epoch 2] Adding 4 dimensions (4 -> 8)", "[Epoch 2] Dimension Statistics:",
                 "  Total dimensions: 8", "  Adapted batch size to 32 for 8 dimensions",
                 "  Maximum dimensions reached (8)", "  No improvement for 1 epochs",
                 "[Early Stopping] No improvement for 2 epochs", "[Early Stopping] Stopping training at epoch 3"]:
        assert line in out.splitlines(), line
    for prefix in ["  Train - Total: ", "  Val   - Total: ", "  New best model! (val_loss: ",
                   "[Early Stopping] Best validation loss: ", "Training completed in "]:
        assert any(x.startswith(prefix) for x in out.splitlines()), prefix
    assert "% (target: 40-70%)" in out
    assert "Carried optimizer state over" in out
    history = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert len(history) == 3


def test_reset_prints_the_seed_optimizer_line(tiny, tmp_path, capsys):
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), *DYNAMIC,
                 "--epochs", "3", "--optimizer-on-expand", "reset", *SMALL]) == 0
    assert "  Reinitialized optimizer with new dimensions" in capsys.readouterr().out.splitlines()


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for field in TrainConfig.__dataclass_fields__:
        assert "--" + field.replace("_", "-") in out
    assert out.count("(default:") >= 20 and "--resume RUN_DIR" in out and "--preset" in out


@pytest.mark.parametrize("args, message", [
    (["--patience", "-1"], "--patience must be >= 0"),
    (["--dynamic-dims", "--expand-by", "0"], "--expand-by must be >= 1"),
    (["--dynamic-dims", "--embedding-dim", "600", "--max-dims", "512"], "--embedding-dim (600) is above --max-dims (512)"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
])
def test_bad_flags_get_one_line_and_exit_2(tiny, tmp_path, capsys, args, message):
    code = main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_missing_and_corrupt_data_dir(tmp_path, tiny, capsys):
    assert main(["train", "--training-data", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tiny / "edges.npz").write_bytes(b"garbage")
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and err.count("\n") == 1


def test_resume_of_a_non_run_and_reuse_of_a_run_dir(tiny, tmp_path, capsys):
    (tmp_path / "notarun").mkdir()
    assert main(["train", "--resume", str(tmp_path / "notarun")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2", *SMALL]) == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2", *SMALL]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing destroyed
    assert main(["train", "--resume", str(run), "--epochs", "4"]) == 0
    assert len((run / "history.jsonl").read_text().splitlines()) == 4


def test_nan_exits_1_and_names_the_epoch(tiny, tmp_path, capsys, monkeypatch):
    real, calls = T.train_step, {"n": 0}

    def step(E, *rest):
        calls["n"] += 1
        out = real(E, *rest)
        if calls["n"] == 4:
            with torch.no_grad():
                E.fill_(float("nan"))
        return out

    monkeypatch.setattr(T, "train_step", step)
    code = main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), "--epochs", "5", *SMALL])
    captured = capsys.readouterr()
    assert code == 1
    assert "loss became NaN at epoch 2" in captured.err and captured.err.count("\n") == 1
    assert (tmp_path / "r" / "checkpoints" / "best.pt").exists()
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["stopped"] == "nan" and metrics["best_epoch"] == 1


@pytest.mark.slow
def test_module_entry_point_runs(tiny, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "naomi_nb", "train", "--training-data", str(tiny), "--output-dir",
                           str(tmp_path / "r"), "--epochs", "1", *SMALL], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Epoch 1/1" in proc.stdout and "it/s" not in proc.stdout  # no progress bar in a captured log
    proc = subprocess.run([sys.executable, "-m", "naomi_nb", "train", "--patience", "-3"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --patience must be >= 0 (got -3)"


@pytest.mark.slow
def test_analyze_and_export_from_the_command_line(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "3", *SMALL]) == 0
    assert main(["analyze", str(run)]) == 0
    assert json.loads((run / "report.json").read_text())["n_senses"] == 37
    assert main(["export", str(run), "--per", "word"]) == 0
    lines = (run / "embeddings.word.w2v.txt").read_text().splitlines()
    n, dims = map(int, lines[0].split())
    assert len(lines) == n + 1 and len(lines[1].split()) == dims + 1
    capsys.readouterr()
    assert main(["analyze", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.slow
def test_resume_keeps_the_runs_settings_unless_told(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2", "--patience", "7",
                 *SMALL]) == 0
    assert main(["train", "--resume", str(run)]) == 0  # nothing to add: its own 2 epochs are done
    assert len((run / "history.jsonl").read_text().splitlines()) == 2
    assert json.loads((run / "config.json").read_text())["patience"] == 7
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--lr", "0.5"]) == 2
    assert "only --epochs, --patience, --device and --[no-]analyze can change (got --lr)" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--epochs", "3", "--device", "cpu"]) == 0
    assert len((run / "history.jsonl").read_text().splitlines()) == 3
    assert main(["train", "--resume", str(run), "--epochs", "4", "--no-analyze"]) == 0
    assert len((run / "history.jsonl").read_text().splitlines()) == 4 and not (run / "report.json").exists()


def test_unknown_device_is_one_line(tiny, tmp_path, capsys):
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(tmp_path / "r"), "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert "--device" in err and err.count("\n") == 1


@pytest.mark.slow
def test_a_cli_run_writes_its_dashboard_and_summary(tiny, tmp_path, capsys):
    """Like a notebook run: dashboard.png, and summary.txt with the returned model's figures and its axes."""
    from naomi_nb.__main__ import main

    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "3",
                 "--batch-size", "64", "--embedding-dim", "8", "--device", "cpu"]) == 0
    png = (run / "dashboard.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    summary = (run / "summary.txt").read_text()
    printed = capsys.readouterr().out
    first = summary.splitlines()[0]
    assert first and first in printed  # the summary the log showed, kept without recomputing
    assert "dim" in summary.split("\n\n", 1)[1]  # the readable axes after it
    # what was trained, and what to do next, in the file and at the end of the log
    assert first.startswith("trained: graded on the free geometry, sparsity seed, 3 epochs (best ")
    assert f"python -m naomi_nb describe {run} dog" in summary.split("next:", 1)[1]
    assert printed.rstrip().splitlines()[-3].strip().startswith(f"python -m naomi_nb describe {run} dog")


@pytest.mark.parametrize("args, message", [
    (["--output", "FILE/bench.json"], "cannot write {tmp}/FILE/bench.json: {tmp}/FILE is a file, not a folder"),
    (["--output", "DIR"], "cannot write {tmp}/DIR: it is a directory"),
    (["--output", "nowhere/bench.json"], "the folder {tmp}/nowhere does not exist"),
    (["--objectives", "seed,nope"], "--objectives nope at --dims 4: "),
    (["--objectives", "uniform:20000"], "--negatives must be in [1, 10000]"),
])
def test_bench_checks_its_output_and_objectives_before_measuring(tiny, tmp_path, capsys, args, message):
    """A bench takes minutes to hours: a results file it could not write, or the last of its objectives
    refused, is one line before the first measurement, not a lost run."""
    (tmp_path / "FILE").write_text("keep me")
    (tmp_path / "DIR").mkdir()
    args = [str(tmp_path / a) if a.startswith(("FILE", "DIR", "nowhere")) else a for a in args]
    out = [] if "--output" in args else ["--output", str(tmp_path / "bench.json")]
    code = main(["bench", "--training-data", str(tiny), "--dims", "4", "--epochs", "1", "--device", "cpu",
                 *out, *args])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "", captured.out  # nothing measured
    err = captured.err
    assert err.startswith("error: ") and err.count("\n") == 1 and message.format(tmp=tmp_path) in err, err
    assert (tmp_path / "FILE").read_text() == "keep me" and not (tmp_path / "bench.json").exists()


@pytest.mark.parametrize("output, message", [("/proc/naomi-nb-graph", "cannot write /proc/naomi-nb-graph"),
                                             ("FILE/graph", "FILE is a file, not a folder")])
def test_prepare_wordnet_checks_its_output_before_building(tmp_path, capsys, output, message):
    (tmp_path / "FILE").write_text("keep me")
    output = output.replace("FILE", str(tmp_path / "FILE"))
    assert main(["prepare-wordnet", "--output", output, "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "[1/3]" not in captured.out  # WordNet was not even looked for
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert message.replace("FILE", str(tmp_path / "FILE")) in captured.err


# ---------------------------------------------------------------- one line, and signals met while unwinding

@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "fast"], "error: argument --lr: invalid number value: 'fast'"),
    (["train", "--stage", "nope"], "error: argument --stage: invalid choice: 'nope'"),
    (["nope"], "error: argument COMMAND: invalid choice: 'nope'"),
])
def test_a_flag_argparse_refuses_is_one_line_without_the_usage_block(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and err.startswith(message) and "--help" in err, err


@pytest.mark.parametrize("extra, message", [
    ([], "error: study 's' is new: give its search space"),
    (["--param", "lr=0.001:0.01"], "error: training data directory {tmp}/nowhere does not exist"),
])
def test_a_search_refused_is_refused_before_its_folder_exists(tmp_path, capsys, extra, message):
    study = tmp_path / "study"
    assert main(["search", "--training-data", str(tmp_path / "nowhere"), "--output-dir", str(study), "--study", "s",
                 *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(tmp=tmp_path)) and not study.exists(), err


@pytest.mark.parametrize("signal_error, code", [("Terminated", 143), ("KeyboardInterrupt", 130)])
def test_an_error_raised_while_unwinding_from_a_signal_is_that_signal(monkeypatch, capsys, signal_error, code):
    """A cleanup that fails because the signal cut an import short (sympy half imported: AttributeError)
    must not turn a stop into a traceback and exit 1."""
    import naomi_nb.__main__ as cli
    from naomi_nb import runtime

    def analyze(args):
        try:
            raise getattr(runtime, signal_error, KeyboardInterrupt)()
        finally:
            raise AttributeError("module 'sympy' has no attribute 'core'")

    monkeypatch.setattr(cli, "cmd_analyze", analyze)
    assert cli.main(["analyze", "RUN"]) == code
    err = capsys.readouterr().err
    assert err == ("terminated (SIGTERM)\n" if code == 143 else "interrupted\n")


def test_a_signal_python_drops_in_a_weakref_callback_is_sent_again():
    """Python reports an exception raised inside a finalizer or weakref callback to sys.unraisablehook and
    goes on: the hook sends the signal again, from another thread, so it lands in the main code."""
    import signal
    import time
    import types

    import naomi_nb.__main__ as cli
    from naomi_nb import runtime

    got, others = [], []
    previous = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        hook = cli._resend_dropped_signals(others.append)
        hook(types.SimpleNamespace(exc_value=runtime.Terminated()))
        hook(types.SimpleNamespace(exc_value=KeyboardInterrupt()))
        hook(types.SimpleNamespace(exc_value=ValueError("not a signal")))
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert sorted(got) == sorted([signal.SIGTERM, signal.SIGINT]) and len(others) == 1


def test_the_deterministic_setting_is_left_alone_when_it_did_not_change(monkeypatch):
    """Its restore imports the compiler; a signal may have cut that import short, so it runs only when the
    setting changed."""
    from naomi_nb import device as DV

    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda on: calls.append(on))
    with DV.deterministic_algorithms(False, torch.device("cpu")):
        pass
    assert calls == []
