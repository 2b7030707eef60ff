"""The training scaffold: epochs and steps, resume mid-epoch, stops, and a schedule fitted to a time budget."""
from __future__ import annotations

import json

import pytest

from modiste.train.loop import TrainLoop
from modiste.train.run import Budget, RunDir


class Clock(Budget):
    """A budget whose time the test moves: each step costs what the test says."""

    def __init__(self, minutes: float) -> None:
        super().__init__(minutes)
        self.now = 0.0

    @property
    def elapsed(self) -> float:
        return self.now


def _run(tmp_path, **kw) -> RunDir:
    return RunDir(tmp_path / "run", **kw)


def test_steps_follow_epochs_and_a_resume_starts_mid_epoch(tmp_path):
    loop = TrainLoop(_run(tmp_path), steps_per_epoch=4, epochs=3, progress=False)
    seen = []
    with loop:
        for epoch in loop.epochs():
            seen += [(epoch, step) for step in loop.steps()]
    assert seen == [(s // 4, s) for s in range(12)] and loop.total == 12 and loop.epoch_complete
    resumed = TrainLoop(_run(tmp_path / "b"), steps_per_epoch=4, epochs=3, step=6, progress=False)
    with resumed:
        later = [(epoch, step) for epoch in resumed.epochs() for step in resumed.steps()]
    assert later == seen[6:]
    summary = resumed.summary(note="x")
    assert summary["stop_reason"] == "budget" and summary["steps"] == 12 and summary["note"] == "x"
    assert json.loads((tmp_path / "b" / "run" / "summary.json").read_text())["epochs"] == 3


def test_a_spent_budget_stops_after_the_step_and_a_stop_ends_the_epoch_loop(tmp_path):
    clock = Clock(minutes=0.0)
    loop = TrainLoop(_run(tmp_path), steps_per_epoch=4, epochs=3, minutes=0.0, budget=clock, progress=False)
    with loop:
        for _ in loop.epochs():
            for _ in loop.steps():
                clock.now += 1
    assert loop.step == 1 and loop.stop_reason == "minutes" and not loop.epoch_complete
    patient = TrainLoop(_run(tmp_path / "p"), steps_per_epoch=2, epochs=10, progress=False)
    with patient:
        for epoch in patient.epochs():
            list(patient.steps())
            if epoch == 1:
                patient.stop("patience")
    assert patient.step == 4 and patient.summary()["stop_reason"] == "patience"


def test_a_budget_ends_with_the_schedule_annealed_when_the_machine_slows_down(tmp_path):
    """The machine gets four times busier after three epochs: the schedule is re-fitted to the new
    pace, so the run ends inside its budget with the learning rate at the end of its decay, instead
    of being cut off with it still high."""
    clock = Clock(minutes=1.0)
    loop = TrainLoop(_run(tmp_path), steps_per_epoch=10, epochs=100, minutes=1.0, budget=clock, progress=False)
    lrs = []
    with loop:
        for epoch in loop.epochs():
            for _ in loop.steps():
                lrs.append(loop.lr(1.0, 5))
                clock.now += 0.1 if epoch < 3 else 0.4
            clock.now += 0.2  # validation and saving
    assert loop.stop_reason is None and clock.now <= 60  # the schedule ended it, not the budget
    assert loop.step == loop.total < 1000 and loop.fitted_total == loop.total
    assert lrs[-1] < 0.01 and max(lrs) == pytest.approx(1.0, abs=0.01)
    # without re-fitting, the first epochs' pace would have planned ~570 steps: cut near 160, lr high
    assert loop.total < 200


def test_a_fitted_schedule_is_kept_on_resume_and_settings_are_checked(tmp_path):
    loop = TrainLoop(_run(tmp_path), steps_per_epoch=10, epochs=100, minutes=5, fitted_total=300, step=120,
                     progress=False)
    assert loop.total == 300
    assert TrainLoop(_run(tmp_path / "n"), steps_per_epoch=10, epochs=100, fitted_total=300, progress=False).total == 1000
    for bad in (dict(epochs=0), dict(epochs=-1), dict(minutes=-1), dict(steps_per_epoch=0)):
        with pytest.raises(ValueError):
            TrainLoop(_run(tmp_path / "x"), **{"steps_per_epoch": 2, "epochs": 1, **bad}, progress=False)
