"""The cosine schedule (naomi_nb/schedules/cosine.py)."""
from types import SimpleNamespace

import pytest

from naomi_nb import components


def make(name, **cfg):
    return components.get("schedule", name)(SimpleNamespace(**cfg))


def test_cosine_decays_from_lr_to_a_hundredth():
    s = make("cosine", lr=0.01, epochs=11)
    cos = [s.epoch_lr(0.01, e) for e in range(1, 12)]
    assert cos[0] == pytest.approx(0.01) and cos[-1] == pytest.approx(0.0001)
    assert all(a > b for a, b in zip(cos, cos[1:]))
    assert cos[5] == pytest.approx(0.01 * (0.01 + 0.99 * 0.5))  # half way: the mean of start and floor
    assert s.epoch_lr(0.003, 1) == pytest.approx(0.01)  # from the configured rate, not the current one
