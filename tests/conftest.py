"""Shared fixtures: a tiny synthetic graph on disk, a hand-made WordNet dict, the real WordNet graph.

Also the test tiers and the test session's own directories:

- a test that uses the real WordNet (``real_graph``, ``real_graph_dir``, ``mammals_dir``) is marked ``wordnet``,
  one that starts PostgreSQL (``postgres_url``) ``postgres``, an executed notebook ``notebooks``;
  ``make test-fast`` deselects these, the browser and the GPU tests;
- ``NAOMI_NB_RUNS`` and ``NAOMI_NB_DATA`` (the default runs and data directories) point into a temporary
  directory for the whole session, notebook kernels included, so no test writes into the checkout; its
  ``data/wordnet_training`` links to the prepared full graph (``$NAOMI_NB_GRAPH`` or the checkout's).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from naomi_nb.graph import load_graph, tiny_graph

ROOT = Path(__file__).resolve().parents[1]
REAL_GRAPH = Path(os.environ.get("NAOMI_NB_GRAPH", ROOT / "data" / "wordnet_training"))

MARKED_FIXTURES = {"real_graph": "wordnet", "real_graph_dir": "wordnet", "mammals_dir": "wordnet",
                   "postgres_url": "postgres"}
SESSION_DIRS = {"NAOMI_NB_RUNS": "runs", "NAOMI_NB_DATA": "data"}
_session_root: Path | None = None


def _checkout_entries() -> set[Path]:
    """What a test could leave in the checkout: entries of runs/ and data/ (the full graph excepted)."""
    found = {p for name in ("runs", "data") if (ROOT / name).is_dir() for p in (ROOT / name).iterdir()}
    return found - {REAL_GRAPH, ROOT / "data" / "wordnet_training"}


_before: set[Path] = set()


def pytest_configure(config):
    """Point the default runs and data directories into a temporary directory before anything starts.

    Set in this process, they reach every notebook kernel that nbmake or papermill starts later."""
    global _session_root, _before
    _before = _checkout_entries()
    _session_root = Path(tempfile.mkdtemp(prefix="naomi-nb-tests-"))
    for var, name in SESSION_DIRS.items():
        (_session_root / name).mkdir()
        os.environ[var] = str(_session_root / name)
    if (REAL_GRAPH / "manifest.json").exists():  # "data/wordnet_training" stays the prepared full graph
        (_session_root / "data" / "wordnet_training").symlink_to(REAL_GRAPH.resolve(), target_is_directory=True)


def pytest_sessionfinish(session, exitstatus):
    """Fail the session when a test wrote into the checkout's runs/ or data/."""
    left = sorted(_checkout_entries() - _before)
    if left:
        session.config.get_terminal_writer().line(
            "tests wrote into the checkout: " + ", ".join(str(p.relative_to(ROOT)) for p in left), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    if _session_root is not None:
        shutil.rmtree(_session_root, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture in sorted(set(getattr(item, "fixturenames", ())) & MARKED_FIXTURES.keys()):
            item.add_marker(MARKED_FIXTURES[fixture])
        if item.path.suffix == ".ipynb":  # a notebook that nbmake executes
            item.add_marker("notebooks")


@pytest.fixture
def tiny(tmp_path):
    """The synthetic tiny graph, saved as a graph directory."""
    path = tmp_path / "tiny_graph"
    tiny_graph().save(path)
    return path


@pytest.fixture(scope="session")
def real_graph_dir():
    """The full WordNet graph: the one `make test` prepared, or built here (about 15 s)."""
    if not (REAL_GRAPH / "manifest.json").exists():
        from naomi_nb.wordnet import WordNetNotFound, prepare_wordnet

        try:
            prepare_wordnet(REAL_GRAPH, progress=False, log=lambda *a: None)
        except WordNetNotFound as e:
            pytest.fail(f"the real WordNet is needed for this test: {e}")
    return REAL_GRAPH


@pytest.fixture(scope="session")
def real_graph(real_graph_dir):
    return load_graph(real_graph_dir)


# ---------------------------------------------------------------- a hand-made WordNet dict directory

HEADER = "  1 This is a hand-made WordNet fixture for tests. WordNet 3.0 Copyright 2006 by Princeton University.  \n"


def _line(s, pos, offsets, placeholder=False):
    words = " ".join(f"{w} 0" for w in s["lemmas"])
    ptrs = []
    for symbol, target_key, target_pos, src_i, dst_i in s.get("pointers", []):
        off = 0 if placeholder else offsets[target_key]
        ptrs.append(f"{symbol} {off:08d} {target_pos} {src_i:02x}{dst_i:02x}")
    me = 0 if placeholder else offsets[s["key"]]
    return (f"{me:08d} {s['lexfile']:02d} {pos} {len(s['lemmas']):02x} {words} {len(ptrs):03d} "
            f"{' '.join(ptrs)}{' ' if ptrs else ''}| {s['gloss']}  \n")


WORDNET_FIXTURE = {
    "n": [
        {"key": "entity", "lexfile": 3, "lemmas": ["entity"], "gloss": "that which exists",
         "pointers": [("~", "animal", "n", 0, 0), ("~", "tail", "n", 0, 0)]},
        {"key": "animal", "lexfile": 5, "lemmas": ["animal", "beast"], "gloss": "a living organism",
         "pointers": [("@", "entity", "n", 0, 0), ("~", "dog", "n", 0, 0)]},
        {"key": "dog", "lexfile": 5, "lemmas": ["dog", "domestic_dog", "Canis_familiaris"], "gloss": "a canine",
         "pointers": [("@", "animal", "n", 0, 0), ("%p", "tail", "n", 0, 0), (";u", "entity", "n", 0, 0)]},
        {"key": "tail", "lexfile": 8, "lemmas": ["tail"], "gloss": "the posterior part",
         "pointers": [("@", "entity", "n", 0, 0), ("#p", "dog", "n", 0, 0)]},
    ],
    "a": [
        {"key": "good", "lexfile": 0, "lemmas": ["good"], "gloss": "having desirable qualities",
         "pointers": [("!", "bad", "a", 1, 1)]},
        {"key": "bad", "lexfile": 0, "lemmas": ["bad", "poor"], "gloss": "having undesirable qualities",
         "pointers": [("!", "good", "a", 1, 1)]},
    ],
    "v": [],
    "r": [],
}
POS_FILE = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


def write_wordnet_fixture(dict_dir: Path) -> Path:
    dict_dir.mkdir(parents=True, exist_ok=True)
    offsets: dict[str, int] = {}
    for pos, synsets in WORDNET_FIXTURE.items():
        off = len(HEADER.encode())
        for s in synsets:
            offsets[s["key"]] = off
            off += len(_line(s, pos, offsets, placeholder=True).encode())
    for pos, synsets in WORDNET_FIXTURE.items():
        text = HEADER + "".join(_line(s, pos, offsets) for s in synsets)
        (dict_dir / f"data.{POS_FILE[pos]}").write_text(text)
        lemma_offsets: dict[str, list[int]] = {}
        for s in synsets:
            for lemma in s["lemmas"]:
                lemma_offsets.setdefault(lemma.lower(), []).append(offsets[s["key"]])
        lines = [f"{lemma} {pos} {len(offs)} 0 {len(offs)} 0 {' '.join(f'{o:08d}' for o in offs)}  \n"
                 for lemma, offs in sorted(lemma_offsets.items())]
        (dict_dir / f"index.{POS_FILE[pos]}").write_text(HEADER + "".join(lines))
    return dict_dir


@pytest.fixture
def wordnet_dict(tmp_path):
    return write_wordnet_fixture(tmp_path / "dict")


# ---------------------------------------------------------------- the mammal subgraph of the real WordNet

MAMMAL_ROOTS = ["mammal.n.01"]


@pytest.fixture(scope="session")
def mammals_dir(tmp_path_factory):
    """The real WordNet restricted to the hyponym closure of mammal.n.01 (about 2,400 senses), built once (~4 s)."""
    from naomi_nb.wordnet import WordNetNotFound, prepare_wordnet

    path = tmp_path_factory.mktemp("graphs") / "mammals"
    try:
        prepare_wordnet(path, progress=False, log=lambda *a: None, roots=MAMMAL_ROOTS)
    except WordNetNotFound as e:
        pytest.fail(f"the real WordNet is needed for this test: {e}")
    return path
