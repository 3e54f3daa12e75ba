"""Hyperparameter search with Optuna: a declared search space, pruning from the per-epoch records, any storage.

A study is an Optuna study; each trial is an ordinary training run in ``<study dir>/trial-<number>``
(its absolute path and host are trial attributes), so every trial can be analysed, exported, resumed
and compared in TensorBoard like any other run.

- Search space: `Param` per `TrainConfig` field, parsed from ``lr=1e-3:1e-1:log`` (a range, optionally
  on a log scale) or ``expand_by=16,32,64`` (choices), or from a plain dict in a notebook
  (``{"lr": (1e-3, 1e-1, "log"), "expand_by": [16, 32, 64]}``).
- Objective: the run's own measures (`OBJECTIVES`): the best validation loss (default, minimised) or
  the held-out hypernym MRR of the analysis (maximised).
- Pruning: `PruningCallback` reports each epoch's validation loss to the trial; when Optuna's pruner
  says the trial is hopeless it sets the trainer's ``stop_event``, the run ends cleanly at the next
  batch boundary (its directory stays valid and resumable) and the trial is marked PRUNED.
- Storage: an SQLite file in the study directory by default; any SQLAlchemy URL (PostgreSQL) lets
  several processes or machines work on one study. Optuna's heartbeat marks the trial of a worker that
  died as failed after a grace period and queues a retry with the same parameters; a worker that starts
  on the machine of a dead worker (its process gone) does so at once. The retry resumes the dead trial's
  run directory from its last checkpoint, keeping the epochs already reported to the pruner.
- A seeded sampler (``seed``) is seeded with ``seed`` plus the number of trials the study already holds, so
  a rerun draws new parameters rather than the first trials' again.
- ``n_trials`` is the study's total: a worker starts no trial once the study holds that many
  finished or running trials, so several workers together stop at the requested number.
"""
from __future__ import annotations

import math
import os
import random
import socket
import threading
import time
import warnings
from pathlib import Path

from . import record as R
from .config import ConfigError, TrainConfig
from .fmt import fmt_value
from .project import runs_dir

from .space import NOT_SEARCHABLE, Param, make_param, parse_param, parse_space  # noqa: F401 - the space's names


# ---------------------------------------------------------------- objectives and pruning


def _best_val(result, graph) -> float:
    return float(result.metrics["best_val"])


def _hypernym_mrr(result, graph) -> float:
    from .analysis import validation_metrics

    cfg = TrainConfig.load(Path(result.run_dir) / "config.json")
    _, val_idx = graph.split(cfg.seed, cfg.val_fraction)
    mrr = validation_metrics(result.embeddings, graph, val_idx, ranking_sample=1000, seed=cfg.seed)["hypernym_ranking"]["mrr"]
    if mrr is None:
        raise ConfigError("--metric hypernym_mrr: the graph has no held-out hypernym edges")
    return float(mrr)


# name -> (direction, measure(result, graph), per-epoch record key the pruner watches or None)
OBJECTIVES = {
    "val_loss": ("minimize", _best_val, "val_total"),
    "hypernym_mrr": ("maximize", _hypernym_mrr, None),  # measured after training: no per-epoch value to prune on
}


class PruningCallback:
    """Per-epoch ``cb(record)``: reports ``record[key]`` to the trial and stops the run when Optuna prunes it.

    Stopping goes through the trainer's own ``stop_event``, so the run directory stays valid.
    ``pruned_at`` is the epoch at which the trial was pruned, or None.
    """

    def __init__(self, trial, stop_event: threading.Event, key: str = "val_total"):
        self.trial, self.stop_event, self.key = trial, stop_event, key
        self.pruned_at = None

    def __call__(self, record: dict) -> None:
        value = record.get(self.key)
        if value is None or not math.isfinite(value) or self.pruned_at is not None:
            return
        self.trial.report(float(value), int(record["epoch"]))
        if self.trial.should_prune():
            self.pruned_at = int(record["epoch"])
            self.stop_event.set()


class SurplusTrial(Exception):
    """A trial started by one worker while another filled the study's last place; it is marked failed."""


def _counted(study) -> list:
    import optuna

    S = optuna.trial.TrialState
    return study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED, S.RUNNING, S.WAITING))


