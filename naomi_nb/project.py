"""The project's places: its root, the default ``runs/`` and ``data/`` directories, and the training graph.

One rule for where things go, whoever asks (the CLI, the trainer, the notebooks, the sweeps, the search):

- ``runs/``: ``$NAOMI_NB_RUNS`` when set, else ``runs/`` at the project root (`runs_dir`);
- ``data/``: ``$NAOMI_NB_DATA`` when set, else ``data/`` at the project root (`data_dir`);
- the project root is the kit's checkout when the working directory is inside it (notebooks run from
  ``notebooks/``, the CLI from anywhere in the checkout), else the working directory itself (Colab, a
  pip install): `project_root`.

A relative path a user gives that starts with ``runs/`` or ``data/`` means those directories
(`project_path`), so ``OUTPUT_DIR="runs/mine"`` lands beside the other runs wherever the notebook runs.
"""
from __future__ import annotations

import os
from pathlib import Path

RUNS_ENV, DATA_ENV = "NAOMI_NB_RUNS", "NAOMI_NB_DATA"

# graphs the notebooks know how to build: directory name -> the synsets whose hyponym closure it holds
SUBGRAPHS = {"wordnet_mammals": ["mammal.n.01"]}


def project_root(start=None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding this kit's pyproject.toml, else cwd.

    Notebooks run with their own folder as working directory (JupyterLab, nbmake), so
    ``data/`` and ``runs/`` are anchored at the repository root; on Colab (no checkout)
    they land in the working directory.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "naomi_nb").is_dir():
            return folder
    return here


def _from_env(name: str, default: str) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().absolute() if value else project_root() / default


def runs_dir() -> Path:
    """Where runs go by default: ``$NAOMI_NB_RUNS`` when set, else ``runs/`` at `project_root`.

    Every default run directory (``train`` without ``--output-dir``, the notebooks' fresh runs, sweeps,
    searches, the panel's Resume) is a folder in it.
    """
    return _from_env(RUNS_ENV, "runs")


def data_dir() -> Path:
    """Where prepared graphs go by default: ``$NAOMI_NB_DATA`` when set, else ``data/`` at `project_root`."""
    return _from_env(DATA_ENV, "data")


def project_path(path) -> Path:
    """An absolute path for ``path``.

    Absolute: as given. Starting with ``runs/`` or ``data/``: under `runs_dir` / `data_dir`. Otherwise
    the path under the working directory when it exists there, else under `project_root`.
    """
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    head, *rest = path.parts or (".",)
    if head == "runs":
        return runs_dir().joinpath(*rest)
    if head == "data":
        return data_dir().joinpath(*rest)
    if (Path.cwd() / path).exists():
        return (Path.cwd() / path).resolve()
    return project_root() / path


def ensure_graph(path, rebuild: bool = False, wordnet_dir=None, progress: bool = False, log=print, roots=None):
    """Load the training graph at ``path``, building it from WordNet first when it is missing.

    Args:
        path: the graph directory (relative paths as `project_path`).
        roots: synset names whose hyponym closure the graph holds (``["mammal.n.01"]``, as
            ``prepare-wordnet --root``); None: the full graph, or `SUBGRAPHS`'s roots for a directory
            named there (``data/wordnet_mammals``, the CPU notebooks' default).

    Returns:
        The `naomi_nb.graph.Graph`.
    """
    from .graph import load_graph

    path = project_path(path)
    # an original NAOMI-II directory (training_edges.pkl) is a graph too: load it, never build over it
    has_graph = (path / "manifest.json").exists() or (path / "training_edges.pkl").exists()
    if rebuild or not has_graph:
        from .wordnet import prepare_wordnet

        roots = roots if roots is not None else SUBGRAPHS.get(path.name)
        extra = {"roots": list(roots)} if roots else {}
        return prepare_wordnet(path, wordnet_dir=wordnet_dir, progress=progress, log=log, **extra)
    graph = load_graph(path)
    log(f"loaded {path}: {graph.vocab.size:,} senses, {graph.n_edges:,} edges")
    return graph
