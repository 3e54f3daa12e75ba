"""The constant schedule (naomi_nb/schedules/constant.py)."""
from types import SimpleNamespace

from naomi_nb import components


def make(name, **cfg):
    return components.get("schedule", name)(SimpleNamespace(**cfg))


def test_constant_keeps_the_current_rate():
    s = make("constant", lr=0.01, epochs=10)
    assert s.epoch_lr(0.005, 7) == 0.005
    assert s.after_epoch(0.005, improved=False, bad_epochs=4) == 0.005
