"""Proximal sparsity (naomi_nb/sparsity/proximal.py): exact zeros after every step."""
import numpy as np
import pytest
import torch

from naomi_nb import components
from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.graph import tiny_graph

from helpers import cfg_for


def test_proximal_moves_values_by_strength_times_lr_and_makes_zeros():
    mode = components.get("sparsity", "proximal")(TrainConfig(sparsity_mode="proximal", proximal_strength=0.5))
    assert mode.l1_weight == 0.0 and mode.label() == "proximal 0.5"
    E = torch.tensor([[0.3, -0.3, 0.01]])
    mode.after_step(E, lr=0.2)  # tau = 0.1
    torch.testing.assert_close(E, torch.tensor([[0.2, -0.2, 0.0]]))
    still = torch.tensor([[0.3]])
    components.get("sparsity", "proximal")(TrainConfig(proximal_strength=0.0)).after_step(still, lr=0.2)
    assert torch.equal(still, torch.tensor([[0.3]]))  # strength 0: untouched


@pytest.mark.slow
def test_proximal_mode_makes_exact_zeros_and_prunes_unused_dims(tmp_path):
    graph = tiny_graph()
    cfg = cfg_for(tmp_path, epochs=20, dynamic_dims=False, embedding_dim=24, sparsity_mode="proximal",
                  proximal_strength=0.5, activity_eps=0.0, prune=True, lr=0.02)
    result = T.train(cfg, graph=graph)
    last = result.history[-1]
    assert last["zeros_pct"] > 30 and last["active_per_word"] < 24
    assert result.metrics["pruned_dims"] > 0
    assert result.embeddings.shape[1] == 24 - result.metrics["pruned_dims"]
    assert (np.abs(result.embeddings) > 0).any(axis=0).all()  # every kept column is used
    seed_run = T.train(cfg_for(tmp_path, "s", epochs=20, dynamic_dims=False, embedding_dim=24, lr=0.02), graph=graph)
    assert seed_run.history[-1]["zeros_pct"] == 0.0
    assert last["val_distance"] < 2 * seed_run.history[-1]["val_distance"]  # still learns the distances
