"""Structural similarity (Wang et al. 2004), per image.

Gaussian window (11 px, sigma 1.5), constants K1 = 0.01 and K2 = 0.03, 'valid' windows only,
averaged over positions and channels: the usual definition, so numbers compare with other tools.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _window(size: int, sigma: float, channels: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = (g / g.sum()).to(dtype=dtype, device=device)
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """SSIM of each pair of images (N, C, H, W) -> (N,). Images smaller than the window use a window of
    their own smaller side (odd)."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two (N, C, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.double(), y.double()
    side = min(window, x.shape[-1], x.shape[-2])
    side -= 1 - side % 2
    w = _window(side, sigma, x.shape[1], x.dtype, x.device)
    blur = lambda t: F.conv2d(t, w, groups=x.shape[1])  # noqa: E731
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.mean(dim=(1, 2, 3)).float()
