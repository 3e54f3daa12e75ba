"""tools/tradeoff.py: one point per analysed run, a one-line error for a run without a report."""
import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "tradeoff.py"


def fake_run(path: Path, mrr: float, category: float, zeros: float) -> Path:
    path.mkdir()
    report = {"validation": {"hypernym_ranking": {"mrr": mrr}}, "dimensions": {"zeros_pct": zeros},
              "semantics": {"categories": {"is_category": category}, "wup": {"pooled": {"rho": 0.2}}}}
    (path / "report.json").write_text(json.dumps(report))
    return path


def test_plots_one_point_per_run_and_refuses_a_run_without_a_report(tmp_path):
    a, b = fake_run(tmp_path / "a", 0.4, 0.2, 0.0), fake_run(tmp_path / "b", 0.3, 0.3, 52.0)
    out = tmp_path / "t.png"
    done = subprocess.run([sys.executable, str(TOOL), f"{a}=dense", f"{b}=tree", "--output", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "2 runs" in done.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "none"), "--output", str(tmp_path / "u.png")],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "no usable report.json" in bad.stderr
    assert not (tmp_path / "u.png").exists()
