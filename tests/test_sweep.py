"""naomi_nb.sweep: the grid and the comparison of finished runs."""
from helpers import by_gid, scripted_history, write_run

from naomi_nb.sweep import compare_runs, sweep_grid


def test_compare_runs_overlays_and_tabulates(tmp_path):
    a = write_run(tmp_path / "aggressive", scripted_history(), dict(best_val=0.005, best_epoch=4, epochs_run=6,
                                                                    final_dims=256, minutes=0.5))
    b = write_run(tmp_path / "fixed", scripted_history(epochs=3, stop_at=None),
                  dict(best_val=0.0067, best_epoch=3, epochs_run=3, final_dims=192, minutes=0.25))
    fig, table = compare_runs([a, b])
    ax_val, ax_dims, ax_batch = fig.axes
    assert [l.get_label() for l in ax_val.lines if not l.get_label().startswith("_")] == ["aggressive", "fixed"]
    assert [l.get_gid() for l in ax_val.lines if l.get_gid().endswith("-best")] == ["aggressive-best", "fixed-best"]
    assert list(by_gid(ax_batch, "aggressive")[0].get_ydata())[:2] == [1048576, 1048576]
    assert list(ax_dims.lines[1].get_xdata()) == [0, 1, 2, 3]
    assert list(ax_dims.lines[1].get_ydata()) == [128, 128, 192, 192]
    rows = table.to_dicts()
    assert [r["run"] for r in rows] == ["aggressive", "fixed"]
    assert rows[0]["best val loss"] == "0.005" and rows[0]["model dims"] == "256"
    assert rows[1]["epochs run"] == "3" and rows[1]["minutes"] == "0.25"
    assert rows[0]["batch sizes"] == "1M -> 683K -> 512K"


def test_sweep_grid_names_runs():
    grid = sweep_grid(PRESET=["conservative", "fixed"], EPOCHS=[2])
    assert grid == {"conservative": {"PRESET": "conservative", "EPOCHS": 2},
                    "fixed": {"PRESET": "fixed", "EPOCHS": 2}}
    grid = sweep_grid(PATIENCE=[3, 5], EXPAND_BY=[32, 64])
    assert list(grid)[0] == "patience-3_expand_by-32" and len(grid) == 4
