"""Components: every research variable, found by name the same way, each declaring its own knobs.

A component is a class or a function in a module of its kind's folder (`KINDS`): an objective in
``naomi_nb/objectives/``, a geometry in ``naomi_nb/geometries/``, a negative sampler in ``naomi_nb/samplers/``,
a sparsity mode in ``naomi_nb/sparsity/``, a learning-rate schedule in ``naomi_nb/schedules/``, a
post-training stage in ``naomi_nb/stages/``, a measure of the vectors in ``naomi_nb/measures/``. It registers itself with `register` and declares its knobs beside its
code: a class in a ``knobs`` attribute (inherited knobs add up along its bases), a function in
``register(..., knobs=...)``. Each knob is a `Knob`: its default, help text, allowed range or choices and the
range a search draws from. The registry imports every module of every kind's folder on first use, so a new
component is one new file and nothing else: ``naomi_nb.config.TrainConfig``, the command line's flags, the
notebook panel and the search space are built from what the components declare.

This module is the bottom floor: it imports nothing of the package but `naomi_nb.errors` (the kinds'
folders are imported by name, when asked).
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Kind:
    """A kind of component: what it is called, the package its modules live in, and the `TrainConfig` field
    that picks one (None: every registered one is used, as the measures are)."""

    label: str
    package: str
    field: str | None


KINDS: dict[str, Kind] = {
    "objective": Kind("objective", "naomi_nb.objectives", "objective"),
    "geometry": Kind("geometry", "naomi_nb.geometries", "geometry"),
    "sampler": Kind("negative sampler", "naomi_nb.samplers", "negative_sampler"),
    "sparsity": Kind("sparsity mode", "naomi_nb.sparsity", "sparsity_mode"),
    "schedule": Kind("learning-rate schedule", "naomi_nb.schedules", "lr_schedule"),
    "stage": Kind("post-training stage", "naomi_nb.stages", "stage"),
    "measure": Kind("measure", "naomi_nb.measures", None),
}

_TABLES: dict[str, dict[str, object]] = {kind: {} for kind in KINDS}
_RANGE = re.compile(r"^\s*(?:([\[(])\s*(\S+)\s*,\s*(\S+)\s*([\])])|(>=|>|<=|<)\s*(\S+))\s*$")


@dataclass(frozen=True)
class Knob:
    """One setting a component reads: a `TrainConfig` field, a ``--flag`` and a notebook parameter.

    Args:
        default: its value unless set; its type is the setting's (bool, int, float or str).
        help: one or two sentences for ``--help`` and the notebook panel.
        range: the values allowed, as written in a message: ``"[2, 20]"``, ``"(0, 1]"``, ``">= 0"``, ``"> 0"``.
        choices: the allowed values (a tuple), or the name of a kind (``"sampler"``): its registered names.
        search: what a search draws from when asked for this knob by name alone: ``(low, high)``,
            ``(low, high, "log")`` or a list of choices.
    """

    default: object
    help: str
    range: str | None = None
    choices: tuple | str | None = None
    search: tuple | list | None = None

    def __post_init__(self):
        if self.range is not None and not _RANGE.match(self.range):
            raise ValueError(f"knob range {self.range!r}: write [a, b], (a, b], >= a, > a, <= b or < b")

    def allowed(self) -> tuple | None:
        """The allowed values, read from the registry where the choices name a kind."""
        if isinstance(self.choices, str):
            return names(self.choices)
        return self.choices

    def check(self, flag: str, value) -> None:
        """Raise `ConfigError` (one line) when ``value`` is outside the range or the choices."""
        choices = self.allowed()
        if choices is not None and value not in choices:
            raise ConfigError(f"{flag} must be one of {', '.join(map(str, choices))} (got {value!r})")
        if self.range is not None and not in_range(self.range, value):
            text = self.range.strip()
            raise ConfigError(f"{flag} must be {'in ' if text[0] in '[(' else ''}{text} (got {value})")


def in_range(text: str, value) -> bool:
    """Whether ``value`` lies in a range written as `Knob` takes it (``"(0, 1]"``, ``">= 0"``)."""
    m = _RANGE.match(text)
    if m.group(1):
        low, high = float(m.group(2)), float(m.group(3))
        above = value > low if m.group(1) == "(" else value >= low
        below = value < high if m.group(4) == ")" else value <= high
        return above and below
    op, bound = m.group(5), float(m.group(6))
    return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[op]


def knob(default, help: str, **extra) -> Knob:
    """Shorthand for `Knob`."""
    return Knob(default, help, **extra)


def register(kind: str, name: str | None = None, knobs: dict[str, Knob] | None = None):
    """Decorator: register a class or function as the ``kind`` component ``name``.

    A class may leave ``name`` out and carry it as its ``name`` attribute (the decorator sets it otherwise);
    its knobs are its ``knobs`` attribute, added up along its bases. A function's knobs are ``knobs``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r} (choose from {', '.join(KINDS)})")

    def decorate(obj):
        key = name or getattr(obj, "name", None)
        if not key:
            raise ValueError(f"a {kind} needs a name: register({kind!r}, 'NAME')")
        table = _TABLES[kind]
        old = table.get(key)
        if old is not None and _origin(old) != _origin(obj):
            raise ImportError(f"two {KINDS[kind].label}s are named {key!r}: {_origin(old)} and {_origin(obj)}")
        if isinstance(obj, type):
            if getattr(obj, "name", None) != key:
                obj.name = key
            if knobs:
                obj.knobs = {**vars(obj).get("knobs", {}), **knobs}
        else:
            obj.name = key
            obj.knobs = dict(knobs or {})
        table[key] = obj
        return obj

    return decorate


