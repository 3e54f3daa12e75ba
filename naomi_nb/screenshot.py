"""``python -m naomi_nb.screenshot docs/dashboard.png``: the README's dashboard picture, from a real short run.

Trains the CPU notebook defaults (the mammal subgraph, built when missing) into a temporary run directory
through the same `naomi_nb.session.NotebookRun` the notebooks use, and copies its ``dashboard.png``.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from .notebook import notebook_config
from .project import ensure_graph
from .session import NotebookRun


def main(argv=None) -> int:
    out = Path((argv or sys.argv[1:] or ["docs/dashboard.png"])[0])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = notebook_config({"OUTPUT_DIR": str(Path(tmp) / "dashboard-demo"), "ANALYZE": False}, device="cpu")
        run = NotebookRun(cfg, ensure_graph(cfg.training_data), headless=True, log=lambda *a, **k: None)
        result = run.run()
        out.parent.mkdir(parents=True, exist_ok=True)
        # a smaller image than a run's own (dpi 110), so the repository stays light
        run.dashboard.save(out, dpi=80)
        print(f"{out}: {out.stat().st_size // 1024} KB, {result.metrics['epochs_run']} epochs, "
              f"{result.metrics.get('stopped')}")
        shutil.rmtree(result.run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
