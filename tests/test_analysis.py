"""Analysis on small graphs with planted structure and on cases small enough to check by hand."""
import numpy as np
import pytest
from helpers import PLANTED, SIZE, planted_embeddings, planted_graph

from naomi_nb import analysis
from naomi_nb import report as rep
from naomi_nb.analysis import AnalysisError
from naomi_nb.graph import Graph, Vocabulary


def test_dimension_stats_hand_case():
    emb = np.zeros((10, 4), np.float32)
    emb[:, 0] = 0.5  # 10/10 active -> saturated
    emb[0:5, 1] = 0.5
    emb[5, 1] = 0.005  # active at eps 1e-6 (6/10 -> moderate), but near zero and inactive at eps 0.01
    emb[0, 2], emb[1, 2] = 0.5, -0.5  # 2/10 -> sparse; column 3 all zero -> unused
    s = analysis.dimension_stats(emb)
    np.testing.assert_allclose(s["activity"], [1.0, 0.6, 0.2, 0.0])
    assert (s["unused"], s["sparse"], s["moderate"], s["dense"]) == (1, 1, 1, 1)
    # 40 entries: 18 nonzero -> 22 exact zeros (55%); plus the 0.005 -> 23 below 0.01 (57.5%)
    assert s["zeros_pct"] == pytest.approx(55.0)
    assert s["sparsity_pct"] == pytest.approx(57.5)
    # active dims per row: rows 0-1 -> 3, rows 2-5 -> 2, rows 6-9 -> 1; sorted 1,1,1,1,2,2,2,2,3,3 -> median 2
    assert s["median_active_dims"] == 2
    # column 2: mean 0, E[x^2] = 2 * 0.25 / 10 = 0.05; column 0 constant -> variance 0
    np.testing.assert_allclose(s["variance"], [0.0, np.var(emb[:, 1]), 0.05, 0.0], atol=1e-7)
    np.testing.assert_allclose(s["l1"], [5.0, 2.505, 1.0, 0.0], rtol=1e-6)
    # the activity threshold comes from the caller (config activity_eps)
    assert analysis.dimension_stats(emb, eps=0.01)["activity"][1] == pytest.approx(0.5)


def test_planted_antonym_dimension_is_the_clearest_axis():
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    axes = analysis.semantic_axes(emb, graph.vocab, graph, k=SIZE)
    top = axes[0]
    assert top["dim"] == PLANTED
    assert top["positive"]["lexname"] == "lex0" and top["negative"]["lexname"] == "lex1"
    assert {s for s, _ in top["positive"]["senses"]} == set(graph.vocab.id_to_word[:SIZE])
    assert all(v < 0 for _, v in top["negative"]["senses"])
    # share 5/5 minus chance 5/41 for both poles
    assert top["coherence"] == pytest.approx(1 - SIZE / graph.vocab.size)
    # every sense has the root as hypernym: a label everything shares must not make the noise axes look clear
    assert all(a["coherence"] < 0.5 for a in axes[1:])
    assert [a["dim"] for a in axes].count(PLANTED) == 1 and len(axes) == emb.shape[1]


def test_one_sided_dimension_ranks_below_a_two_sided_one():
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    emb[2 * SIZE:3 * SIZE, 0] += 1.0  # group 2 high on dimension 0, nothing opposite it
    axes = analysis.semantic_axes(emb, graph.vocab, graph, k=SIZE)
    order = [a["dim"] for a in axes]
    assert order[0] == PLANTED and order[1] == 0
    assert axes[1]["positive"]["coherence"] > 0.8 > axes[1]["negative"]["coherence"]


def test_a_non_negative_code_names_its_axes_by_the_pole_it_has():
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    two_sided = analysis.semantic_axes(emb, graph.vocab, graph, k=SIZE)
    assert " <-> " in analysis.axis_label(two_sided[0])
    emb = np.clip(emb, 0, None)  # no negative values: no negative poles
    axes = analysis.semantic_axes(emb, graph.vocab, graph, k=SIZE)
    named = [a for a in axes if a["positive"]["senses"]]
    assert named and all(analysis.axis_label(a) == analysis.pole_label(a["positive"]) for a in named)
    text = rep.axes_text({"axes": axes})
    assert text and "<->" not in text and "[-]" not in text
    empty = {"positive": {"senses": []}, "negative": {"senses": []}}
    assert analysis.axis_label(empty) == "(inactive)"


