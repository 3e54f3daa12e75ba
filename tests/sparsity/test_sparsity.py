"""The sparsity kernels (naomi_nb/sparsity/__init__.py): the proximal and non-negative steps, the k-sparse
cut, the epoch's statistics."""
import numpy as np
import pytest
import torch

from naomi_nb.sparsity import embedding_stats, keep_top_k_, nonneg_threshold_, soft_threshold_


def test_soft_threshold_zeroes_what_crosses_and_shrinks_the_rest():
    E = torch.tensor([[0.5, -0.5, 0.05, -0.05], [0.1, -0.1, 0.0, 1.0]])
    scratch = torch.empty_like(E)
    soft_threshold_(E, 0.1, scratch=scratch)
    expected = torch.tensor([[0.4, -0.4, 0.0, 0.0], [0.0, 0.0, 0.0, 0.9]])
    torch.testing.assert_close(E, expected)
    assert int((E == 0).sum()) == 5


def test_nonneg_threshold_moves_every_value_down_and_stops_at_zero():
    E = torch.tensor([[0.5, -0.5, 0.05, -0.05], [0.1, 0.0, 0.3, 1.0]])
    nonneg_threshold_(E, 0.1, scratch=torch.empty_like(E))
    expected = torch.tensor([[0.4, 0.0, 0.0, 0.0], [0.0, 0.0, 0.2, 0.9]])
    torch.testing.assert_close(E, expected)
    assert int((E == 0).sum()) == 5 and float(E.min()) == 0.0
    nonneg_threshold_(E, 0.0)  # no shrinking: still no negative value, the rest unchanged
    torch.testing.assert_close(E, expected)


def test_activity_counts_exact_zeros():
    E = torch.zeros(10, 3)
    E[:4, 0] = 1e-3  # 40% of words active in dim 0
    E[:, 1] = -2.0  # all active in dim 1
    stats = embedding_stats(E, eps=0.0)
    np.testing.assert_allclose(stats["activity"], [0.4, 1.0, 0.0])
    assert stats["zeros_pct"] == pytest.approx(100 * (30 - 14) / 30)
    assert stats["active_per_word"] == 1.0


def test_keep_top_k_leaves_k_values_per_row():
    E = torch.tensor([[0.5, -0.9, 0.05, 0.2], [0.0, 0.0, 0.3, -0.1], [1.0, 2.0, 3.0, 4.0]])
    keep_top_k_(E, 2, block_rows=2)  # two blocks: the second has one row
    expected = torch.tensor([[0.5, -0.9, 0.0, 0.0], [0.0, 0.0, 0.3, -0.1], [0.0, 0.0, 3.0, 4.0]])
    torch.testing.assert_close(E, expected)
    before = E.clone()
    keep_top_k_(E, 4)  # as many as the columns: nothing to drop
    assert torch.equal(E, before)
