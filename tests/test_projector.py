"""export --format projector: vectors.tsv + metadata.tsv for TensorBoard's Embedding Projector."""
import json

import numpy as np

from naomi_nb.__main__ import main
from naomi_nb.graph import Vocabulary
from naomi_nb.export import choose_senses


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
    run = _run(tiny, tmp_path)
    data = json.loads((run / "vocabulary.json").read_text())
    data["count"] = [0] * data["vocab_size"]
    data["count"][7], data["count"][3] = 4, 11
    (run / "vocabulary.json").write_text(json.dumps(data))
    assert main(["export", str(run), "--format", "projector", "--output", str(tmp_path / "p")]) == 0
    meta = (tmp_path / "p" / "metadata.tsv").read_text().splitlines()[1:]
    assert [line.split("\t")[0] for line in meta] == [data["id_to_word"]["3"], data["id_to_word"]["7"]]
    assert [line.split("\t")[-1] for line in meta] == ["11", "4"]
    assert np.loadtxt(tmp_path / "p" / "vectors.tsv", delimiter="\t").shape[0] == 2
