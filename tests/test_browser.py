"""02_train in a real browser: JupyterLab in headless Chromium, driven by Playwright's Python API.

Run All, then move two sliders with the keyboard, click Train, watch the dashboard image change between
epochs, click Stop and follow the status through what happens after it (stopping, saving the dashboard,
analysing), click Resume and read the dashboard's elapsed time and ETA from the kernel (they count the
resumed epochs only), Stop again, and check the run directory: the new values reached config.json and the
run is resumable. The test starts and ends its own JupyterLab server; every wait is bounded, by minutes: the
bounds catch hangs, and a busy machine may take several times as long as an idle one.

Skipped when Chromium or Playwright is missing, unless the ``CI`` environment variable is set (then it
fails: ``make setup`` installs both). Playwright's own browser download is never used: Debian's chromium is.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_GRAPH = Path(os.environ.get("NAOMI_NB_GRAPH", ROOT / "data" / "wordnet_training"))
CHROMIUM = os.environ.get("NAOMI_NB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HANG = 15 * 60  # seconds: the bound on one wait (Run All took 80 s on an idle 2-core machine, 240 s on a busy one)

pytestmark = pytest.mark.browser


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: `make setup` installs it)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _project(tmp_path: Path, mammals: Path) -> Path:
    """A project root of our own: the notebook copied, the package and graphs linked, runs/ inside it."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "02_train.ipynb", root / "notebooks")
    shutil.copy(ROOT / "pyproject.toml", root)
    (root / "naomi_nb").symlink_to(ROOT / "naomi_nb")
    (root / "data").mkdir()
    for name, graph in (("wordnet_mammals", mammals), ("wordnet_training", REAL_GRAPH)):
        (root / "data" / name).symlink_to(graph.resolve(), target_is_directory=True)
    return root


