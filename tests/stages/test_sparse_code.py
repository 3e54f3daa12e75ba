"""The sparse overcomplete code (naomi_nb/stages/sparse_code.py): non-negative, capped, sparse, as wide as
asked, the same for the same seed, and run by `train --stage sparse-code`."""
import numpy as np
import pytest
import torch

from naomi_nb import components
from naomi_nb import rundir
from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.errors import ConfigError
from naomi_nb.graph import tiny_graph
from naomi_nb.stages.sparse_code import cap, hold_subtrees, keep_top, scale_lengths, standardize

from helpers import cfg_for

SMALL = dict(stage="sparse-code", sparse_code_dims=48, sparse_code_epochs=6, sparse_code_batch_size=64,
             sparse_code_lr=0.01)
# SPINE's own settings (the stage's defaults are the code measured best on full WordNet): a plain code, for
# tests of one term at a time
SPINE = dict(sparse_code_activation=0.15, sparse_code_sparsity_weight=1.0, sparse_code_hub_weight=0.0,
             sparse_code_top_k=0, sparse_code_unit_rows=False, sparse_code_inherit_weight=0.0,
             sparse_code_subtrees=0, sparse_code_length_power=0.0)


def clusters(n_per=40, groups=6, dims=8, seed=0) -> np.ndarray:
    """Senses in a few tight clusters (as synonyms and siblings sit): a small fixture a code can separate."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (groups, dims))
    return np.concatenate([c + rng.normal(0, 0.1, (n_per, dims)) for c in centres]).astype(np.float32)


def code(x, seed=0, graph=None, log=None, **kw):
    cfg = TrainConfig(**{**SMALL, **kw}, seed=seed)
    return components.get("stage", "sparse-code")(cfg).apply(x, graph, "cpu", log=log)


def test_the_code_is_non_negative_capped_as_wide_as_asked_and_sparse():
    x = clusters()
    h = code(x)
    assert h.shape == (len(x), 48) and h.dtype == np.float32
    assert h.min() >= 0.0 and h.max() <= 1.0
    assert (h == 0).mean() > 0.5  # mostly exact zeros
    assert (h > 0).any(axis=1).all()  # yet every sense has a code
    same_group = np.corrcoef(h[:40])[np.triu_indices(40, 1)].mean()
    across = np.corrcoef(np.concatenate([h[:20], h[40:60]]))[:20, 20:].mean()
    assert same_group > across + 0.3  # a cluster's senses share their active dimensions


def test_the_code_is_the_same_for_the_same_seed_and_differs_for_another():
    x = clusters()
    a, b, c = code(x, seed=3), code(x, seed=3), code(x, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_top_k_bounds_the_active_values_of_every_sense():
    h = code(clusters(), sparse_code_top_k=3)
    assert (np.count_nonzero(h, axis=1) <= 3).all()
    z = torch.tensor([[0.1, 0.5, 0.0, 0.9], [0.3, 0.2, 0.1, 0.0]])
    torch.testing.assert_close(keep_top(z, 2), torch.tensor([[0.0, 0.5, 0.0, 0.9], [0.3, 0.2, 0.0, 0.0]]))
    assert keep_top(z, 0) is z and keep_top(z, 4) is z


def test_the_caps_and_the_standardized_input():
    z = torch.tensor([-1.0, 0.0, 0.5, 3.0])
    torch.testing.assert_close(cap(z, "clamp"), torch.tensor([0.0, 0.0, 0.5, 1.0]))
    t = cap(z, "tanh")
    assert t[0] == 0 and t[1] == 0 and 0 < t[2] < 0.5 and t[3] < 1.0
    x = standardize(torch.tensor([[1.0, 10.0], [3.0, 30.0]]))
    torch.testing.assert_close(x.mean(0), torch.zeros(2))
    assert float(x.pow(2).mean()) == pytest.approx(1.0)
    h = code(clusters(), sparse_code_cap="tanh")
    assert h.min() >= 0.0 and h.max() < 1.0


def test_the_hub_term_spreads_activity_over_senses():
    x = clusters()
    x[:5] *= 6  # a few long vectors: in a plain code they are active almost everywhere
    free = code(x, **{**SPINE, "sparse_code_epochs": 10})
    held = code(x, **{**SPINE, "sparse_code_epochs": 10, "sparse_code_hub_weight": 50.0})
    busiest = lambda h: np.count_nonzero(h, axis=1).max()  # noqa: E731
    assert busiest(held) < busiest(free)


def test_knobs_are_checked_in_one_line():
    with pytest.raises(ConfigError, match=r"--sparse-code-dims must be in \[2, 1000000\] \(got 1\)"):
        TrainConfig(stage="sparse-code", sparse_code_dims=1)
    with pytest.raises(ConfigError, match=r"--sparse-code-activation must be in \(0, 1\)"):
        TrainConfig(sparse_code_activation=1.0)
    with pytest.raises(ConfigError, match="--sparse-code-cap must be one of clamp, tanh"):
        TrainConfig(sparse_code_cap="sigmoid")
    assert components.condition("sparse_code_dims") == ("stage", ("sparse-code",))


def test_train_with_the_stage_writes_the_code_and_keeps_the_trained_vectors(tmp_path):
    lines = []
    cfg = cfg_for(tmp_path, epochs=3, dynamic_dims=False, embedding_dim=6, **{**SMALL, "sparse_code_dims": 16,
                                                                               "sparse_code_epochs": 2})
    result = T.train(cfg, graph=tiny_graph(), log=lines.append)
    run = result.run_dir
    assert result.embeddings.shape == (37, 16) and result.embeddings.min() >= 0 and result.embeddings.max() <= 1
    assert np.array_equal(np.load(run / "embeddings.npy"), result.embeddings)
    stage = result.metrics["stage"]
    assert stage["name"] == "sparse-code" and stage["trained_dims"] == 6 and stage["dims"] == 16
    assert result.metrics["final_dims"] == 16
    best = rundir.load_best(run)  # best.pt keeps the trained matrix itself: a resume trains on from it
    assert tuple(best["embeddings"].shape) == (37, 6)
    assert any(line.startswith("  sparse code epoch 2/2:") for line in lines)
    loaded = rundir.load_run(run, graph=tiny_graph())
    assert loaded.embeddings.shape == (37, 16) and loaded.vocab.size == 37
    # resumed with nothing left to train: the same code again, from the same trained vectors
    again = T.train(cfg, graph=tiny_graph(), resume=run)
    assert np.array_equal(again.embeddings, result.embeddings)


def test_unit_rows_code_directions_only():
    x = standardize(torch.tensor([[3.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]), unit_rows=True)
    norms = x.norm(dim=1)
    torch.testing.assert_close(norms, torch.full((3,), float(norms[0])))
    assert float(x.pow(2).mean()) == pytest.approx(1.0)


def test_the_inheritance_term_reads_the_training_edges_only_and_makes_hyponyms_follow():
    from naomi_nb.hierarchy import hierarchy_pairs

    graph = tiny_graph()
    cfg = TrainConfig(**{**SMALL, **SPINE, "sparse_code_epochs": 30, "sparse_code_inherit_weight": 30.0})
    stage = components.get("stage", "sparse-code")(cfg)
    train_idx, _ = graph.split(cfg.seed, cfg.val_fraction)
    pairs = stage.training_pairs(graph, graph.vocab.size)
    assert np.array_equal(pairs, hierarchy_pairs(graph, train_idx)) and len(pairs)
    assert stage.training_pairs(graph, graph.vocab.size + 1) is None  # another run's senses: no pairs
    code = components.get("stage", "sparse-code")
    off = TrainConfig(**SMALL, sparse_code_inherit_weight=0.0, sparse_code_subtrees=0)
    assert code(off).training_pairs(graph, graph.vocab.size) is None  # neither term reads them
    tied = off.replace(sparse_code_subtrees=2)  # the subtree term alone still reads them
    assert np.array_equal(code(tied).training_pairs(graph, graph.vocab.size), pairs)

    x = np.random.default_rng(1).normal(0, 1, (graph.vocab.size, 6)).astype(np.float32)

    def lacking(h):  # how much of its hypernym's code a hyponym lacks, over the training pairs
        return float(np.clip(h[pairs[:, 1]] - h[pairs[:, 0]], 0, None).sum())

    free = components.get("stage", "sparse-code")(cfg.replace(sparse_code_inherit_weight=0.0)).apply(x, graph, "cpu")
    held = stage.apply(x, graph, "cpu")
    assert lacking(held) < 0.5 * lacking(free)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_code_with_its_defaults_runs_on_cuda_as_on_the_cpu(tmp_path):
    """The stage of make run and the notebooks (its defaults: unit rows, top-k, the hub and inheritance terms)
    on CUDA: the same properties as on the CPU, the same code for the same seed, and as sparse as the CPU's
    (the noise is drawn by the device's own generator, so the two codes differ)."""
    graph = tiny_graph()
    x = np.random.default_rng(0).normal(0, 1, (graph.vocab.size, 8)).astype(np.float32)
    cfg = TrainConfig(stage="sparse-code", sparse_code_dims=200, sparse_code_epochs=8, sparse_code_batch_size=16,
                      sparse_code_top_k=20, sparse_code_subtree_share=1.0)  # the root's subtree: one tied dimension
    stage = components.get("stage", "sparse-code")(cfg)
    assert stage.training_pairs(graph, graph.vocab.size) is not None  # the inheritance term is on by default
    gpu, again, cpu = stage.apply(x, graph, "cuda"), stage.apply(x, graph, "cuda"), stage.apply(x, graph, "cpu")
    assert np.allclose(gpu, again, atol=1e-5)  # the same seed: the same code (up to a kernel's last digits)
    for h in (gpu, cpu):
        assert h.shape == (graph.vocab.size, 200) and h.min() >= 0 and h.max() <= 1
        assert (np.count_nonzero(h, axis=1) <= 20).all()
    assert abs((gpu == 0).mean() - (cpu == 0).mean()) < 0.05


def small_tree():
    """animal.n.01 (two lemma senses) above dog.n.01 and cat.n.01, dog.n.01 above puppy.n.01; rock.n.01 alone."""
    from naomi_nb.graph import Graph, Vocabulary

    words = ["animal.n.01.animal", "animal.n.01.beast", "dog.n.01.dog", "cat.n.01.cat", "puppy.n.01.puppy",
             "rock.n.01.rock"]
    synsets = [w.rsplit(".", 1)[0] for w in words]
    # (child, parent) as hypernym edges, and one as a hyponym edge the other way round
    edges = [(2, 1, 0), (2, 1, 1), (3, 1, 0), (1, 2, 3), (4, 1, 2)]
    e = np.array(edges, dtype=np.int64)
    return Graph(e[:, 0].astype(np.int32), e[:, 2].astype(np.int32), e[:, 1].astype(np.int16),
                 np.ones(len(e), np.float32), ["synonym", "hypernym", "hyponym"],
                 np.array([0.1, 0.3, 0.3], np.float32), Vocabulary(words, synset=synsets), {"source": "test"})


def subtrees(graph, index, count, share):
    """`sparse_code.subtrees` of the graph's edges ``index``."""
    from naomi_nb.hierarchy import hierarchy_pairs
    from naomi_nb.stages.sparse_code import subtrees as of_pairs

    return of_pairs(graph.vocab, hierarchy_pairs(graph, index), count, share)


def test_subtrees_are_the_largest_below_the_share_named_by_their_synset():
    graph = small_tree()
    every = np.arange(len(graph.src))
    roots, members = subtrees(graph, every, count=5, share=1.0)
    # animal.n.01: its two senses, dog, cat, puppy (5); dog.n.01: dog, puppy (2); a sense alone is no subtree
    assert roots == [("animal.n.01", 5), ("dog.n.01", 2)]
    assert members[:, 0].tolist() == [True, True, True, True, True, False]
    assert members[:, 1].tolist() == [False, False, True, False, True, False]
    assert subtrees(graph, every, count=5, share=0.5)[0] == [("dog.n.01", 2)]  # 5 of 6 senses is too many
    assert subtrees(graph, every, count=1, share=1.0)[0] == [("animal.n.01", 5)]
    # the held-out edges are not read: without puppy's edge, dog.n.01 holds dog alone
    assert subtrees(graph, every[:-1], count=5, share=1.0)[0] == [("animal.n.01", 4)]


def chain(leaves_beside: int):
    """r.n.01 above c.n.01 (and ``leaves_beside`` leaves of its own), c.n.01 above nine leaves."""
    from naomi_nb.graph import Graph, Vocabulary

    words = ["r.n.01.r", "c.n.01.c"] + [f"l{i}.n.01.l{i}" for i in range(9 + leaves_beside)]
    edges = [(1, 1, 0)] + [(2 + i, 1, 1) for i in range(9)] + [(11 + i, 1, 0) for i in range(leaves_beside)]
    e = np.array(edges, dtype=np.int64)
    return Graph(e[:, 0].astype(np.int32), e[:, 2].astype(np.int32), e[:, 1].astype(np.int16),
                 np.ones(len(e), np.float32), ["synonym", "hypernym"], np.array([0.1, 0.3], np.float32),
                 Vocabulary(words, synset=[w.rsplit(".", 1)[0] for w in words]), {"source": "test"})


def test_a_subtree_nearly_as_large_as_a_chosen_one_around_it_is_passed_over():
    near = chain(0)  # c.n.01 holds 10 of r.n.01's 11 senses: the same dimension twice
    assert subtrees(near, np.arange(len(near.src)), 5, 1.0)[0] == [("r.n.01", 11)]
    apart = chain(3)  # 10 of 14: a subtree of its own
    assert subtrees(apart, np.arange(len(apart.src)), 5, 1.0)[0] == [("r.n.01", 14), ("c.n.01", 10)]
    assert subtrees(near, np.arange(len(near.src)), 5, 0.95)[0] == [("c.n.01", 10)]  # r.n.01 too large


def test_the_subtree_term_names_the_first_dimensions_after_their_subtrees():
    graph = small_tree()
    x = np.random.default_rng(0).normal(0, 1, (graph.vocab.size, 8)).astype(np.float32)
    cfg = TrainConfig(**{**SMALL, **SPINE, "sparse_code_dims": 12, "sparse_code_epochs": 300,
                         "sparse_code_batch_size": 6, "sparse_code_noise": 0.0, "val_fraction": 0.0001})
    _, members = subtrees(graph, graph.split(cfg.seed, cfg.val_fraction)[0], 2, 1.0)
    stage = components.get("stage", "sparse-code")
    held = stage(cfg.replace(sparse_code_subtrees=2, sparse_code_subtree_share=1.0, sparse_code_subtree_weight=30.0,
                             sparse_code_exact_floor=0.0)).apply(x, graph, "cpu")  # the term alone
    free = stage(cfg).apply(x, graph, "cpu")

    def agrees(h):  # the first two dimensions: clearly active exactly on their subtree's senses
        return ((h[:, :members.shape[1]] > 0.1) == members).mean()

    assert members.sum() >= 5 and agrees(held) == 1.0 and agrees(free) < 1.0
    assert held[:, :2][members].min() >= 0.4  # at the floor (0.5) or near it


def test_exact_subtrees_leave_a_tied_dimension_to_its_subtree_alone():
    h = np.array([[0.9, 0.2, 0.3], [0.0, 0.7, 0.4], [0.6, 0.0, 0.0]], np.float32)
    members = np.array([[True, False], [True, False], [False, True]])
    hold_subtrees(h, members, 0.6)
    np.testing.assert_array_equal(h, np.array([[0.9, 0.0, 0.3], [0.6, 0.0, 0.4], [0.0, 0.6, 0.0]], np.float32))

    graph = small_tree()  # through the stage: exact on its tied dimensions, the term's code left as it was
    x = np.random.default_rng(0).normal(0, 1, (graph.vocab.size, 8)).astype(np.float32)
    kw = dict(sparse_code_dims=12, sparse_code_epochs=3, sparse_code_subtrees=2, sparse_code_subtree_share=1.0,
              sparse_code_length_power=0.0, graph=graph, val_fraction=0.0001)
    loose, exact = code(x, sparse_code_exact_floor=0.0, **kw), code(x, **kw)
    _, members = subtrees(graph, graph.split(0, 0.0001)[0], 2, 1.0)
    assert (exact[:, :2][~members] == 0).all() and (exact[:, :2][members] >= 0.6).all()
    assert not np.array_equal(loose[:, :2], exact[:, :2]) and np.array_equal(loose[:, 2:], exact[:, 2:])


def test_the_length_power_divides_each_code_by_its_length_to_that_power():
    rows = np.array([[0.3, 0.4, 0.0], [0.0, 0.0, 0.0], [0.6, 0.8, 0.0]], np.float32)
    norms = np.linalg.norm(rows, axis=1)
    np.testing.assert_allclose(np.linalg.norm(scale_lengths(rows.copy(), 1.0), axis=1), [1.0, 0.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(scale_lengths(rows.copy(), 0.5), axis=1), np.sqrt(norms), rtol=1e-6)
    assert np.array_equal(scale_lengths(rows.copy(), 0.0), rows)

    x = clusters()  # through the stage: the same code, each row divided by the square root of its length
    kept, halved = code(x, sparse_code_length_power=0.0), code(x)
    np.testing.assert_allclose(halved * np.sqrt(np.linalg.norm(kept, axis=1, keepdims=True)), kept, rtol=1e-5,
                               atol=1e-6)
    assert halved.max() <= 1.0 and np.array_equal(halved == 0, kept == 0)


def test_the_activation_term_holds_the_dimensions_not_tied_to_a_subtree():
    from naomi_nb.stages.sparse_code import Coder, code_losses

    coder = Coder(3, 4, torch.Generator().manual_seed(0), "clamp", 0)
    with torch.no_grad():
        coder.W.zero_()
        coder.b.copy_(torch.tensor([1.0, 1.0, 0.0, 0.0]))  # the first two always at the cap, the rest at 0
    x = torch.zeros(5, 3)
    _, tied = code_losses(coder, x, x, target=0.05, tied=2)
    _, untied = code_losses(coder, x, x, target=0.05)
    assert tied["activation"].item() == 0.0
    assert untied["activation"].item() == pytest.approx(0.95 ** 2 / 2)


def test_without_a_subtree_small_enough_no_dimension_is_tied_and_the_code_is_made():
    graph = small_tree()  # 6 senses: 10% of them is less than any subtree
    lines = []
    x = np.random.default_rng(0).normal(0, 1, (graph.vocab.size, 4)).astype(np.float32)
    h = code(x, sparse_code_dims=8, graph=graph, log=lines.append)
    assert any("no dimension tied to one" in line for line in lines)
    assert np.isfinite(h).all() and h.shape == (6, 8)
    lines.clear()
    code(x, sparse_code_dims=8, sparse_code_subtree_share=1.0, graph=graph, log=lines.append)
    assert any(line.startswith("  sparse code: dims 0-1 stand for subtrees: animal.n.01 (") for line in lines)


def test_the_tied_dimensions_are_named_in_metrics_and_on_the_cards(tmp_path):
    """train --stage sparse-code with tied dimensions: metrics.json names them, and the report's cards
    and `describe` say the subtree."""
    from naomi_nb.report import analyze_run
    
    graph = tiny_graph()  # the root's subtree is the one a share of 1 allows
    cfg = cfg_for(tmp_path, epochs=2, dynamic_dims=False, embedding_dim=6,
                  **{**SMALL, "sparse_code_dims": 16, "sparse_code_epochs": 2, "sparse_code_subtree_share": 1.0})
    result = T.train(cfg, graph=graph, log=lambda *a: None)
    stage = result.metrics["stage"]
    assert stage["named_dims"] == {"0": "root.n.01.root"}
    assert rundir.named_dims(rundir.load_run(result.run_dir, graph=graph).metrics) == {0: "root.n.01.root"}
    report = analyze_run(result.run_dir, graph=graph, log=lambda *a: None)
    card = report["cards"][0]
    assert card["subtree"] == "root.n.01.root" and card["name"].startswith("root.n.01.root")
    assert all("subtree" not in c for c in report["cards"][1:])
    assert rundir.named_dims({"stage": {"named_dims": "damaged"}}) == {} == rundir.named_dims({})