def test_antonyms_oppose_on_the_planted_dimension():
    graph = planted_graph()
    emb = planted_embeddings(graph.vocab.size)
    pairs = analysis.antonym_pairs(graph)
    assert len(pairs) == SIZE and (pairs[:, 0] < pairs[:, 1]).all()  # both directions folded into one pair
    pol = analysis.polarity(emb, pairs, threshold=0.5)  # above the noise: only the planted dimension counts
    assert (pol["opposed"] == 1).all() and (pol["agree"] == 0).all()
    assert pol["opposed_per_dim"].tolist() == [SIZE if d == PLANTED else 0 for d in range(emb.shape[1])]
    result = analysis.antonym_analysis(emb, graph)  # default threshold: noise dims oppose sometimes, the planted one always
    assert result["top_dims"][0] == (PLANTED, SIZE)
    assert result["with_opposition"] == 1.0
    assert result["distance"]["mean"] > 1.9  # about |+1 - (-1)|
    assert result["synonym"]["mean"] < result["random_pairs"]["mean"] < result["distance"]["mean"]


def test_nearest_neighbors_l2_and_cosine_disagree_where_they_should():
    vocab = Vocabulary(["x.n.01.x", "x.n.02.x", "far.n.01.far", "near.n.01.near", "zero.n.01.zero"],
                       synset=["x.n.01", "x.n.02", "far.n.01", "near.n.01", "zero.n.01"])
    emb = np.array([[1, 0], [0, -3], [10, 0.1], [0.5, 0.5], [0, 0]], np.float32)
    (first,) = analysis.nearest_neighbors(emb, vocab, "x.n.01.x", k=2)
    # from (1,0): near at 0.707, zero at 1, far at 9.0, x.n.02 at sqrt(10)
    assert [key for key, _ in first["neighbors"]] == ["near.n.01.near", "zero.n.01.zero"]
    assert first["neighbors"][0][1] == pytest.approx(np.sqrt(0.5), rel=1e-5)
    (cos,) = analysis.nearest_neighbors(emb, vocab, 0, k=2, metric="cosine")
    # cosine: far is almost parallel (distance ~5e-5), near at 1 - 0.707; the zero row is at distance 1
    assert [key for key, _ in cos["neighbors"]] == ["far.n.01.far", "near.n.01.near"]
    both = analysis.nearest_neighbors(emb, vocab, "X", k=10)  # a lemma: every sense, case folded
    assert [r["sense"] for r in both] == ["x.n.01.x", "x.n.02.x"]
    for r in both:
        assert len(r["neighbors"]) == 4 and r["sense"] not in {k for k, _ in r["neighbors"]}
    with pytest.raises(AnalysisError, match="no sense of 'nothing'"):
        analysis.nearest_neighbors(emb, vocab, "nothing")
    assert "no sense of" in rep.neighbors_text(emb, vocab, "nothing")


def ranking_case():
    """Senses on a plane: 0 at the origin, 1/2/4 at distance 1 from it, 3 at (2,0), 5 at (3,0), 6..15 at (10..19, 0)."""
    emb = np.zeros((16, 2), np.float32)
    emb[1], emb[2], emb[3], emb[4], emb[5] = (1, 0), (0, 1), (2, 0), (0, -1), (3, 0)
    emb[6:, 0] = np.arange(10, 20)
    return emb


def test_ranks_by_hand():
    emb = ranking_case()
    src, dst = np.array([0, 0, 5, 0]), np.array([3, 1, 0, 15])
    ranks = analysis.rank_targets(emb, src, dst, batch=3)  # batch 3: the blocks must join up
    # 0->3 (d=2): 1, 2, 4 closer                          -> rank 4
    # 0->1 (d=1): tied with 2 and 4 -> 1 + 0 + 2/2        -> rank 2
    # 5->0 (d=3): 3 (d=1) and 1 (d=2) closer, 5 itself out -> rank 3
    # 0->15 (d=19): 1, 2, 4, 3, 5 and 6..14 closer (14)   -> rank 15
    np.testing.assert_allclose(ranks, [4, 2, 3, 15])
    m = analysis.ranking_metrics(ranks)
    assert m["mean_rank"] == pytest.approx(6.0)  # (4 + 2 + 3 + 15) / 4
    assert m["mrr"] == pytest.approx(69 / 240)  # (1/4 + 1/2 + 1/3 + 1/15) / 4 = (15 + 30 + 20 + 4) / 240
    assert m["hits@10"] == pytest.approx(0.75) and m["hits@1"] == 0.0
    # filtered: 1 and 3 are both known targets of 0, so each stops competing with the other
    # 0->3: 1 left out -> 2, 4 closer -> 3;  0->1: 3 was farther anyway -> 2;  5->0: no other target -> 3
    # 0->15: 1 and 3 left out of the 14 closer ones -> 13
    known = (np.array([0, 0, 5]), np.array([1, 3, 0]))
    np.testing.assert_allclose(analysis.rank_targets(emb, src, dst, known=known), [3, 2, 3, 13])


