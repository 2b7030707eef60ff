"""A run's checkpoints: ``latest`` holds everything to resume (models, optimizers, any module that
only training needs), ``best`` the models that predict. Both are written atomically, with the
description of the run (``meta``) and where the loop stands (step, epoch, the fitted schedule)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from modiste.nn import checkpoint
from modiste.train.loop import TrainLoop
from modiste.train.optim import load_optimizer, optimizer_tensors
from modiste.train.run import RunDir


class Checkpoints:
    """``models`` are registered networks (saved with their specs, so they load by themselves);
    ``resume_only`` modules (e.g. a training-only classifier head) are saved as plain tensors in
    ``latest`` alone; ``predict()`` names the models ``best`` holds (default: ``models``)."""

    def __init__(self, run: RunDir, models: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                 meta: dict[str, Any], *, resume_only: dict[str, nn.Module] | None = None,
                 predict: Callable[[], dict[str, nn.Module]] | None = None):
        self.run, self.models, self.optimizers, self.meta = run, models, optimizers, meta
        self.resume_only = resume_only or {}
        self.predict = predict or (lambda: self.models)

    @property
    def best(self) -> Path:
        return self.run.checkpoints / "best.safetensors"

    def _meta(self, loop: TrainLoop, values: dict[str, Any]) -> dict[str, Any]:
        return {**self.meta, "step": loop.step, "epoch": loop.step / loop.steps_per_epoch,
                "fitted_total": loop.fitted_total, **values}

    def save_latest(self, loop: TrainLoop, **values: Any) -> Path:
        """Everything to resume from; ``values`` join the meta (e.g. ``best=``)."""
        if not self.run.is_main:
            return self.run.latest
        meta, extra = self._meta(loop, values), {}
        meta["optim"] = {}
        for name, opt in self.optimizers.items():
            tensors, meta["optim"][name] = optimizer_tensors(opt, f"optim.{name}")
            extra.update(tensors)
        for name, module in self.resume_only.items():
            extra.update(checkpoint.model_tensors(module, name))
        return checkpoint.save_models(self.run.latest, self.models, meta, extra=extra)

    def save_best(self, loop: TrainLoop, **values: Any) -> Path:
        """The models that predict, without optimizer state."""
        if not self.run.is_main:
            return self.best
        return checkpoint.save_models(self.best, self.predict(), self._meta(loop, values))

    def resume(self, device: torch.device | str) -> dict[str, Any]:
        """Load ``latest`` into the models and optimizers, forget metrics logged after it; its meta."""
        tensors, meta = checkpoint.read(self.run.latest, device=device)
        for name, module in {**self.models, **self.resume_only}.items():
            module.load_state_dict(checkpoint.strip_prefix(tensors, name))
        for name, opt in self.optimizers.items():
            load_optimizer(opt, tensors, meta["optim"][name], f"optim.{name}")
        self.run.truncate_metrics(meta["step"])
        return meta
