"""What the prepare, explore and search notebooks' cells call (`01_prepare_wordnet`, `03_explore`,
`05_search`): each checks the notebook's own parameters first, so a bad value is one line naming the
notebook's variable (`naomi_nb.notebook.ParameterError`), raised in the cell that set it.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import fields
from pathlib import Path

from . import components, rundir
from .config import TrainConfig
from .errors import ConfigError
from .notebook import ParameterError, closest_name, config_names, describe, notebook_config, parameter_words
from .project import project_path

# ---------------------------------------------------------------- 01_prepare_wordnet

def _subgraph_roots(subgraph) -> list[str] | None:
    """``SUBGRAPH`` as a list of synset names (None: all of WordNet).

    Raises:
        ParameterError: anything but None, a synset name like ``"mammal.n.01"`` or a list of them.
    """
    if subgraph is None:
        return None
    roots = [subgraph] if isinstance(subgraph, str) else subgraph
    shaped = re.compile(r"^[^.\s]+\.[nvasr]\.\d+$")
    if not isinstance(roots, (list, tuple)) or not roots or not all(isinstance(r, str) and shaped.match(r)
                                                                       for r in roots):
        raise ParameterError(f"SUBGRAPH = {subgraph!r}: give a WordNet synset name like 'mammal.n.01' (the graph "
                             "holds it and everything below it), a list of them, or None for all of WordNet")
    return list(roots)


def subgraph_output(roots: list[str] | None) -> str:
    """Where a graph goes by default: ``data/wordnet_training`` for all of WordNet, the directory
    `naomi_nb.project.SUBGRAPHS` names for a known subgraph (``data/wordnet_mammals``), else
    ``data/wordnet_<first root's word>``."""
    from .project import SUBGRAPHS

    if not roots:
        return "data/wordnet_training"
    known = next((name for name, r in SUBGRAPHS.items() if list(r) == list(roots)), None)
    return f"data/{known or 'wordnet_' + roots[0].split('.')[0]}"


def prepare_graph(output=None, subgraph=None, wordnet_dir=None, rebuild: bool = False, log=print):
    """01_prepare_wordnet's step: load the graph at ``output``, building it from WordNet when it is missing
    (or ``rebuild``), after checking the notebook's parameters.

    Args:
        output: ``OUTPUT``, the graph directory; None: `subgraph_output` (``data/wordnet_training`` for all
            of WordNet, ``data/wordnet_mammals`` for ``"mammal.n.01"``).
        subgraph: ``SUBGRAPH``, a synset name (or a list) whose hyponym closure the graph holds, as
            ``prepare-wordnet --root``; None: all of WordNet.
        wordnet_dir: ``WORDNET_DIR``, a WordNet 3.0 dict directory; None: found as `naomi_nb.wordnet` says.

    Returns:
        The `naomi_nb.graph.Graph`.

    Raises:
        ParameterError: one line naming ``OUTPUT``, ``SUBGRAPH`` or ``WORDNET_DIR`` and what it accepts,
            also when ``OUTPUT`` already holds another graph than ``SUBGRAPH`` asks for.
    """
    from .files import WriteError
    from .graph import GraphError, load_graph
    from .project import ensure_graph
    from .wordnet import REQUIRED_FILES, WordNetNotFound

    roots = _subgraph_roots(subgraph)
    if wordnet_dir is not None:
        folder = Path(str(wordnet_dir)).expanduser()
        missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
        if not folder.is_dir() or missing:
            why = "no such directory" if not folder.is_dir() else f"it lacks {', '.join(missing)}"
            raise ParameterError(f"WORDNET_DIR = {str(wordnet_dir)!r} is not a WordNet 3.0 dict directory ({why}); "
                                 "give the folder holding data.noun and index.noun, or None to find WordNet by "
                                 "itself (NLTK's data, the system's, a download)")
    if output is not None and not isinstance(output, (str, os.PathLike)):
        raise ParameterError(f"OUTPUT = {output!r}: give a directory path like 'data/wordnet_training', or None")
    path = project_path(output if output is not None else subgraph_output(roots))
    names = {"output": "OUTPUT", "root": "SUBGRAPH", "wordnet_dir": "WORDNET_DIR"}
    has_graph = (path / "manifest.json").exists()
    if has_graph and not rebuild:
        try:
            holds = load_graph(path, verify=False).meta.get("roots")
        except GraphError as e:
            raise ParameterError(f"OUTPUT: {e}; set REBUILD = True to build it again") from None
        if (holds or None) != roots:
            def said(r):
                return f"the subgraph below {', '.join(r)}" if r else "all of WordNet"
            raise ParameterError(f"OUTPUT = {str(output or path)!r} already holds {said(holds)}, not {said(roots)}: "
                                 "set OUTPUT = None (the subgraph's own directory), another directory, or "
                                 "REBUILD = True to replace it")
    try:
        return ensure_graph(path, rebuild=rebuild, wordnet_dir=wordnet_dir, roots=roots, log=log)
    except (WordNetNotFound, GraphError, ConfigError) as e:
        raise ParameterError(parameter_words(str(e), names)) from None
    except WriteError as e:
        raise ParameterError(f"OUTPUT: {e}") from None


