"""The identity stage (naomi_nb/stages/none.py)."""
import numpy as np

from naomi_nb import components
from naomi_nb.config import TrainConfig


def test_no_stage_returns_the_trained_vectors_themselves():
    stage = components.get("stage", "none")(TrainConfig())
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert stage.apply(vectors, graph=None, device="cpu") is vectors
    assert TrainConfig().stage == "none" and components.names("stage")[0] == "none"
