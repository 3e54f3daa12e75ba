"""Objectives, one module each, found by name.

An objective is a subclass of `Objective` with a ``name``, in any module of this folder: the registry imports
every module here, so a new objective is a new file and nothing else (``--objective NAME`` then trains it).
Copy ``negatives.py``, change ``name``, and the copy trains. `base.Objective` says what an objective owns.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil

from .base import Objective


@functools.cache
def registry() -> dict[str, type[Objective]]:
    """name -> objective class, from every module of this folder (imported on first use)."""
    found: dict[str, type[Objective]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Objective) and value.name
                    and value.__module__ == module.__name__):
                if value.name in found:
                    raise ImportError(f"two objectives are named {value.name!r}: {found[value.name].__module__} "
                                      f"and {module.__name__}")
                found[value.name] = value
    return found


def names() -> tuple[str, ...]:
    """The ``--objective`` choices."""
    return tuple(registry())


def get(name: str) -> type[Objective]:
    """The objective class registered under ``name``."""
    try:
        return registry()[name]
    except KeyError:
        raise ValueError(f"unknown objective {name!r} (choose from {', '.join(names())})") from None


__all__ = ["Objective", "registry", "names", "get"]
