"""Fréchet distance between two sets of feature vectors (the formula behind FID).

FD = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)). The trace of the matrix square root is the sum of
the square roots of the eigenvalues of S1 S2 (similar to a PSD matrix, so they are real and >= 0
up to rounding); computing it that way in float64 avoids an explicit sqrtm.
"""
from __future__ import annotations

import torch


def mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = features.double()
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / max(x.shape[0] - 1, 1)


def frechet_distance_from_stats(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> float:
    mu1, s1, mu2, s2 = (t.double() for t in (mu1, s1, mu2, s2))
    eig = torch.linalg.eigvals(s1 @ s2)
    tr_sqrt = eig.real.clamp(min=0).sqrt().sum()
    return float(((mu1 - mu2) ** 2).sum() + s1.trace() + s2.trace() - 2 * tr_sqrt)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FD between feature sets a (N, D) and b (M, D)."""
    return frechet_distance_from_stats(*mean_cov(a), *mean_cov(b))
