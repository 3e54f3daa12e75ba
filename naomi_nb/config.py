"""`TrainConfig`: every training knob, its default, the presets and the CLI mapping."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass, fields


class ConfigError(ValueError):
    """A configuration the trainer refuses; the message is one line for the user."""


@dataclass
class TrainConfig:
    # data and run directory
    training_data: str = "data/wordnet_training"  # graph directory (ours or NAOMI-II's training_edges.pkl)
    output_dir: str | None = None  # run directory; None -> runs/<timestamp>
    unsupervised: bool = True  # accepted for NAOMI-II compatibility: distance + sparsity is what we train
    val_fraction: float = 0.1  # share of edges held out for validation
    # model width and dynamic dimensions
    embedding_dim: int = 128  # starting number of dimensions
    dynamic_dims: bool = False  # grow dimensions when the existing ones saturate
    max_dims: int = 512  # ceiling for dynamic expansion
    expand_interval: int = 2  # check for saturation every N epochs
    expand_by: int = 64  # dimensions added per expansion
    saturation_threshold: float = 0.3  # a dimension is saturated when active in this share of words
    activity_eps: float = 1e-6  # |x| above this counts as active
    prune: bool = False  # drop never-active dimensions at the end of training
    optimizer_on_expand: str = "carry"  # carry: keep Adam moments of old columns; reset: new Adam (the seed's)
    # optimisation
    epochs: int = 100  # upper bound; early stopping usually ends sooner
    batch_size: int = 1048576  # initial batch size (edges per step)
    min_batch_size: int = 32768  # floor for the adaptive batch size
    lr: float = 0.01  # Adam learning rate
    sparsity_mode: str = "seed"  # seed: sparsity_weight * mean|E| in the loss; proximal: soft-threshold after each step
    sparsity_weight: float = 0.001  # weight of the L1 term in the loss (seed mode; reported in both)
    proximal_strength: float = 0.1  # proximal mode: after each step every value moves this fraction of lr toward 0
    init_scale: float = 0.01  # std of the random initial values
    expand_init_scale: float = 0.001  # std of columns added by an expansion (smaller than init: see README)
    patience: int = 10  # stop after N epochs without improvement of validation loss
    min_delta: float = 0.0001  # improvement smaller than this does not count
    seed: int = 0  # seeds the split, the init, the shuffles
    device: str = "auto"  # auto: cuda if present, else mps, else cpu
    checkpoint_seconds: float = 60.0  # write last.pt/best.pt at most this often (0: every epoch); always at the end
    analyze: bool = True  # write report.json and figures at the end

    def validate(self) -> "TrainConfig":
        """Raise `ConfigError` (one line) for values the trainer cannot honour."""
        checks = [
            (self.patience >= 0, f"--patience must be >= 0 (got {self.patience})"),
            (self.min_delta >= 0, f"--min-delta must be >= 0 (got {self.min_delta})"),
            (self.epochs >= 1, f"--epochs must be >= 1 (got {self.epochs})"),
            (self.batch_size >= 1, f"--batch-size must be >= 1 (got {self.batch_size})"),
            (self.min_batch_size >= 1, f"--min-batch-size must be >= 1 (got {self.min_batch_size})"),
            (self.embedding_dim >= 1, f"--embedding-dim must be >= 1 (got {self.embedding_dim})"),
            (self.lr > 0, f"--lr must be > 0 (got {self.lr})"),
            (self.sparsity_weight >= 0, f"--sparsity-weight must be >= 0 (got {self.sparsity_weight})"),
            (self.proximal_strength >= 0, f"--proximal-strength must be >= 0 (got {self.proximal_strength})"),
            (0 <= self.val_fraction < 1, f"--val-fraction must be in [0, 1) (got {self.val_fraction})"),
            (0 < self.saturation_threshold <= 1, f"--saturation-threshold must be in (0, 1] (got {self.saturation_threshold})"),
            (self.init_scale > 0 and self.expand_init_scale > 0, "--init-scale and --expand-init-scale must be > 0"),
            (self.activity_eps >= 0, f"--activity-eps must be >= 0 (got {self.activity_eps})"),
            (self.checkpoint_seconds >= 0, f"--checkpoint-seconds must be >= 0 (got {self.checkpoint_seconds})"),
            (self.sparsity_mode in SPARSITY_MODES, f"--sparsity-mode must be one of {', '.join(SPARSITY_MODES)} (got {self.sparsity_mode!r})"),
            (self.optimizer_on_expand in ("carry", "reset"), f"--optimizer-on-expand must be carry or reset (got {self.optimizer_on_expand!r})"),
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
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**data)

    def replace(self, **changes) -> "TrainConfig":
        """`dataclasses.replace` that names an unknown key instead of a TypeError deep inside."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def save(self, path) -> None:
        """Write config.json through a temporary file and a rename."""
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.to_dict(), f, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path) -> "TrainConfig":
        try:
            with open(path) as f:
                return cls.from_dict(json.load(f))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, TypeError) as e:
            raise ConfigError(f"{path} cannot be read as a run configuration ({e.__class__.__name__})") from None


