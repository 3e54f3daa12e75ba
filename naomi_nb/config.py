"""`TrainConfig`: every training knob with its default and help text, the presets, the device defaults,
and the one resolver the CLI and the notebooks share.

`RunConfig` holds the knobs every run has. `TrainConfig` adds every component's own knobs
(`naomi_nb.components`: an objective's, a geometry's, a sampler's, a sparsity mode's, a schedule's), as they
declare them: it is made from the registry on first use, so a new component's knobs become fields, flags,
notebook parameters and search ranges with no edit here. This module imports no component.

Layers, later wins: `TrainConfig` defaults -> (notebooks only) the device defaults -> a preset (scaled to
a CPU in notebooks) -> explicit values. A `TrainConfig` is checked when it is made (`validate`), so a
config that exists is one the trainer can honour.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import textwrap
import functools
from typing import TYPE_CHECKING
from dataclasses import dataclass, field, fields

from . import components
from .errors import ConfigError


OPTIMIZER_ON_EXPAND = ("carry", "reset")


def knob(default, help: str, **extra):
    """A config field every run has: its default and its help text (the CLI's ``--help`` and the notebooks
    read it). A component's own settings are `naomi_nb.components.Knob` declared beside its code.

    Metadata beyond ``help``: ``choices`` (a tuple, or the name of a component kind whose registered names are
    the choices); ``when`` = (field, values): the setting applies only while that field holds one of the
    values (the notebook panel greys it out otherwise; see `applies`).
    """
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class RunConfig:
    """The knobs every run has; `TrainConfig` adds the components' own."""

    # data and run directory
    training_data: str = knob("data/wordnet_training",
                              "graph directory from prepare-wordnet, or a NAOMI-II dir with training_edges.pkl")
    output_dir: str | None = knob(None, "run directory to create (default: runs/<date-time>)")
    unsupervised: bool = knob(True, "accepted for NAOMI-II compatibility and ignored: training is always unsupervised "
                                    "(--objective chooses the loss)")
    val_fraction: float = knob(0.1, "share of edges held out for validation")
    # model width and dynamic dimensions
    embedding_dim: int = knob(128, "starting number of dimensions")
    dynamic_dims: bool = knob(False, "add dimensions when the existing ones saturate")
    max_dims: int = knob(512, "maximum number of dimensions with --dynamic-dims", when=("dynamic_dims", (True,)))
    expand_interval: int = knob(2, "check saturation every N epochs", when=("dynamic_dims", (True,)))
    expand_by: int = knob(64, "number of dimensions to add each expansion", when=("dynamic_dims", (True,)))
    saturation_threshold: float = knob(0.3, "a dimension counts as saturated when active in at least this share of "
                                            "words; expansion fires when >= 80% of dimensions are saturated")
    activity_eps: float = knob(1e-6, "a value counts as active when |x| > this")
    prune: bool = knob(False, "drop unused dimensions at the end of training")
    optimizer_on_expand: str = knob("carry", "after an expansion: carry the old columns' Adam moments, or reset "
                                             "Adam (the seed)", choices=OPTIMIZER_ON_EXPAND)
    # the components (each described, with its own settings, in its group of --help)
    objective: str = knob("graded", "the loss (see 'objective settings' below; --objective seed: the seed's loss "
                                    "and log exactly)", choices="objective")
    geometry: str = knob("free", "what a sense's vector is made of (see 'geometry settings' below)",
                         choices="geometry")
    # optimisation
    epochs: int = knob(100, "maximum number of epochs")
    batch_size: int = knob(1048576, "initial batch size in edges; adapts as dimensions grow")
    min_batch_size: int = knob(32768, "floor of the adaptive batch size")
    lr: float = knob(0.01, "Adam learning rate (the starting one with a schedule)")
    lr_schedule: str = knob("auto", "how the lr moves (see 'learning-rate schedule settings' below)",
                            choices="schedule")
    sparsity_mode: str = knob("seed", "how values are pushed to zero (see 'sparsity mode settings' below)",
                              choices="sparsity")
    stage: str = knob("none", "what is made of the trained vectors before they are saved and measured (see "
                              "'post-training stage settings' below)", choices="stage")
    max_active: int = knob(0, "after every step each sense keeps only its N values of largest magnitude, the "
                              "rest exactly 0 (a k-sparse code); 0: no limit")
    init_scale: float = knob(0.01, "standard deviation of the initial values")
    expand_init_scale: float = knob(0.001, "standard deviation of the values in columns added by an expansion "
                                           "(they add sqrt(2*k)*this to every distance at once)")
    patience: int = knob(10, "stop after N epochs without validation improvement")
    min_delta: float = knob(0.0001, "minimum decrease of validation loss that counts as improvement")
    seed: int = knob(0, "random seed (split, initialisation, shuffling)")
    device: str = knob("auto", "auto (CUDA when present, else the CPU), cpu, cuda or cuda:N")
    deterministic: bool = knob(False, "torch.use_deterministic_algorithms for the run: on a GPU, reruns and "
                                      "resumes become bit-identical (index_add_ otherwise adds in a varying "
                                      "order) at some speed; the CPU path is deterministic either way")
    checkpoint_seconds: float = knob(60.0, "write last.pt (resumable state) and best.pt at most every N seconds, "
                                           "0 = every epoch, never = only when training ends (always then)")
    analyze: bool = knob(True, "write report.json and figures when training ends")

    def __post_init__(self):
        self.validate()

    def validate(self) -> "TrainConfig":
        """Raise `ConfigError` (one line) for values the trainer cannot honour."""
        for f in fields(self):
            _check_type(f, getattr(self, f.name))
        checks = [
            (self.output_dir is None or self.output_dir.strip() != "",
             "--output-dir must name a directory (got an empty string; leave it out for runs/<date-time>)"),
            (0 < self.lr <= 10, f"--lr must be in (0, 10] (got {self.lr})"),
            (self.patience >= 0, f"--patience must be >= 0 (got {self.patience})"),
            (self.min_delta >= 0, f"--min-delta must be >= 0 (got {self.min_delta})"),
            (self.epochs >= 1, f"--epochs must be >= 1 (got {self.epochs})"),
            (self.batch_size >= 1, f"--batch-size must be >= 1 (got {self.batch_size})"),
            (self.min_batch_size >= 1, f"--min-batch-size must be >= 1 (got {self.min_batch_size})"),
            (self.embedding_dim >= 1, f"--embedding-dim must be >= 1 (got {self.embedding_dim})"),
            (0 < self.val_fraction <= MAX_VAL_FRACTION,
             f"--val-fraction must be in (0, {MAX_VAL_FRACTION}] (got {self.val_fraction})"),
            (0 < self.saturation_threshold <= 1, f"--saturation-threshold must be in (0, 1] (got {self.saturation_threshold})"),
            (0 < self.init_scale <= 10 and 0 < self.expand_init_scale <= 10,
             "--init-scale and --expand-init-scale must be in (0, 10]"),
            (self.activity_eps >= 0, f"--activity-eps must be >= 0 (got {self.activity_eps})"),
            (0 <= self.checkpoint_seconds <= NEVER_SECONDS,
             f"--checkpoint-seconds must be in [0, {NEVER_SECONDS:.0e}] or 'never' (got {self.checkpoint_seconds})"),
            (0 <= self.seed < 2**63, f"--seed must be in [0, 2**63) (got {self.seed})"),
            (self.embedding_dim <= MAX_WIDTH and self.max_dims <= MAX_WIDTH and self.expand_by <= MAX_WIDTH,
             f"--embedding-dim, --max-dims and --expand-by must be at most {MAX_WIDTH:,}"),
            (self.batch_size < 2**40 and self.min_batch_size < 2**40, "--batch-size and --min-batch-size must be "
                                                                      "below 2**40"),
            (self.max_active >= 0, f"--max-active must be >= 0 (got {self.max_active})"),
        ]
        if self.dynamic_dims:
            checks += [
                (self.expand_by >= 1, f"--expand-by must be >= 1 (got {self.expand_by})"),
                (self.expand_interval >= 1, f"--expand-interval must be >= 1 (got {self.expand_interval})"),
                (self.embedding_dim <= self.max_dims,
                 f"--embedding-dim ({self.embedding_dim}) is above --max-dims ({self.max_dims})"),
            ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        for f in fields(self):  # the components' knobs check themselves
            if "knob" in f.metadata:
                f.metadata["knob"].check(_flag(f.name), getattr(self, f.name))
        return self

    @property
    def schedule(self) -> str:
        """The lr schedule in force: ``auto`` is the objective's own (`Objective.auto_lr_schedule`: plateau with
        the negatives, constant with the seed's objective)."""
        if self.lr_schedule == "auto":
            return components.get("objective", self.objective).auto_lr_schedule
        return self.lr_schedule

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"a run configuration is a JSON object, not {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**data)

    def replace(self, **changes) -> "TrainConfig":
        """`dataclasses.replace` that names an unknown key instead of a TypeError deep inside."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def save(self, path) -> None:
        """Write config.json atomically."""
        from .files import atomic_write_json

        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "TrainConfig":
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path} cannot be read as a run configuration ({e.__class__.__name__})") from None
        try:
            return cls.from_dict(data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None


if TYPE_CHECKING:  # made at run time from the registry (`train_config`): to a reader, a RunConfig and more
    TrainConfig = RunConfig


def field_choices(f: dataclasses.Field) -> tuple | None:
    """A field's allowed values (a component kind's registered names where the choices name a kind), or None."""
    choices = f.metadata.get("choices")
    return components.names(choices) if isinstance(choices, str) else choices


def applies(values, name: str) -> bool:
    """Whether setting ``name`` takes effect with these values (a `TrainConfig` or a field -> value mapping):
    a component's knob only while its kind's field names a component that declares it, a ``when`` field
    only while its condition holds."""
    condition = _condition(name)
    if condition is None:
        return True
    get = values.get if isinstance(values, dict) else (lambda key, default=None: getattr(values, key, default))
    other, allowed = condition
    return get(other, config_fields()[other].default) in allowed


def config_fields() -> dict[str, dataclasses.Field]:
    """`TrainConfig`'s fields by name, the components' knobs included."""
    return {f.name: f for f in fields(train_config())}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@functools.cache
def train_config() -> type:
    """`TrainConfig`: `RunConfig` plus a field for every knob the registered components declare (made once,
    on first use; ``from naomi_nb.config import TrainConfig`` asks for it)."""
    own = {f.name for f in fields(RunConfig)}
    extra = []
    for name, setting in components.settings().items():
        if components.KINDS[setting.kind].field is None:
            continue  # the measures' knobs are the analysis's, not training's
        if name in own:
            raise ImportError(f"{setting.kind} {setting.owners[0]!r} declares a knob {name!r} that every run has")
        k = setting.knob
        metadata = {"help": k.help, "knob": k, "kind": setting.kind}
        if k.choices is not None:
            metadata["choices"] = k.choices
        extra.append((name, type(k.default), field(default=k.default, metadata=metadata)))
    cls = dataclasses.make_dataclass("TrainConfig", extra, bases=(RunConfig,), frozen=True)
    cls.__module__, cls.__qualname__ = __name__, "TrainConfig"
    cls.__doc__ = ("Every training knob: `RunConfig`'s and each registered component's own (`naomi_nb.components`). "
                   "Checked when made: a config that exists is one the trainer can honour.")
    globals()["TrainConfig"] = cls
    return cls


def __getattr__(name: str):
    if name == "TrainConfig":
        return train_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# "never" for --checkpoint-seconds: a finite stand-in (config.json is strict JSON), longer than any run
NEVER_SECONDS = 1e9
MAX_VAL_FRACTION = 0.5  # more would hold out more edges than it trains on
# sizes no tensor library takes (2**70) are refused here in one line; below them the memory check speaks
MAX_WIDTH = 2**31 - 1


def _float_flag(name: str):
    """The argparse type of a float flag: a number, or ``never`` for --checkpoint-seconds (`NEVER_SECONDS`).
    Infinities and NaN pass through to `TrainConfig.validate`, which refuses them in one line."""
    def parse(text: str) -> float:
        if name == "checkpoint_seconds" and text.strip().lower() == "never":
            return NEVER_SECONDS
        return float(text)
    parse.__name__ = "number"  # argparse's "invalid number value: 'abc'"
    return parse


def _check_type(f: dataclasses.Field, value) -> None:
    """The value's type is the field's (an int is a float too; None only where the default is None)."""
    default = f.default
    flag = "--" + f.name.replace("_", "-")
    if default is None:
        ok = value is None or isinstance(value, str)
    elif isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"{flag} must be {'a string' if default is None else type(default).__name__} "
                          f"(got {value!r})")
    if isinstance(default, float) and not (abs(value) < 1e300 if isinstance(value, int) else math.isfinite(value)):
        never = " (use 'never' for no checkpoints until the end)" if f.name == "checkpoint_seconds" else ""
        got = value if isinstance(value, float) else "an integer beyond 1e300"
        raise ConfigError(f"{flag} must be a finite number (got {got}){never}")
    choices = None if "knob" in f.metadata else field_choices(f)  # a knob checks its own (`validate`)
    if choices and value not in choices:
        raise ConfigError(f"{flag} must be one of {', '.join(choices)} (got {value!r})")


# The seed's three recommended commands (TRAINING_FEATURES.md, "Recommended Training Command").
PRESETS: dict[str, dict] = {
    "conservative": dict(dynamic_dims=True, embedding_dim=128, max_dims=512, expand_interval=5, expand_by=32,
                         batch_size=1048576, patience=10, min_delta=0.0001, epochs=100, lr=0.01),
    "aggressive": dict(dynamic_dims=True, embedding_dim=128, max_dims=512, expand_interval=2, expand_by=64,
                       batch_size=1048576, patience=5, min_delta=0.0001, epochs=100, lr=0.01),
    "fixed": dict(dynamic_dims=False, embedding_dim=512, batch_size=524288, patience=10, epochs=100, lr=0.01),
}

# Notebook defaults by device: the seed's aggressive recipe on full WordNet on CUDA; elsewhere the same
# recipe shrunk to the mammal subgraph (2,358 senses below mammal.n.01, a few seconds on 2 CPU cores) with
# batches small enough that an epoch takes several steps, so runs expand, adapt the batch and stop early.
# the notebooks end with make run's stage: the sparse overcomplete code of the trained vectors (docs/quality.md)
GPU_DEFAULTS: dict = dict(PRESETS["aggressive"], training_data="data/wordnet_training", stage="sparse-code")
CPU_DEFAULTS: dict = dict(dynamic_dims=True, embedding_dim=32, max_dims=128, expand_interval=2, expand_by=16,
                          batch_size=2048, min_batch_size=256, epochs=60, patience=5, min_delta=0.0001, lr=0.01,
                          training_data="data/wordnet_mammals", stage="sparse-code")
# how a preset shrinks on a CPU: epochs and batch capped (the mammal graph has 11,214 training edges), a
# quarter of the dims
CPU_PRESET_LIMITS = dict(epochs=60, batch_size=2048, min_batch_size=256, dim_divisor=4)


def scale_for_cpu(values: dict) -> dict:
    """A preset shrunk to a CPU-sized run: epochs and batch capped, dims divided (expansion shape kept)."""
    lim = CPU_PRESET_LIMITS
    out = dict(values)
    if "epochs" in out:
        out["epochs"] = min(out["epochs"], lim["epochs"])
    if "batch_size" in out:
        out["batch_size"] = min(out["batch_size"], lim["batch_size"])
        out["min_batch_size"] = min(out.get("min_batch_size", lim["min_batch_size"]), lim["min_batch_size"])
    for key in ("embedding_dim", "max_dims", "expand_by"):
        if key in out:
            out[key] = max(8, out[key] // lim["dim_divisor"])
    return out


def device_presets(kind: str) -> dict[str, dict]:
    """`PRESETS` as the seed wrote them on CUDA (``kind`` "cuda", as `naomi_nb.device.kind` answers); on any
    other device each one scaled by `scale_for_cpu`."""
    if kind == "cuda":
        return {name: dict(values) for name, values in PRESETS.items()}
    return {name: scale_for_cpu(values) for name, values in PRESETS.items()}


def resolve(overrides: dict | None = None, preset: str | None = None, defaults_for: str | None = None) -> TrainConfig:
    """The one way to a `TrainConfig`: defaults -> device defaults -> preset -> overrides, checked once.

    Args:
        overrides: field -> value, the last word (CLI flags, notebook parameters); unknown fields are an error.
        preset: a name of `PRESETS`, or None.
        defaults_for: the notebooks' layer, a device kind (`naomi_nb.device.kind`: "cuda" or "cpu"):
            `GPU_DEFAULTS` on CUDA, `CPU_DEFAULTS` otherwise, with the preset scaled down off CUDA
            (`device_presets`). None (the CLI) keeps the seed's defaults on any device.

    Raises:
        ConfigError: one line, for an unknown preset or field, or a value the trainer refuses.
    """
    overrides = dict(overrides or {})
    values: dict = {}
    presets = PRESETS
    if defaults_for is not None:
        values.update(GPU_DEFAULTS if defaults_for == "cuda" else CPU_DEFAULTS)
        presets = device_presets(defaults_for)
    if preset:
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r} (choose from {', '.join(presets)})")
        values.update(presets[preset])
    values.update(overrides)
    return train_config()().replace(**values)


RESUMABLE_CHANGES = ("epochs", "patience", "device", "analyze")


def resolve_resume(saved: TrainConfig, changes: dict) -> TrainConfig:
    """A resumed run's config: its own, with only `RESUMABLE_CHANGES` taken from ``changes``."""
    other = sorted(set(changes) - set(RESUMABLE_CHANGES))
    if other:
        raise ConfigError("with --resume only --epochs, --patience, --device and --[no-]analyze can change "
                          f"(got --{other[0].replace('_', '-')})")
    return saved.replace(**changes)