def run_trial(trial, base: TrainConfig, space: list[Param], study_dir: Path, objective: str, graph,
              n_trials: int, tensorboard: bool = True) -> float:
    """Optuna's objective: one training run with the trial's parameters; returns the objective's value.

    Raises:
        optuna.TrialPruned: the pruner stopped the run (its directory stays valid).
        SurplusTrial: the study already had ``n_trials`` trials when this one started.
        KeyboardInterrupt: the run was interrupted (Ctrl-C): the search stops.
    """
    import optuna

    from .trainer import train

    earlier = [t for t in _counted(trial.study) if t.number < trial.number]
    if len(earlier) >= n_trials:
        trial.set_user_attr("surplus", True)
        raise SurplusTrial(f"trial {trial.number}: the study already has {n_trials} trials")
    params = {p.name: p.suggest(trial) for p in space}
    run_dir = (Path(study_dir) / f"trial-{trial.number}").resolve()
    cfg = base.replace(**params, output_dir=str(run_dir)).validate()
    resume = _resumable(trial.user_attrs.get("run_dir"), cfg)  # a retry continues its dead worker's run
    if resume:
        run_dir = resume
        trial.set_user_attr("resumed", True)
    trial.set_user_attr("run_dir", str(run_dir))
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    _, measure, key = OBJECTIVES[objective]
    stop = threading.Event()
    callbacks = []
    pruning = PruningCallback(trial, stop, key) if key else None
    if pruning:
        callbacks.append(pruning)
    if tensorboard:
        from .tensorboard import TensorBoardCallback

        callbacks.append(TensorBoardCallback(config={**cfg.to_dict(), "trial": trial.number}))
    with warnings.catch_warnings():
        # a resumed retry reports again the epochs it runs again (same values): Optuna keeps the first
        warnings.filterwarnings("ignore", message=".*is already reported")
        result = train(cfg, graph=graph, callbacks=callbacks, stop_event=stop, resume=resume)
    m = result.metrics
    for name in ("stopped", "epochs_run", "final_dims", "best_epoch"):
        trial.set_user_attr(name, m[name])
    trial.set_user_attr("minutes", round(m["minutes"], 3))
    if pruning and pruning.pruned_at is not None:
        trial.set_user_attr("pruned_at_epoch", pruning.pruned_at)
        raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_at}")
    if m["stopped"] == R.INTERRUPTED:
        raise KeyboardInterrupt
    return measure(result, graph)


def _resumable(run_dir: str | None, cfg: TrainConfig) -> Path | None:
    """The run directory of the trial a retry repeats (Optuna copies its attributes), when it can be resumed
    with the retry's settings; None otherwise (a fresh directory then)."""
    if not run_dir:
        return None
    from .rundir import CONFIG, RunDirError, check_resumable

    try:
        path = check_resumable(run_dir)
        saved = TrainConfig.load(path / CONFIG).to_dict()
    except (RunDirError, ConfigError):
        return None
    same = {k: v for k, v in saved.items() if k != "output_dir"} == {k: v for k, v in cfg.to_dict().items()
                                                                      if k != "output_dir"}
    return path if same else None


def _alive(pid) -> bool:
    """Whether a process with this id exists on this machine (one of another user counts as alive)."""
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: leave it to the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def fail_dead_local_trials(study) -> list[int]:
    """Mark FAIL, at once, the running trials of this machine whose worker process is gone (killed, crashed),
    and queue their retries, as Optuna's heartbeat does for any machine only after the grace period. So a
    rerun right after a kill neither counts the dead trial toward ``n_trials`` nor leaves it running.

    Returns:
        the numbers of the trials marked failed.
    """
    import copy

    import optuna

    storage, host, failed = study._storage, socket.gethostname(), []  # Optuna's fail_stale_trials uses the same
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = t.user_attrs
        if attrs.get("host") != host or attrs.get("pid") == os.getpid() or _alive(attrs.get("pid")):
            continue
        try:
            if storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL):
                failed.append(t)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker got there first
    getter = (getattr(storage, "get_heartbeat_stale_trial_callback", None)
              or getattr(storage, "get_failed_trial_callback", None))
    retry = getter() if getter else None
    for t in failed:
        if retry is not None:
            retry(study, copy.deepcopy(storage.get_trial(t._trial_id)))
    return [t.number for t in failed]


