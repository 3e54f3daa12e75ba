"""WordNet 3.0 (through NLTK) -> a sense-level relation graph.

Finding WordNet, in this order:
1. an explicit dict directory (``--wordnet-dir`` or ``$NAOMI_NB_WORDNET_DIR``),
   assembled into an NLTK-readable layout;
2. NLTK's own data (``nltk.download('wordnet')`` puts it there);
3. a system WordNet dict directory (Debian's ``wordnet-base`` +
   ``wordnet-sense-index`` put one in ``/usr/share/wordnet``), assembled;
4. ``nltk.download('wordnet')`` when the machine is online (Colab).

"Assembled" means: the dict files are copied (NLTK refuses symlinks that
leave its data path) into ``<nltk_data>/corpora/wordnet`` and the
``lexnames`` file that Debian does not ship is written.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from .files import check_writable_directory
from .graph import Graph, GraphError, Vocabulary

SYSTEM_WORDNET_DIRS = ("/usr/share/wordnet", "/usr/local/share/wordnet", "/usr/local/WordNet-3.0/dict")

# the 45 lexicographer files of WordNet 3.0, in their fixed order, with the
# part-of-speech number NLTK's reader expects in the third column
LEXNAMES = [
    ("adj.all", 3), ("adj.pert", 3), ("adv.all", 4), ("noun.Tops", 1),
    ("noun.act", 1), ("noun.animal", 1), ("noun.artifact", 1), ("noun.attribute", 1),
    ("noun.body", 1), ("noun.cognition", 1), ("noun.communication", 1), ("noun.event", 1),
    ("noun.feeling", 1), ("noun.food", 1), ("noun.group", 1), ("noun.location", 1),
    ("noun.motive", 1), ("noun.object", 1), ("noun.person", 1), ("noun.phenomenon", 1),
    ("noun.plant", 1), ("noun.possession", 1), ("noun.process", 1), ("noun.quantity", 1),
    ("noun.relation", 1), ("noun.shape", 1), ("noun.state", 1), ("noun.substance", 1),
    ("noun.time", 1), ("verb.body", 2), ("verb.change", 2), ("verb.cognition", 2),
    ("verb.communication", 2), ("verb.competition", 2), ("verb.consumption", 2),
    ("verb.contact", 2), ("verb.creation", 2), ("verb.emotion", 2), ("verb.motion", 2),
    ("verb.perception", 2), ("verb.possession", 2), ("verb.social", 2), ("verb.stative", 2),
    ("verb.weather", 2), ("adj.ppl", 3),
]
REQUIRED_FILES = [f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")]
OPTIONAL_FILES = ["adj.exc", "adv.exc", "noun.exc", "verb.exc", "index.sense", "cntlist.rev", "cntlist"]

# Relation table: name -> (target distance, WordNet pointer symbols).
# The seed fixes synonym 0.1, similar 0.2, hypernym/hyponym 0.3,
# meronym/holonym 0.5 and antonym 1.0; the rest are ours, placed by how
# close in meaning the two ends of such a pointer are (see README).
# "synonym" has no pointer: it joins the lemmas of one synset.
RELATIONS: dict[str, tuple[float, tuple[str, ...]]] = {
    "synonym": (0.1, ()),
    "similar": (0.2, ("&",)),
    "verb_group": (0.2, ("$",)),
    "derivation": (0.25, ("+",)),
    "pertainym": (0.25, ("\\",)),
    "participle": (0.25, ("<",)),
    "hypernym": (0.3, ("@",)),
    "hyponym": (0.3, ("~",)),
    "instance_hypernym": (0.3, ("@i",)),
    "instance_hyponym": (0.3, ("~i",)),
    "also_see": (0.3, ("^",)),
    "entailment": (0.4, ("*",)),
    "cause": (0.4, (">",)),
    "attribute": (0.4, ("=",)),
    "member_meronym": (0.5, ("%m",)),
    "part_meronym": (0.5, ("%p",)),
    "substance_meronym": (0.5, ("%s",)),
    "member_holonym": (0.5, ("#m",)),
    "part_holonym": (0.5, ("#p",)),
    "substance_holonym": (0.5, ("#s",)),
    "domain_topic": (0.6, (";c",)),
    "domain_topic_member": (0.6, ("-c",)),
    "domain_region": (0.7, (";r",)),
    "domain_region_member": (0.7, ("-r",)),
    "antonym": (1.0, ("!",)),
}
# domain-usage pointers (;u / -u: "slang", "colloquialism") mark register, not
# meaning, and are left out on purpose.
SYMBOL_TO_RELATION = {sym: name for name, (_, syms) in RELATIONS.items() for sym in syms}


class WordNetNotFound(RuntimeError):
    """No usable WordNet anywhere; the message says what to install or run."""


NOT_FOUND_HELP = (
    "WordNet not found: run `python -c \"import nltk; nltk.download('wordnet')\"` (online), "
    "or `apt-get install wordnet-base wordnet-sense-index` (Debian/Ubuntu, offline), "
    "or pass --wordnet-dir DIR pointing at a WordNet 3.0 dict directory"
)


def default_nltk_data_dir() -> Path:
    """Where assembled WordNet goes: ``$NLTK_DATA`` if set, else ``~/nltk_data`` (on NLTK's default path)."""
    env = os.environ.get("NLTK_DATA")
    if env:
        return Path(env.split(os.pathsep)[0])
    return Path.home() / "nltk_data"


def is_wordnet_dict(path: Path) -> bool:
    return all((Path(path) / name).is_file() for name in REQUIRED_FILES)


def assemble_nltk_wordnet(dict_dir: Path, nltk_data: Path | None = None) -> Path:
    """Copy a WordNet dict directory into an NLTK data dir and write ``lexnames``.

    Returns the NLTK data root (the directory holding ``corpora/``).
    """
    dict_dir = Path(dict_dir)
    if not is_wordnet_dict(dict_dir):
        missing = [n for n in REQUIRED_FILES if not (dict_dir / n).is_file()]
        raise WordNetNotFound(f"{dict_dir} is not a WordNet dict directory (missing {', '.join(missing)})")
    root = Path(nltk_data) if nltk_data else default_nltk_data_dir()
    target = root / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        src = dict_dir / name
        if src.is_file():
            dst = target / name
            if not dst.exists() or dst.stat().st_size != src.stat().st_size:
                shutil.copyfile(src, dst)  # a copy, not a symlink: NLTK will not follow one out of its path
    for name in ("adj.exc", "adv.exc", "noun.exc", "verb.exc", "index.sense", "cntlist.rev"):
        if not (target / name).exists():
            # NLTK's reader insists on these files; the graph needs none of them (they serve
            # morphology, sense-key lookups and usage counts), so an empty one stands in
            (target / name).write_text("")
    if not (target / "lexnames").exists():
        lines = [f"{i:02d}\t{name}\t{pos}\n" for i, (name, pos) in enumerate(LEXNAMES)]
        (target / "lexnames").write_text("".join(lines))
    return root


def _try_nltk_reader(extra_path: Path | None = None):
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    if extra_path is not None and str(extra_path) not in nltk.data.path:
        nltk.data.path.insert(0, str(extra_path))
    try:
        root = nltk.data.find("corpora/wordnet")
    except LookupError:
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": we need English only
        return WordNetCorpusReader(root, None)


def load_wordnet(wordnet_dir: str | os.PathLike | None = None, download: bool = True, log=print):
    """Return an NLTK ``WordNetCorpusReader``, finding or assembling WordNet as the module doc says."""
    explicit = wordnet_dir or os.environ.get("NAOMI_NB_WORDNET_DIR")
    if explicit:
        root = assemble_nltk_wordnet(Path(explicit))
        log(f"  WordNet: assembled from {explicit} into {root}")
        return _try_nltk_reader(root)
    reader = _try_nltk_reader()
    if reader is not None:
        return reader
    for candidate in SYSTEM_WORDNET_DIRS:
        if is_wordnet_dict(Path(candidate)):
            root = assemble_nltk_wordnet(Path(candidate))
            log(f"  WordNet: assembled from {candidate} into {root}")
            return _try_nltk_reader(root)
    if download:
        import nltk

        log("  WordNet: not on this machine, trying nltk.download('wordnet') ...")
        try:
            ok = nltk.download("wordnet", quiet=True, raise_on_error=False)
        except Exception:  # noqa: BLE001 - any network failure means "not available"
            ok = False
        if ok:
            reader = _try_nltk_reader()
            if reader is not None:
                return reader
    raise WordNetNotFound(NOT_FOUND_HELP)


def semcor_counts(wn) -> dict[str, int] | None:
    """Sense key -> SemCor tag count, read from WordNet's ``cntlist.rev`` in one pass.

    The same numbers as NLTK's ``lemma.count()`` (which binary-searches this
    file for ``lemma.key()`` and takes the line's last field), about 100 times
    faster over all 206,978 senses (0.1 s instead of 21 s here). A sense
    missing from the file has count 0. None when the file is absent or empty
    (``assemble_nltk_wordnet`` writes an empty one when the dict directory
    has none), so that a graph says "no counts" rather than "all zero".
    """
    try:
        with wn.open("cntlist.rev") as f:
            text = f.read()
    except (OSError, LookupError):
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    counts: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            counts[parts[0]] = int(parts[-1])
    return counts or None


def hyponym_closure(wn, roots) -> list:
    """The synsets of ``roots`` and everything below them (hyponyms and instance hyponyms, transitively).

    Args:
        wn: an NLTK WordNet reader.
        roots: synset names such as ``"mammal.n.01"``.

    Returns:
        The synsets, in the order ``all_synsets()`` reads them (data file, then offset), so that sense
        ids follow the full graph's order.

    Raises:
        GraphError: a root that is not a WordNet synset name.
    """
    from nltk.corpus.reader.wordnet import WordNetError

    seen: dict[tuple[str, int], object] = {}
    stack = []
    for name in roots:
        try:
            stack.append(wn.synset(name))
        except (WordNetError, ValueError, AttributeError):
            raise GraphError(f"--root {name!r} is not a WordNet synset name (for example mammal.n.01)") from None
    while stack:  # iterative: the noun hierarchy is deeper than is comfortable for recursion
        s = stack.pop()
        key = (s._pos, s._offset)
        if key in seen:
            continue
        seen[key] = s
        stack.extend(s.hyponyms())
        stack.extend(s.instance_hyponyms())
    file_order = {p: i for i, p in enumerate(wn._FILEMAP)}  # all_synsets reads adj (with satellites), adv, noun, verb
    return sorted(seen.values(), key=lambda s: (file_order["a" if s._pos == "s" else s._pos], s._offset))


def build_graph(wn, progress: bool = True, roots=None) -> Graph:
    """Turn a WordNet reader into a sense-level `Graph`.

    Vocabulary: every lemma sense, keyed ``synset_name.lemma_name``.
    Edges: one per (pointer, source lemma, target lemma); a synset pointer
    A->B links each lemma of A to each lemma of B, a lemma pointer links the
    two lemmas; synonyms link every ordered pair of lemmas of a synset.
    Each sense also gets its SemCor count (`semcor_counts`; no ``count``
    list at all when WordNet came without ``cntlist.rev``).

    Args:
        wn: an NLTK WordNet reader (`load_wordnet`).
        progress: show progress bars on a terminal.
        roots: synset names (``["mammal.n.01"]``); when given, the vocabulary is the senses of the
            synsets in their hyponym closure (`hyponym_closure`) and only the edges with both ends
            inside are kept, as poincare-embeddings' mammals subtree. The relation table is the full one.
    """
    from tqdm.auto import tqdm

    quiet = None if progress else True  # tqdm's None: a bar only on a terminal, never in a log file
    if roots:
        synsets = hyponym_closure(wn, roots)
    else:
        synsets = []
        bar = tqdm(total=117659, desc="reading synsets", unit="synset", disable=quiet, leave=False)
        for s in wn.all_synsets():
            synsets.append(s)
            bar.update()
        bar.close()

    words: list[str] = []
    pos: list[str] = []
    synset_names: list[str] = []
    lexnames: list[str] = []
    by_key = semcor_counts(wn)
    counts: list[int] | None = [] if by_key is not None else None
    first_lemma: dict[tuple[str, int], int] = {}  # (data file pos, offset) -> id of the synset's first lemma
    n_lemmas: dict[tuple[str, int], int] = {}
    for s in synsets:
        name = s.name()
        key = ("a" if s._pos == "s" else s._pos, s._offset)
        first_lemma[key] = len(words)
        n_lemmas[key] = len(s._lemmas)
        for lemma in s._lemmas:
            words.append(f"{name}.{lemma._name}")
            pos.append(s._pos)
            synset_names.append(name)
            lexnames.append(s._lexname)
            if counts is not None:
                counts.append(by_key.get(lemma._key, 0))

    rel_names = list(RELATIONS)
    rel_index = {n: i for i, n in enumerate(rel_names)}
    src: list[int] = []
    dst: list[int] = []
    rel: list[int] = []
    syn = rel_index["synonym"]
    bar = tqdm(synsets, desc="linking senses", unit="synset", disable=quiet, leave=False)
    for s in bar:
        key = ("a" if s._pos == "s" else s._pos, s._offset)
        base, k = first_lemma[key], n_lemmas[key]
        for i in range(k):
            for j in range(k):
                if i != j:
                    src.append(base + i)
                    dst.append(base + j)
                    rel.append(syn)
        for symbol, targets in s._pointers.items():
            r = SYMBOL_TO_RELATION.get(symbol)
            if r is None:
                continue
            r = rel_index[r]
            for tpos, toff in targets:
                tkey = ("a" if tpos == "s" else tpos, toff)
                if tkey not in first_lemma:
                    continue  # outside a subgraph's closure
                tbase, tk = first_lemma[tkey], n_lemmas[tkey]
                for i in range(k):
                    for j in range(tk):
                        src.append(base + i)
                        dst.append(tbase + j)
                        rel.append(r)
        if s._lemma_pointers:
            lemma_pos = {lemma._name: i for i, lemma in enumerate(s._lemmas)}
            for (lemma_name, symbol), targets in s._lemma_pointers.items():
                r = SYMBOL_TO_RELATION.get(symbol)
                if r is None:
                    continue
                r = rel_index[r]
                i = base + lemma_pos[lemma_name]
                for tpos, toff, tidx in targets:
                    tkey = ("a" if tpos == "s" else tpos, toff)
                    if tkey not in first_lemma:
                        continue  # outside a subgraph's closure
                    src.append(i)
                    dst.append(first_lemma[tkey] + tidx)
                    rel.append(r)

    vocab = Vocabulary(words, pos=pos, synset=synset_names, lexname=lexnames, count=counts)
    src_a = np.asarray(src, dtype=np.int32)
    dst_a = np.asarray(dst, dtype=np.int32)
    rel_a = np.asarray(rel, dtype=np.int16)
    # one edge per (src, rel, dst): WordNet occasionally states a pointer twice
    key = (rel_a.astype(np.int64) * len(words) + src_a) * len(words) + dst_a
    _, keep = np.unique(key, return_index=True)
    keep.sort()
    return Graph(
        src=src_a[keep],
        dst=dst_a[keep],
        rel=rel_a[keep],
        conf=np.ones(len(keep), dtype=np.float32),
        relations=rel_names,
        targets=np.array([RELATIONS[n][0] for n in rel_names], dtype=np.float32),
        vocab=vocab,
        meta={"source": "WordNet", "wordnet_version": wn.get_version(),
              **({"roots": list(roots)} if roots else {})},
    )


def prepare_wordnet(output: str | os.PathLike, wordnet_dir=None, progress: bool = True, log=print,
                    roots=None) -> Graph:
    """Find WordNet, build the graph, write it to ``output``; log counts and time.

    ``roots`` (synset names) restricts the graph to their hyponym closure; see `build_graph`.
    """
    check_writable_directory(output)  # before the minutes of building: a WriteError in one line
    t0 = time.perf_counter()
    log("[1/3] Locating WordNet...")
    wn = load_wordnet(wordnet_dir, log=log)
    log(f"  WordNet {wn.get_version()} at {wn.root}")
    log("[2/3] Building the sense graph" + (f" below {', '.join(roots)}..." if roots else "..."))
    graph = build_graph(wn, progress=progress, roots=roots)
    log(f"  {graph.vocab.size:,} senses, {graph.n_edges:,} directed edges")
    counts = graph.relation_counts()
    width = max(len(n) for n in graph.relations)
    for name, target in zip(graph.relations, graph.targets):
        log(f"    {name:<{width}}  target {target:.2f}  {counts[name]:>9,}")
    log(f"[3/3] Writing {output} ...")
    graph.meta["build_seconds"] = round(time.perf_counter() - t0, 2)
    graph.save(output)
    log(f"  done in {time.perf_counter() - t0:.1f} s")
    return graph
