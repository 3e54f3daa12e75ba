"""naomi_nb/measuring.py: the measures' context, the rotation control and the runner."""
import numpy as np
import pytest

from helpers import planted_embeddings, planted_graph
from naomi_nb import measuring
from naomi_nb.analysis import AnalysisError
from naomi_nb.graph import Vocabulary



def test_random_rotation_is_a_seeded_proper_rotation_that_keeps_distances_and_mixes_axes():
    q = measuring.random_rotation(16, seed=3)
    np.testing.assert_allclose(q.T @ q, np.eye(16), atol=1e-12)
    assert np.linalg.det(q) == pytest.approx(1.0)
    np.testing.assert_array_equal(q, measuring.random_rotation(16, seed=3))
    assert not np.allclose(q, measuring.random_rotation(16, seed=4))
    x = np.random.default_rng(0).standard_normal((20, 16))
    y = x @ q
    def distances(z):
        return np.linalg.norm(z[:, None] - z[None], axis=2)

    np.testing.assert_allclose(distances(y), distances(x), atol=1e-10)
    assert np.abs(q).max() < 0.9  # every axis is mixed into several
    # uniform over rotations: the entries of many draws have mean 0 and variance 1/d, the diagonal included
    draws = np.stack([measuring.random_rotation(4, seed=s) for s in range(2000)])
    assert np.abs(draws.mean(axis=0)).max() < 0.05
    np.testing.assert_allclose(draws.var(axis=0), 0.25, atol=0.03)


def test_axis_advantage_flags_what_a_rotation_reaches_too():
    good = measuring.axis_advantage(0.30, 0.20)
    assert good["advantage"] == pytest.approx(0.10) and good["space_not_axes"] is False
    assert measuring.axis_advantage(0.20, 0.20)["space_not_axes"] is True  # no advantage
    assert measuring.axis_advantage(0.19, 0.20)["space_not_axes"] is True  # the rotation reads better
    within = 0.20 * (1 + measuring.ROTATION_BAND / 2)  # inside the noise band
    assert measuring.axis_advantage(within, 0.20)["space_not_axes"] is True
    assert measuring.axis_advantage(None, 0.2) == {"axes": None, "rotated": 0.2, "advantage": None,
                                                  "space_not_axes": None}


def _counted(graph):
    """The planted graph with every sense tagged in SemCor, so the readability measures see them all."""
    v = graph.vocab
    graph.vocab = Vocabulary(v.id_to_word, synset=v.synset, lexname=v.lexname, count=[1] * v.size)
    return graph


def test_context_computes_shared_things_once_and_rotates_only_the_rows_asked_for(monkeypatch):
    from naomi_nb import semantics

    graph = _counted(planted_graph())
    emb = planted_embeddings(graph.vocab.size)
    calls = []
    real = semantics.frequent_senses
    monkeypatch.setattr(semantics, "frequent_senses", lambda vocab: calls.append(1) or real(vocab))
    ctx = measuring.Context(emb, graph.vocab, graph, seed=2, k=5, wordnet=None)
    rot = ctx.rotated()
    assert rot is ctx.rotated() and rot.base is ctx and ctx.wordnet is None and rot.wordnet is None
    np.testing.assert_allclose(rot.frequent_emb, emb[ctx.frequent] @ measuring.random_rotation(6, 2), atol=1e-6)
    assert "emb" not in rot._own  # the readability measures read the frequent rows: the table is not rotated
    assert rot.frequent is ctx.frequent and len(calls) == 1  # shared, computed once
    assert rot.val_idx is ctx.val_idx
    np.testing.assert_allclose(np.linalg.norm(rot.emb, axis=1), np.linalg.norm(emb, axis=1), rtol=1e-5)
    with pytest.raises(AnalysisError, match="not rotated again"):
        rot.rotated()


def test_run_measures_controls_readability_measures_only_and_never_reruns_the_others(monkeypatch):
    from naomi_nb import components, semantics

    calls = []
    real = semantics.reconstruction
    import naomi_nb.measures.reconstruction as recon

    monkeypatch.setattr(recon, "reconstruct", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    graph = _counted(planted_graph())
    ctx = measuring.Context(planted_embeddings(graph.vocab.size), graph.vocab, graph, seed=0, k=5, wordnet=None)
    out = measuring.run_measures(ctx)
    assert list(out) == list(components.registry("measure"))
    assert len(calls) == 1  # the rotation-invariant measures run once
    controlled = {name for name, m in out.items() if m["rotation"] is not None}
    assert controlled == {"intrusion", "categories", "hubs"}
    assert set(out["categories"]["rotation"]) == {"is_dimension", "is_category", "purity"}
    for name in controlled:
        assert out[name]["rotated_seconds"] is not None
        for figure, c in out[name]["rotation"].items():
            assert c["axes"] == out[name]["result"][figure]
            if c["axes"] is not None:  # purity takes 10 senses per pole; the planted lexnames have 5 each
                assert c["advantage"] == pytest.approx(c["axes"] - c["rotated"])
    assert out["validation"]["rotation"] is None and "reconstruction" not in ctx.rotated()._own["results"]