# ---------------------------------------------------------------- 03_explore

def _whole(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ParameterError(f"{name} = {value!r}: give a whole number of at least {low}")


def check_explore(params: dict) -> None:
    """03_explore's parameters: ``K``, ``N_AXES``, ``TOP_DIMS`` (at least 1), ``DIM`` (at least 0),
    ``METRIC`` and ``WORD``.

    Raises:
        ParameterError: one line naming the variable and what it accepts.
    """
    for name, low in (("K", 1), ("N_AXES", 1), ("TOP_DIMS", 1), ("DIM", 0)):
        if name in params:
            _whole(name, params[name], low)
    if params.get("METRIC", "l2") not in ("l2", "cosine"):
        raise ParameterError(f"METRIC = {params['METRIC']!r}: choose 'l2' (what the model is trained on) or 'cosine'")
    word = params.get("WORD", "dog")
    if not isinstance(word, str) or not word.strip():
        raise ParameterError(f"WORD = {word!r}: give a word like 'dog' or a sense key like 'dog.n.01.dog'")


def explore_run(params: dict, log=print):
    """03_explore's run: the parameters checked (`check_explore`), then ``RUN_DIR`` loaded, or the newest run
    under ``RUNS_DIR``; with none there, a short one is trained first with 02_train's device defaults
    (``TRAINING_DATA``, at most 20 epochs, no analysis).

    Returns:
        The `naomi_nb.rundir.Run`.

    Raises:
        ParameterError: one line naming ``RUN_DIR`` (no such run, or not one that can be read) or another
            parameter.
    """
    from .rundir import RunDirError, latest_run, load_run

    check_explore(params)
    spec, runs = params.get("RUN_DIR"), params.get("RUNS_DIR") or "runs"
    if spec:
        path = project_path(spec)
        if not path.is_dir():
            raise ParameterError(f"RUN_DIR = {str(spec)!r}: no such directory ({path}); give a run directory, or "
                                 f"None for the newest run under RUNS_DIR ({project_path(runs)})")
        if not (path / rundir.EMBEDDINGS).is_file():
            raise ParameterError(f"RUN_DIR = {str(spec)!r} holds no trained model ({rundir.EMBEDDINGS} is missing: "
                                 "a run still training, or not a run directory); give a finished run, or None for "
                                 "the newest one")
    else:
        path = latest_run(project_path(runs))
        if path is None:
            from .project import ensure_graph
            from .trainer import train

            cfg = notebook_config({"TRAINING_DATA": params.get("TRAINING_DATA"), "ANALYZE": False,
                                   "OUTPUT_DIR": str(project_path(runs) / time.strftime("explore-%Y%m%d-%H%M%S"))})
            cfg = cfg.replace(epochs=min(cfg.epochs, 20))
            log(f"no run under {project_path(runs)} yet: training a short one ({describe(cfg)})")
            path = train(cfg, ensure_graph(cfg.training_data, log=log), log=log).run_dir
    try:
        run = load_run(path)
    except RunDirError as e:
        raise ParameterError(f"RUN_DIR = {str(spec or path)!r}: {e}") from None
    log(f"run directory: {run.run_dir}")
    return run


def stored_report(run_dir) -> dict | None:
    """The run's report.json when it is up to date (written after the embeddings and metrics it describes,
    by an analysis that ran every registered measure), with its figures' paths in this run directory; else
    None."""
    from .files import read_json

    run_dir = Path(run_dir)
    path = run_dir / rundir.REPORT
    sources = [run_dir / name for name in (rundir.EMBEDDINGS, rundir.METRICS) if (run_dir / name).exists()]
    if not path.is_file() or any(s.stat().st_mtime > path.stat().st_mtime for s in sources):
        return None
    try:
        report = read_json(path, ValueError)
    except ValueError:
        return None
    if not isinstance(report, dict) or "cards" not in report:
        return None
    from .report import stored_result

    if any(stored_result(report, name, measure) is None for name, measure in components.registry("measure").items()):
        return None  # written before a measure was added: analyse again
    figures = [run_dir / rundir.FIGURES / Path(f).name for f in report.get("figures", [])]
    if not all(f.is_file() for f in figures):
        return None
    report["figures"] = [str(f) for f in figures]
    return report


def explore_report(run, reanalyze: bool = False, log=print) -> dict:
    """The run's analysis for 03_explore: its report.json when it is up to date (`stored_report`: seconds
    instead of the analysis's half minute on the mammal subgraph), else `naomi_nb.report.analyze_run`
    (which writes report.json, summary.txt and figures/)."""
    from .report import analyze_run

    report = None if reanalyze else stored_report(run.run_dir)
    if report is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime((Path(run.run_dir) / rundir.REPORT).stat().st_mtime))
        log(f"report.json of {when} reused (set REANALYZE = True to compute it again)")
        return report
    return analyze_run(run, log=log)


