"""The seed's sparsity (naomi_nb/sparsity/seed.py): the L1 term's gradient, nothing after a step."""
import numpy as np
import torch

from naomi_nb import components
from naomi_nb import trainer as T
from naomi_nb.config import TrainConfig
from naomi_nb.graph import tiny_graph

from helpers import cfg_for


def test_seed_mode_carries_the_l1_weight_and_leaves_the_matrix_alone():
    mode = components.get("sparsity", "seed")(TrainConfig(sparsity_weight=0.004))
    assert mode.l1_weight == 0.004 and mode.label() == "L1 0.004"
    E = torch.tensor([[0.3, -0.3]])
    mode.after_step(E, lr=1.0)
    assert torch.equal(E, torch.tensor([[0.3, -0.3]]))


def test_seed_mode_ignores_the_proximal_knob_bit_for_bit(tmp_path):
    graph = tiny_graph()
    a = T.train(cfg_for(tmp_path, "a", epochs=3), graph=graph)
    b = T.train(cfg_for(tmp_path, "b", epochs=3, proximal_strength=0.7), graph=graph)
    assert np.array_equal(a.embeddings, b.embeddings)
    assert [r["train_total"] for r in a.history] == [r["train_total"] for r in b.history]
