"""Numbers in words: the one set of formatters every printer, table and figure title uses.

Each formatter takes a plain number (or None where a figure may be missing) and returns a short string;
none of them rounds a value that a decision reads, they only print.
"""
from __future__ import annotations

import math


def fmt_count(n) -> str:
    """Sizes in one style, three significant digits: 1048576 -> "1M", 262144 -> "256K", 174762 -> "171K"."""
    n = int(n)
    for unit, scale in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def fmt_bytes(n: float) -> str:
    """Bytes in binary units, as they are counted: 3 * 2**30 -> "3.0 GiB", under a tenth of a GiB in MiB
    (2**26 -> "64 MiB")."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 / 10 else f"{n / 2**20:.0f} MiB"


def fmt_duration(seconds) -> str:
    """0.64 -> "0.6 s", 12.3 -> "12 s", 75 -> "1 min 15 s", 4000 -> "1 h 06 min"."""
    if 0 <= float(seconds) < 9.95:
        return f"{float(seconds):.1f} s"
    seconds = max(0, int(round(float(seconds))))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def fmt_loss(x) -> str:
    """A loss in tables and titles: four significant digits, "-" when missing or NaN."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def fmt_log_loss(x: float) -> str:
    """A loss in the training log, as the seed prints it: four decimals, tiny non-zero values in scientific
    notation instead of 0.0000 (0.01234 -> "0.0123", 3e-6 -> "3.0e-06")."""
    return f"{x:.4f}" if x == 0 or abs(x) >= 1e-4 else f"{x:.1e}"


def fmt_figure(x, spec: str = ".3f", missing: str = "-") -> str:
    """A measured figure with ``format(x, spec)``, or ``missing`` where there was nothing to measure."""
    return missing if x is None else format(x, spec)


def fmt_value(v) -> str:
    """A setting or result of any type: floats with four significant digits, anything else as str()."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)
