"""The tree geometry (naomi_nb/geometries/tree.py): the tree's vectors as sums of ancestors' features, the gradient through them against autograd,
and runs that save, measure and return the vectors (not the features); any objective in any geometry."""
import numpy as np
import pytest
import torch

from naomi_nb import components, rundir
from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.edges import EdgeSet
from naomi_nb.geometries import tree as GM
from naomi_nb.geometries.tree import closure_weights
from naomi_nb.hierarchy import closure, hierarchy_pairs
from naomi_nb.graph import tiny_graph
from naomi_nb.hierarchy import hierarchy_pairs
from naomi_nb.objectives.graded import Graded
from naomi_nb.objectives.negatives import Negatives

CPU = torch.device("cpu")


def make(cls=Negatives, graph=None, idx=None, geometry="tree", **kw):
    """An objective of class ``cls`` on the tiny graph, wrapped by ``geometry``."""
    graph = graph or tiny_graph()
    cfg = TrainConfig(device="cpu", negatives=3, negative_weight=0.7, geometry=geometry, **kw)
    idx = np.arange(graph.n_edges) if idx is None else idx
    objective = cls(cfg, graph, idx, EdgeSet(graph, idx, CPU), CPU)
    return components.get("geometry", geometry)(cfg, graph, idx, CPU).wrap(objective)


def test_closure_holds_each_sense_and_every_ancestor_once():
    graph = tiny_graph()
    rows, cols = closure(hierarchy_pairs(graph, np.arange(graph.n_edges)), graph.vocab.size)
    root = graph.vocab.size - 1
    pairs = set(zip(rows.tolist(), cols.tolist()))
    assert len(pairs) == len(rows) == graph.vocab.size + 36
    assert all((i, i) in pairs and (i, root) in pairs for i in range(36)) and (root, root) in pairs


def test_vectors_sum_own_and_ancestor_features():
    obj = make()
    F = torch.rand(obj.tree.A.shape[0], 3)
    E = obj.vectors(F)
    root = F.shape[0] - 1
    torch.testing.assert_close(E[:36], F[:36] + F[root])
    torch.testing.assert_close(E[root], F[root])
    half = make(tree_weight=0.5).vectors(F)  # half of each ancestor's features
    torch.testing.assert_close(half[:36], F[:36] + 0.5 * F[root])
    assert make(geometry="free").vectors(F) is F


