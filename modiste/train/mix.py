"""Batch mixing for classifiers: mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019).

On a few thousand photos a from-scratch classifier reaches ~100% training accuracy long before
its budget ends; mixing pairs of images (blending them, or pasting a box of one into the other)
and their labels in the same proportion keeps the task hard and the network calibrated. One
``lam`` per batch, as in the papers; for CutMix it is the exact pasted area after clipping the box.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

MODES = ("none", "mixup", "cutmix", "both")


@dataclass(frozen=True)
class Mixed:
    x: torch.Tensor
    y_a: torch.Tensor   # the labels of the images mixed into
    y_b: torch.Tensor   # the labels of the images mixed in
    lam: float          # share of y_a

    def loss(self, logits: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        ce_a = F.cross_entropy(logits, self.y_a, label_smoothing=label_smoothing)
        if self.lam == 1.0:
            return ce_a
        return self.lam * ce_a + (1 - self.lam) * F.cross_entropy(logits, self.y_b, label_smoothing=label_smoothing)


def mix_batch(x: torch.Tensor, y: torch.Tensor, mode: str = "both", *, alpha: float = 1.0, p: float = 1.0,
              generator: torch.Generator | None = None) -> Mixed:
    """Mix each image with another of the same batch (a random permutation).

    ``mode``: "mixup", "cutmix", "both" (one or the other, even odds per batch) or "none";
    ``lam`` ~ Beta(alpha, alpha); a batch is mixed with probability ``p``. Draws come from
    ``generator`` (CPU; torch's global one when None), so a seeded step mixes the same way every time.
    """
    if mode not in MODES:
        raise ValueError(f"mix mode must be one of {', '.join(MODES)}, not {mode!r}")
    if alpha <= 0:
        raise ValueError(f"mix alpha must be > 0, not {alpha}")
    generator = generator if generator is not None else torch.default_generator
    n = x.shape[0]
    u = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
    if mode == "none" or n < 2 or u[0] >= p:
        return Mixed(x, y, y, 1.0)
    lam = _beta(alpha, generator)
    perm = torch.randperm(n, generator=generator).to(x.device)
    use_cutmix = mode == "cutmix" or (mode == "both" and u[1] < 0.5)
    if not use_cutmix:
        return Mixed(lam * x + (1 - lam) * x[perm], y, y[perm], lam)
    h, w = x.shape[-2:]
    cut = (1 - lam) ** 0.5
    ch, cw = round(h * cut), round(w * cut)
    cy, cx = (torch.rand(2, generator=generator, dtype=torch.float64) * torch.tensor([h, w])).long().tolist()
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch - ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw - cw // 2, w)
    out = x.clone()
    out[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
    return Mixed(out, y, y[perm], lam)


def _beta(alpha: float, generator: torch.Generator) -> float:
    """Beta(alpha, alpha) from ``generator`` (torch's Beta takes none): X / (X + Y) with X, Y ~ Gamma(alpha), by Marsaglia-Tsang."""
    a, b = _gamma(alpha, generator), _gamma(alpha, generator)
    return a / (a + b) if a + b > 0 else 0.5


def _gamma(shape: float, generator: torch.Generator) -> float:
    if shape < 1:  # Gamma(a) = Gamma(a + 1) * U^(1/a)
        u = float(torch.rand(1, generator=generator, dtype=torch.float64))
        return _gamma(shape + 1, generator) * u ** (1 / shape)
    d = shape - 1 / 3
    c = 1 / (9 * d) ** 0.5
    while True:
        z = float(torch.randn(1, generator=generator, dtype=torch.float64))
        v = (1 + c * z) ** 3
        if v <= 0:
            continue
        u = float(torch.rand(1, generator=generator, dtype=torch.float64))
        if u < 1 - 0.0331 * z ** 4 or math.log(u) < 0.5 * z * z + d * (1 - v + math.log(v)):
            return d * v