# ---------------------------------------------------------------- checks before the first trial

COMBINATIONS_TRIED = 4096  # a value is refused only when no combination of the others' values admits it
SEED_LIMIT = 2**32  # numpy's generators, which Optuna's samplers use, take seeds in [0, 2**32)


def _candidates(p: Param) -> tuple:
    """The values that bound what a trial may draw for ``p``: its choices, or both ends of its range."""
    return p.choices if p.choices is not None else (p.low, p.high)


def check_space(base: TrainConfig, params: list[Param]) -> None:
    """Refuse, before the first trial, a searched value no trial could train with: each choice and each end of
    a range is set on ``base``, with the other searched settings at their values in turn (so a value that
    needs another's, such as ``embedding_dim=600`` with ``max_dims=1024``, passes).

    Raises:
        ConfigError: one line naming the setting, the value and what the configuration says about it.
    """
    import itertools

    for p in params:
        others = [q for q in params if q is not p]
        for value in _candidates(p):
            first = None
            combos = itertools.product(*(_candidates(q) for q in others))
            for combo in itertools.islice(combos, COMBINATIONS_TRIED):
                try:
                    base.replace(**{q.name: v for q, v in zip(others, combo)}, **{p.name: value})
                    break
                except ConfigError as err:
                    first = first or err
            else:
                if first is not None and next(combos, None) is None:  # every combination tried, none admits it
                    raise ConfigError(f"--param {p.name}: {value} cannot be trained ({first})") from None


def check_search_settings(study_name: str, startup_trials: int, warmup_epochs: int, heartbeat: int,
                          grace: int | None, max_retry: int, seed: int | None) -> None:
    """The search's own settings (the command line checks them as it parses; a notebook's call here).

    Raises:
        ConfigError: one line naming the setting.
    """
    checks = [
        (isinstance(study_name, str) and study_name.strip() != "", "--study must name a study (got an empty name)"),
        (startup_trials >= 0, f"--pruner-startup-trials must be >= 0 (got {startup_trials})"),
        (warmup_epochs >= 0, f"--pruner-warmup-epochs must be >= 0 (got {warmup_epochs})"),
        (heartbeat >= 1, f"--heartbeat must be >= 1 (got {heartbeat})"),
        (grace is None or grace > heartbeat,
         f"--grace ({grace}) must be above --heartbeat ({heartbeat}): a live worker's trial would count as dead "
         "between two of its heartbeats"),
        (max_retry >= 0, f"--max-retry must be >= 0 (got {max_retry})"),
        (seed is None or 0 <= seed < SEED_LIMIT, f"--sampler-seed must be in [0, 2**32) (got {seed})"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


# ---------------------------------------------------------------- storage and study


NEW_STUDY = "study {name!r} is new: give its search space with --param NAME=LOW:HIGH[:log] or NAME=A,B"


def study_directory(study_name: str, study_dir: str | None = None) -> Path:
    """Where a study's trials (and its default SQLite file) live: ``study_dir``, else ``search-<study_name>``
    in `naomi_nb.project.runs_dir`."""
    return Path(study_dir) if study_dir else runs_dir() / f"search-{study_name}"


def storage_url(storage: str | None, study_dir: Path) -> str:
    """The SQLAlchemy URL: ``storage`` as given, or an SQLite file ``study.db`` in the study directory."""
    if storage:
        return storage
    study_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(study_dir / 'study.db').resolve()}"


def open_storage(url: str, heartbeat: int = 60, grace: int | None = None, max_retry: int = 1, attempts: int = 5):
    """An Optuna RDB storage with a heartbeat: a trial whose worker stopped beating for ``grace`` seconds
    is marked FAIL (by the next worker that starts a trial) and retried up to ``max_retry`` times.

    Raises:
        ConfigError: the database cannot be reached or the URL is not a database URL.
    """
    import optuna

    # Optuna >= 4.9 renamed RetryFailedTrialCallback / failed_trial_callback
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    name = ("heartbeat_stale_trial_callback" if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback")
            else "failed_trial_callback")
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        url = f"postgresql+psycopg://{rest}"  # the driver we install (psycopg 3), whatever SQLAlchemy's default is
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat is "experimental"
                kw = {name: retry(max_retry=max_retry, inherit_intermediate_values=True)}
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=int(heartbeat),
                                                  grace_period=int(grace or 2 * heartbeat), **kw)
        except ImportError as e:
            raise ConfigError(f"--storage {_safe(url)}: the database driver is missing ({e})") from None
        except Exception as e:  # noqa: BLE001 - sqlalchemy's many connection errors become one line
            # workers that start together on a fresh database race to create Optuna's tables: the loser
            # gets a unique-key violation and succeeds a moment later
            if attempt + 1 < attempts:
                time.sleep(0.5 + random.random())
                continue
            first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
            raise ConfigError(f"--storage {_safe(url)}: cannot open ({first})") from None


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, cred = head.partition("://")
    return f"{scheme}://{cred.split(':')[0]}:***@{tail}" if ":" in cred else url


