"""The auto schedule (naomi_nb/schedules/auto.py): the objective's own."""
from types import SimpleNamespace

import pytest

from naomi_nb import components


def make(name, **cfg):
    return components.get("schedule", name)(SimpleNamespace(**cfg))


def test_auto_is_resolved_by_the_configuration():
    from naomi_nb.config import TrainConfig

    assert TrainConfig(objective="seed").schedule == "constant"
    assert TrainConfig(objective="graded").schedule == "plateau"
    assert TrainConfig(objective="seed", lr_schedule="cosine").schedule == "cosine"
    with pytest.raises(TypeError):
        make("auto", lr=0.01, lr_patience=2)
    # auto may mean plateau: it reads the plateau's knob
    assert "lr_patience" in components.knobs_of(components.get("schedule", "auto"))
