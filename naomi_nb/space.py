"""A search's space: one `Param` per `TrainConfig` field, a range (optionally on a log scale) or choices,
parsed from the command line (``lr=1e-3:1e-1:log``, ``expand_by=16,32,64``) or a notebook's dict
(``{"lr": (1e-3, 1e-1, "log"), "expand_by": [16, 32, 64]}``); values are checked against the field's type.
A component's knob named alone (``graded_hops``, or ``{"graded_hops": None}``) takes the range its
component declares (`naomi_nb.components.Knob.search`); a field that picks a component (``objective``)
named alone takes every registered name.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from . import components
from .config import ConfigError, TrainConfig, config_fields

# fields a search may not vary: where data and runs live, and the hardware
NOT_SEARCHABLE = ("training_data", "output_dir", "device", "analyze", "checkpoint_seconds")



@dataclass(frozen=True)
class Param:
    """One searched `TrainConfig` field: a range (``low``..``high``, ``log`` scale) or a list of ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple | None = None

    def suggest(self, trial):
        """The trial's value for this field (Optuna's ``suggest_*``, typed as the field)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if _field_type(self.name) is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    def spec(self) -> str:
        """The compact form `parse_param` reads: ``lr=0.001:0.1:log`` or ``expand_by=16,32,64``."""
        if self.choices is not None:
            return f"{self.name}={','.join(str(c) for c in self.choices)}"
        return f"{self.name}={self.low:g}:{self.high:g}" + (":log" if self.log else "")


def _field_type(name: str) -> type:
    default = getattr(TrainConfig(), name)
    return type(default) if default is not None else str


def _convert(name: str, value) -> object:
    kind = _field_type(name)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError
            return text.lower() in ("true", "1", "yes", "on")
        if kind is int:
            number = float(text)
            if number != int(number):
                raise ValueError
            return int(number)
        return kind(text)
    except ValueError:
        raise ConfigError(f"--param {name}: {value!r} is not a valid {kind.__name__}") from None


def make_param(name: str, low=None, high=None, log: bool = False, choices=None) -> Param:
    """A checked `Param`: the field exists and may be searched, the range is ordered, values fit the field's type.

    Raises:
        ConfigError: one line naming the problem.
    """
    _check_name(name)
    kind = _field_type(name)
    if choices is not None:
        values = tuple(_convert(name, c) for c in choices)
        if not values:
            raise ConfigError(f"--param {name}: no choices given")
        if len(set(values)) != len(values):
            raise ConfigError(f"--param {name}: choices repeat a value")
        return Param(name, choices=values)
    if kind not in (int, float):
        raise ConfigError(f"--param {name}: a {kind.__name__} setting takes a list of choices (a,b,...), not a range")
    low, high = _convert(name, low), _convert(name, high)
    if not low < high:
        raise ConfigError(f"--param {name}: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ConfigError(f"--param {name}: a log range needs low > 0 (got {low})")
    return Param(name, low=low, high=high, log=bool(log))


def _check_name(name: str) -> None:
    known = {f.name for f in fields(TrainConfig)}
    if name not in known:
        raise ConfigError(f"--param {name}: not a training setting (choose from {', '.join(sorted(known - set(NOT_SEARCHABLE)))})")
    if name in NOT_SEARCHABLE:
        raise ConfigError(f"--param {name}: cannot be searched (it is set per trial or per machine)")


def declared_param(name: str) -> Param:
    """The search range a knob's component declares, or every registered name for a field that picks a
    component.

    Raises:
        ConfigError: the field declares no range (give one: NAME=LOW:HIGH or NAME=A,B).
    """
    _check_name(name)
    f = config_fields()[name]
    kinds = {k.field: kind for kind, k in components.KINDS.items() if k.field}
    if name in kinds:
        return make_param(name, choices=list(components.names(kinds[name])))
    search = f.metadata["knob"].search if "knob" in f.metadata else None
    if search is None:
        raise ConfigError(f"--param {name}: no declared range (give one: {name}=LOW:HIGH[:log] or {name}=A,B,C)")
    if isinstance(search, list):
        return make_param(name, choices=search)
    return make_param(name, search[0], search[1], log=len(search) == 3)


def parse_param(text: str) -> Param:
    """``lr=1e-3:1e-1:log``, ``epochs=5:20``, ``expand_by=16,32,64``, ``sparsity_mode=seed,proximal`` or a
    knob alone (``graded_hops``: its declared range) -> `Param`.

    Raises:
        ConfigError: for anything else.
    """
    name, sep, rest = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep and name:
        return declared_param(name)
    if not sep or not name or not rest.strip():
        raise ConfigError(f"--param {text!r}: expected NAME=LOW:HIGH[:log] or NAME=A,B,C")
    if ":" in rest:
        parts = [p.strip() for p in rest.split(":")]
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ConfigError(f"--param {text!r}: a range is LOW:HIGH or LOW:HIGH:log")
        return make_param(name, parts[0], parts[1], log=len(parts) == 3)
    return make_param(name, choices=[c for c in (p.strip() for p in rest.split(",")) if c])


def parse_space(space) -> list[Param]:
    """A search space from CLI strings, `Param` objects or a dict.

    Dict values: ``(low, high)`` or ``(low, high, "log")`` for a range, a list for choices, None for the
    range the knob's component declares (`declared_param`).

    Raises:
        ConfigError: a bad entry or a field named twice.
    """
    if isinstance(space, dict):
        params = []
        for name, value in space.items():
            if value is None:
                params.append(declared_param(name))
            elif isinstance(value, list):
                params.append(make_param(name, choices=value))
            elif isinstance(value, tuple) and len(value) in (2, 3) and (len(value) == 2 or value[2] == "log"):
                params.append(make_param(name, value[0], value[1], log=len(value) == 3))
            else:
                raise ConfigError(f"search space {name}: expected (low, high), (low, high, 'log') or a list of choices")
    else:
        params = [p if isinstance(p, Param) else parse_param(p) for p in space]
    names = [p.name for p in params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"--param {twice[0]} is given twice")
    return params
