"""tools/tradeoff.py: one point per analysed run, its category score beside the rotation control, a one-line
error for a run without a report."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "tradeoff.py"
_spec = importlib.util.spec_from_file_location("tradeoff", TOOL)  # a script, not a package module
tradeoff = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tradeoff)


def fake_run(path: Path, mrr: float, category: float, zeros: float, rotated: float | None = None) -> Path:
    path.mkdir()
    categories = {"is_category": category}
    report = {"validation": {"hypernym_ranking": {"mrr": mrr}}, "dimensions": {"zeros_pct": zeros},
              "semantics": {"categories": categories, "wup": {"pooled": {"rho": 0.2}}}}
    if rotated is not None:  # as analysed since the rotation control: the figure beside its rotation
        advantage = category - rotated
        categories["rotation"] = {"is_category": {"axes": category, "rotated": rotated, "advantage": advantage,
                                                  "space_not_axes": advantage <= 0.08 * rotated}}
        report["rotation"] = {"seed": 0, "band": 0.08}
    (path / "report.json").write_text(json.dumps(report))
    return path


def test_plots_one_point_per_run_and_refuses_a_run_without_a_report(tmp_path):
    a, b = fake_run(tmp_path / "a", 0.4, 0.2, 0.0, rotated=0.19), fake_run(tmp_path / "b", 0.3, 0.3, 52.0, rotated=0.2)
    old = fake_run(tmp_path / "old", 0.35, 0.25, 10.0)  # analysed before the rotation control
    out = tmp_path / "t.png"
    done = subprocess.run([sys.executable, str(TOOL), f"{a}=dense", f"{b}=tree", f"{old}=old", "--output", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "3 runs, 2 with the rotation control" in done.stdout, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "none"), "--output", str(tmp_path / "u.png")],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "no usable report.json" in bad.stderr
    assert not (tmp_path / "u.png").exists()


def test_a_point_carries_the_category_scores_axis_advantage(tmp_path):
    p = tradeoff.point(fake_run(tmp_path / "a", 0.4, 0.30, 0.0, rotated=0.20))
    assert (p["category"], p["rotated"], p["band"]) == (0.30, 0.20, 0.08)
    assert abs(p["advantage"] - 0.10) < 1e-12 and p["space"] is False
    assert tradeoff.point(fake_run(tmp_path / "b", 0.4, 0.30, 0.0, rotated=0.29))["space"] is True
    old = tradeoff.point(fake_run(tmp_path / "old", 0.4, 0.3, 0.0))
    assert old["advantage"] is None and old["rotated"] is None
