"""A post-training stage applied to a finished run (``python -m naomi_nb sparsify RUN``): its trained vectors
made into the stage's (a sparse code) in a new run directory, which ``analyze`` then measures like any run.

The new directory holds what a run directory holds for a reader: config.json (the source's, with ``stage``
and the stage's knobs set), graph.json and history.jsonl (the source's: the same graph, the same training),
embeddings.npy (the stage's vectors), vocabulary.json, and metrics.json (the source's, with the new width and
a ``stage`` entry naming the source run). It has no checkpoints: it trains no further; its source does.

Everything is checked before anything is written: the source run (its config, vectors and vocabulary),
the flags, the output directory; the stage then runs, and only then is the new directory made.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from . import Stage, stage_entry

DEFAULT_STAGE = "sparse-code"


@dataclass
class Plan:
    """What `sparsify` will do, every input checked: the source run, the new config, the vectors the stage
    reads, and the directory it will write."""

    run: object  # naomi_nb.rundir.Run
    cfg: object  # naomi_nb.config.TrainConfig
    vectors: np.ndarray
    output_dir: Path


def stage_fields() -> list:
    """`TrainConfig`'s fields that the stages declare (their knobs), in declaration order."""
    from ..config import train_config

    return [f for f in fields(train_config()) if f.metadata.get("kind") == "stage"]


def add_stage_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stage`` and one flag per stage knob (``--sparse-code-dims``), every default None (unset: the
    stage's own), as ``train`` has them."""
    from ..config import RegistryChoices

    parser.add_argument("--stage", choices=RegistryChoices("stage"), metavar="NAME", default=None,
                        help=f"the stage to apply (default: {DEFAULT_STAGE})")
    group = parser.add_argument_group("stage settings (default: the stage's own)")
    for f in stage_fields():
        flag, text = "--" + f.name.replace("_", "-"), f.metadata["help"].replace("%", "%%")
        choices = f.metadata["knob"].allowed()
        if isinstance(f.default, bool):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                               help=f"{text} (default: {'on' if f.default else 'off'})")
        else:
            group.add_argument(flag, dest=f.name, type=type(f.default), choices=choices, default=None,
                               metavar=None if choices else f.name.upper(), help=f"{text} (default: {f.default})")


def given_settings(args: argparse.Namespace) -> dict:
    """The stage and its knobs as the command line gives them (``stage`` always: its default when unset)."""
    given = {f.name: getattr(args, f.name) for f in stage_fields() if getattr(args, f.name, None) is not None}
    return {"stage": args.stage or DEFAULT_STAGE, **given}


def default_output_dir(source: Path, stage: str) -> Path:
    """``SOURCE-STAGE`` beside the source run (``-2``, ``-3`` ... when that one holds a run already)."""
    from ..rundir import holds_run

    base = source.parent / f"{source.name}-{stage}"
    path, n = base, 1
    while path.exists() and (holds_run(path) or not path.is_dir()):
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def trained_vectors(run) -> np.ndarray:
    """The source run's trained vectors: embeddings.npy, or best.pt's matrix where a stage made embeddings.npy.

    Raises:
        RunDirError: one line, for a run whose vectors a stage made and which has no trained ones (one
            written by `sparsify`: its source has them).
    """
    from ..rundir import BEST, CHECKPOINTS, RunDirError, checkpoint_path, load_best

    stage = run.metrics.get("stage")
    if not isinstance(stage, dict):
        return run.embeddings
    if stage.get("source_run") or not checkpoint_path(run.run_dir, BEST).is_file():
        source = stage.get("source_run")
        raise RunDirError(f"{run.run_dir} holds the {stage.get('name', 'stage')} vectors, not trained ones (it has "
                          f"no {CHECKPOINTS}/{BEST})" + (f": sparsify {source} instead" if source else ""))
    return load_best(run.run_dir)["embeddings"].numpy()


