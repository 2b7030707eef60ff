"""Structural similarity (Wang et al. 2004), per image.

Gaussian window (11 px, sigma 1.5), constants K1 = 0.01 and K2 = 0.03, 'valid' windows only,
averaged over positions and channels: the usual definition, so numbers compare with other tools.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _gaussian(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """SSIM of each pair of images (N, C, H, W) -> (N,). Images smaller than the window use a window of
    their own smaller side (odd)."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two (N, C, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    # float32 unless given float64: ~7x faster, and the c1/c2 constants bound the error near flat
    # regions to ~1e-5, far below the digits anyone reads
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x, y = x.to(dtype), y.to(dtype)
    side = min(window, x.shape[-1], x.shape[-2])
    side -= 1 - side % 2
    # The Gaussian window is separable: one 1-D pass along each axis, over the five maps at once
    g = _gaussian(side, sigma, x.dtype, x.device)
    maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    k = maps.shape[1]
    maps = F.conv2d(maps, g.view(1, 1, 1, side).expand(k, 1, 1, side), groups=k)
    maps = F.conv2d(maps, g.view(1, 1, side, 1).expand(k, 1, side, 1), groups=k)
    mu_x, mu_y, xx, yy, xy = maps.chunk(5, dim=1)
    var_x = xx - mu_x**2
    var_y = yy - mu_y**2
    cov = xy - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.mean(dim=(1, 2, 3)).float()
