"""The seed's objective: its hand-written gradient against autograd, and its log with no negative term."""
import numpy as np
import pytest
import torch

from naomi_nb.config import TrainConfig
from naomi_nb.edges import EdgeSet, unpack
from naomi_nb.graph import tiny_graph
from naomi_nb.objectives.seed import Seed
from naomi_nb.sparsity import l1_coefficient, l1_gradient


def test_seed_gradient_and_sums_match_autograd():
    graph = tiny_graph()
    idx = np.arange(graph.n_edges)
    edges = EdgeSet(graph, idx, torch.device("cpu"))
    seed = Seed(TrainConfig(objective="seed", device="cpu"), graph, idx, edges, torch.device("cpu"))
    torch.manual_seed(0)
    E0 = torch.randn(graph.vocab.size, 5) * 0.3
    rows = edges.rows[:50]
    W, G = E0.clone(), torch.zeros_like(E0)
    l1 = 1e-3
    l1_gradient(W, G, l1_coefficient(l1, W))
    (loss_sum,) = seed.step(W, G, rows, seed.buffers(50, 5, W.device))
    assert torch.equal(W, E0)  # the objective writes the gradient, never the weights

    E = E0.clone().requires_grad_(True)
    s, d, t, c = unpack(rows)
    err = torch.linalg.vector_norm(E[s] - E[d], dim=1) - t
    ((c * err ** 2).mean() + l1 * E.abs().sum()).backward()
    torch.testing.assert_close(G, E.grad, rtol=1e-4, atol=1e-6)
    assert float(loss_sum) == pytest.approx(float((c * err ** 2).sum().detach()), rel=1e-5)

    (val,) = seed.validation_sums(E0, edges, seed.buffers(16, 5, W.device))
    s, d, t, c = unpack(edges.rows)
    full = (c * (torch.linalg.vector_norm(E0[s] - E0[d], dim=1) - t) ** 2).double().sum()
    assert float(val) == pytest.approx(float(full), rel=1e-6)
    assert seed.means([float(val)], len(edges), "val") == {"distance": float(val) / len(edges)}


@pytest.mark.slow
def test_seed_objective_log_has_no_negative_field(tmp_path, tiny, capsys):
    from naomi_nb.__main__ import main

    args = ["train", "--training-data", str(tiny), "--epochs", "1", "--batch-size", "64", "--embedding-dim", "4",
            "--no-analyze", "--device", "cpu"]
    assert main(args + ["--output-dir", str(tmp_path / "a"), "--objective", "seed"]) == 0
    out = capsys.readouterr().out
    assert "Negative:" not in out and any(line.startswith("  Train - Total: ") for line in out.splitlines())
    assert main(args + ["--output-dir", str(tmp_path / "b"), "--objective", "negatives"]) == 0
    lines = capsys.readouterr().out.splitlines()
    train_line = next(line for line in lines if line.startswith("  Train - Total: "))
    assert ", Distance: " in train_line and ", Negative: " in train_line and ", Sparsity: " in train_line
