"""The graph on disk: round trip, the NAOMI-II format, and one-line rejections of bad input."""
import json
import pickle

import numpy as np
import pytest

from naomi_nb.graph import GraphError, load_graph, tiny_graph


def test_round_trip_and_split(tmp_path):
    g = tiny_graph()
    g.save(tmp_path / "g")
    h = load_graph(tmp_path / "g")
    assert h.vocab.id_to_word == g.vocab.id_to_word
    for name in ("src", "dst", "rel", "conf"):
        assert np.array_equal(getattr(h, name), getattr(g, name))
    assert h.src.dtype == np.int32 and h.rel.dtype == np.int16 and h.conf.dtype == np.float32
    tr, va = h.split(seed=3, val_fraction=0.1)
    assert len(va) == round(0.1 * h.n_edges) and len(np.intersect1d(tr, va)) == 0
    assert len(tr) + len(va) == h.n_edges
    assert np.array_equal(va, h.split(seed=3, val_fraction=0.1)[1])  # seeded
    assert not np.array_equal(va, h.split(seed=4, val_fraction=0.1)[1])
    vocab = json.loads((tmp_path / "g" / "vocabulary.json").read_text())
    assert vocab["vocab_size"] == g.vocab.size and vocab["id_to_word"]["0"] == g.vocab.id_to_word[0]
    assert vocab["word_to_id"][g.vocab.id_to_word[5]] == 5


def _legacy(tmp_path, edges, words=("dog", "cat", "animal")):
    d = tmp_path / "legacy"
    d.mkdir()
    (d / "vocabulary.json").write_text(json.dumps({
        "word_to_id": {w: i for i, w in enumerate(words)},
        "id_to_word": {str(i): w for i, w in enumerate(words)}, "vocab_size": len(words)}))
    (d / "training_edges.pkl").write_bytes(pickle.dumps(edges))
    return d


def test_loads_the_original_naomi_format(tmp_path):
    d = _legacy(tmp_path, [(0, "hypernym", 2, 1.0), ("cat", "hypernym", "animal", 0.5), (0, "antonym", 1, 1.0)])
    g = load_graph(d)
    assert g.n_edges == 3
    assert [g.relations[r] for r in g.rel] == ["hypernym", "hypernym", "antonym"]
    assert list(g.src) == [0, 1, 0] and list(g.dst) == [2, 2, 1]
    assert g.targets[g.relations.index("antonym")] == pytest.approx(1.0)
    assert g.conf[1] == pytest.approx(0.5)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("edges, message", [
    ([Evil()], "refusing to unpickle builtins.print"),
    ([(0, "hypernym", 7, 1.0)], "outside the vocabulary"),
    ([(0, "is_friend_of", 1, 1.0)], "unknown relation 'is_friend_of'"),
    ([(0, "hypernym", "unicorn", 1.0)], "'unicorn', which is not in vocabulary.json"),
    ([(0, "hypernym")], "not a (src, relation, dst, confidence) tuple"),
])
def test_legacy_rejections_are_one_line(tmp_path, edges, message, capsys):
    d = _legacy(tmp_path, edges)
    with pytest.raises(GraphError) as err:
        load_graph(d)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "pwned" not in capsys.readouterr().out


def test_truncated_pickle(tmp_path):
    d = _legacy(tmp_path, [(0, "hypernym", 2, 1.0)] * 50)
    data = (d / "training_edges.pkl").read_bytes()
    (d / "training_edges.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphError, match="corrupt or truncated"):
        load_graph(d)


def test_truncated_npz_and_checksum(tmp_path):
    tiny_graph().save(tmp_path / "g")
    npz = tmp_path / "g" / "edges.npz"
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphError, match="checksum"):
        load_graph(tmp_path / "g")
    with pytest.raises(GraphError, match="corrupt or truncated"):
        load_graph(tmp_path / "g", verify=False)


def test_edge_outside_vocabulary_and_unknown_relation_id(tmp_path):
    g = tiny_graph()
    g.dst[3] = g.vocab.size + 5
    g.save(tmp_path / "a")
    with pytest.raises(GraphError, match=f"edge dst {g.vocab.size + 5} is outside the vocabulary"):
        load_graph(tmp_path / "a")
    g = tiny_graph()
    g.rel[0] = 9
    g.save(tmp_path / "b")
    with pytest.raises(GraphError, match="relation id 9 is not in the relation table"):
        load_graph(tmp_path / "b")


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "manifest.json").write_text("{not json"), "not valid JSON"),
    (lambda d: (d / "vocabulary.json").unlink(), "vocabulary.json is missing"),
    (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
])
def test_damaged_directory(tmp_path, damage, message):
    tiny_graph().save(tmp_path / "g")
    damage(tmp_path / "g")
    with pytest.raises(GraphError, match=message):
        load_graph(tmp_path / "g")


def test_missing_directory_names_the_command_to_build_it(tmp_path):
    with pytest.raises(GraphError, match="prepare-wordnet --output"):
        load_graph(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GraphError, match="holds no graph"):
        load_graph(tmp_path / "empty")


def test_saving_a_graph_where_no_directory_can_be_made_is_one_line(tmp_path):
    from naomi_nb.files import WriteError

    (tmp_path / "FILE").write_text("keep me")
    with pytest.raises(WriteError, match=r"^cannot write .*FILE/g: "):
        tiny_graph().save(tmp_path / "FILE" / "g")
    assert (tmp_path / "FILE").read_text() == "keep me"
