"""A generator's latent prior: drawing codes, and the spherical path between two of them."""
from __future__ import annotations

import torch


def sample_prior(n: int, dim: int, prior: str, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    if prior == "uniform":
        return torch.rand(n, dim, generator=generator, device=device) * 2 - 1
    if prior == "normal":
        return torch.randn(n, dim, generator=generator, device=device)
    raise ValueError(f"unknown prior {prior!r}; choose 'normal' or 'uniform'")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation, rows of a and b, weights t (K,) -> (K, D); follows the shell where
    Gaussian codes live instead of cutting through the low-norm middle."""
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_n * b_n).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return torch.lerp(a[None], b[None], t[:, None])
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a[None] + (torch.sin(t * omega) / so)[:, None] * b[None]