def make_sampler(name: str, space: list[Param], seed: int | None):
    """``tpe`` (default), ``random`` or ``grid`` (every combination of choices, as 04_sweep's grid)."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        ranged = [p.name for p in space if p.choices is None]
        if ranged:
            raise ConfigError(f"--sampler grid needs choices for every parameter ({ranged[0]} is a range)")
        return optuna.samplers.GridSampler({p.name: list(p.choices) for p in space}, seed=seed)
    raise ConfigError(f"--sampler {name!r}: choose tpe, random or grid")


def make_pruner(name: str, startup_trials: int = 3, warmup_epochs: int = 2):
    """``median``: prune a trial whose validation loss at an epoch is worse than the median of earlier
    trials at that epoch, after ``startup_trials`` finished trials and from epoch ``warmup_epochs + 1``;
    ``none``: never prune."""
    import optuna

    if name == "median":
        # steps are epochs counted from 1; Optuna prunes from step n_warmup_steps on
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs + 1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"--pruner {name!r}: choose median or none")


def load_or_create_study(storage, name: str, objective: str, space: list[Param], sampler=None, pruner=None):
    """The study ``name`` in ``storage``, created if new; the objective and space are kept as study attributes.

    A worker that joins an existing study without a space takes the study's; one that names a different
    objective or space is refused.

    Returns:
        (study, space)

    Raises:
        ConfigError: unknown objective, or a mismatch with the existing study.
    """
    import optuna

    if objective not in OBJECTIVES:
        raise ConfigError(f"--metric {objective!r}: choose from {', '.join(OBJECTIVES)}")
    direction = OBJECTIVES[objective][0]
    study = optuna.create_study(study_name=name, storage=storage, direction=direction, sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    attrs = study.user_attrs
    specs = [p.spec() for p in space]
    if "objective" not in attrs:
        if not space:
            raise ConfigError(NEW_STUDY.format(name=name))
        study.set_user_attr("objective", objective)
        study.set_user_attr("space", specs)
        return study, space
    if attrs["objective"] != objective:
        raise ConfigError(f"study {name!r} optimises {attrs['objective']}, not {objective} (pass --metric {attrs['objective']})")
    if space and specs != attrs["space"]:
        raise ConfigError(f"study {name!r} searches {' '.join(attrs['space'])}; leave out --param to join it")
    return study, space or [parse_param(s) for s in attrs["space"]]


def search(base: TrainConfig, space, n_trials: int, study_name: str = "search", storage: str | None = None,
           study_dir: str | None = None, objective: str = "val_loss", sampler: str = "tpe", seed: int | None = None,
           pruner: str = "median", startup_trials: int = 3, warmup_epochs: int = 2, heartbeat: int = 60,
           grace: int | None = None, max_retry: int = 1, tensorboard: bool = True, graph=None, log=print):
    """Run trials of a study until it holds ``n_trials`` finished or running trials; return the study.

    Args:
        base: the settings every trial starts from (``training_data`` is the graph; ``output_dir`` is ignored).
        space: the search space (`parse_space` input); empty to join an existing study with its own.
        n_trials: the study's total number of trials, over every worker.
        study_name: the Optuna study name.
        storage: an SQLAlchemy URL; default an SQLite file ``study.db`` in ``study_dir``.
        study_dir: where trial run directories go (default ``search-<study_name>`` in
            `naomi_nb.project.runs_dir`).
        objective: a key of `OBJECTIVES`.
        sampler: ``tpe``, ``random`` or ``grid``; ``seed`` seeds it (give each worker its own or none).
        pruner: ``median`` or ``none``; ``startup_trials`` and ``warmup_epochs`` configure the median pruner.
        heartbeat, grace, max_retry: see `open_storage`.
        tensorboard: write TensorBoard event files into each trial's run directory.
        graph: an already loaded graph (default: loaded once from ``base.training_data``).
        log: one line per trial.

    Raises:
        ConfigError: a bad space, objective, storage or base setting.
    """
    import optuna

    from .graph import load_graph

    if n_trials < 1:
        raise ConfigError(f"--n-trials must be >= 1 (got {n_trials})")
    check_search_settings(study_name, startup_trials, warmup_epochs, heartbeat, grace, max_retry, seed)
    base.validate()
    params = parse_space(space)
    check_space(base, params)  # before the study directory, its database or a trial exists
    directory = study_directory(study_name, study_dir)
    if not params and storage is None and not (directory / "study.db").exists():  # new, so before its folder
        raise ConfigError(NEW_STUDY.format(name=study_name))
    if graph is None:  # a missing or damaged graph, too
        graph = load_graph(base.training_data)
    url = storage_url(storage, directory)
    store = open_storage(url, heartbeat, grace, max_retry)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, params = load_or_create_study(store, study_name, objective, params)
    check_space(base, params)  # a study joined with its own space: its values with this worker's settings
    # samplers and pruners live in the worker, not the database; a seeded sampler starts where the study is
    # (a rerun with the same --sampler-seed would otherwise draw the first trials' parameters again)
    study.sampler = make_sampler(sampler, params, None if seed is None else (seed + len(study.trials)) % SEED_LIMIT)
    study.pruner = make_pruner(pruner, startup_trials, warmup_epochs)
    log(f"study {study_name!r} ({objective}, {OBJECTIVES[objective][0]}) in {_safe(url)}; "
        f"trials in {directory}; space: {' '.join(p.spec() for p in params)}")
    S = optuna.trial.TrialState
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a dead worker's trial -> FAIL (+ a retry waiting)
        for number in fail_dead_local_trials(study):
            log(f"  trial {number}: its worker on this machine is gone; marked failed, retried from its last "
                "checkpoint")
        trials = _counted(study)
        waiting = any(t.state == S.WAITING for t in trials)
        if len([t for t in trials if t.state != S.WAITING]) >= n_trials and not waiting:
            for t in (t for t in trials if t.state == S.RUNNING):
                log(f"  trial {t.number} is running on {t.user_attrs.get('host', '?')} (pid "
                    f"{t.user_attrs.get('pid', '?')}) and counts toward --n-trials; if that worker is dead, the "
                    "next worker started after --grace seconds retries it")
            break
        t0, mine = time.perf_counter(), []

        def objective_fn(trial):
            mine.append(trial.number)
            return run_trial(trial, base, params, directory, objective, graph, n_trials, tensorboard)

        study.optimize(objective_fn, n_trials=1, catch=(SurplusTrial, ConfigError))
        if mine:
            last = next(t for t in study.get_trials(deepcopy=False) if t.number == mine[0])
            if not last.user_attrs.get("surplus"):
                log(_trial_line(last, time.perf_counter() - t0))
    return study


def _trial_line(t, seconds: float) -> str:
    params = " ".join(f"{k}={fmt_value(v)}" for k, v in t.params.items())
    what = {"COMPLETE": f"value {fmt_value(t.value)}",
            "PRUNED": f"pruned at epoch {t.user_attrs.get('pruned_at_epoch')}", "FAIL": "failed"}.get(t.state.name, t.state.name.lower())
    return f"  trial {t.number}: {what} ({params}) {seconds:.1f} s -> {t.user_attrs.get('run_dir', '-')}"


# ---------------------------------------------------------------- results


def best_trials(study, n: int = 10) -> list[dict]:
    """The study's trials as rows, best first: COMPLETE by value, then PRUNED by their best reported value,
    then the rest; surplus trials (see `SurplusTrial`) are left out.

    Each row: ``number``, ``state``, ``value``, ``params``, ``epochs``, ``run_dir``, ``host``.
    """
    sign = 1 if study.direction.name == "MINIMIZE" else -1

    def best_reported(t):
        values = list(t.intermediate_values.values())
        return (min(values) if sign > 0 else max(values)) if values else None

    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            continue
        value = t.value if t.state.name == "COMPLETE" else best_reported(t)
        rank = {"COMPLETE": 0, "PRUNED": 1}.get(t.state.name, 2)
        rows.append({"number": t.number, "state": t.state.name, "value": value, "params": dict(t.params),
                     "epochs": t.user_attrs.get("epochs_run"), "run_dir": t.user_attrs.get("run_dir"),
                     "host": t.user_attrs.get("host"),
                     "_key": (rank, sign * value if value is not None else math.inf, t.number)})
    rows.sort(key=lambda r: r.pop("_key"))
    return rows[:n]


def format_table(rows: list[dict]) -> str:
    """`best_trials` rows as a plain-text table (what ``search --report`` prints)."""
    head = ["trial", "state", "value", "epochs", "params", "run_dir"]
    body = [[str(r["number"]), r["state"], "-" if r["value"] is None else f"{r['value']:.6g}",
             "-" if r["epochs"] is None else str(r["epochs"]),
             " ".join(f"{k}={fmt_value(v)}" for k, v in r["params"].items()), r["run_dir"] or "-"] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *body]]
    return "\n".join(lines)


def table_html(rows: list[dict], relative_to: str | Path | None = None) -> str:
    """`best_trials` rows as an HTML table whose run directories are links (for a notebook's ``HTML``)."""
    import html

    out = ["<table><tr><th>trial</th><th>state</th><th>value</th><th>epochs</th><th>params</th><th>run</th></tr>"]
    for r in rows:
        link = "-"
        if r["run_dir"]:
            target = os.path.relpath(r["run_dir"], relative_to) if relative_to else r["run_dir"]
            link = f'<a href="{html.escape(target)}" target="_blank">{html.escape(target)}</a>'
        params = html.escape(" ".join(f"{k}={fmt_value(v)}" for k, v in r["params"].items()))
        value = "-" if r["value"] is None else f"{r['value']:.6g}"
        out.append(f"<tr><td>{r['number']}</td><td>{r['state']}</td><td>{value}</td>"
                   f"<td>{r['epochs'] if r['epochs'] is not None else '-'}</td><td>{params}</td><td>{link}</td></tr>")
    return "".join(out) + "</table>"


def load_study(study_name: str, storage: str | None = None, study_dir: str | None = None):
    """An existing study, for reports and plots.

    Raises:
        ConfigError: no such study in that storage.
    """
    import optuna

    directory = study_directory(study_name, study_dir)
    if storage is None and not (directory / "study.db").exists():
        raise ConfigError(f"no study database at {directory / 'study.db'} (give --storage URL or --output-dir)")
    url = storage_url(storage, directory)
    try:
        return optuna.load_study(study_name=study_name, storage=open_storage(url))
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(open_storage(url))]
        raise ConfigError(f"no study {study_name!r} in {_safe(url)} (it holds: {', '.join(names) or 'none'})") from None


def study_figures(study) -> dict:
    """Optuna's matplotlib plots of a study: name -> matplotlib Figure, or a string saying why it is missing.

    ``history`` (optimisation history), ``importances`` (parameter importances: needs two completed
    trials whose parameters vary) and ``parallel`` (parallel coordinates).
    """
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    out: dict = {}
    if not complete:
        return {k: "no completed trial yet" for k in ("history", "importances", "parallel")}
    varying = {k for t in complete for k in t.params if len({repr(u.params.get(k)) for u in complete}) > 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "plot_* is experimental"
        for name, fn, ok, why in (
                ("history", ovm.plot_optimization_history, True, ""),
                ("importances", ovm.plot_param_importances, len(complete) >= 2 and varying,
                 f"needs two completed trials with differing parameters ({len(complete)} completed)"),
                ("parallel", ovm.plot_parallel_coordinate, True, "")):
            if not ok:
                out[name] = why
                continue
            ax = fn(study)
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            fig.set_size_inches(8, 4.5)
            fig.tight_layout()
            plt.close(fig)
            out[name] = fig
    return out