def _start_lab(root: Path, tmp_path: Path, port: int, token: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(":"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
           "TQDM_DISABLE": "1", "NAOMI_NB_RUNS": str(root / "runs"), "NAOMI_NB_DATA": str(root / "data")}
    env.pop("PYTEST_CURRENT_TEST", None)  # the kernels are a user's, not nbmake's: widgets, not headless
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"jupyter lab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    _wait(up, HANG, "jupyter lab to answer")
    return proc


def _stop_lab(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started (its own session)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _runs(root: Path) -> list[Path]:
    return sorted((p.parent for p in (root / "runs").glob("*/config.json")), key=lambda d: d.name)


# every text the panel's status shows, in order, from the mutations of the button row (a status that lasts
# a moment, such as "saving dashboard.png...", is caught as well as a long one)
WATCH_STATUS = """(cell) => {
  window.__statuses = [];
  const stop = Array.from(cell.querySelectorAll('button.widget-button')).find(b => b.innerText.includes('Stop'));
  const row = stop.parentElement, status = row.querySelector('.widget-html');
  const note = (text) => {
    text = (text || '').trim();
    const seen = window.__statuses;
    if (text && seen[seen.length - 1] !== text) seen.push(text);
  };
  note(status.innerText);
  new MutationObserver((records) => {
    for (const r of records) {
      if (!status.contains(r.target)) continue;
      if (r.type === 'characterData') note(r.target.data);
      for (const n of r.addedNodes) note(n.textContent);
    }
    note(status.innerText);
  }).observe(row, {subtree: true, childList: true, characterData: true});
}"""

# run in the kernel while the resumed run trains on the panel's thread: its dashboard's title and the records
# of this session's epochs, from one snapshot of its history
READ_DASHBOARD = ("import copy, json; from naomi_nb import record as R; d = copy.copy(panel.dashboard); "
                  "d.history = list(d.history); "
                  "now = [r for r in R.epochs_of(d.history) if r['epoch'] >= d.first_epoch]; "
                  "print('DASHBOARD ' + json.dumps({'first_epoch': d.first_epoch, 'title': d.title(), "
                  "'seconds': [r['seconds'] for r in now], 'left': now[-1]['epochs'] - now[-1]['epoch']}))")


def _duration(text: str) -> float:
    """Seconds from `naomi_nb.fmt.fmt_duration`'s words: "0.6 s", "12 s", "1 min 15 s", "1 h 06 min"."""
    import re

    units = {"h": 3600, "min": 60, "s": 1}
    parts = re.findall(r"([\d.]+) (h|min|s)\b", text)
    assert parts, text
    return sum(float(n) * units[u] for n, u in parts)


def _index(statuses: list[str], text: str) -> int:
    found = [i for i, s in enumerate(statuses) if text in s]
    assert found, f"the status never said {text!r}: {statuses}"
    return found[0]


def _run_all(page, tries: int = 5) -> None:
    """Run > Run All Cells, again while no cell has been sent to the kernel: a click that lands before the
    notebook has taken its commands runs nothing (seen now and then, at any load). A sent cell shows ``[*]``
    or its number at once, however slow the kernel, so a minute without one means the click was lost."""
    import re

    sent = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    for _ in range(tries):
        page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook has the focus, so the menu acts on it
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sent.count():
                return
            time.sleep(1)
    raise AssertionError(f"Run All sent no cell to the kernel in {tries} tries")


def test_jupyterlab_run_all_slider_train_stop_resumable(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        _missing("chromium is not installed (apt-get install chromium)")
    from naomi_nb.project import ensure_graph, project_path

    mammals = project_path("data/wordnet_mammals")  # in the test session's data directory (tests/conftest.py)
    ensure_graph(mammals, log=lambda *a: None)  # built once per session, seconds

    root = _project(tmp_path, mammals)
    port, token = _free_port(), secrets.token_hex(16)
    t0 = time.monotonic()
    lab = _start_lab(root, tmp_path, port, token)
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(HANG * 1000)
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/lab/tree/notebooks/02_train.ipynb?token={token}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=HANG * 1000)
            _wait(lambda: page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0,
                  HANG, "the kernel to start")

            # Run All from the menu; the last cell writes notebook_metrics.json (JupyterLab renders only the
            # cells in view, so the files say when it is done)
            _run_all(page)

            def all_ran():
                done = [d for d in _runs(root) if (d / "notebook_metrics.json").exists()]
                return done and page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0 \
                    and done[-1]

            try:
                cell_run = _wait(all_ran, HANG, "Run All to finish")
            except AssertionError:
                page.screenshot(path=str(tmp_path / "run-all.png"))
                raise
            assert (cell_run / "dashboard.png").is_file() and (cell_run / "notebook_metrics.json").is_file()
            summary = page.locator(".jp-OutputArea-output", has_text="returned model")
            summary.first.scroll_into_view_if_needed()
            assert summary.count() == 1

            # move two sliders with the keyboard: longest run and most patience, so Stop has a run to stop
            panel = page.locator(".jp-CodeCell", has=page.locator("button.widget-button", has_text="Train"))
            panel.scroll_into_view_if_needed()
            for label in ("epochs", "patience"):
                slider = panel.locator(".widget-slider", has=page.locator(".widget-label", has_text=label)).first
                slider.locator(".noUi-handle").first.focus()
                page.keyboard.press("End")
            _wait(lambda: "up to 300 epochs" in panel.inner_text() and "patience 50" in panel.inner_text(), HANG,
                  "the panel to show the slider values")

            # Train: the dashboard replaces the placeholder and changes between epochs
            panel.locator("button.widget-button", has_text="Train").click()
            images = panel.locator(".jp-OutputArea-output img")
            first = _wait(lambda: images.count() and images.first.get_attribute("src"), HANG, "the first dashboard")
            _wait(lambda: images.first.get_attribute("src") != first, HANG, "the dashboard to change between epochs")
            assert images.count() == 1  # updated in place
            assert panel.locator(".widget-html", has_text="elapsed").count() >= 1  # the progress line

            # Stop: the status says what happens until the run is saved, analysed and resumable
            panel.evaluate(WATCH_STATUS)
            panel.locator("button.widget-button", has_text="Stop").click()
            _wait(lambda: "stopped, run saved and resumable" in panel.inner_text(), HANG, "the run to stop")
            statuses = page.evaluate("window.__statuses")
            steps = [_index(statuses, text) for text in ("stopping at the next batch", "saving dashboard.png",
                                                         "analysing the returned model",
                                                         "stopped, run saved and resumable")]
            assert steps == sorted(steps), statuses
            stopped_after = json.loads((_runs(root)[-1] / "metrics.json").read_text())["epochs_run"]

            # Resume: once two epochs of this session are done the dashboard shows an ETA; read it in the kernel
            panel.locator("button.widget-button", has_text="Resume").click()
            t_resume = time.monotonic()

            def more_epochs():  # three in the file: at least two have reached the dashboard
                history = _runs(root)[-1] / "history.jsonl"
                return len(history.read_text().splitlines()) >= stopped_after + 3

            _wait(more_epochs, HANG, "epochs of the resumed run")
            panel.locator(".jp-InputPrompt").first.click()  # select the panel's cell, then a new cell below it
            page.keyboard.press("Escape")
            page.keyboard.press("b")
            page.keyboard.press("Enter")
            page.keyboard.insert_text(READ_DASHBOARD)  # as pasted: no auto-closed brackets
            page.keyboard.press("Shift+Enter")
            line = page.locator(".jp-OutputArea-output", has_text="DASHBOARD ")
            line.first.wait_for(timeout=HANG * 1000)
            seen = json.loads(line.first.inner_text().split("DASHBOARD ", 1)[1].strip())
            session_seconds = time.monotonic() - t_resume

            panel.locator("button.widget-button", has_text="Stop").click()
            _wait(lambda: "stopped, run saved and resumable" in panel.inner_text(), HANG, "the resumed run to stop")
            context.close()
    finally:
        _stop_lab(lab)
    seconds = time.monotonic() - t0

    # the resumed session's clock starts at its own first epoch, and its pace is that of its own epochs
    assert seen["first_epoch"] == stopped_after + 1, seen
    title = seen["title"].replace("\n", "   ")
    assert " elapsed, at most " in title and " left" in title, title
    elapsed = _duration(title.split(" elapsed")[0].split("   ")[-1])
    eta = _duration(title.split(" elapsed, at most ")[1].split(" left")[0])
    assert elapsed <= session_seconds + 1, (title, session_seconds)  # not the earlier session's time
    pace = seen["seconds"][1:]  # this session's epochs after its first (which compiles)
    assert eta >= 0.8 * seen["left"] * sum(pace) / len(pace), (title, seen)

    button_run = _runs(root)[-1]
    assert button_run != cell_run
    config = json.loads((button_run / "config.json").read_text())
    assert (config["epochs"], config["patience"]) == (300, 50)  # the keyboard's values reached the run
    from naomi_nb.record import read_metrics
    from naomi_nb.rundir import check_resumable, read_history

    check_resumable(button_run)  # last.pt and best.pt: `--resume` can continue it
    assert read_metrics(button_run)["stopped"] == "interrupted"
    epochs = [r["epoch"] for r in read_history(button_run)]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= stopped_after + 2  # resumed, then stopped
    assert (button_run / "dashboard.png").is_file()
    assert not errors, errors
    print(f"browser test: {seconds:.0f} s")


def _headline(text: str) -> dict:
    """The figures a run's headline states (`naomi_nb.notebook.run_summary`), from the page's text."""
    import re

    found = re.search(r"best validation loss ([\d.e+-]+) at epoch (\d+) \((\d+) dims\).*?; ([\d.]+) min of training"
                      r".*?held-out hypernym MRR ([\d.]+), hits@10 ([\d.]+)%", text, re.S)
    assert found, f"no headline figures in {text[-1500:]!r}"
    loss, epoch, dims, minutes, mrr, hits = found.groups()
    return {"best_val": float(loss), "best_epoch": int(epoch), "dims": int(dims), "minutes": float(minutes),
            "mrr": float(mrr), "hits@10": float(hits)}


def test_the_training_cell_and_the_train_button_train_the_same_run_and_end_alike(tmp_path):
    """Run All (the training cell trains with the CPU defaults), then the Train button with the same settings:
    both finish, both show the headline figures (the cell in its output, the button in the status and under
    its dashboard), and both trained the same model. The two runs' training times are printed (the docs
    quote them from a quiet machine); no time is asserted."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        _missing("chromium is not installed (apt-get install chromium)")
    from naomi_nb.project import ensure_graph, project_path
    from naomi_nb.record import read_metrics
    from naomi_nb.rundir import read_history

    mammals = project_path("data/wordnet_mammals")
    ensure_graph(mammals, log=lambda *a: None)
    root = _project(tmp_path, mammals)
    port, token = _free_port(), secrets.token_hex(16)
    lab = _start_lab(root, tmp_path, port, token)
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(HANG * 1000)
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/lab/tree/notebooks/02_train.ipynb?token={token}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=HANG * 1000)
            _wait(lambda: page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0,
                  HANG, "the kernel to start")
            _run_all(page)

            def all_ran():
                done = [d for d in _runs(root) if (d / "notebook_metrics.json").exists()]
                return done and page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0 \
                    and done[-1]

            cell_run = _wait(all_ran, HANG, "Run All to finish")
            summary = page.locator(".jp-OutputArea-output", has_text="returned model")
            summary.first.scroll_into_view_if_needed()
            cell = _headline(summary.first.inner_text())

            panel = page.locator(".jp-CodeCell", has=page.locator("button.widget-button", has_text="Train"))
            panel.scroll_into_view_if_needed()
            panel.locator("button.widget-button", has_text="Train").click()
            # the status said "done: <the cell's run>" before the click: wait for the button's own run
            button_run = _wait(lambda: [d for d in _runs(root) if d != cell_run], HANG, "the button's run")[0]
            _wait(lambda: f"done: {button_run}" in panel.inner_text(), HANG, "the button's run to finish")
            button = _headline(panel.inner_text().split(f"done: {button_run}", 1)[1])
            under = panel.locator(".jp-OutputArea-output", has_text="returned model")
            _wait(lambda: under.count() == 1, 60, "the summary under the button run's dashboard")
            assert "next:" in under.first.inner_text() or "03_explore" in under.first.inner_text()
            assert panel.locator("button.widget-button", has_text="Stop").first.is_disabled()
            context.close()
    finally:
        _stop_lab(lab)

    assert _runs(root) == sorted([cell_run, button_run])
    for run, shown in ((cell_run, cell), (button_run, button)):
        metrics = read_metrics(run)
        assert metrics["best_epoch"] == shown["best_epoch"] and metrics["final_dims"] == shown["dims"]
        assert (run / "report.json").is_file() and (run / "dashboard.png").is_file()
    # the same settings and seed: the same model, whichever way it was started
    cell_cfg, button_cfg = (json.loads((r / "config.json").read_text()) for r in (cell_run, button_run))
    assert {k: v for k, v in cell_cfg.items() if k != "output_dir"} == \
        {k: v for k, v in button_cfg.items() if k != "output_dir"}
    assert (cell["best_epoch"], cell["dims"], cell["mrr"]) == (button["best_epoch"], button["dims"], button["mrr"])
    seconds = {name: sum(r["seconds"] for r in read_history(run) if "seconds" in r)
               for name, run in (("cell", cell_run), ("button", button_run))}
    print(f"training: cell {seconds['cell']:.1f} s, button {seconds['button']:.1f} s "
          f"({len(read_history(cell_run))} and {len(read_history(button_run))} epochs)")
    assert not errors, errors
