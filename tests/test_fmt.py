"""The number formatters every printer, table and title uses."""
from __future__ import annotations

from naomi_nb.fmt import fmt_bytes, fmt_count, fmt_duration, fmt_figure, fmt_log_loss, fmt_loss, fmt_value


def test_fmt_count_and_duration_are_one_style():
    assert [fmt_count(n) for n in (1048576, 174762, 131072, 2048, 1365, 500)] == [
        "1M", "171K", "128K", "2K", "1.33K", "500"]
    assert [fmt_duration(s) for s in (0.64, 12.3, 75, 4000)] == ["0.6 s", "12 s", "1 min 15 s", "1 h 06 min"]


def test_losses_figures_and_sizes():
    assert [fmt_loss(x) for x in (None, float("nan"), 0.0123456, 3)] == ["-", "-", "0.01235", "3"]
    assert [fmt_log_loss(x) for x in (0.0, 0.012345, 3e-6, -2e-5)] == ["0.0000", "0.0123", "3.0e-06", "-2.0e-05"]
    assert [fmt_figure(None), fmt_figure(None, missing="n/a"), fmt_figure(0.12345), fmt_figure(2, ".1%")] == [
        "-", "n/a", "0.123", "200.0%"]
    assert [fmt_value(0.000123456), fmt_value(64), fmt_value("uniform")] == ["0.0001235", "64", "uniform"]
    assert [fmt_bytes(3 * 2**30), fmt_bytes(2**26), fmt_bytes(2**30 / 10)] == ["3.0 GiB", "64 MiB", "0.1 GiB"]
