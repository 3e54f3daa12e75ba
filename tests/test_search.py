"""Optuna search: a pruned search on the mammal subgraph (SQLite), the report, the CLI."""
import json
import math

import optuna
import pytest

from naomi_nb.__main__ import main
from naomi_nb.rundir import check_resumable
from naomi_nb.config import ConfigError, TrainConfig
from naomi_nb.search import best_trials, format_table, load_study, search
from naomi_nb.tensorboard import read_scalars

S = optuna.trial.TrialState


def test_cli_bad_param_exits_2(tiny, tmp_path, capsys):
    assert main(["search", "--training-data", str(tiny), "--output-dir", str(tmp_path / "s"),
                 "--param", "lr=1:0.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --param lr: low (1.0) must be below high (0.5)") and err.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["--param", "embedding_dim=0,1"], "--param embedding_dim: 0 cannot be trained (--embedding-dim must be >= 1"),
    (["--param", "objective=nope,graded"], "--param objective: nope cannot be trained (--objective must be one of"),
    (["--param", "lr=1e-3:20:log"], "--param lr: 20.0 cannot be trained (--lr must be in (0, 10]"),
    (["--dynamic-dims", "--param", "embedding_dim=600,700", "--param", "max_dims=256,512"],
     "--param embedding_dim: 600 cannot be trained (--embedding-dim (600) is above --max-dims (256))"),
    (["--heartbeat", "10", "--grace", "10", "--param", "lr=1e-3:1e-1"], "--grace (10) must be above --heartbeat (10)"),
])
def test_values_no_trial_could_train_with_are_refused_before_the_first_trial(tiny, tmp_path, capsys, args, message):
    """One line, exit 2, and no study directory, database or trial: not 'Trial 0 failed' and a second trial."""
    study = tmp_path / "s"
    assert main(["search", "--training-data", str(tiny), "--output-dir", str(study), "--n-trials", "1",
                 "--epochs", "1", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1 and "Traceback" not in err, err
    assert not study.exists()


def test_a_value_that_needs_another_searched_value_passes_the_check():
    from naomi_nb.search import check_space, parse_space

    base = TrainConfig(dynamic_dims=True)  # max_dims 512 by default: 600 needs the searched 1024
    check_space(base, parse_space(["embedding_dim=600,700", "max_dims=1024,2048"]))
    with pytest.raises(ConfigError, match="--param max_dims: 512 cannot be trained"):
        check_space(base, parse_space(["embedding_dim=600,700", "max_dims=512,1024"]))


def test_search_checks_its_own_settings_for_a_notebook_too(tiny, tmp_path):
    base = TrainConfig(training_data=str(tiny), epochs=1)
    for kw, message in ((dict(study_name=" "), "--study"), (dict(startup_trials=-1), "--pruner-startup-trials"),
                        (dict(warmup_epochs=-1), "--pruner-warmup-epochs"), (dict(max_retry=-1), "--max-retry"),
                        (dict(seed=2**32), "--sampler-seed"), (dict(heartbeat=0), "--heartbeat")):
        with pytest.raises(ConfigError, match=message):
            search(base, ["lr=1e-3:1e-1"], 1, study_dir=str(tmp_path / "s"), **kw)
    assert not (tmp_path / "s").exists()


@pytest.fixture(scope="module")
def pruned_search(mammals_dir, tmp_path_factory):
    study_dir = tmp_path_factory.mktemp("search") / "s"
    base = TrainConfig(training_data=str(mammals_dir), epochs=8, embedding_dim=16, batch_size=1024,
                       min_batch_size=256, patience=100, analyze=False, objective="seed")
    lines = []
    study = search(base, ["lr=1e-5:1e-1:log"], n_trials=6, study_name="mammals", study_dir=str(study_dir),
                   seed=0, startup_trials=2, warmup_epochs=1, log=lines.append)
    return study, study_dir, lines


def test_search_prunes_and_leaves_valid_run_dirs(pruned_search):
    study, study_dir, lines = pruned_search
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(6))
    states = [t.state for t in trials]
    assert set(states) <= {S.COMPLETE, S.PRUNED} and S.PRUNED in states and states.count(S.COMPLETE) >= 2
    assert (study_dir / "study.db").is_file() and len(lines) == 7
    for t in trials:
        run = check_resumable(t.user_attrs["run_dir"])  # a valid, resumable run directory, pruned or not
        assert run == study_dir.resolve() / f"trial-{t.number}"
        history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
        metrics = json.loads((run / "metrics.json").read_text())
        assert json.loads((run / "config.json").read_text())["lr"] == pytest.approx(t.params["lr"])
        # every epoch's validation loss went to the trial, at its epoch
        assert t.intermediate_values == pytest.approx({r["epoch"]: r["val_total"] for r in history})
        assert [v for _, v in read_scalars(run)["loss/val_total"]] == pytest.approx([r["val_total"] for r in history])
        if t.state == S.PRUNED:
            assert metrics["stopped"] == "interrupted" and t.user_attrs["pruned_at_epoch"] == len(history)
            assert 2 <= len(history) < 8  # never in the warm-up epoch, stopped before the end
            assert (run / "embeddings.npy").is_file()
        else:
            assert metrics["stopped"] == "epochs" and len(history) == 8
            assert t.value == pytest.approx(metrics["best_val"])


def test_report_table_and_cli(pruned_search, capsys):
    study, study_dir, _ = pruned_search
    rows = best_trials(study, n=10)
    complete = sorted((t for t in study.trials if t.state == S.COMPLETE), key=lambda t: t.value)
    assert [r["number"] for r in rows[:len(complete)]] == [t.number for t in complete]
    assert {r["state"] for r in rows[len(complete):]} == {"PRUNED"}
    assert main(["search", "--report", "--study", "mammals", "--output-dir", str(study_dir), "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "study 'mammals': 6 trials, minimize val_loss"
    assert out[1].split() == ["trial", "state", "value", "epochs", "params", "run_dir"]
    assert len(out) == 5 and out[2].split()[0] == str(complete[0].number)
    assert out[2].split()[-1] == complete[0].user_attrs["run_dir"]
    assert format_table(rows[:3]).splitlines() == out[1:]


def test_joining_a_study_and_refusals(pruned_search, mammals_dir):
    study, study_dir, _ = pruned_search
    base = TrainConfig(training_data=str(mammals_dir), epochs=2, embedding_dim=8, analyze=False)
    with pytest.raises(ConfigError, match="searches lr=1e-05:0.1:log; leave out --param to join it"):
        search(base, ["lr=0.1:0.2"], n_trials=7, study_name="mammals", study_dir=str(study_dir), log=lambda s: None)
    with pytest.raises(ConfigError, match="optimises val_loss, not hypernym_mrr"):
        search(base, [], n_trials=7, study_name="mammals", study_dir=str(study_dir), objective="hypernym_mrr")
    with pytest.raises(ConfigError, match="no study 'other'.*holds: mammals"):
        load_study("other", study_dir=str(study_dir))
    # the study is already full: a worker that joins with the same total runs nothing
    again = search(base, [], n_trials=6, study_name="mammals", study_dir=str(study_dir), log=lambda s: None)
    assert len(again.trials) == 6


def test_grid_search_of_hypernym_mrr(mammals_dir, tmp_path):
    base = TrainConfig(training_data=str(mammals_dir), epochs=3, embedding_dim=8, batch_size=2048, analyze=False)
    study = search(base, {"embedding_dim": [8, 16]}, n_trials=2, study_name="g", study_dir=str(tmp_path),
                   objective="hypernym_mrr", sampler="grid", tensorboard=False, log=lambda s: None)
    assert study.direction.name == "MAXIMIZE"
    assert sorted(t.params["embedding_dim"] for t in study.trials) == [8, 16]
    for t in study.trials:
        assert t.state == S.COMPLETE and 0 < t.value <= 1 and not math.isnan(t.value)
        assert not list((tmp_path / f"trial-{t.number}").glob("events.out.tfevents.*"))


# ---------------------------------------------------------------- reruns after a dead worker, seeded reruns

def _tiny_base(tiny, **kw):
    return TrainConfig(**{**dict(training_data=str(tiny), epochs=1, embedding_dim=4, batch_size=64, analyze=False,
                                 device="cpu", objective="seed"), **kw})


@pytest.mark.slow
def test_a_rerun_with_the_same_sampler_seed_draws_new_parameters(tiny, tmp_path):
    base = _tiny_base(tiny)
    for total in (1, 2):
        study = search(base, ["lr=1e-4:1e-1:log"], n_trials=total, study_name="s", study_dir=str(tmp_path),
                       sampler="random", seed=0, tensorboard=False, log=lambda s: None)
    first, second = (t.params["lr"] for t in study.trials)
    assert first != second
    fresh = search(base, ["lr=1e-4:1e-1:log"], n_trials=1, study_name="s", study_dir=str(tmp_path / "again"),
                   sampler="random", seed=0, tensorboard=False, log=lambda s: None)
    assert fresh.trials[0].params["lr"] == first  # a new study with the seed is still reproducible


@pytest.mark.slow
def test_a_rerun_right_after_a_kill_retries_the_dead_trial_from_its_checkpoint(tiny, tmp_path):
    """A worker killed mid-trial, and a rerun at once (well within the heartbeat's grace): the dead trial is
    marked failed rather than left running and counted, and its retry resumes the same run directory."""
    import signal
    import time

    import torch
    from test_reliability import HANG, cli

    from naomi_nb.rundir import read_history

    study_dir, epochs = tmp_path / "s", 300
    proc = cli("search", "--training-data", str(tiny), "--output-dir", str(study_dir), "--study", "k",
               "--param", "lr=1e-3:1e-2:log", "--n-trials", "1", "--epochs", str(epochs), "--patience", "1000",
               "--checkpoint-seconds", "0", "--embedding-dim", "4", "--batch-size", "64", "--device", "cpu",
               "--objective", "seed", "--no-tensorboard", "--heartbeat", "60", env={"TORCHDYNAMO_DISABLE": "1"})
    last = study_dir / "trial-0" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + HANG
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=HANG)
    done_before = torch.load(last, weights_only=True)["epoch"]
    assert 1 <= done_before < epochs
    lines = []
    study = search(_tiny_base(tiny, epochs=epochs, patience=1000, checkpoint_seconds=0.0), [], n_trials=1,
                   study_name="k", study_dir=str(study_dir), tensorboard=False, log=lines.append)
    dead, retry = study.trials
    assert dead.state == S.FAIL and retry.state == S.COMPLETE and retry.params == dead.params
    assert any("trial 0: its worker on this machine is gone" in line for line in lines), lines
    assert retry.user_attrs["resumed"] and retry.user_attrs["run_dir"] == dead.user_attrs["run_dir"]
    assert not (study_dir / "trial-1").exists()
    assert [r["epoch"] for r in read_history(study_dir / "trial-0")] == list(range(1, epochs + 1))
    assert sorted(retry.intermediate_values) == list(range(1, epochs + 1))