# ---------------------------------------------------------------- CLI mapping

class RegistryChoices:
    """argparse ``choices`` read from a component kind's registry when a value is checked or help is shown."""

    def __init__(self, kind: str):
        self.kind = kind

    def __contains__(self, value) -> bool:
        return value in components.names(self.kind)

    def __iter__(self):
        return iter(components.names(self.kind))


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per `TrainConfig` field: ``--embedding-dim`` for ``embedding_dim``; defaults shown in --help.
    The components' knobs come in a group per kind, each group naming its components and what they are."""
    cls = train_config()
    groups = {kind: parser.add_argument_group(f"{k.label} settings", _kind_help(kind))
              for kind, k in components.KINDS.items() if k.field is not None}
    for f in fields(cls):
        kind = f.metadata.get("kind")
        target = parser if kind is None else groups[kind]
        flag = _flag(f.name)
        text = f.metadata["help"].replace("%", "%%")
        if isinstance(f.default, bool):
            target.add_argument(flag, dest=f.name, action=_Switch, default=None,
                                help=f"{text} (default: {'on' if f.default else 'off'})")
        else:
            kind_of = {int: int, float: _float_flag(f.name)}.get(type(f.default), str)
            choices = f.metadata.get("choices")
            lazy = isinstance(choices, str)
            target.add_argument(flag, dest=f.name, type=kind_of, default=None,
                                choices=RegistryChoices(choices) if lazy else choices,
                                metavar="NAME" if lazy else None if choices else f.name.upper(),
                                help=text if f.default is None else f"{text} (default: {f.default})")
    parser.add_argument("--preset", choices=list(PRESETS), default=None,
                        help="the seed's recommended settings, listed under 'presets' at the end; explicit "
                             "flags override them")


