"""Sweep comparisons against runs written on disk: no model, no kernel."""
from test_dashboard import by_gid, scripted_history, write_run

from naomi_nb.sweep import compare_runs


def test_compare_runs_stars_the_epoch_the_run_returned(tmp_path):
    # epoch 6's raw loss is the lowest, but it improved by less than min_delta: the run returned epoch 4
    history = scripted_history(stop_at=None)
    history[5]["val_total"] = 0.0049
    for r in history:
        r["best_epoch"] = min(r["epoch"], 4)
    run = write_run(tmp_path / "run", history, dict(best_val=0.005, best_epoch=4, epochs_run=6))
    fig, table = compare_runs([run])
    (star,) = by_gid(fig.axes[0], "run-best")
    assert list(star.get_xdata()) == [4] and list(star.get_ydata()) == [history[3]["val_total"]]
    assert table.to_dicts()[0]["best epoch"] == "4"
