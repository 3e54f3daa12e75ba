"""Losses in plain PyTorch (naomi_nb/objectives/plain.py): each hand kernel equal to its plain form (values and
gradients, float64, the same draws), the kit's step, validation and buffers, and the seed's loss trained
through autograd (``seed-plain``) as the seed's kernel trains it."""
import types

import numpy as np
import pytest
import torch

from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.edges import EdgeSet, unpack
from naomi_nb.graph import Graph, Vocabulary, tiny_graph
from naomi_nb.objectives.base import sorted_by_source
from naomi_nb.objectives.graded import Graded
from naomi_nb.objectives.negatives import Negatives
from naomi_nb.objectives.plain import Batch, SeedPlain, autograd_step, gather, uniform
from naomi_nb.objectives.ranking import Ranking
from naomi_nb.objectives.seed import Seed

CPU = torch.device("cpu")
TIGHT = dict(rtol=1e-10, atol=1e-12)  # float64: only the order of the sums differs
# a batch of a power of two: the hand kernels scale the packed float32 confidences by 2 / n in float32, exact
# only then (any other n rounds that factor at 1e-8)
N = 64


@pytest.fixture(autouse=True)
def eager():
    """The hand kernels' own code, run eagerly: compiling a float64 variant of each costs minutes on two cores
    and checks nothing here (test_base.py and test_negatives.py run them compiled, against autograd)."""
    import torch._dynamo

    with torch._dynamo.config.patch(disable=True):
        yield


def settings(**kw):
    """The fields the objectives here read, as a namespace (no `TrainConfig` needed)."""
    base = dict(seed=0, negatives=1, negative_sampler="uniform", negative_margin=0.8, negative_weight=0.7,
                corrupt_source=False, inherit_pairs=0.5, graded_hops=4, graded_weight=1.3, ranking_margin=0.5)
    return types.SimpleNamespace(**{**base, **kw})


def build(cls, graph=None, **kw):
    graph = graph or tiny_graph()
    idx = np.arange(graph.n_edges)
    return cls(settings(**kw), graph, idx, EdgeSet(graph, idx, CPU), CPU)


