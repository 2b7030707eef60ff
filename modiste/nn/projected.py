"""The "projected" GAN: a light FastGAN-style generator and a discriminator that looks through a
frozen ImageNet network (Projected GAN, Sauer et al. 2021; FastGAN, Liu et al. 2021).

Generator (Liu et al.'s "lite" design, as Projected GAN trains it): z, scaled to unit mean square,
-> 4x4 (or 3x3 for 96 px) by a transposed convolution, then x2 blocks [nearest upsample -> Conv 3x3
-> BatchNorm -> GLU] out to the image size; the two largest maps are gated channel-wise by a map
three halvings smaller (skip-layer excitation: pool to 4x4, Conv 4x4, SiLU, Conv 1x1, sigmoid),
so coarse layout steers fine texture cheaply; Conv 3x3 -> tanh. Every convolution is spectrally
normalised, which keeps the generator from collapsing onto one design against a discriminator
that sees this much. The code z comes from the same priors as the DCGAN's, so every latent tool
applies.

Discriminator: the image is resized to ``feature_size`` and read by a frozen EfficientNet-Lite
(ImageNet weights, BatchNorm in eval mode); its stride 4, 8, 16 and 32 maps are projected by fixed
random 1x1 convolutions (cross-channel mixing) and mixed top-down across scales by fixed random
1x1 convolutions (cross-scale mixing). Only the small discriminator on each mixed map learns:
[Conv 4x4 stride 2 -> LeakyReLU] down to 4x4 or less, then a 1x1 convolution to
patch logits, all spectrally normalised. ``forward`` returns every scale's patch logits, (B, K).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from modiste.nn.dcgan import base_grid
from modiste.nn.init import dcgan_init_
from modiste.nn.registry import create_model, register_model

PROJECTED_CHANNELS = (64, 128, 256, 512)  # each Lite map (24, 40, 112, 320 channels for Lite0) is projected to these
EXCITE_SPAN = 3  # halvings between the gating map and the map it gates


def feature_size_for(size: int) -> int:
    """The side the frozen network reads: twice the image (its maps are 1/4 to 1/32 of it), at most
    its 224-px native scale."""
    return min(2 * size, 224)


class GLUBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, 2 * c_out, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(2 * c_out), nn.GLU(dim=1))


class SkipExcitation(nn.Module):
    """Channel gates for a large map from a small one (FastGAN's skip-layer excitation)."""

    def __init__(self, c_small: int, c_large: int):
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_small, c_large, 4, 1, 0, bias=False), nn.SiLU(),
                                 nn.Conv2d(c_large, c_large, 1, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, small: torch.Tensor, large: torch.Tensor) -> torch.Tensor:
        return large * self.net(small)


class LightGenerator(nn.Module):
    def __init__(self, size: int = 64, latent_dim: int = 100, width: int = 16, max_channels: int = 512):
        super().__init__()
        self.size, self.latent_dim = size, latent_dim
        base, steps = base_grid(size)
        ch = [min(width * 2**i, max_channels) for i in reversed(range(steps + 1))]  # base grid ... image size
        self.init = nn.Sequential(nn.ConvTranspose2d(latent_dim, 2 * ch[0], base, 1, 0, bias=False),
                                  nn.BatchNorm2d(2 * ch[0]), nn.GLU(dim=1))
        self.ups = nn.ModuleList(GLUBlock(a, b) for a, b in zip(ch[:-1], ch[1:]))
        # gate the two largest maps by the maps EXCITE_SPAN halvings smaller, where those exist
        self.excite = nn.ModuleDict({str(i): SkipExcitation(ch[i - EXCITE_SPAN], ch[i])
                                     for i in (steps - 1, steps) if i - EXCITE_SPAN >= 0})
        self.to_rgb = nn.Sequential(nn.Conv2d(ch[-1], 3, 3, 1, 1), nn.Tanh())
        dcgan_init_(self)
        for m in list(self.modules()):
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                spectral_norm(m)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.view(z.shape[0], self.latent_dim)
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        maps = [self.init(z.view(z.shape[0], self.latent_dim, 1, 1))]
        for i, up in enumerate(self.ups, start=1):
            x = up(maps[-1])
            if str(i) in self.excite:
                x = self.excite[str(i)](maps[i - EXCITE_SPAN], x)
            maps.append(x)
        return self.to_rgb(maps[-1])


