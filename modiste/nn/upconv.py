"""The "upconv" GAN: nearest-neighbour upsampling + 3x3 convolutions instead of transposed ones.

Generator: Dense -> reshape to 8*width channels on a size/16 grid -> four blocks of
[Upsample x2 (nearest) -> Conv 3x3 -> BatchNorm -> ReLU] (8w -> 4w -> 2w -> w) -> Conv 3x3 -> tanh.
With width=128 at 128 px this is the 1024 -> 512 -> 256 -> 128 generator of the write-up; upsampling
then convolving avoids the checkerboard artefacts of strided transposed convolutions.
Discriminator: four Conv 3x3 stride-2 layers (w -> 2w -> 4w -> 8w, w=32 by default) with LeakyReLU
and Dropout, BatchNorm on the middle layers, then Dense -> one logit (sigmoid in the loss).
"""
from __future__ import annotations

import torch
from torch import nn

from modiste.nn.init import dcgan_init_
from modiste.nn.registry import register_model

SIZES = (32, 64, 96, 128)
_STEPS = 4  # four x2 stages in both networks, as in the write-up


def _base(size: int) -> int:
    if size not in SIZES:
        raise ValueError(f"image size {size} is not supported; choose one of {SIZES}")
    return size // 2**_STEPS


class UpconvGenerator(nn.Module):
    def __init__(self, size: int = 64, latent_dim: int = 100, width: int = 64):
        super().__init__()
        self.size, self.latent_dim = size, latent_dim
        self.base = _base(size)
        ch = [width * 2**i for i in reversed(range(_STEPS))]  # 8w, 4w, 2w, w
        self.c0 = width * 8
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, self.c0 * self.base * self.base, bias=False),
            nn.BatchNorm1d(self.c0 * self.base * self.base),
            nn.ReLU(True),
        )
        layers: list[nn.Module] = []
        for c_in, c_out in zip([self.c0] + ch[:-1], ch):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(True),
            ]
        layers += [nn.Conv2d(ch[-1], 3, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense(z.view(z.shape[0], self.latent_dim))
        return self.net(x.view(-1, self.c0, self.base, self.base))


class UpconvDiscriminator(nn.Module):
    def __init__(self, size: int = 64, width: int = 32, dropout: float = 0.25):
        super().__init__()
        self.size = size
        base = _base(size)
        ch = [width * 2**i for i in range(_STEPS)]  # w, 2w, 4w, 8w
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip([3] + ch[:-1], ch)):
            layers.append(nn.Conv2d(c_in, c_out, 3, 2, 1))
            if 0 < i < _STEPS - 1:  # BatchNorm on the middle layers only
                layers.append(nn.BatchNorm2d(c_out))
            layers += [nn.LeakyReLU(0.2, True), nn.Dropout(dropout)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch[-1] * base * base, 1)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1)).flatten()


@register_model
def upconv_g(size: int = 64, latent_dim: int = 100, width: int = 64) -> UpconvGenerator:
    return UpconvGenerator(size, latent_dim, width)


@register_model
def upconv_d(size: int = 64, width: int = 32, dropout: float = 0.25) -> UpconvDiscriminator:
    return UpconvDiscriminator(size, width, dropout)