SPARSITY_MODES = ("seed", "proximal")

# The seed's three recommended commands (TRAINING_FEATURES.md, "Recommended Training Command").
PRESETS: dict[str, dict] = {
    "conservative": dict(dynamic_dims=True, embedding_dim=128, max_dims=512, expand_interval=5, expand_by=32,
                         batch_size=1048576, patience=10, min_delta=0.0001, epochs=100, lr=0.01),
    "aggressive": dict(dynamic_dims=True, embedding_dim=128, max_dims=512, expand_interval=2, expand_by=64,
                       batch_size=1048576, patience=5, min_delta=0.0001, epochs=100, lr=0.01),
    "fixed": dict(dynamic_dims=False, embedding_dim=512, batch_size=524288, patience=10, epochs=100, lr=0.01),
}


def apply_preset(cfg: TrainConfig, name: str | None) -> TrainConfig:
    if not name:
        return cfg
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return cfg.replace(**PRESETS[name])


# ---------------------------------------------------------------- CLI mapping

FLAG_HELP = {
    "training_data": "graph directory from prepare-wordnet, or a NAOMI-II dir with training_edges.pkl",
    "output_dir": "run directory to create (default: runs/<date-time>)",
    "unsupervised": "accepted for NAOMI-II compatibility; distance + sparsity is the objective we train",
    "val_fraction": "share of edges held out for validation",
    "embedding_dim": "starting number of dimensions",
    "dynamic_dims": "add dimensions when the existing ones saturate",
    "max_dims": "maximum number of dimensions with --dynamic-dims",
    "expand_interval": "check saturation every N epochs",
    "expand_by": "number of dimensions to add each expansion",
    "saturation_threshold": "a dimension counts as saturated when active in at least this share of words; "
                            "expansion fires when >= 80%% of dimensions are saturated",
    "activity_eps": "a value counts as active when |x| > this",
    "prune": "drop unused dimensions at the end of training",
    "optimizer_on_expand": "after an expansion: carry the old columns' Adam moments, or reset Adam (the seed)",
    "epochs": "maximum number of epochs",
    "batch_size": "initial batch size in edges; adapts as dimensions grow",
    "min_batch_size": "floor of the adaptive batch size",
    "lr": "Adam learning rate",
    "sparsity_mode": "seed: add sparsity_weight*mean|E| to the loss; proximal: soft-threshold after every step "
                     "(exact zeros)",
    "sparsity_weight": "weight of the L1 term sparsity_weight*mean|E| added to the loss in seed mode "
                       "(the Sparsity loss figure uses it in both modes)",
    "proximal_strength": "proximal mode: after every Adam step each value moves proximal_strength*lr toward 0 and "
                         "stops at exactly 0; a value survives only if its gradient keeps earning more than this "
                         "fraction of a full Adam step",
    "init_scale": "standard deviation of the initial values",
    "expand_init_scale": "standard deviation of the values in columns added by an expansion (they add "
                         "sqrt(2*k)*this to every distance at once)",
    "patience": "stop after N epochs without validation improvement",
    "min_delta": "minimum decrease of validation loss that counts as improvement",
    "seed": "random seed (split, initialisation, shuffling)",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "checkpoint_seconds": "write last.pt (resumable state) and best.pt at most every N seconds, 0 = every epoch; "
                          "always when training ends",
    "analyze": "write report.json and figures when training ends",
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per `TrainConfig` field: ``--embedding-dim`` for ``embedding_dim``; defaults shown in --help."""
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        text = FLAG_HELP[f.name]
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{text} (default: {'on' if default else 'off'})")
        else:
            kind = {int: int, float: float}.get(type(default), str)
            choices = {"sparsity_mode": SPARSITY_MODES, "optimizer_on_expand": ("carry", "reset")}.get(f.name)
            parser.add_argument(flag, dest=f.name, type=kind, default=None, choices=choices, metavar=None if choices else f.name.upper(),
                                help=text if default is None else f"{text} (default: {default})")
    parser.add_argument("--preset", choices=list(PRESETS), default=None,
                        help="the seed's recommended settings; explicit flags override it")


def explicit_args(args: argparse.Namespace) -> dict:
    """The `TrainConfig` fields given on the command line (every flag defaults to None)."""
    return {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}


RESUMABLE_CHANGES = ("epochs", "patience", "device")


def config_from_args(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """Defaults <- preset <- explicit flags; for ``--resume``: the run's own config <- the flags it may change."""
    if getattr(args, "resume", None):
        given = explicit_args(args)
        other = sorted(set(given) - set(RESUMABLE_CHANGES)) + (["preset"] if args.preset else [])
        if other:
            raise ConfigError("with --resume only --epochs, --patience and --device can change "
                              f"(got --{other[0].replace('_', '-')})")
        from .checkpoint import check_resumable

        run = check_resumable(args.resume)
        return TrainConfig.load(run / "config.json").replace(**given).validate()
    cfg = apply_preset(base or TrainConfig(), getattr(args, "preset", None))
    return cfg.replace(**explicit_args(args)).validate()
