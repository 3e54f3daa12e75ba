"""The training graph: vocabulary, edge arrays, relation table, train/val split.

On disk a graph directory holds
  edges.npz        src int32, dst int32, rel int16, conf float32 (compressed)
  relations.json   [{"name", "target", "count"}] in relation-id order
  vocabulary.json  word_to_id, id_to_word, vocab_size (NAOMI-II's names) + pos, synset, lexname,
                   count (SemCor tag count per sense; absent in graphs built before it existed)
  manifest.json    format, WordNet version, counts, sha256 of the data files (relations.json's since it
                   was added; graphs from before are checked by `Graph.validate` alone)

An original NAOMI-II directory (``training_edges.pkl`` + ``vocabulary.json``)
loads too, through an unpickler that admits plain builtins only.
"""
from __future__ import annotations

import io
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import atomic_open, atomic_write_json, read_json as _read_json, sha256, write_error

FORMAT = "naomi-nb-graph/1"
MAX_TARGET = 10.0  # the seed's targets lie in [0.1, 1]; far beyond them a target is a typo or damage

# target distances for relation names the original NAOMI-II wrote
LEGACY_TARGETS = {
    "synonym": 0.1, "similar": 0.2, "similar_to": 0.2,
    "hypernym": 0.3, "hyponym": 0.3, "meronym": 0.5, "holonym": 0.5, "antonym": 1.0,
}


class GraphError(ValueError):
    """A graph directory that cannot be used; the message is one line for the user."""


