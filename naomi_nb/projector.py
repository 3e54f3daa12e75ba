"""Embeddings for TensorBoard's Embedding Projector: ``vectors.tsv`` + ``metadata.tsv``.

Load them at https://projector.tensorflow.org ("Load") or in TensorBoard's projector tab. The projector
handles some ten thousand points comfortably, so the export is capped and prefers frequent senses.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .graph import Vocabulary

METADATA_COLUMNS = ("sense", "lemma", "pos", "lexname", "count")


def choose_senses(vocab: Vocabulary, limit: int, counts=None) -> tuple[np.ndarray, str]:
    """At most ``limit`` sense ids, and how they were chosen.

    With per-sense corpus counts (``vocabulary.json``'s ``count``, SemCor through NLTK's ``lemma.count()``):
    the senses seen at least once, most frequent first (ties in id order). Without: the first ``limit``
    senses in id order.
    """
    n = vocab.size
    if counts is not None and len(counts) == n:
        c = np.asarray(counts, dtype=np.int64)
        seen = np.flatnonzero(c > 0)
        order = seen[np.lexsort((seen, -c[seen]))][:limit]
        return order, f"the {len(order):,} most frequent senses (of {len(seen):,} with a corpus count > 0)"
    return np.arange(min(limit, n)), (f"the first {min(limit, n):,} senses in id order "
                                      "(the vocabulary has no per-sense counts)")


def _cell(x) -> str:
    return str(x).replace("\t", " ").replace("\n", " ")


def export_projector(emb: np.ndarray, vocab: Vocabulary, out_dir: str | os.PathLike, limit: int = 10000,
                     counts=None) -> tuple[Path, Path, str]:
    """Write ``vectors.tsv`` (one row of tab-separated values per sense) and ``metadata.tsv`` (a header
    row, then sense key, lemma, pos, lexname, count per sense) into ``out_dir``.

    Returns:
        (vectors path, metadata path, how the senses were chosen)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids, how = choose_senses(vocab, limit, counts)
    vectors, metadata = out / "vectors.tsv", out / "metadata.tsv"
    np.savetxt(vectors, np.asarray(emb, dtype=np.float32)[ids], delimiter="\t", fmt="%.6g")
    rows = ["\t".join(METADATA_COLUMNS)]
    for i in ids:
        rows.append("\t".join(_cell(x) for x in (
            vocab.word_of(i), vocab.lemma_of(i), vocab.pos[i] if vocab.pos else "",
            vocab.lexname[i] if vocab.lexname else "", counts[i] if counts is not None and len(counts) == vocab.size else "")))
    metadata.write_text("\n".join(rows) + "\n")
    return vectors, metadata, how
