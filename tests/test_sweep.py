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


def test_the_best_trial_is_the_most_visible_line_of_the_parallel_plot():
    import warnings

    import numpy as np
    import pytest

    optuna = pytest.importorskip("optuna")
    from matplotlib.colors import to_rgb
    from optuna.visualization import matplotlib as ovm

    from naomi_nb.sweep import emphasise_best_trial

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for direction, sign in (("minimize", 1), ("maximize", -1)):
        study = optuna.create_study(direction=direction)
        for lr, value in ((0.1, 3.0), (0.01, 1.0), (0.001, 2.0), (0.05, 4.0)):
            study.enqueue_trial({"lr": lr})
        values = dict(((0.1, 3.0), (0.01, 1.0), (0.001, 2.0), (0.05, 4.0)))
        study.optimize(lambda t: sign * values[t.suggest_float("lr", 1e-4, 1e-1, log=True)], n_trials=4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig = ovm.plot_parallel_coordinate(study).figure
        emphasise_best_trial(fig)
        (lines,) = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "trials"]
        colours = lines.get_cmap()(lines.norm(lines.get_array()))
        darkness = [1 - np.mean(to_rgb(c)) for c in colours]
        assert lines.get_array()[-1] == study.best_value  # drawn last: on top
        assert darkness[-1] == max(darkness)  # the darkest line
        assert min(darkness) > 0.2  # the worst is still visible (not near-white)
        assert lines.get_linewidths()[-1] > max(lines.get_linewidths()[:-1])


def test_the_batch_panel_labels_the_sizes_the_runs_went_through(tmp_path):
    from naomi_nb.sweep import batch_ticks

    history = scripted_history(epochs=4, stop_at=None)
    for r, b in zip(history, (2048, 1365, 1365, 1024)):
        r["batch_size"] = b
    history[0]["batch_before"] = 2048
    fig, _ = compare_runs([write_run(tmp_path / "run", history, {})])
    ax_batch = fig.axes[2]
    labels = [t.get_text() for t in ax_batch.get_yticklabels()]
    assert labels == ["1K", "1.33K", "2K"]  # not one "2K" tick: a drop to 1.33K is not a drop to nothing
    lo, hi = ax_batch.get_ylim()
    assert lo < 1024 and hi > 2048
    sizes = [2 ** k for k in range(8, 21)]
    ticks = batch_ticks(sizes)
    assert len(ticks) == 8 and ticks[0] == 256 and ticks[-1] == 2 ** 20


def test_a_sweep_run_passes_on_its_progress_as_it_goes(tmp_path, monkeypatch):
    from pathlib import Path

    import papermill

    from naomi_nb.sweep import RunProgress, run_sweep

    said = []
    forward = RunProgress(said.append)
    forward.write("loaded data/wordnet_mammals\n[1/7] Loading training data...\nepoch 1/3: starting; the first")
    assert said == []  # half a line waits for its end
    forward.write(" epoch compiles\n  epoch 1/3: training 40% of 11K edges, 10 s in this epoch, 12 s elapsed\n"
                  "epoch 1/3 done in 20 s: val 0.02\nanalysis of runs/x\ndone: early stop; runs/x; analysing...\n")
    assert said == ["      epoch 1/3: starting; the first epoch compiles",
                    "      epoch 1/3: training 40% of 11K edges, 10 s in this epoch, 12 s elapsed",
                    "      epoch 1/3 done in 20 s: val 0.02", "      done: early stop; runs/x; analysing..."]

    def fake_execute(notebook, out, parameters=None, stdout_file=None, **kw):
        stdout_file.write("epoch 1/1 done in 3 s: val 0.1\n")  # what the nested kernel prints, as it comes
        write_run(Path(parameters["OUTPUT_DIR"]), scripted_history(epochs=1, planned=1, stop_at=None), {})

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    said.clear()
    run_sweep("02_train.ipynb", {"a": {"EPOCHS": 1}}, tmp_path / "sweep", log=said.append)
    assert said[0].startswith("[1/1] a: EPOCHS=1") and said[1] == "      epoch 1/1 done in 3 s: val 0.1"
    assert said[2].startswith("      done in ")
