"""The scaffold every trainer runs its steps in: epochs and steps, the time budget, a clean stop on
Ctrl-C or SIGTERM, the progress bar, the learning-rate schedule's length, and the summary.

A trainer keeps its data, its step and its evaluation, and reads top to bottom::

    loop = TrainLoop(run, steps_per_epoch=n, epochs=cfg.epochs, minutes=cfg.minutes, step=resumed_step, desc="embed")
    with loop:
        for epoch in loop.epochs():
            for step in loop.steps():
                set_lr(opt, loop.lr(cfg.lr, warmup))
                ...                                  # one optimisation step
            if loop.epoch_complete:
                ...                                  # validate, save best
            ...                                      # log, save latest
    loop.summary(best=best, ...)

With a time budget (``minutes``) the schedule is fitted to it: after every epoch the epochs that
still fit, at the pace of the epoch just done, become the schedule's end, so the learning rate anneals to
its end inside the budget whatever the machine's load does. A run without a budget keeps its
epochs. ``total`` (the schedule's length in steps) is saved with each checkpoint and restored on
resume (``fitted_total``), so a resumed run continues the same schedule.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

from modiste.progress import progress_bar
from modiste.train.optim import warmup_cosine
from modiste.train.run import Budget, GracefulStop, RunDir

SAFETY = 0.97  # share of the time left that the fitted schedule plans to use


class TrainLoop:
    def __init__(self, run: RunDir, *, steps_per_epoch: int, epochs: float, minutes: float | None = None,
                 step: int = 0, fitted_total: int | None = None, desc: str = "train", progress: bool = True,
                 unit: str = "step", budget: Budget | None = None):
        """``budget``: one started earlier, when work before the loop counts against ``minutes`` too."""
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
        if epochs <= 0:
            raise ValueError(f"epochs must be positive, got {epochs}")
        if minutes is not None and minutes < 0:
            raise ValueError(f"minutes must not be negative, got {minutes}")
        self.run = run
        self.steps_per_epoch = steps_per_epoch
        self.planned = max(1, round(epochs * steps_per_epoch))  # the settings' length, the fitted one's ceiling
        self.total = min(self.planned, fitted_total) if fitted_total and minutes is not None else self.planned
        self.step = self.start = step
        self.budget = budget if budget is not None else Budget(minutes)
        self.stop_reason: str | None = None
        self._desc, self._progress, self._unit = desc, progress, unit
        self._epoch_t0 = self._epoch_started = 0.0
        self._epoch_steps = 0

    # -- the loop --

    def __enter__(self) -> "TrainLoop":
        self._stop = GracefulStop().__enter__()
        self.bar = progress_bar(total=self.total, initial=self.step, unit=self._unit, desc=self._desc,
                                disable=not self._progress)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()
        self._stop.__exit__(*exc)

    def epochs(self) -> Iterator[int]:
        """The epoch numbers still to run; a resumed run starts in the epoch it stopped in."""
        while self.step < self.total and self.stop_reason is None:
            self._epoch_t0, self._epoch_steps, self._epoch_started = time.perf_counter(), 0, self.budget.elapsed
            yield self.step // self.steps_per_epoch
            self._fit_to_budget()

    def steps(self) -> Iterator[int]:
        """The steps left in this epoch; ends early (``stop_reason``) on a signal or a spent budget."""
        epoch = self.step // self.steps_per_epoch
        while self.step < self.total and self.step // self.steps_per_epoch == epoch:
            yield self.step
            self.step += 1
            self._epoch_steps += 1
            self.bar.update(1)
            if self._stop.requested:
                self.stop_reason = "signal"
            elif self.budget.spent():
                self.stop_reason = "minutes"
            if self.stop_reason is not None:
                return

    def stop(self, reason: str) -> None:
        """End the run after this epoch (e.g. ``"patience"``); ``summary`` gives ``reason``."""
        self.stop_reason = reason

    def _fit_to_budget(self) -> None:
        if self.budget.minutes is None or self.step >= self.total or not self._epoch_steps:
            return
        # seconds per step at the latest pace, the epoch's evaluation and saving included
        pace = (self.budget.elapsed - self._epoch_started) / self._epoch_steps
        fits = self.step + int(SAFETY * self.budget.left / pace)
        fits = max(self.step, fits // self.steps_per_epoch * self.steps_per_epoch)  # whole epochs
        self.total = max(self.step, min(self.planned, fits))
        self.bar.total = self.total
        self.bar.refresh()

    # -- what the trainer reads --

    @property
    def epoch(self) -> float:
        """Epochs done, fractional after a stop mid-epoch."""
        return round(self.step / self.steps_per_epoch, 4)

    @property
    def epoch_complete(self) -> bool:
        return self.step % self.steps_per_epoch == 0

    @property
    def fitted_total(self) -> int | None:
        """The schedule's length when a budget fitted it (saved in checkpoints for resume)."""
        return self.total if self.total != self.planned else None

    def lr(self, peak: float, warmup_steps: int) -> float:
        """The learning rate of the current step: linear warm-up, then cosine to the schedule's end."""
        return warmup_cosine(self.step, self.total, warmup_steps, peak)

    def images_per_s(self, batch: int) -> float:
        """This epoch's training pace."""
        return self._epoch_steps * batch / max(time.perf_counter() - self._epoch_t0, 1e-9)

    def record(self, **values: Any) -> dict[str, Any]:
        """A metrics line: epoch, step and the minutes spent, then ``values``."""
        return {"epoch": self.epoch, "step": self.step, **values, "minutes": self.budget.elapsed / 60}

    def summary(self, **values: Any) -> dict[str, Any]:
        """Write ``summary.json``: steps, epochs, why the run stopped, the schedule's length, then ``values``."""
        summary = {"steps": self.step, "epochs": self.step / self.steps_per_epoch,
                   "stop_reason": self.stop_reason or "budget", "scheduled_steps": self.total,
                   "minutes": self.budget.elapsed / 60, **values}
        self.run.write_summary(summary)
        return summary
