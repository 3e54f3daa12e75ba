"""`make lab`: the JupyterLab command line the Makefile runs starts, also as root, and serves its page."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HANG = 5 * 60  # seconds: the bound on JupyterLab's start; it catches a refusal or a hang, not a slow machine

pytestmark = pytest.mark.notebooks


def lab_command() -> str:
    """The recipe line of `make lab`, as make would run it (``make -n`` prints it without running anything)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "--no-print-directory", "lab"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    (line,) = [line for line in out.splitlines() if "jupyter lab" in line]
    return line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_starts_jupyterlab_and_serves_its_page(tmp_path):
    command = lab_command()
    assert "--allow-root" in command  # JupyterLab refuses root without it: the recipe decides when it runs
    port, token = _free_port(), secrets.token_hex(16)
    # the Makefile's own line, plus what a test needs: no browser, a free port, a known token, its own
    # runtime and settings folders
    extra = (f" --no-browser --port={port} --ip=127.0.0.1 --ServerApp.token={token} --LabApp.news_url="
             " --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(["bash", "-c", f"exec {command}{extra}"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + HANG
        page = None
        while page is None:
            assert proc.poll() is None, f"jupyter lab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"no answer in {HANG} s: {(tmp_path / 'lab.log').read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as r:
                    page = (r.status, r.read().decode(errors="replace"))
            except OSError:
                time.sleep(0.5)
        status, html = page
        assert status == 200 and "JupyterLab" in html
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
    if os.geteuid() == 0:
        assert "Running as root is not recommended" not in (tmp_path / "lab.log").read_text()
