"""Non-negative sparsity (naomi_nb/sparsity/nonneg.py): every value moves down and stops at zero."""
import torch

from naomi_nb import components
from naomi_nb.config import TrainConfig


def test_nonneg_clamps_at_zero_even_at_strength_zero():
    mode = components.get("sparsity", "nonneg")(TrainConfig(sparsity_mode="nonneg", proximal_strength=0.0))
    assert mode.l1_weight == 0.0 and mode.label() == "nonneg 0"
    E = torch.tensor([[0.3, -0.3, 0.0]])
    mode.after_step(E, lr=0.5)
    torch.testing.assert_close(E, torch.tensor([[0.3, 0.0, 0.0]]))
    components.get("sparsity", "nonneg")(TrainConfig(proximal_strength=0.2)).after_step(E, lr=0.5)
    torch.testing.assert_close(E, torch.tensor([[0.2, 0.0, 0.0]]))