def _origin(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


@functools.cache
def load() -> None:
    """Import every module of every kind's folder (once): each registers what it defines."""
    for kind in KINDS.values():
        package = importlib.import_module(kind.package)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            importlib.import_module(f"{kind.package}.{info.name}")


def registry(kind: str) -> dict[str, object]:
    """name -> component of a kind, by name (a component that sets a lower ``order`` comes first: the
    defaults do, so menus open on them)."""
    load()
    return dict(sorted(_TABLES[kind].items(), key=lambda item: (getattr(item[1], "order", 100), item[0])))


def names(kind: str) -> tuple[str, ...]:
    """The registered names of a kind: the choices of its `TrainConfig` field."""
    return tuple(registry(kind))


def get(kind: str, name: str):
    """The component of ``kind`` registered as ``name``.

    Raises:
        ConfigError: one line naming the choices, for a name nobody registered.
    """
    table = registry(kind)
    if name not in table:
        raise ConfigError(f"unknown {KINDS[kind].label} {name!r} (choose from {', '.join(table)})")
    return table[name]


def knobs_of(component) -> dict[str, Knob]:
    """A component's knobs: a class's ``knobs`` along its bases (the nearest wins), a function's own."""
    if isinstance(component, type):
        out: dict[str, Knob] = {}
        for cls in reversed(component.__mro__):
            out.update(vars(cls).get("knobs", {}))
        return out
    return dict(getattr(component, "knobs", {}))


def summary(component) -> str:
    """A component's one-line description: the first sentence of its docstring, else of its module's."""
    import inspect
    import sys

    doc = inspect.getdoc(component) if component.__doc__ else None
    if not doc:
        doc = inspect.getdoc(sys.modules[component.__module__]) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    cut = first.find(". ")
    return (first if cut < 0 else first[:cut + 1]).strip()


@dataclass(frozen=True)
class Setting:
    """A knob as the configuration sees it: the knob, its kind, and the components that read it."""

    name: str
    knob: Knob
    kind: str
    owners: tuple[str, ...]


def settings() -> dict[str, Setting]:
    """Every component knob, field name -> `Setting`, kinds in `KINDS` order. Two components may share a
    knob (both read it); they must then declare the same default.

    Raises:
        ImportError: a knob declared twice with different defaults.
    """
    out: dict[str, Setting] = {}
    for kind in KINDS:
        for name, component in registry(kind).items():
            for key, k in knobs_of(component).items():
                old = out.get(key)
                if old is None:
                    out[key] = Setting(key, k, kind, (name,))
                elif old.knob.default != k.default or type(old.knob.default) is not type(k.default):
                    raise ImportError(f"knob {key!r} is declared by {old.kind} {old.owners[0]!r} with default "
                                      f"{old.knob.default!r} and by {kind} {name!r} with {k.default!r}")
                elif old.kind == kind:
                    out[key] = Setting(key, old.knob, kind, old.owners + (name,))
    return out


def condition(name: str) -> tuple[str, tuple[str, ...]] | None:
    """For a component's knob: (the field that picks the component, the names that read the knob); None for a
    knob every run has. A knob takes effect only while its field holds one of those names."""
    setting = settings().get(name)
    if setting is None or KINDS[setting.kind].field is None:
        return None
    return KINDS[setting.kind].field, setting.owners


__all__ = ["KINDS", "Kind", "Knob", "Setting", "condition", "get", "in_range", "knob", "knobs_of", "load", "names",
           "register", "registry", "settings", "summary"]
