"""Exporting a run's embeddings: word2vec text format, one vector per sense or per word."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .analysis import AnalysisError, _row_chunks
from .files import atomic_open
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
    if per == "sense":
        keys, vectors = [_clean_key(w) for w in vocab.id_to_word], embeddings
    elif per == "word":
        keys, vectors = word_vectors(embeddings, vocab)
        keys = [_clean_key(k) for k in keys]
    else:
        raise AnalysisError(f"per must be 'sense' or 'word' (got {per!r})")
    if len(keys) != len(vectors):
        raise AnalysisError(f"{len(vectors)} vectors for {len(keys)} keys")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n, d = vectors.shape
    row_format = "%s " + " ".join([f"%.{precision}g"] * d) + "\n"
    with atomic_open(path, "w") as f:
        f.write(f"{n} {d}\n")
        for sl in _row_chunks(n, d, 1 << 20):
            f.write("".join(row_format % (key, *row) for key, row in zip(keys[sl], vectors[sl].tolist())))
    return path