class ScaleDiscriminator(nn.Sequential):
    """Strided 4x4 convolutions down to a side of 4 or less, then patch logits. No BatchNorm: it
    would normalise away what sets a generated batch apart as a whole (30 minutes on clothing-small
    with it: ImageNet FD 109, data-space FD 146 and the colours narrowed to a few; without: 101 and
    112)."""

    def __init__(self, c_in: int, side: int, width: int):
        layers: list[nn.Module] = []
        c = c_in
        while side > 4:
            c_out = min(2 * c, 4 * width) if layers else width
            layers += [spectral_norm(nn.Conv2d(c, c_out, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            c, side = c_out, side // 2
        layers.append(spectral_norm(nn.Conv2d(c, 1, 1, 1, 0)))
        super().__init__(*layers)


class ProjectedDiscriminator(nn.Module):
    def __init__(self, size: int = 64, width: int = 64, backbone: str = "efficientnet_lite0"):
        super().__init__()
        self.size, self.backbone_name = size, backbone
        self.feature_size = feature_size_for(size)
        net = create_model(backbone, num_classes=0)
        net.head = nn.Identity()  # only the stride 4-32 maps are read
        self.backbone = net.requires_grad_(False).eval()
        chans = net.map_channels
        g = torch.Generator().manual_seed(0)  # the fixed random projections are part of the architecture

        def fixed_1x1(c_in: int, c_out: int) -> nn.Conv2d:
            conv = nn.Conv2d(c_in, c_out, 1, bias=False).requires_grad_(False)
            conv.weight.copy_(torch.randn(c_out, c_in, 1, 1, generator=g) * (2.0 / c_in) ** 0.5)  # He init
            return conv

        with torch.no_grad():
            self.project = nn.ModuleList(fixed_1x1(c, p) for c, p in zip(chans, PROJECTED_CHANNELS))
            self.mix = nn.ModuleList(fixed_1x1(PROJECTED_CHANNELS[i + 1], PROJECTED_CHANNELS[i])
                                     for i in range(len(chans) - 1))
        sides = [self.feature_size // s for s in (4, 8, 16, 32)]
        self.heads = nn.ModuleList(ScaleDiscriminator(c, side, width) for c, side in zip(PROJECTED_CHANNELS, sides))

    def train(self, mode: bool = True) -> ProjectedDiscriminator:
        super().train(mode)
        self.backbone.eval()  # frozen: its BatchNorm keeps the ImageNet statistics
        return self

    def mixed_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] != self.feature_size:
            x = F.interpolate(x, size=(self.feature_size, self.feature_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.feature_size)
        maps = [p(m) for p, m in zip(self.project, self.backbone.feature_maps(x))]
        for i in reversed(range(len(maps) - 1)):  # top-down: each scale also sees the coarser ones
            up = F.interpolate(maps[i + 1], size=maps[i].shape[-2:], mode="bilinear", align_corners=False)
            maps[i] = maps[i] + self.mix[i](up)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(m).flatten(1) for head, m in zip(self.heads, self.mixed_maps(x))], dim=1)


@register_model
def projected_g(size: int = 64, latent_dim: int = 100, width: int = 16) -> LightGenerator:
    return LightGenerator(size, latent_dim, width)


@register_model
def projected_d(size: int = 64, width: int = 64, backbone: str = "efficientnet_lite0") -> ProjectedDiscriminator:
    return ProjectedDiscriminator(size, width, backbone)