def _kind_help(kind: str) -> str:
    """A --help group's description: each registered component of a kind with its one-line summary."""
    lines = [f"--{components.KINDS[kind].field.replace('_', '-')} NAME picks one:"]
    for name, c in components.registry(kind).items():
        lines += textwrap.wrap(f"{name}: {components.summary(c)}", 77, initial_indent="  ",
                               subsequent_indent="      ", break_on_hyphens=False)
    return "\n".join(lines).replace("%", "%%")


def preset_help(width: int = 79) -> str:
    """The 'presets' block of ``train --help``, written from `PRESETS`: each preset as the flags it sets."""
    def flag(name, value):
        name = name.replace("_", "-")
        if isinstance(value, bool):
            return f"--{name}" if value else f"--no-{name}"
        return f"--{name} {value:g}" if isinstance(value, float) else f"--{name} {value}"

    pad = max(map(len, PRESETS)) + 4
    lines = ["presets (--preset NAME; explicit flags override them):"]
    for name, values in PRESETS.items():
        text = " ".join(flag(k, v).replace(" ", "\0") for k, v in values.items())  # never break inside a flag
        body = textwrap.wrap(text, width - pad, break_on_hyphens=False)
        lines += [f"  {name:<{pad - 2}}{line}" if k == 0 else " " * pad + line for k, line in enumerate(body)]
    return "\n".join(lines).replace("\0", " ")


