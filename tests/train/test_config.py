"""One resume rule for every trainer (``RunConfig.resumed_from``)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from modiste.train.config import RunConfig


@dataclass
class Settings(RunConfig):
    data: str = ""
    out: str = "runs/x"
    lr: float = 1e-3
    epochs: int = 10
    minutes: float | None = None
    workers: int | None = None
    device: str | None = None


SAVED = Settings(data="a.csv", out="runs/old", lr=5e-4, epochs=20).to_dict()


def test_the_saved_settings_win_and_the_budget_comes_from_this_call():
    cfg = Settings(out="runs/moved", epochs=30, lr=1e-3).resumed_from(SAVED, given={"out", "epochs"})
    assert (cfg.lr, cfg.epochs, cfg.data, cfg.out) == (5e-4, 30, "a.csv", "runs/moved")
    # a budget the caller did not set stays the saved one
    assert Settings(out="runs/old").resumed_from(SAVED, given={"out"}).epochs == 20


def test_a_changed_setting_is_refused_naming_it_and_its_saved_value():
    with pytest.raises(ValueError, match=r"cannot change \['lr'\].*lr=0.0005"):
        Settings(out="runs/old", lr=1e-2).resumed_from(SAVED, given={"out", "lr"})
    # the same value given again is no change
    assert Settings(out="runs/old", lr=5e-4).resumed_from(SAVED, given={"lr"}).lr == 5e-4


def test_without_given_every_resumable_setting_comes_from_this_call():
    cfg = Settings(out="runs/old", epochs=7, lr=9.0).resumed_from(SAVED)
    assert cfg.epochs == 7 and cfg.lr == 5e-4
