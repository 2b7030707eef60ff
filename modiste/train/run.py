"""A run folder: resolved config, metrics as JSON lines, checkpoints, and a clean stop on signals."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from modiste.io import append_jsonl, atomic_write_json, atomic_write_text, remove_stale_temp_files


class RunDir:
    """``out/`` holds ``config.json``, ``metrics.jsonl``, ``summary.json``, ``checkpoints/``, ``samples/``."""

    def __init__(self, path: str | os.PathLike, *, resume: bool = False, is_main: bool = True):
        self.path = Path(path)
        self.is_main = is_main
        self.checkpoints = self.path / "checkpoints"
        self.samples = self.path / "samples"
        if is_main:
            if self.latest.exists() and not resume:
                raise FileExistsError(
                    f"{self.path}: this run folder already has a checkpoint; pass resume=True (--resume) "
                    "to continue it, or choose another out folder"
                )
            if resume and not self.latest.exists():
                raise FileNotFoundError(f"{self.path}: nothing to resume (no checkpoints/latest.safetensors)")
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            self.samples.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(self.path)  # what a killed run was writing; nobody else writes here

    @property
    def latest(self) -> Path:
        return self.checkpoints / "latest.safetensors"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def write_config(self, config: dict[str, Any]) -> None:
        if self.is_main:
            atomic_write_json(self.path / "config.json", config)

    def read_config(self) -> dict[str, Any]:
        return json.loads((self.path / "config.json").read_text())

    def log(self, record: dict[str, Any]) -> None:
        if self.is_main:
            append_jsonl(self.metrics_path, record)

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill: drop it
                continue
        return rows

    def truncate_metrics(self, step: int) -> None:
        """On resume, forget lines logged after the checkpoint so nothing is counted twice."""
        if self.is_main and self.metrics_path.exists():
            keep = [r for r in self.metrics() if r.get("step", 0) <= step]
            atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in keep))

    def write_summary(self, summary: dict[str, Any]) -> None:
        if self.is_main:
            atomic_write_json(self.path / "summary.json", summary)


def open_run(cfg: Any, resume: bool, given: Any = None, *, is_main: bool = True) -> tuple[RunDir, Any]:
    """The run folder ``cfg.out`` and the config to train with: on resume, the saved one with
    this call's resumable settings (``RunConfig.resumed_from``; ``given``: the settings the caller set)."""
    run = RunDir(cfg.out, resume=resume, is_main=is_main)
    return run, (cfg.resumed_from(run.read_config(), given) if resume else cfg)


class Budget:
    """A run's wall-clock budget (``--minutes``; None: no limit), counted from when it is made."""

    def __init__(self, minutes: float | None) -> None:
        self.minutes = minutes
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.started

    @property
    def left(self) -> float:
        """Seconds left (infinite without a limit)."""
        return float("inf") if self.minutes is None else self.minutes * 60 - self.elapsed

    def spent(self) -> bool:
        return self.left < 0


class GracefulStop:
    """Turn the first Ctrl-C / SIGTERM into a flag the loop checks between steps.

    The loop then writes a checkpoint and returns; a second Ctrl-C interrupts at once.
    Only installs handlers in the main thread (signal handlers cannot be set elsewhere).
    """

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
