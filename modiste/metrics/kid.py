"""Kernel Inception Distance (Bińkowski et al. 2018) in any feature space.

The unbiased MMD^2 estimate with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged
over random subsets. Unlike FD it is unbiased, so it is fair to compare on a few hundred images.
"""
from __future__ import annotations

import torch


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = x.shape[0], y.shape[0]
    return ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
            - 2 * kxy.mean())


def kernel_distance(a: torch.Tensor, b: torch.Tensor, *, subsets: int = 50, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """(mean, std) of MMD^2 over ``subsets`` random subsets of ``subset_size`` from each set."""
    a, b = a.double(), b.double()
    size = min(subset_size, a.shape[0], b.shape[0])
    if size < 2:
        raise ValueError("KID needs at least 2 vectors in each set")
    g = torch.Generator().manual_seed(seed)
    vals = torch.stack([
        mmd2_unbiased(a[torch.randperm(a.shape[0], generator=g)[:size]], b[torch.randperm(b.shape[0], generator=g)[:size]])
        for _ in range(subsets)
    ])
    return float(vals.mean()), float(vals.std()) if subsets > 1 else 0.0
