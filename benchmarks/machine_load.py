"""How busy other processes keep this machine, and measurements repeated while they do (for the benchmarks)."""
from __future__ import annotations

import argparse
import os
import time


class OtherLoad:
    """CPU cores kept busy by other processes since creation: /proc/stat's busy time minus this
    process's and its reaped children's. Near 0 on a quiet machine; timings are shared otherwise."""

    def __init__(self) -> None:
        self.t0, self.busy0, self.own0 = time.perf_counter(), _busy_s(), _own_s()

    def cores(self) -> float:
        wall = time.perf_counter() - self.t0
        return max(0.0, (_busy_s() - self.busy0) - (_own_s() - self.own0)) / wall


def _busy_s() -> float:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def _own_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Quiet:
    """Runs a measurement again (after a pause) while other processes kept more than
    ``max_other`` cores busy during it: other sessions share this machine."""

    def __init__(self, max_other: float, tries: int, pause: float = 5.0, budget: float = 300.0) -> None:
        self.max_other, self.tries, self.pause = max_other, max(1, tries), pause
        self.budget = budget  # seconds of pauses in all; then measurements are kept as they come
        self.repeated = 0  # measurements thrown away because the machine was busy
        self.kept_busy = 0  # kept although still busy on the last try
        self.whole = OtherLoad()

    def __call__(self, fn):
        for attempt in range(self.tries):
            load = OtherLoad()
            value = fn()
            if load.cores() <= self.max_other:
                return value
            if attempt + 1 < self.tries and self.budget >= self.pause:
                self.repeated += 1
                self.budget -= self.pause
                time.sleep(self.pause)
            else:
                break
        self.kept_busy += 1
        return value

    def to_json(self) -> dict:
        return {"other_load_cores": self.whole.cores(), "repeated": self.repeated, "kept_busy": self.kept_busy,
                "max_other": self.max_other}

    def __str__(self) -> str:
        return (f"other processes kept {self.whole.cores():.2f} cores busy on average (0 on a quiet machine); "
                f"{self.repeated} measurements repeated for it, {self.kept_busy} kept although busy")


def add_quiet_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--max-other", type=float, default=0.25,
                    help="repeat a measurement when other processes used more CPU cores than this during it")
    ap.add_argument("--tries", type=int, default=4, help="at most this many tries per measurement")


