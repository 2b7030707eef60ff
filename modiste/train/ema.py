"""Exponential moving average of the generator's weights, used for sampling.

Averaging over the last few thousand images smooths the step-to-step wobble of GAN training,
which matters most on small catalogs. BatchNorm running statistics are not averaged: they are
re-estimated for the averaged weights (``recalibrate_batchnorm``) whenever the EMA generator is
used, because statistics gathered by other weights would not match its activations.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def ema_beta(batch: int, images_seen: int, ema_kimg: float, rampup: float | None) -> float:
    """Per-step decay for a half-life of ``ema_kimg`` thousand images (stylegan2-ada's rule)."""
    ema_nimg = ema_kimg * 1000
    if rampup is not None:
        ema_nimg = min(ema_nimg, images_seen * rampup)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    ema_params = list(ema.parameters())
    torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1.0 - beta)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, make_input: Callable[[], torch.Tensor], batches: int = 8) -> nn.Module:
    """Re-estimate BatchNorm statistics as an exact average over ``batches`` forward passes."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model.eval()
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for _ in range(batches):
        model(make_input())
    for m, mom in zip(norms, momenta):
        m.momentum = mom
    return model.eval()
