"""The batch sampler (naomi_nb/samplers/batch.py): it draws nothing; the batch's own destinations serve."""
import numpy as np
import pytest
import torch

from naomi_nb import components
from naomi_nb.config import TrainConfig


def test_the_batch_sampler_gathers_nothing_and_says_so_if_asked():
    Batch = components.get("sampler", "batch")
    assert Batch.gathers is False
    from types import SimpleNamespace

    s = Batch(SimpleNamespace(vocab=SimpleNamespace(size=5)), np.arange(1), torch.device("cpu"))
    with pytest.raises(TypeError, match="draws nothing"):
        s.draw(3)


def test_the_negatives_plan_no_draw_buffers_with_the_batch_sampler():
    negatives = components.get("objective", "negatives")
    batch = negatives.buffer_plan(TrainConfig(negative_sampler="batch", negatives=3))
    uniform = negatives.buffer_plan(TrainConfig(negative_sampler="uniform", negatives=3))
    assert "n" not in batch and uniform["n"] == pytest.approx(3 / 4)