def test_collapsed_embedding_ranks_in_the_middle_not_first():
    emb = np.zeros((16, 3), np.float32)
    ranks = analysis.rank_targets(emb, np.array([0, 7]), np.array([1, 2]))
    # all 15 candidates tied: the target plus 14 others -> 1 + 0 + 14/2
    np.testing.assert_allclose(ranks, [8, 8])


def test_roc_auc_by_hand():
    pos, neg = [0.9, 0.5, 0.5], [0.1, 0.5, 0.7]
    # 0.9 beats all 3; each 0.5 beats 0.1, ties 0.5 (counts 1/2), loses to 0.7 -> (3 + 1.5 + 1.5) / 9
    assert analysis.roc_auc(pos, neg) == pytest.approx(6 / 9)
    assert analysis.roc_auc(neg, pos) == pytest.approx(3 / 9)
    assert analysis.roc_auc([2.0], [1.0, 1.5]) == 1.0
    assert analysis.roc_auc([], [1.0]) is None


def test_validation_metrics_by_hand():
    vocab = Vocabulary(["a.n.01.a", "b.n.01.b", "c.n.01.c", "d.n.01.d"])
    emb = np.array([[0.0], [0.1], [1.0], [0.2]], np.float32)
    graph = Graph(np.array([0, 0, 1, 3], np.int32), np.array([1, 2, 2, 0], np.int32),
                  np.array([0, 2, 1, 0], np.int16), np.ones(4, np.float32), ["synonym", "hypernym", "antonym"],
                  np.array([0.1, 0.3, 1.0], np.float32), vocab)
    v = analysis.validation_metrics(emb, graph, np.arange(4))
    # synonym a-b 0.1 (error 0), synonym d-a 0.2 (error 0.1), antonym a-c 1.0 (0), hypernym b-c 0.9 (0.6)
    assert v["per_relation"]["synonym"]["mae"] == pytest.approx(0.05, abs=1e-6)
    assert v["per_relation"]["hypernym"]["mean_distance"] == pytest.approx(0.9, abs=1e-6)
    assert v["mae"] == pytest.approx(0.7 / 4, abs=1e-6)
    assert v["macro_mae"] == pytest.approx((0.05 + 0.6 + 0) / 3, abs=1e-6)
    assert v["antonym_synonym_auc"] == 1.0  # 1.0 beats 0.1 and 0.2
    # hypernym b->c from b=0.1: a (0.1) and d (0.1) tie, both closer than c (0.9) -> rank 3
    assert v["hypernym_ranking"]["mean_rank"] == pytest.approx(3.0)
    assert (v["hypernym_ranking"]["n_held_out"], v["hypernym_ranking"]["n_sampled"]) == (1, 1)


# ---------------------------------------------------------------- hubs, the rotation control and the measures' context


def test_pole_hubs_counts_the_poles_each_sense_tops():
    positive = [np.array([0, 1, 2]), np.array([0, 3]), np.array([], np.int64)]
    negative = [np.array([4, 0]), np.array([5, 1]), np.array([], np.int64)]
    h = analysis.pole_hubs(positive, negative, n_top=3)
    assert h["n_poles"] == 4 and h["n_slots"] == 9  # the two empty poles do not count
    assert h["top"] == [(0, 3), (1, 2)]  # sense 0 tops three poles, sense 1 two; the rest one each
    assert (h["top_count"], h["top_share"]) == (3, 0.75)
    assert h["distinct"] == pytest.approx(6 / 9)
    assert analysis.pole_hubs([np.array([], np.int64)], [np.array([], np.int64)])["top_share"] is None