def show_figures(paths) -> None:
    """Display PNGs at their own size: a browser scales a wide figure down to the output's width, and its
    labels with it (the axes figure's to a few pixels); unconfined, a wide one scrolls instead."""
    from IPython.display import Image, display

    for path in paths:
        display(Image(filename=str(path), unconfined=True))


# ---------------------------------------------------------------- 05_search

# the search's own settings: the command line's flag -> the notebook's variable
SEARCH_NAMES = {"n_trials": "N_TRIALS", "study": "STUDY", "storage": "STORAGE", "metric": "METRIC",
                "sampler_seed": "SAMPLER_SEED", "pruner_startup_trials": "PRUNER_STARTUP_TRIALS",
                "pruner_warmup_epochs": "PRUNER_WARMUP_EPOCHS"}


def check_search_space(space) -> dict:
    """05_search's ``SPACE``: a dict whose keys are searchable `TrainConfig` settings.

    Raises:
        ParameterError: one line naming ``SPACE`` and the key that is no setting (with the closest name),
            or one that cannot be searched.
    """
    from .space import NOT_SEARCHABLE

    if not isinstance(space, dict):
        raise ParameterError(f"SPACE must be a dict of settings, like {{'lr': (1e-4, 1e-1, 'log'), "
                             f"'embedding_dim': [8, 16, 32]}} (got {type(space).__name__})")
    names = sorted(f.name for f in fields(TrainConfig) if f.name not in NOT_SEARCHABLE)
    for key in space:
        if key in NOT_SEARCHABLE:
            raise ParameterError(f"SPACE[{key!r}]: cannot be searched (it is set per trial or per machine)")
        if key not in names:
            close = closest_name(key, names)
            hint = f" (did you mean {close!r}?)" if close else ""
            raise ParameterError(f"SPACE[{key!r}] is not a training setting{hint}; "
                                 "`python -m naomi_nb train --help` lists them")
    return space


def search_words(message: str, params: dict) -> str:
    """A search's command-line message in 05_search's words: ``--param lr`` -> ``SPACE['lr']``, the search's
    flags -> its variables (`SEARCH_NAMES`), the settings' flags -> theirs."""
    fields_ = {f.name for f in fields(TrainConfig)}
    message = message.replace("leave out --param to join it",
                              "set SPACE = {} to join it with its own space, or give STUDY a new name")
    message = re.sub(r"--param '?([a-z_]+)'?",
                     lambda m: f"SPACE[{m.group(1)!r}]" if m.group(1) in fields_ else m.group(0), message)
    return parameter_words(message, {**config_names(params), **SEARCH_NAMES})


