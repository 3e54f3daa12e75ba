"""The plateau schedule (naomi_nb/schedules/plateau.py)."""
from types import SimpleNamespace

from naomi_nb import components


def make(name, **cfg):
    return components.get("schedule", name)(SimpleNamespace(**cfg))


def test_plateau_halves_after_lr_patience_bad_epochs():
    s = make("plateau", lr=0.01, lr_patience=2)
    assert s.after_epoch(0.01, improved=False, bad_epochs=2) == 0.005
    assert s.after_epoch(0.01, improved=False, bad_epochs=3) == 0.01
    assert s.after_epoch(0.01, improved=True, bad_epochs=0) == 0.01
    assert s.after_epoch(0.01, improved=False, bad_epochs=4) == 0.005
    assert s.epoch_lr(0.004, 3) == 0.004
