"""Measures of a run's vectors, one module each, found by name (`naomi_nb.components`, kind ``measure``).

A measure is a function of one `naomi_nb.measuring.Context` (the run's vectors ``ctx.emb``, vocabulary
``ctx.vocab``, graph ``ctx.graph``, seed, activity threshold, and what several measures share: the frequent
senses and their rows, dimension statistics, the held-out edges, WordNet) that returns its figures as a
JSON-serialisable dict: plain floats and ints, plus any larger details (lists, nested dicts). A measure
that is all details may return a list (the axes, the cards); one that cannot be computed on this run
returns ``{"skipped": reason}``. This is all a new one takes, in a new module of this folder::

    import numpy as np

    from naomi_nb.components import register

    @register("measure", "norms")
    def norms(ctx):
        '''How long the vectors are.'''
        return {"mean_norm": float(np.linalg.norm(ctx.emb, axis=1).mean())}

`naomi_nb.report.analyze_run` finds it, writes its result into report.json under its name and a line of its
figures into summary.txt. What a measure may declare beside it (`declare` sets them):

- ``order``: its place in the registry, report.json and summary.txt (lower first; default 100);
- ``section``: the report.json key it goes under (the measures of meaning sit under ``"semantics"``);
  default the top level, by its own name;
- ``needs_graph``: without the run's training graph it is skipped, with the reason, and not called;
- ``axis_dependent``: the names of its figures that claim single dimensions mean something (True: every
  float figure at the top of its result). Such a *readability* measure runs a second time on the rotation
  control (``ctx.rotated()``: the same vectors times a seeded random rotation, which keeps every distance
  and mixes the axes), and each of those figures is reported beside its rotated value and their difference,
  the axis advantage (`naomi_nb.measuring.axis_advantage`), under the result's ``"rotation"`` key (declare
  figures where higher reads better: the advantage is axes minus rotated);
- ``lines``: ``lines(result) -> list[str]``, its summary lines (default: `default_lines`). A readability
  figure is shown with its control (`figure_text`), never alone.

A measure may read another's result with ``ctx.result(name)`` (computed once).
"""
from __future__ import annotations

from ..fmt import fmt_figure


def declare(*, order: int = 100, section: str | None = None, needs_graph: bool = False,
            axis_dependent: tuple | bool = (), lines=None):
    """Decorator: set what a measure declares beside `naomi_nb.components.register` (see the module's text)."""

    def decorate(fn):
        fn.order, fn.section, fn.needs_graph = order, section, needs_graph
        fn.axis_dependent = axis_dependent
        if lines is not None:
            fn.lines = lines
        return fn

    return decorate


def skipped_line(label: str, result) -> str | None:
    """``"label: skipped (reason)"`` for a skipped result, else None."""
    if isinstance(result, dict) and "skipped" in result:
        return f"{label}: skipped ({result['skipped']})"
    return None


def figure_text(result: dict, key: str, spec: str = ".3f") -> str:
    """A figure as the summary shows it: a readability figure with its rotated value and axis advantage,
    flagged when the rotation scores as well (``1.310 (rotated 1.250, axis advantage +0.060)``)."""
    value = fmt_figure(result.get(key), spec)
    control = (result.get("rotation") or {}).get(key)
    if not control:
        return value
    if control["advantage"] is None:
        return f"{value} (rotated {fmt_figure(control['rotated'], spec)})"
    verdict = ": measures the space, not the axes" if control["space_not_axes"] else ""
    return (f"{value} (rotated {fmt_figure(control['rotated'], spec)}, axis advantage "
            f"{format(control['advantage'], '+' + spec)}{verdict})")


def _is_figure(key: str, value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and key != "seconds"


def default_lines(name: str, result) -> list[str]:
    """The summary line of a measure that brings none: its name and every plain number at the top of its
    result (readability figures with their control)."""
    line = skipped_line(name, result)
    if line:
        return [line]
    if not isinstance(result, dict):
        return [f"{name}: {len(result)} entries" if isinstance(result, list) else f"{name}: {result}"]
    figures = [key for key, value in result.items() if _is_figure(key, value)]
    return [f"{name}: " + (", ".join(f"{key} {figure_text(result, key, '.4g')}" for key in figures) or "no figures")]


def measure_lines(name: str, measure, result) -> list[str]:
    """A measure's summary lines: its own ``lines`` or `default_lines`."""
    lines = getattr(measure, "lines", None)
    return list(lines(result)) if lines is not None else default_lines(name, result)


__all__ = ["declare", "default_lines", "figure_text", "measure_lines", "skipped_line"]