def notebook_search(params: dict, graph=None, log=print):
    """05_search's step: the trials' base settings from the notebook's UPPER_CASE parameters (the
    `TrainConfig` fields it names, on the command line's defaults; no analysis), ``SPACE`` checked, then
    `naomi_nb.search.search` until the study holds ``N_TRIALS``; a line says so when that was already the
    case (``N_TRIALS`` is the study's total, not a number to add).

    Args:
        params: the notebook's ``globals()``: ``STUDY``, ``STORAGE``, ``OUTPUT_DIR`` (the study directory),
            ``N_TRIALS``, ``METRIC``, ``SPACE``, ``SAMPLER_SEED``, ``PRUNER_STARTUP_TRIALS``,
            ``PRUNER_WARMUP_EPOCHS`` and settings such as ``TRAINING_DATA``, ``EPOCHS``.
        graph: the loaded training graph (None: loaded from ``TRAINING_DATA``).

    Returns:
        ``(study, study_dir)``.

    Raises:
        ParameterError: one line naming the notebook's variable.
    """
    import datetime

    from .search import search

    own = {"OUTPUT_DIR", "METRIC"}  # the study directory and the objective, not a trial's settings
    given = {key.lower(): value for key, value in params.items() if key.isupper() and key not in own
             and key.lower() in {f.name for f in fields(TrainConfig)} and value is not None}
    study_name = params.get("STUDY", "search")
    study_dir = project_path(params.get("OUTPUT_DIR") or f"runs/search-{study_name}")
    n_trials = params.get("N_TRIALS", 10)
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ParameterError(f"N_TRIALS = {n_trials!r}: give the study's total number of trials, a whole number "
                             "of at least 1")
    started = datetime.datetime.now()
    try:
        if "training_data" in given:
            given["training_data"] = str(project_path(given["training_data"]))
        base = TrainConfig().replace(**given, analyze=False)
        space = check_search_space(params.get("SPACE", {}))
        study = search(base, space, n_trials, study_name=study_name, storage=params.get("STORAGE"),
                       study_dir=str(study_dir), objective=params.get("METRIC", "val_loss"),
                       seed=params.get("SAMPLER_SEED"), startup_trials=params.get("PRUNER_STARTUP_TRIALS", 3),
                       warmup_epochs=params.get("PRUNER_WARMUP_EPOCHS", 2), graph=graph, log=log)
    except ParameterError:
        raise
    except ConfigError as e:
        raise ParameterError(search_words(str(e), params)) from None
    ran = [t for t in study.trials if t.datetime_start is not None and t.datetime_start >= started]
    if not ran:
        log(f"nothing to run: study {study_name!r} already holds {len(study.trials)} trials and N_TRIALS = "
            f"{n_trials} is the study's total; set N_TRIALS above {len(study.trials)} to add trials, or a new STUDY")
    return study, study_dir


def trial_file(run_dir) -> Path | None:
    """The file a trial's link opens (a link to a folder opens nothing in JupyterLab): its summary.txt once
    analysed, else metrics.json, else config.json; None when there is no such file yet."""
    run_dir = Path(run_dir)
    return next((run_dir / name for name in (rundir.SUMMARY, rundir.METRICS, rundir.CONFIG)
                 if (run_dir / name).is_file()), None)


def trials_table(study, n: int = 10, relative_to=None):
    """The best ``n`` trials (`naomi_nb.search.best_trials`) as an HTML table whose links open a file of
    each trial's run (`trial_file`), relative to ``relative_to`` (the notebook's folder)."""
    from IPython.display import HTML

    from .search import best_trials, table_html

    rows = best_trials(study, n)
    for row in rows:
        found = trial_file(row["run_dir"]) if row["run_dir"] else None
        row["run_dir"] = str(found) if found else row["run_dir"]
    return HTML(table_html(rows, relative_to=relative_to))
