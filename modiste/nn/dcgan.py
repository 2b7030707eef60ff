"""DCGAN (Radford et al. 2015) generator and discriminator at 32, 64, 96 and 128 px.

Generator: transposed convolutions with BatchNorm and ReLU, tanh output.
Discriminator: strided convolutions with LeakyReLU(0.2), BatchNorm on every layer but the first,
one logit out (the sigmoid lives in the loss, where it is numerically safe).
Both start from / end at a small base grid: 4x4 for powers of two, 3x3 for 96 px (3 * 2^5).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from modiste.nn.init import dcgan_init_
from modiste.nn.registry import register_model

SIZES = (32, 64, 96, 128)


def base_grid(size: int) -> tuple[int, int]:
    """(base side, number of x2 steps) so that base * 2**steps == size."""
    if size not in SIZES:
        raise ValueError(f"image size {size} is not supported; choose one of {SIZES}")
    base = 3 if size % 3 == 0 else 4
    return base, int(math.log2(size // base))


def _channels(width: int, steps: int, cap: int) -> list[int]:
    """Channel counts from the base grid outwards: width*2^(steps-1), ..., width (capped)."""
    return [min(width * 2**i, cap) for i in reversed(range(steps))]


class DCGANGenerator(nn.Module):
    def __init__(self, size: int = 64, latent_dim: int = 100, width: int = 64, max_channels: int = 1024):
        super().__init__()
        self.size, self.latent_dim = size, latent_dim
        base, steps = base_grid(size)
        ch = _channels(width, steps, max_channels)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, ch[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(ch[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    def __init__(self, size: int = 64, width: int = 64, max_channels: int = 1024):
        super().__init__()
        self.size = size
        base, steps = base_grid(size)
        ch = _channels(width, steps, max_channels)[::-1]  # width, 2*width, ...
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(ch[-1], 1, base, 1, 0, bias=False)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).flatten()


@register_model
def dcgan_g(size: int = 64, latent_dim: int = 100, width: int = 64) -> DCGANGenerator:
    return DCGANGenerator(size, latent_dim, width)


@register_model
def dcgan_d(size: int = 64, width: int = 64) -> DCGANDiscriminator:
    return DCGANDiscriminator(size, width)