def matrix(graph, dims=6, scale=0.2):
    """float64 rows close enough that many negative pairs sit inside the margin."""
    return torch.randn(graph.vocab.size, dims, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * scale


def hand(objective, W, rows):
    """The hand kernel's step: the gradient it leaves and its term sums."""
    G = torch.zeros_like(W)
    buf = objective.buffers(rows.shape[0], W.shape[1], W.device)
    for name, value in vars(buf).items():  # the work buffers in float64, as the matrix
        if torch.is_tensor(value):
            setattr(buf, name, value.double())
    sums = objective.step(W, G, rows, buf)
    return G, [float(x) for x in sums]


def plain(loss, W, rows, draw=None):
    """The plain form through autograd, on the batch sorted by source as the hand kernels sort it."""
    G = torch.zeros_like(W)
    sums = autograd_step(loss, W, G, sorted_by_source(rows), draw)
    return G, {name: float(x) for name, x in sums.items()}


def test_seed_kernel_equals_its_plain_form():
    graph = tiny_graph()
    seed = build(Seed, graph)
    W = matrix(graph)
    rows = EdgeSet(graph, np.arange(graph.n_edges), CPU).rows[:N]
    G_hand, (distance,) = hand(seed, W, rows)
    G_plain, sums = plain(seed.loss, W, rows)
    torch.testing.assert_close(G_plain, G_hand, **TIGHT)
    assert sums == {"distance": pytest.approx(distance, rel=1e-12)} and distance > 0


@pytest.mark.parametrize("sampler, k, both", [("uniform", 1, False), ("uniform", 1, True), ("uniform", 3, False),
                                              ("uniform", 3, True), ("uniform", 2, True), ("batch", 1, False),
                                              ("batch", 3, False), ("batch", 2, False)])
def test_negatives_kernel_equals_its_plain_form(sampler, k, both):
    """The same chunks and the same sampler draws (the sampler re-seeded alike before each); with k = 2 an
    edge is left outside the chunks, and the tiny graph's 37 senses make draws that hit an edge's end."""
    graph = tiny_graph()
    neg = build(Negatives, graph, negatives=k, negative_sampler=sampler, corrupt_source=both)
    W = matrix(graph)
    rows = EdgeSet(graph, np.arange(graph.n_edges), CPU).rows[:N]
    neg.start_epoch(torch.Generator().manual_seed(1))
    G_hand, sums = hand(neg, W, rows)
    neg.start_epoch(torch.Generator().manual_seed(1))
    G_plain, plain_sums = plain(neg.loss, W, rows, neg.draw)
    torch.testing.assert_close(G_plain, G_hand, **TIGHT)
    # the plain terms are per-edge losses: their sums over n edges are the hand kernel's epoch means times n
    means = neg.means(sums, rows.shape[0], "train")
    assert {t: v / rows.shape[0] for t, v in plain_sums.items()} == pytest.approx(means, rel=1e-12)
    assert means["negative"] > 0
    neg.start_epoch(torch.Generator().manual_seed(1))  # the masks matter: some chunk negatives hit an end
    s, d = unpack(sorted_by_source(rows))[:2]
    inside = slice(0, N // (k + 1) * (k + 1))
    ids = neg.draw(s, d)["negatives"][inside]
    assert ((ids == s[inside, None]) | (ids == d[inside, None])).any()


def test_negatives_plain_draws_are_the_kernels_chunks():
    """Edge c*m + j of a sorted batch shares chunk j's draws; an edge in no chunk gets its own source."""
    neg = build(Negatives, negatives=3)
    neg.start_epoch(torch.Generator().manual_seed(2))
    s, d = torch.arange(10), torch.arange(10, 20)
    ids = neg.draw(s, d)["negatives"]
    m = 10 // 4
    assert ids.shape == (10, 3)
    for c in range(4):
        assert torch.equal(ids[c * m:(c + 1) * m], ids[:m])
    assert torch.equal(ids[8:], s[8:, None].expand(-1, 3))


def chains(length=6, width=7):
    """``width`` hypernym chains of ``length`` senses, each link a hypernym edge and its hyponym edge: 70
    edges, 63 (sense, ancestor) pairs 2 to 4 links up."""
    src = [a for i in range(width) for j in range(length - 1) for a in (i * length + j, i * length + j + 1)]
    dst = [b for i in range(width) for j in range(length - 1) for b in (i * length + j + 1, i * length + j)]
    n = width * length
    return Graph(np.array(src, np.int32), np.array(dst, np.int32), np.array([1, 2] * (len(src) // 2), np.int16),
                 np.ones(len(src), np.float32), ["synonym", "hypernym", "hyponym"],
                 np.array([0.1, 0.3, 0.3], np.float32),
                 Vocabulary([f"s{k}.n.01.s{k}" for k in range(n)]), {"source": "chains"})


def test_graded_kernel_equals_its_plain_form():
    """The whole step: the negatives' terms by `Negatives.loss` and the pair term by `Graded.pair_loss` over
    the pairs the step draws (the same generator state)."""
    graph = chains()
    graded = build(Graded, graph, graded_weight=1.25)  # exact in float32, as the kernel's c * weight
    assert len(graded.pairs) > 0
    W = matrix(graph)
    rows = EdgeSet(graph, np.arange(graph.n_edges), CPU).rows[:N]
    graded.start_epoch(torch.Generator().manual_seed(3))
    G_hand, sums = hand(graded, W, rows)
    graded.start_epoch(torch.Generator().manual_seed(3))
    G_plain, plain_sums = plain(graded.loss, W, rows, graded.draw)
    h = int(rows.shape[0] * graded.share)  # the pairs the step draws, as `PairTerm.step` draws them
    pick = torch.randint(0, len(graded.pairs), (h,), generator=graded.gen)
    drawn = graded.pairs.index_select(0, torch.sort(pick).values)
    G_pairs = torch.zeros_like(W)
    (pair_sum,) = autograd_step(graded.pair_loss, W, G_pairs, drawn).values()
    torch.testing.assert_close(G_plain + G_pairs, G_hand, **TIGHT)
    assert float(pair_sum) == pytest.approx(graded.pair_weight * sums[2], rel=1e-12) and sums[2] > 0
    assert plain_sums["distance"] == pytest.approx(sums[0], rel=1e-12)


def test_the_kit_backpropagates_the_batch_mean_and_returns_term_sums():
    """The ranking objective's step against the same loss written on the whole matrix, one autograd call."""
    graph = tiny_graph()
    rank = build(Ranking, graph, ranking_margin=0.6)
    W = matrix(graph, scale=0.1)
    rows = EdgeSet(graph, np.arange(graph.n_edges), CPU).rows[:60]
    rank.start_epoch(torch.Generator().manual_seed(4))
    G = torch.zeros_like(W)
    distance, ranking = rank.step(W, G, rows, rank.buffers(60, 6, CPU))
    assert torch.equal(W, matrix(graph, scale=0.1))  # the step writes the gradient, never the weights
    rank.start_epoch(torch.Generator().manual_seed(4))
    s, d, t, c = unpack(sorted_by_source(rows))
    n = uniform(s, d, graph.vocab.size, rank.gen)
    assert not ((n == s) | (n == d)).any()
    E = W.clone().requires_grad_(True)
    near, far = (torch.linalg.vector_norm(E[s] - E[x], dim=1) for x in (d, n))
    dist = c * (near - t) ** 2
    rk = torch.clamp(0.6 + near - far, min=0)
    (dist + rk).mean().backward()
    torch.testing.assert_close(G, E.grad, **TIGHT)
    assert float(distance) == pytest.approx(float(dist.detach().sum()), rel=1e-12)
    assert float(ranking) == pytest.approx(float(rk.detach().sum()), rel=1e-12) and float(ranking) > 0


def test_plain_validation_is_fixed_across_epochs_and_chunk_sizes():
    graph = tiny_graph()
    rank = build(Ranking, graph)
    val = EdgeSet(graph, np.arange(graph.n_edges), CPU)
    W = matrix(graph, scale=0.1)
    first = [float(x) for x in rank.validation_sums(W, val, rank.buffers(64, 6, CPU))]
    rank.start_epoch(torch.Generator().manual_seed(9))  # a new epoch: the step's draws change, not validation's
    again = [float(x) for x in rank.validation_sums(W, val, rank.buffers(7, 6, CPU))]
    assert again == pytest.approx(first, rel=1e-12)
    # and they are the loss over every validation edge against negatives drawn once from the seed
    s, d, t, c = unpack(val.rows)
    n = uniform(s, d, graph.vocab.size, torch.Generator().manual_seed(rank.cfg.seed + 1))
    near, far = (torch.linalg.vector_norm(W[s] - W[x], dim=1) for x in (d, n))
    expected = [float((c * (near - t) ** 2).sum()), float(torch.clamp(0.5 + near - far, min=0).sum())]
    assert first == pytest.approx(expected)
    assert rank.means(first, len(val), "val") == pytest.approx({"distance": first[0] / len(val),
                                                                "ranking": first[1] / len(val)})


def test_a_batch_names_its_rows_and_ids():
    W = torch.arange(12.0).view(6, 2)
    rows = torch.tensor([[0, 1, 0, 0], [2, 3, 0, 0]], dtype=torch.int32)
    batch = gather(W, rows, {"negative": torch.tensor([[4, 5], [5, 4]])})
    assert isinstance(batch, Batch) and len(batch) == 2
    assert torch.equal(batch.target, W[[1, 3]]) and batch.negative.shape == (2, 2, 2)
    assert torch.equal(batch.ids["negative"], torch.tensor([[4, 5], [5, 4]]))
    with pytest.raises(AttributeError, match="no rows named 'nope'"):
        batch.nope


def test_a_plain_objective_preallocates_nothing_and_counts_autograds_temporaries():
    rank = build(Ranking)
    buf = rank.buffers(100, 8, CPU)
    assert buf.rows == 100 and not any(isinstance(v, torch.Tensor) for v in vars(buf).values())
    assert Ranking.buffer_units(rank.cfg) > SeedPlain.buffer_units(rank.cfg) >= 4


def cfg_for(tmp_path, name, **kw):
    base = dict(output_dir=str(tmp_path / name), epochs=12, batch_size=64, embedding_dim=8, analyze=False,
                patience=100, checkpoint_seconds=1e9, device="cpu", lr=0.02, objective="seed")
    return TrainConfig(**{**base, **kw})


def test_the_seeds_plain_form_trains_as_the_seed(tmp_path):
    graph = tiny_graph()
    hand_run = T.train(cfg_for(tmp_path, "s", epochs=4), graph=graph)
    plain_run = T.train(cfg_for(tmp_path, "p", objective="seed-plain", epochs=4), graph=graph)
    for key in ("train_distance", "val_distance"):
        # the same shuffles (a plain objective that draws nothing leaves the run's generator alone): only the
        # float32 rounding of the two gradients differs
        assert [r[key] for r in plain_run.history] == pytest.approx([r[key] for r in hand_run.history], rel=1e-4)
