"""Objectives, one module each, found by name (`naomi_nb.components`, kind ``objective``).

An objective is a subclass of `Objective` registered with ``@register("objective")`` in any module of this
folder: the registry imports every module here, so a new objective is a new file and nothing else
(``--objective NAME`` then trains it, and its ``knobs`` become flags). Write its loss in plain PyTorch
(`naomi_nb.objectives.plain`), or copy ``graded.py``, rename it and its knobs, and the copy trains.
`base.Objective` says what an objective owns.
"""
from __future__ import annotations

from .base import Objective

__all__ = ["Objective"]
