"""Exporting a run's embeddings: word2vec text format (one vector per sense or per word), and the TSV pair
TensorBoard's Embedding Projector loads (``vectors.tsv`` + ``metadata.tsv``; load them at
https://projector.tensorflow.org or in TensorBoard's projector tab, which handle some ten thousand points
comfortably, so that export is capped and prefers frequent senses)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .analysis import AnalysisError, row_chunks
from .files import atomic_open, check_writable_directory, check_writable_file
from .graph import Vocabulary


def _clean_key(key: str) -> str:
    return "_".join(key.split()) or "_"


def word_vectors(emb: np.ndarray, vocab: Vocabulary) -> tuple[list[str], np.ndarray]:
    """One vector per lemma: the mean of its senses' rows; lemmas lower-cased, sorted.

    Returns:
        ``(lemmas, vectors)`` with vectors float32 (W, D).
    """
    from scipy import sparse

    lemmas = np.asarray([vocab.lemma_of(i).lower() for i in range(vocab.size)])
    words, inverse = np.unique(lemmas, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(words)).astype(np.float32)
    # a (W, V) averaging matrix: row w has 1/count at each of w's senses
    mean = sparse.csr_matrix((1.0 / counts[inverse], (inverse, np.arange(vocab.size))),
                             shape=(len(words), vocab.size), dtype=np.float32)
    return [str(w) for w in words], np.asarray(mean @ emb, dtype=np.float32)


def export_word2vec(embeddings: np.ndarray, vocab: Vocabulary, path: str | os.PathLike, per: str = "sense",
                    precision: int = 6) -> Path:
    """Write word2vec text format: a ``"N D"`` header, then ``key v1 v2 ... vD`` per line.

    gensim reads it with ``KeyedVectors.load_word2vec_format(path)``.
    Whitespace inside a key (none in WordNet) becomes ``_``.

    Args:
        embeddings: (V, D) embeddings.
        vocab: the run's vocabulary.
        path: output file.
        per: ``"sense"`` (key = sense key, one line per row) or ``"word"``
            (key = lower-cased lemma, the mean of its senses).
        precision: significant digits per value.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.parent.exists():
        check_writable_file(path)  # before the vectors are averaged and formatted: one line, nothing written
    else:
        check_writable_directory(path.parent)  # made below, with its parents
    if per == "sense":
        keys, vectors = [_clean_key(w) for w in vocab.id_to_word], embeddings
    elif per == "word":
        keys, vectors = word_vectors(embeddings, vocab)
        keys = [_clean_key(k) for k in keys]
    else:
        raise AnalysisError(f"per must be 'sense' or 'word' (got {per!r})")
    if len(keys) != len(vectors):
        raise AnalysisError(f"{len(vectors)} vectors for {len(keys)} keys")
    path.parent.mkdir(parents=True, exist_ok=True)
    n, d = vectors.shape
    row_format = "%s " + " ".join([f"%.{precision}g"] * d) + "\n"
    with atomic_open(path, "w") as f:
        f.write(f"{n} {d}\n")
        for sl in row_chunks(n, d, 1 << 20):
            f.write("".join(row_format % (key, *row) for key, row in zip(keys[sl], vectors[sl].tolist())))
    return path


PROJECTOR_COLUMNS = ("sense", "lemma", "pos", "lexname", "count")


def choose_senses(vocab: Vocabulary, limit: int) -> tuple[np.ndarray, str]:
    """At most ``limit`` sense ids, and how they were chosen.

    With per-sense SemCor counts (``vocab.count``): the senses seen at least once, most frequent first (ties
    in id order). Without: the first ``limit`` senses in id order.
    """
    n = vocab.size
    if vocab.count is not None:
        c = np.asarray(vocab.count, dtype=np.int64)
        seen = np.flatnonzero(c > 0)
        order = seen[np.lexsort((seen, -c[seen]))][:limit]
        return order, f"the {len(order):,} most frequent senses (of {len(seen):,} with a SemCor count > 0)"
    return np.arange(min(limit, n)), (f"the first {min(limit, n):,} senses in id order "
                                      "(the vocabulary has no per-sense counts)")


def _cell(x) -> str:
    return str(x).replace("\t", " ").replace("\n", " ")


def export_projector(emb: np.ndarray, vocab: Vocabulary, out_dir: str | os.PathLike,
                     limit: int = 10000) -> tuple[Path, Path, str]:
    """Write ``vectors.tsv`` (one row of tab-separated values per sense) and ``metadata.tsv`` (a header
    row, then sense key, lemma, pos, lexname, count per sense) into ``out_dir``.

    Returns:
        (vectors path, metadata path, how the senses were chosen)
    """
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"limit must be a whole number >= 1 (got {limit!r})")
    out = Path(out_dir)
    check_writable_directory(out)  # an existing file there is one line, not a FileExistsError
    out.mkdir(parents=True, exist_ok=True)
    ids, how = choose_senses(vocab, limit)
    vectors, metadata = out / "vectors.tsv", out / "metadata.tsv"
    with atomic_open(vectors, "w") as f:
        np.savetxt(f, np.asarray(emb, dtype=np.float32)[ids], delimiter="\t", fmt="%.6g")
    rows = ["\t".join(PROJECTOR_COLUMNS)]
    for i in ids:
        rows.append("\t".join(_cell(x) for x in (
            vocab.id_to_word[i], vocab.lemma_of(i), vocab.pos[i] if vocab.pos else "",
            vocab.lexname[i] if vocab.lexname else "", vocab.count[i] if vocab.count is not None else "")))
    with atomic_open(metadata, "w") as f:
        f.write("\n".join(rows) + "\n")
    return vectors, metadata, how