@pytest.mark.slow
@pytest.mark.parametrize("cls", [Negatives, Graded])
def test_tree_gradient_matches_autograd_through_the_sum(cls):
    """The step on features F is the objective's own step on E = A F, carried back by A^T; again and again (the
    vectors' buffers are kept between steps) and at another width (they are remade)."""
    graph = tiny_graph()
    torch.manual_seed(0)
    rows = EdgeSet(graph, np.arange(graph.n_edges), CPU).rows[:40]
    tree, neg = make(cls, tree_weight=0.7), make(cls, geometry="free")
    assert neg.__class__ is cls and tree.terms == cls.terms and tree.matrices == 3
    for width in (5, 5, 7):
        F = torch.randn(graph.vocab.size, width) * 0.1
        tree.start_epoch(torch.Generator().manual_seed(2))
        neg.start_epoch(torch.Generator().manual_seed(2))
        G = torch.zeros_like(F)
        sums = tree.step(F.clone(), G, rows, tree.buffers(40, width, CPU))
        E = tree.vectors(F)
        GE = torch.zeros_like(E)
        neg_sums = neg.step(E.clone(), GE, rows, neg.buffers(40, width, CPU))
        assert [float(x) for x in sums] == [float(x) for x in neg_sums]
        # d/dF of <GE, A F> is A^T GE: autograd through the sparse product
        Fg = F.clone().requires_grad_(True)
        (torch.sparse.mm(tree.tree.A, Fg) * GE).sum().backward()
        torch.testing.assert_close(G, Fg.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_tree_runs_save_and_measure_the_vectors(tmp_path):
    graph = tiny_graph()
    cfg = TrainConfig(output_dir=str(tmp_path / "t"), epochs=8, batch_size=64, min_batch_size=8, embedding_dim=6,
                      dynamic_dims=False, analyze=False, patience=100, checkpoint_seconds=0.0, device="cpu",
                      geometry="tree", sparsity_mode="nonneg", proximal_strength=0.1, lr=0.02)
    log = []
    res = T.train(cfg, graph=graph, log=log.append)
    features = rundir.load_last(res.run_dir)["embeddings"]  # last.pt keeps what is trained: the features
    saved = np.load(res.run_dir / "embeddings.npy")
    np.testing.assert_array_equal(res.embeddings, saved)
    assert res.metrics["best_epoch"] == len(res.history) == 8  # so the returned model is the last epoch's
    train_idx, _ = graph.split(cfg.seed, cfg.val_fraction)  # the closure of the training edges only
    np.testing.assert_allclose(saved, make(idx=train_idx).vectors(features).numpy(), rtol=1e-6, atol=1e-7)
    assert not np.allclose(saved, features.numpy())
    root = graph.vocab.size - 1
    below = np.unique(hierarchy_pairs(graph, train_idx)[:, 0])
    assert len(below) > 30 and (saved[below] >= saved[root] - 1e-7).all()  # they hold every feature of the root
    assert saved.min() >= 0
    assert res.history[-1]["zeros_pct"] == pytest.approx(100 * (saved == 0).mean())  # the epoch's statistics
    assert "Geometry tree" in "\n".join(log)  # the log's configuration stage says what a vector is


def test_an_unknown_geometry_is_a_one_line_config_error():
    from naomi_nb.config import ConfigError

    with pytest.raises(ConfigError, match="--geometry must be one of .*free.*tree"):
        TrainConfig(geometry="nope")


def test_the_lemmas_of_one_ancestor_synset_share_its_weight():
    # sense 0 below synset s1 (senses 1, 2: two lemmas) below synset s2 (sense 3)
    rows, cols = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3]), np.array([0, 1, 2, 3, 1, 3, 2, 3, 3])
    synset = np.array([0, 1, 1, 2])
    values = dict(zip(zip(rows.tolist(), cols.tolist()), closure_weights(rows, cols, synset, 0.8).tolist()))
    assert values[(0, 0)] == values[(3, 3)] == 1.0
    assert values[(0, 1)] == values[(0, 2)] == pytest.approx(0.4) and values[(0, 3)] == pytest.approx(0.8)
    assert values[(1, 3)] == pytest.approx(0.8)
    assert closure_weights(rows, cols, None, 0.8)[1] == pytest.approx(0.8)  # no synsets: each its own


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("objective", ["graded", "inherit"])
def test_gpu_tree_and_hierarchy_objectives_train_on_the_device(tmp_path, objective):
    """The tree's sparse products, the drawn hierarchy pairs and the graded targets on CUDA, against the CPU."""
    graph = tiny_graph()
    kw = dict(epochs=6, batch_size=64, min_batch_size=8, embedding_dim=6, dynamic_dims=False, analyze=False,
              patience=100, checkpoint_seconds=0.0, objective=objective, geometry="tree",
              sparsity_mode="nonneg", proximal_strength=0.1, lr=0.02)
    gpu = T.train(TrainConfig(output_dir=str(tmp_path / "g"), device="cuda", **kw), graph=graph)
    cpu = T.train(TrainConfig(output_dir=str(tmp_path / "c"), device="cpu", **kw), graph=graph)
    assert gpu.metrics["device"].startswith("cuda") and gpu.embeddings.min() >= 0
    assert np.isfinite(gpu.embeddings).all()
    # the device draws its own negatives and pairs (a CUDA generator), so the runs differ; both learn as much
    for run in (gpu, cpu):
        assert run.history[-1]["val_distance"] < run.history[0]["val_distance"]
    assert gpu.history[-1]["val_distance"] == pytest.approx(cpu.history[-1]["val_distance"], rel=0.5)


def test_the_tree_product_falls_back_where_a_backend_has_no_out_form(monkeypatch):
    tree = make(Negatives).tree
    X = torch.randn(tree.A.shape[1], 3)
    want = torch.sparse.mm(tree.A, X)
    torch.testing.assert_close(GM._product(tree.A, X, torch.empty_like(want)), want)
    acc = torch.ones_like(want)
    torch.testing.assert_close(GM._product(tree.A, X, acc, add=True), want + 1)

    def refuse(*args, **kwargs):
        raise NotImplementedError("no out= form for this layout")

    monkeypatch.setattr(torch, "mm", refuse)
    monkeypatch.setattr(torch.Tensor, "addmm_", refuse)
    torch.testing.assert_close(GM._product(tree.A, X, torch.empty_like(want)), want)
    torch.testing.assert_close(GM._product(tree.A, X, torch.ones_like(want), add=True), want + 1)

    def oom(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(torch, "mm", oom)
    with pytest.raises(RuntimeError, match="allocate"):  # memory is the caller's: it halves the batch
        GM._product(tree.A, X, torch.empty_like(want))