def plan(source, settings: dict, output_dir=None, device: str | None = None) -> Plan:
    """Check everything `sparsify` needs and write nothing.

    Args:
        source: the run directory whose vectors the stage reads.
        settings: ``stage`` and the stage's knobs (`given_settings`).
        output_dir: the new run directory (default: `default_output_dir`).
        device: where the stage runs (default: the source's ``device`` setting).

    Raises:
        RunDirError, ConfigError, GraphError: one line each, for a missing or damaged source, an untrained
            one, flags the stage refuses, or an output directory that holds a run or is not a directory.
    """
    from .. import components
    from .. import record as R
    from ..config import ConfigError, TrainConfig, check_explicit
    from ..rundir import RunDirError, holds_run, load_run

    from ..device import pick

    settings = dict(settings)
    check_explicit(settings)  # refuses a knob of a stage other than --stage, in one line
    if components.get("stage", settings["stage"]).apply is Stage.apply:
        raise ConfigError(f"--stage {settings['stage']} keeps the vectors as they are: nothing to make")
    TrainConfig().replace(**settings)  # the flags' values, checked before the run is read
    if device is not None:
        pick(device)
    source = Path(source)
    run = load_run(source)
    if not R.trained(run.metrics):
        raise RunDirError(f"{source} holds no trained model (no epoch finished with a finite validation loss), "
                          "so its vectors are the initial random values")
    try:
        base = TrainConfig.from_dict(run.config)
    except ConfigError as err:
        raise RunDirError(f"{source / 'config.json'}: {err}") from None
    if device is not None:
        settings["device"] = device
    out = Path(output_dir) if output_dir is not None else default_output_dir(source, settings["stage"])
    cfg = base.replace(**settings, output_dir=str(out))
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out} exists and is not a directory")
    if holds_run(out):
        raise RunDirError(f"{out} already holds a run; choose another --output-dir")
    return Plan(run, cfg, trained_vectors(run), out)


def write(p: Plan, vectors: np.ndarray, seconds: float, made_by: Stage) -> Path:
    """The new run directory (made and locked here): config, graph info, history, vectors, vocabulary, metrics
    (with what the stage ``made_by`` named)."""
    from .. import rundir
    from ..files import atomic_write_bytes

    src = p.run.run_dir
    path, lock = rundir.new_run_dir(str(p.output_dir))
    try:
        p.cfg.replace(output_dir=str(path)).save(path / rundir.CONFIG)
        if (src / rundir.GRAPH_INFO).is_file():
            rundir.write_checked(path / rundir.GRAPH_INFO, (src / rundir.GRAPH_INFO).read_bytes())
        elif p.run.graph is not None:
            rundir.save_graph_info(path, p.run.graph, p.cfg.training_data)
        if (src / rundir.HISTORY).is_file():
            atomic_write_bytes(path / rundir.HISTORY, (src / rundir.HISTORY).read_bytes())
        sparse_bytes = rundir.write_results(path, vectors, p.run.vocab, p.cfg.embedding_dim, p.cfg.dynamic_dims)
        stage = stage_entry(made_by, p.vectors, vectors, seconds, source_run=str(src.resolve()))
        metrics = {**p.run.metrics, "final_dims": int(vectors.shape[1]), "embeddings_bytes": int(vectors.nbytes),
                   "sparse_bytes": sparse_bytes, "stage": stage}
        rundir.write_metrics(path, metrics)
    finally:
        lock.release()
    return path


def sparsify(source, settings: dict, output_dir=None, device: str | None = None, analyze: bool = True,
             log=print) -> Path:
    """Apply a stage to a finished run's trained vectors, write them as a new run directory, analyse it.

    Args:
        source: the run directory.
        settings: ``stage`` and the stage's knobs (default: the stage's own).
        output_dir: the new run directory (default: ``SOURCE-STAGE`` beside the source).
        device: where the stage runs (default: the source's ``device`` setting: auto = CUDA when present).
        analyze: write the new run's report.json, summary.txt and figures.
        log: where the progress lines go.

    Returns:
        The new run directory.

    Raises:
        RunDirError, ConfigError, GraphError, DeviceError: one line, before anything is written (`plan`).
    """
    from .. import components
    from ..device import pick

    p = plan(source, settings, output_dir, device)
    dev = pick(p.cfg.device)
    log(f"sparsify {p.run.run_dir}: {p.vectors.shape[0]:,} x {p.vectors.shape[1]} trained vectors, "
        f"stage {p.cfg.stage} -> {p.output_dir}")
    t0 = time.perf_counter()
    stage = components.get("stage", p.cfg.stage)(p.cfg)
    vectors = np.ascontiguousarray(stage.apply(p.vectors, p.run.graph, dev, log=log), dtype=np.float32)
    seconds = time.perf_counter() - t0
    path = write(p, vectors, seconds, stage)
    log(f"  wrote {path}: {vectors.shape[0]:,} x {vectors.shape[1]}, "
        f"{np.count_nonzero(vectors == 0) / vectors.size:.1%} exact zeros ({seconds:.0f} s)")
    if analyze:
        from ..report import analyze_run

        analyze_run(path, graph=p.run.graph, log=log)
    return path


__all__ = ["DEFAULT_STAGE", "Plan", "add_stage_arguments", "default_output_dir", "given_settings", "plan",
           "sparsify", "trained_vectors", "write"]