class Vocabulary:
    """Sense ids <-> sense keys (``dog.n.01.dog``), with per-sense pos, synset, lexname and count when known.

    ``count`` is the sense's SemCor tag count (what NLTK's ``lemma.count()`` gives; 0 for a sense
    never tagged); graphs built before it was recorded have none (None).
    """

    def __init__(self, words, pos=None, synset=None, lexname=None, count=None):
        self.id_to_word: list[str] = list(words)
        self.word_to_id: dict[str, int] = {w: i for i, w in enumerate(self.id_to_word)}
        if len(self.word_to_id) != len(self.id_to_word):
            raise GraphError("vocabulary has duplicate entries")
        self.pos = list(pos) if pos is not None else None
        self.synset = list(synset) if synset is not None else None
        self.lexname = list(lexname) if lexname is not None else None
        self.count = [int(c) for c in count] if count is not None else None

    @property
    def size(self) -> int:
        return len(self.id_to_word)

    def __len__(self) -> int:
        return self.size

    def lemma_of(self, i: int) -> str:
        """The lemma part of a sense key: ``dog.n.01.dog`` -> ``dog``."""
        key = self.id_to_word[i]
        if self.synset is not None:
            return key[len(self.synset[i]) + 1:]
        return key

    def senses_of(self, lemma: str) -> list[int]:
        """All sense ids whose lemma is ``lemma`` (case and spaces folded to WordNet's form)."""
        lemma = lemma.strip().replace(" ", "_")
        if lemma in self.word_to_id:
            return [self.word_to_id[lemma]]
        index = self._lemma_index()
        return list(index.get(lemma.lower(), []))

    def _lemma_index(self) -> dict[str, list[int]]:
        if not hasattr(self, "_by_lemma"):
            by_lemma: dict[str, list[int]] = {}
            for i in range(self.size):
                by_lemma.setdefault(self.lemma_of(i).lower(), []).append(i)
            self._by_lemma = by_lemma
        return self._by_lemma

    def to_json(self, **extra) -> dict:
        out = {
            "word_to_id": self.word_to_id,
            "id_to_word": {str(i): w for i, w in enumerate(self.id_to_word)},
            "vocab_size": self.size,
        }
        for name in ("pos", "synset", "lexname", "count"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out.update(extra)
        return out

    @classmethod
    def from_json(cls, data: dict, where: str = "vocabulary.json") -> "Vocabulary":
        if not isinstance(data, dict) or ("id_to_word" not in data and "word_to_id" not in data):
            raise GraphError(f"{where}: not a vocabulary (needs id_to_word or word_to_id)")
        if "id_to_word" in data:
            raw = data["id_to_word"]
            if isinstance(raw, dict):
                try:
                    words = [raw[str(i)] for i in range(len(raw))]
                except KeyError as e:
                    raise GraphError(f"{where}: id_to_word has a gap at id {e.args[0]}") from None
            else:
                words = list(raw)
        else:
            w2i = data["word_to_id"]
            words = [None] * len(w2i)
            for w, i in w2i.items():
                if not (isinstance(i, int) and 0 <= i < len(words)) or words[i] is not None:
                    raise GraphError(f"{where}: word_to_id ids are not 0..{len(words) - 1}")
                words[i] = w
        n = len(words)
        extras = {k: data.get(k) for k in ("pos", "synset", "lexname", "count")}
        for k, v in extras.items():
            if v is not None and len(v) != n:
                raise GraphError(f"{where}: field {k} has {len(v)} entries for {n} words")
        return cls(words, **extras)


@dataclass
class Graph:
    """Directed, typed, weighted edges over a sense vocabulary."""

    src: np.ndarray  # int32 (E,)
    dst: np.ndarray  # int32 (E,)
    rel: np.ndarray  # int16 (E,) index into relations
    conf: np.ndarray  # float32 (E,) confidence weight of each edge
    relations: list[str]  # relation id -> name
    targets: np.ndarray  # float32 (R,) target distance per relation
    vocab: Vocabulary
    meta: dict = field(default_factory=dict)

    @property
    def n_edges(self) -> int:
        return int(len(self.src))

    def relation_id(self, name: str) -> int:
        return self.relations.index(name)

    def relation_counts(self) -> dict[str, int]:
        counts = np.bincount(self.rel, minlength=len(self.relations))
        return {n: int(c) for n, c in zip(self.relations, counts)}

    def split(self, seed: int = 0, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Seeded random split of edge indices: (train, validation)."""
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError("val_fraction must be in [0, 1)")
        perm = np.random.default_rng(seed).permutation(self.n_edges)
        n_val = int(round(self.n_edges * val_fraction))
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def validate(self, where: str = "graph") -> "Graph":
        """Check shapes, dtypes and ranges; raise `GraphError` with one line if anything is off."""
        n = len(self.src)
        if not (len(self.dst) == len(self.rel) == len(self.conf) == n):
            raise GraphError(f"{where}: edge arrays have different lengths")
        if len(self.targets) != len(self.relations):
            raise GraphError(f"{where}: {len(self.relations)} relations but {len(self.targets)} targets")
        targets = np.asarray(self.targets, dtype=np.float64)
        bad = np.flatnonzero(~(np.isfinite(targets) & (targets >= 0) & (targets <= MAX_TARGET)))
        if len(bad):
            i = int(bad[0])
            raise GraphError(f"{where}: relation {self.relations[i]!r} has target distance {targets[i]}; targets "
                             f"must be finite and in [0, {MAX_TARGET:g}]")
        if n:
            v = self.vocab.size
            for name, arr in (("src", self.src), ("dst", self.dst)):
                lo, hi = int(arr.min()), int(arr.max())
                if lo < 0 or hi >= v:
                    bad = lo if lo < 0 else hi
                    raise GraphError(f"{where}: edge {name} {bad} is outside the vocabulary (size {v})")
            lo, hi = int(self.rel.min()), int(self.rel.max())
            if lo < 0 or hi >= len(self.relations):
                raise GraphError(f"{where}: relation id {hi if hi >= len(self.relations) else lo} is not in the relation table")
            if not np.isfinite(self.conf).all():
                raise GraphError(f"{where}: edge confidences contain NaN or inf")
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Write the graph directory; every file appears whole (a killed build never leaves half a graph),
        the manifest last, so a directory with a manifest is complete."""
        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_error(path, err) from None
        with atomic_open(path / "edges.npz") as f:
            np.savez_compressed(f, src=self.src.astype(np.int32), dst=self.dst.astype(np.int32),
                                rel=self.rel.astype(np.int16), conf=self.conf.astype(np.float32))
        atomic_write_json(path / "vocabulary.json", self.vocab.to_json(), indent=None)
        counts = self.relation_counts()
        table = [{"name": n, "target": float(t), "count": counts[n]} for n, t in zip(self.relations, self.targets)]
        atomic_write_json(path / "relations.json", table)
        manifest = {
            "format": FORMAT,
            **self.meta,
            "n_senses": self.vocab.size,
            "n_edges": self.n_edges,
            "relations": counts,
            "sha256": {name: sha256(path / name) for name in ("edges.npz", "vocabulary.json", "relations.json")},
        }
        atomic_write_json(path / "manifest.json", manifest)
        return path


def read_json(path: Path, error: type[Exception] = GraphError, what: str = ""):
    """JSON from a file, or ``error`` (default `GraphError`) with one line saying it is missing or damaged."""
    return _read_json(path, error, what)


def load_graph(path: str | os.PathLike, verify: bool = True) -> Graph:
    """Load a graph directory (ours, or an original NAOMI-II one).

    Raises:
        GraphError: one line saying what is wrong, for anything missing, corrupt or out of range.
    """
    path = Path(path)
    if not path.is_dir():
        raise GraphError(f"training data directory {path} does not exist "
                         f"(build it with: python -m naomi_nb prepare-wordnet --output {path})")
    if (path / "edges.npz").exists() or (path / "manifest.json").exists():
        return _load_native(path, verify)
    if (path / "training_edges.pkl").exists():
        return load_legacy(path)
    raise GraphError(f"{path} holds no graph (expected edges.npz + manifest.json, or NAOMI-II's training_edges.pkl)")


def _load_native(path: Path, verify: bool) -> Graph:
    manifest = read_json(path / "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GraphError(f"{path}/manifest.json: unknown format {manifest.get('format') if isinstance(manifest, dict) else manifest!r}")
    if verify:
        for name, digest in manifest.get("sha256", {}).items():
            if not (path / name).exists():
                raise GraphError(f"{path / name} is missing")
            if sha256(path / name) != digest:
                raise GraphError(f"{path / name} is corrupt (checksum differs from manifest.json); rebuild the graph")
    try:
        with np.load(path / "edges.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("src", "dst", "rel", "conf")}
    except FileNotFoundError:
        raise GraphError(f"{path / 'edges.npz'} is missing") from None
    except KeyError as e:
        raise GraphError(f"{path / 'edges.npz'} lacks the array {e.args[0]}") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as e:
        raise GraphError(f"{path / 'edges.npz'} is corrupt or truncated ({e.__class__.__name__})") from None
    table = read_json(path / "relations.json")
    try:
        relations = [str(r["name"]) for r in table]
        with np.errstate(over="ignore"):  # a huge target becomes inf, which `validate` refuses in one line
            targets = np.array([float(r["target"]) for r in table], dtype=np.float64).astype(np.float32)
    except (TypeError, KeyError, ValueError, OverflowError):
        raise GraphError(f"{path / 'relations.json'}: expected a list of {{name, target}}") from None
    vocab = Vocabulary.from_json(read_json(path / "vocabulary.json"), where=str(path / "vocabulary.json"))
    meta = {k: v for k, v in manifest.items() if k not in ("sha256",)}
    graph = Graph(arrays["src"].astype(np.int32, copy=False), arrays["dst"].astype(np.int32, copy=False),
                  arrays["rel"].astype(np.int16, copy=False), arrays["conf"].astype(np.float32, copy=False),
                  relations, targets, vocab, meta)
    return graph.validate(str(path))


class _BuiltinsOnly(pickle.Unpickler):
    """Admits lists, tuples, dicts, str, int, float, bool, None and nothing else."""

    def find_class(self, module, name):
        raise GraphError(f"refusing to unpickle {module}.{name}: training_edges.pkl may hold only plain builtins")


def safe_unpickle(data: bytes):
    try:
        return _BuiltinsOnly(io.BytesIO(data)).load()
    except GraphError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of a corrupt pickle is reported as one line
        raise GraphError(f"training_edges.pkl is corrupt or truncated ({e.__class__.__name__})") from None


def load_legacy(path: str | os.PathLike) -> Graph:
    """Load NAOMI-II's ``training_edges.pkl`` (``(src, relation, dst, confidence)`` tuples) + ``vocabulary.json``."""
    path = Path(path)
    vocab = Vocabulary.from_json(read_json(path / "vocabulary.json"), where=str(path / "vocabulary.json"))
    edges = safe_unpickle((path / "training_edges.pkl").read_bytes())
    if not isinstance(edges, (list, tuple)):
        raise GraphError(f"{path / 'training_edges.pkl'}: expected a list of (src, relation, dst, confidence) tuples")
    relations: list[str] = []
    rel_ids: dict[str, int] = {}
    n = len(edges)
    src = np.empty(n, np.int64)
    dst = np.empty(n, np.int64)
    rel = np.empty(n, np.int16)
    conf = np.empty(n, np.float32)
    w2i = vocab.word_to_id
    for k, edge in enumerate(edges):
        try:
            s, r, d, c = edge
        except (TypeError, ValueError):
            raise GraphError(f"training_edges.pkl: edge {k} is not a (src, relation, dst, confidence) tuple") from None
        if r not in rel_ids:
            if r not in LEGACY_TARGETS:
                raise GraphError(f"training_edges.pkl: edge {k} has unknown relation {r!r} "
                                 f"(known: {', '.join(sorted(LEGACY_TARGETS))})")
            rel_ids[r] = len(relations)
            relations.append(r)
        try:
            src[k] = w2i[s] if isinstance(s, str) else int(s)
            dst[k] = w2i[d] if isinstance(d, str) else int(d)
            conf[k] = float(c)
        except KeyError as e:
            raise GraphError(f"training_edges.pkl: edge {k} names {e.args[0]!r}, which is not in vocabulary.json") from None
        except (TypeError, ValueError, OverflowError):
            raise GraphError(f"training_edges.pkl: edge {k} {edge!r} needs integer or word ends and a number "
                             "as confidence") from None
        rel[k] = rel_ids[r]
    graph = Graph(src.astype(np.int32) if n == 0 or (src.min() >= 0 and src.max() < 2**31) else src,
                  dst.astype(np.int32) if n == 0 or (dst.min() >= 0 and dst.max() < 2**31) else dst,
                  rel, conf, relations,
                  np.array([LEGACY_TARGETS[r] for r in relations], dtype=np.float32), vocab,
                  {"source": "NAOMI-II training_edges.pkl"})
    return graph.validate(str(path))


def tiny_graph(seed: int = 0) -> Graph:
    """A small synthetic graph for unit tests and demos: 6 groups of 6 senses with planted structure.

    Each group's members are synonyms; group g is a hyponym of a group root;
    groups 0/1, 2/3, 4/5 are antonym pairs member-for-member.
    """
    rng = np.random.default_rng(seed)
    words, edges = [], []
    relations = ["synonym", "hypernym", "hyponym", "antonym"]
    targets = np.array([0.1, 0.3, 0.3, 1.0], np.float32)
    for g in range(6):
        for m in range(6):
            words.append(f"w{g}_{m}.n.01.w{g}_{m}")
    root = len(words)
    words.append("root.n.01.root")
    for g in range(6):
        ids = [g * 6 + m for m in range(6)]
        for a in ids:
            for b in ids:
                if a != b and rng.random() < 0.6:
                    edges.append((a, 0, b))
            edges.append((a, 1, root))
            edges.append((root, 2, a))
    for g in (0, 2, 4):
        for m in range(6):
            a, b = g * 6 + m, (g + 1) * 6 + m
            edges.append((a, 3, b))
            edges.append((b, 3, a))
    e = np.array(edges, dtype=np.int64)
    return Graph(e[:, 0].astype(np.int32), e[:, 2].astype(np.int32), e[:, 1].astype(np.int16),
                 np.ones(len(e), np.float32), relations, targets, Vocabulary(words), {"source": "tiny_graph"})