def explicit_args(args: argparse.Namespace) -> dict:
    """The `TrainConfig` fields given on the command line (every flag defaults to None)."""
    return {f.name: getattr(args, f.name) for f in fields(train_config())
            if getattr(args, f.name, None) is not None}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults <- preset <- explicit flags. (A resumed run's config: `naomi_nb.rundir.resume_config`.)"""
    return resolve(explicit_args(args), getattr(args, "preset", None))


class _Switch(argparse.BooleanOptionalAction):
    """``--x`` / ``--no-x`` that remembers being given both ways (argparse keeps the last one silently):
    the value becomes `BOTH_WAYS`, which `check_explicit` refuses."""

    def __call__(self, parser, namespace, values, option_string=None):
        previous = getattr(namespace, self.dest, None)
        super().__call__(parser, namespace, values, option_string)
        if previous is not None and previous != getattr(namespace, self.dest):
            setattr(namespace, self.dest, BOTH_WAYS)


BOTH_WAYS = "both ways"  # a switch given as --x and --no-x (a string: validate refuses it as not a bool too)


def _condition(name: str) -> tuple[str, tuple] | None:
    """The field and values under which setting ``name`` takes effect (see `applies`), or None: always."""
    return components.condition(name) or config_fields()[name].metadata.get("when")


def _spell(name: str, values: tuple) -> str:
    flag = name.replace("_", "-")
    if all(isinstance(v, bool) for v in values):
        return " or ".join(f"--{'' if v else 'no-'}{flag}" for v in values)
    return f"--{flag} " + "|".join(map(str, values))


def check_switches(given: dict) -> None:
    """Refuse a switch given both ways (``--dynamic-dims --no-dynamic-dims``) in one line (`ConfigError`)."""
    for name, value in given.items():
        if value == BOTH_WAYS:
            flag = name.replace("_", "-")
            raise ConfigError(f"--{flag} and --no-{flag} are both given: keep the one you mean")


def check_explicit(given: dict, preset: str | None = None) -> list[str]:
    """The command line's own contradictions, before the config is made.

    Refused (`ConfigError`, one line): a switch given both ways (``--dynamic-dims --no-dynamic-dims``); a
    width step below 1 (``--expand-by -8``), whether or not dynamic dimensions are on; a setting whose
    condition the same command line sets otherwise (``--objective seed --negatives 5``, ``--sparsity-mode
    seed --proximal-strength 5``): two flags that ask for opposite things.
    Warned about (returned, one line each): a setting whose condition is left at its default or preset
    (``--max-dims 600`` without ``--dynamic-dims``): the run is what the defaults say, the flag is inert.

    Args:
        given: the explicit flags, field -> value (`explicit_args`).
        preset: the preset named on the command line, or None.
    Returns:
        the warning lines (without the ``warning:`` prefix).
    """
    check_switches(given)
    for name in ("expand_by", "expand_interval"):
        if name in given and given[name] < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1 (got {given[name]})")
    values = {**PRESETS.get(preset or "", {}), **given}
    warnings = []
    for name in given:
        condition = _condition(name)
        if condition is None or applies(values, name):
            continue
        other, allowed = condition
        flag, needs = "--" + name.replace("_", "-"), _spell(other, allowed)
        if other in given:
            raise ConfigError(f"{flag} takes effect only with {needs}, and the command line says "
                              f"{_spell(other, (given[other],))}: leave {flag} out or change the other")
        warnings.append(f"{flag} takes no effect without {needs} (ignored)")
    return warnings
