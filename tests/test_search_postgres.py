"""Several workers on one study in a real PostgreSQL server (Debian's postgresql, started here on a local port).

The server runs as the ``postgres`` system user when the tests run as root (PostgreSQL refuses root),
with its data directory and socket in a temporary folder, and is stopped at the end.
Without the binaries the tests are skipped, except in CI (``$CI`` set), where they fail.
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from naomi_nb.search import open_storage

ROOT = Path(__file__).resolve().parents[1]
S = optuna.trial.TrialState
HANG = 15 * 60  # seconds: the bound on a server command or a worker, for hangs only
pytestmark = [pytest.mark.wordnet, pytest.mark.postgres]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else (Path(shutil.which("pg_ctl")).parent if shutil.which("pg_ctl") else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = _pg_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        message = "PostgreSQL binaries not found (apt-get install postgresql; make test installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="naomi-pg-"))  # under /tmp, so the postgres user can reach it
    data, log = base / "data", base / "server.log"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*cmd, timeout=HANG):
        return subprocess.run(as_user + [str(bin_dir / cmd[0]), *cmd[1:]], capture_output=True, text=True,
                              timeout=timeout, check=True)

    try:
        run("initdb", "-D", str(data), "-U", "naomi", "--auth=trust", "-E", "UTF8", "--no-sync")
        run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", str(HANG), "start", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=50")
    except subprocess.CalledProcessError as e:
        text = log.read_text() if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {e.stderr.strip()} {text[-500:]}")
    try:
        yield f"postgresql://naomi@127.0.0.1:{port}/postgres"
    finally:
        try:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
        finally:
            shutil.rmtree(base, ignore_errors=True)


def _worker(url, study, mammals_dir, out, n_trials, *extra):
    cmd = [sys.executable, "-m", "naomi_nb", "search", "--storage", url, "--study", study,
           "--n-trials", str(n_trials), "--training-data", str(mammals_dir), "--output-dir", str(out),
           "--embedding-dim", "16", "--batch-size", "512", "--min-batch-size", "256", "--patience", "100",
           "--no-tensorboard", *extra]
    # eager kernels: torch.compile would cost each fresh worker seconds (tens on two busy cores); nothing here needs it
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1", "TORCHDYNAMO_DISABLE": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _study(url, name):
    return optuna.load_study(study_name=name, storage=open_storage(url))


def test_two_workers_share_one_study(postgres_url, mammals_dir, tmp_path):
    out = tmp_path / "shared"
    args = ("--param", "lr=1e-4:1e-1:log", "--param", "embedding_dim=8,16,32", "--epochs", "6")
    workers = [_worker(postgres_url, "two", mammals_dir, out, 8, *args) for _ in range(2)]
    logs = [w.communicate(timeout=HANG)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs
    trials = _study(postgres_url, "two").get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == max(numbers) + 1  # no trial number twice, none skipped
    counted = [t for t in trials if t.state in (S.COMPLETE, S.PRUNED)]
    assert len(counted) == 8  # the study's total, over both workers
    # anything else is a trial a worker started while the other filled the last place, marked as such
    assert all(t.state == S.FAIL and t.user_attrs.get("surplus") for t in trials if t not in counted)
    assert len({t.user_attrs["pid"] for t in counted}) == 2  # both workers ran trials
    for t in counted:
        assert json.loads((Path(t.user_attrs["run_dir"]) / "metrics.json").read_text())["epochs_run"] >= 1


def test_a_killed_worker_trial_is_failed_and_retried(postgres_url, mammals_dir, tmp_path):
    out = tmp_path / "killed"
    beat = ("--heartbeat", "1", "--grace", "2")
    victim = _worker(postgres_url, "kill", mammals_dir, out, 2, "--param", "lr=1e-3:1e-1:log",
                     "--epochs", "2000", *beat)
    deadline, running = time.monotonic() + HANG, None
    try:
        while time.monotonic() < deadline and victim.poll() is None:
            try:
                trials = _study(postgres_url, "kill").get_trials(states=(S.RUNNING,))
            except KeyError:  # the study does not exist yet
                trials = []
            if trials and "run_dir" in trials[0].user_attrs:
                history = Path(trials[0].user_attrs["run_dir"]) / "history.jsonl"
                if history.exists() and history.read_text().count("\n") >= 1:  # training, mid-trial
                    running = trials[0]
                    break
            time.sleep(0.2)
        assert running is not None, "the worker never had a trial running"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=HANG)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(timeout=HANG)
    assert victim.returncode == -signal.SIGKILL
    assert _study(postgres_url, "kill").trials[running.number].state == S.RUNNING  # nobody has noticed yet
    time.sleep(2.5)  # past the grace period
    rescuer = _worker(postgres_url, "kill", mammals_dir, out, 2, "--epochs", "3", *beat)
    log = rescuer.communicate(timeout=HANG)[0]
    assert rescuer.returncode == 0, log
    trials = _study(postgres_url, "kill").get_trials()
    assert trials[running.number].state == S.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == running.number]
    assert len(retries) == 1 and retries[0].state == S.COMPLETE
    assert retries[0].params == running.params  # the same point of the space, run again
    assert len([t for t in trials if t.state == S.COMPLETE]) == 2
