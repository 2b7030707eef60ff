"""Image -> latent code encoder for a trained generator (the first half of GAN inversion).

Strided 4x4 convolutions down to the generator's base grid (as the DCGAN discriminator), then a
linear layer to the code. BatchNorm helps it train fast; it runs in eval mode when inverting.
"""
from __future__ import annotations

import torch
from torch import nn

from modiste.nn.dcgan import base_grid
from modiste.nn.registry import register_model


class LatentEncoder(nn.Module):
    def __init__(self, size: int = 64, latent_dim: int = 100, width: int = 32, max_channels: int = 512):
        super().__init__()
        self.size, self.latent_dim = size, latent_dim
        base, steps = base_grid(size)
        ch = [min(width * 2**i, max_channels) for i in range(steps)]
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch[-1] * base * base, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


@register_model
def latent_encoder(size: int = 64, latent_dim: int = 100, width: int = 32) -> LatentEncoder:
    return LatentEncoder(size, latent_dim, width)
