"""naomi_nb.export: word2vec text per sense or per word, and --format projector (vectors.tsv + metadata.tsv
for TensorBoard's Embedding Projector)."""
import json

import numpy as np
import pytest
from helpers import planted_embeddings, planted_graph

from naomi_nb import export
from naomi_nb.__main__ import main
from naomi_nb.analysis import AnalysisError
from naomi_nb.export import choose_senses
from naomi_nb.graph import Vocabulary, tiny_graph


def _run(tiny, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--training-data", str(tiny), "--output-dir", str(run), "--epochs", "2",
                 "--embedding-dim", "4", "--batch-size", "64", "--no-analyze"]) == 0
    return run


def test_projector_files_match_the_embeddings(tiny, tmp_path, capsys):
    run = _run(tiny, tmp_path)
    capsys.readouterr()
    assert main(["export", str(run), "--format", "projector", "--limit", "10"]) == 0
    assert "first 10 senses in id order (the vocabulary has no per-sense counts)" in capsys.readouterr().out
    vectors = np.loadtxt(run / "projector" / "vectors.tsv", delimiter="\t")
    emb = np.load(run / "embeddings.npy")
    np.testing.assert_allclose(vectors, emb[:10], rtol=1e-5, atol=1e-7)
    meta = (run / "projector" / "metadata.tsv").read_text().splitlines()
    assert meta[0].split("\t") == ["sense", "lemma", "pos", "lexname", "count"]
    words = json.loads((run / "vocabulary.json").read_text())["id_to_word"]
    assert [line.split("\t")[0] for line in meta[1:]] == [words[str(i)] for i in range(10)]


def test_counts_pick_the_frequent_senses_and_are_used_by_the_cli(tiny, tmp_path, capsys):
    vocab = Vocabulary(["a.n.01.a", "b.n.01.b", "c.n.01.c", "d.n.01.d"], count=[0, 5, 9, 5])
    ids, how = choose_senses(vocab, 2)
    assert ids.tolist() == [2, 1] and "2 most frequent senses (of 3" in how
    graph = tiny_graph()
    graph.vocab.count = [0] * graph.vocab.size  # SemCor counts, as a graph built with them has
    graph.vocab.count[7], graph.vocab.count[3] = 4, 11
    counted = graph.save(tmp_path / "counted")
    run = _run(counted, tmp_path)
    data = json.loads((run / "vocabulary.json").read_text())
    assert main(["export", str(run), "--format", "projector", "--output", str(tmp_path / "p")]) == 0
    meta = (tmp_path / "p" / "metadata.tsv").read_text().splitlines()[1:]
    assert [line.split("\t")[0] for line in meta] == [data["id_to_word"]["3"], data["id_to_word"]["7"]]
    assert [line.split("\t")[-1] for line in meta] == ["11", "4"]
    assert np.loadtxt(tmp_path / "p" / "vectors.tsv", delimiter="\t").shape[0] == 2


def load_word2vec(path) -> tuple[list[str], np.ndarray]:
    """Read a word2vec text file (as written by `export_word2vec`, or by gensim).

    Returns:
        ``(keys, vectors)`` with vectors float32 (N, D).

    Raises:
        AnalysisError: one line, for a missing file or a malformed header or row.
    """
    path = __import__("pathlib").Path(path)
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise AnalysisError(f"{path} is missing") from None
    with f:
        header = f.readline().split()
        if len(header) != 2 or not all(h.isdigit() for h in header):
            raise AnalysisError(f"{path}: first line should be 'N D', got {' '.join(header)!r}")
        n, d = map(int, header)
        keys, vectors = [], np.empty((n, d), np.float32)
        for i, line in enumerate(f):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if i >= n or len(parts) != d + 1:
                raise AnalysisError(f"{path}: line {i + 2} has {len(parts) - 1} values, expected {d}"
                                    if i < n else f"{path}: more than the {n} rows the header announces")
            keys.append(parts[0])
            try:
                vectors[i] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise AnalysisError(f"{path}: line {i + 2} holds a value that is not a number") from None
    if len(keys) != n:
        raise AnalysisError(f"{path}: header announces {n} rows, found {len(keys)}")
    return keys, vectors


def test_word2vec_round_trip_per_sense(tmp_path):
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    path = export.export_word2vec(emb, graph.vocab, tmp_path / "senses.txt")
    lines = path.read_text().splitlines()
    assert lines[0] == f"{graph.vocab.size} {emb.shape[1]}"
    # gensim splits each row on single spaces and wants exactly D + 1 fields
    assert all(len(line.split(" ")) == emb.shape[1] + 1 for line in lines[1:])
    keys, vectors = load_word2vec(path)
    assert keys == graph.vocab.id_to_word
    np.testing.assert_allclose(vectors, emb, rtol=1e-5, atol=1e-7)


def test_word2vec_round_trip_per_word(tmp_path):
    vocab = Vocabulary(["bank.n.01.bank", "bank.v.01.bank", "Paris.n.01.Paris", "river.n.01.river"],
                       synset=["bank.n.01", "bank.v.01", "Paris.n.01", "river.n.01"])
    emb = np.array([[1, 2, 3], [3, 2, 1], [0.5, 0, -0.5], [-1, -1, -1]], np.float32)
    path = export.export_word2vec(emb, vocab, tmp_path / "words.txt", per="word")
    keys, vectors = load_word2vec(path)
    assert keys == ["bank", "paris", "river"]  # lemmas, lower-cased, sorted
    np.testing.assert_allclose(vectors, [[2, 2, 2], [0.5, 0, -0.5], [-1, -1, -1]])  # bank = mean of its 2 senses


def test_word2vec_reader_rejects_malformed_files(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\na 1 2 3\nb 1 2\n")
    with pytest.raises(AnalysisError, match="line 3 has 2 values, expected 3"):
        load_word2vec(bad)
    bad.write_text("a 1 2 3\n")
    with pytest.raises(AnalysisError, match="first line"):
        load_word2vec(bad)
    with pytest.raises(AnalysisError, match="per must be"):
        export.export_word2vec(np.zeros((1, 1)), Vocabulary(["a"]), tmp_path / "x.txt", per="lemma")


@pytest.mark.parametrize("fmt, target, message", [
    ("projector", "FILE", "it exists and is not a directory"),
    ("projector", "FILE/sub", "FILE is a file, not a folder"),
    ("word2vec", "DIR", "it is a directory"),
    ("word2vec", "FILE/out.txt", "FILE is a file, not a folder"),
])
def test_an_output_that_cannot_be_written_is_one_line_and_changes_nothing(tiny, tmp_path, capsys, fmt, target,
                                                                          message):
    run = _run(tiny, tmp_path)
    (tmp_path / "FILE").write_text("keep me")
    (tmp_path / "DIR").mkdir()
    capsys.readouterr()
    out = str(tmp_path / target)
    assert main(["export", str(run), "--format", fmt, "--output", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write") and err.count("\n") == 1, err
    assert message.replace("FILE", str(tmp_path / "FILE")) in err
    assert (tmp_path / "FILE").read_text() == "keep me" and list((tmp_path / "DIR").iterdir()) == []
