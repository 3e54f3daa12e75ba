"""Learning-rate schedules, one module each, found by name (``--lr-schedule NAME``; `naomi_nb.components`
kind ``schedule``).

A schedule is a subclass of `Schedule` registered with ``@register("schedule")``: pure functions of the run's
progress, so they are testable without a model. The trainer asks `Schedule.epoch_lr` for the rate of each
epoch before it trains, and `Schedule.after_epoch` once the epoch's validation is known. ``auto`` stands for
the objective's own choice (`naomi_nb.objectives.Objective.auto_lr_schedule`): `naomi_nb.config` resolves it
before a schedule is made (``cfg.schedule``).
"""
from __future__ import annotations


class Schedule:
    """The constant rate: every method keeps the current one. Subclasses set ``name`` and override."""

    name = ""
    knobs: dict = {}
    moves = True  # the rate can change during a run (the log and the notebooks name the schedule then)

    def __init__(self, cfg):
        self.cfg = cfg

    def epoch_lr(self, lr: float, epoch: int) -> float:
        """The rate epoch ``epoch`` trains with, given the current one."""
        return lr

    def after_epoch(self, lr: float, improved: bool, bad_epochs: int) -> float:
        """The rate after an epoch that did (or did not) improve, ``bad_epochs`` in a row without improvement."""
        return lr


__all__ = ["Schedule"]
