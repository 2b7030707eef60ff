"""CAGAN (Jetchev & Bergmann 2017): a U-Net generator that repaints the worn article, and a PatchGAN critic of pairs.

Generator: the person x_i, the product photo y_i of what they wear and the product photo y_j to
put on, stacked (9 channels, each in [-1, 1]); a U-Net (strided 4x4 convolutions down, nearest
upsampling + 3x3 convolutions up, skip connections) with affine InstanceNorm, because a batch mixes
real and generated images and BatchNorm's shared statistics would let one leak into the other.
Four channels out: RGB (tanh) and alpha (sigmoid); the result is alpha * RGB + (1 - alpha) * x_i,
so what alpha leaves out stays exactly as it was.

Discriminator: a (person, article) pair (6 channels) -> a map of logits, one per ~70 px patch
(PatchGAN), InstanceNorm after the first layer. During training Gaussian noise of ``noise_std``
is added to its input and to every hidden layer (the write-up found it keeps D from winning too
early); the trainer sets and anneals ``noise_std``, so it is not part of the saved architecture.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from modiste.nn.registry import register_model


def composite(rgb: torch.Tensor, alpha: torch.Tensor, person: torch.Tensor) -> torch.Tensor:
    """alpha * rgb + (1 - alpha) * person: where alpha is 0 the person is returned unchanged."""
    return alpha * rgb + (1 - alpha) * person


def _init(module: nn.Module) -> None:
    # N(0, 0.02) as in pix2pix and the CAGAN code; norm scales start at 1
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.InstanceNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _conv(c_in: int, c_out: int, kernel: int, stride: int, act: nn.Module, norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2 if stride == 1 else 1,
                                         bias=not norm)]
    if norm:
        layers.append(nn.InstanceNorm2d(c_out, affine=True))
    layers.append(act)
    return nn.Sequential(*layers)


class CAGANGenerator(nn.Module):
    """(x_i, y_i, y_j) -> (result, alpha, rgb); inputs and outputs in [-1, 1], alpha in [0, 1].

    ``depth`` halvings, the first straight from the input (as in pix2pix's U-Net): no layer runs
    at full resolution but the head, which sees the upsampled features beside the 9 input channels.
    Full-resolution layers with few channels are what a CPU runs worst (~5 GMAC/s here against
    ~30 for the deeper ones). Inputs whose sides are not multiples of 2**depth are padded (edge
    pixels repeated) and the output cropped back, so any size of at least 2**depth works.
    """

    def __init__(self, width: int = 32, depth: int = 4, max_channels: int = 256, in_channels: int = 9):
        super().__init__()
        self.depth = depth
        ch = [min(width * 2**i, max_channels) for i in range(depth)]  # channels at 1/2, 1/4, ... resolution
        self.down = nn.ModuleList([_conv(in_channels, ch[0], 4, 2, nn.LeakyReLU(0.2, True), norm=False)] +
                                  [_conv(ch[i - 1], ch[i], 4, 2, nn.LeakyReLU(0.2, True)) for i in range(1, depth)])
        self.up = nn.ModuleList(_conv(ch[i + 1], ch[i], 3, 1, nn.ReLU(True)) for i in range(depth - 1))
        self.merge = nn.ModuleList(_conv(2 * ch[i], ch[i], 3, 1, nn.ReLU(True)) for i in range(depth - 1))
        self.head = nn.Conv2d(ch[0] + in_channels, 4, 3, 1, 1)
        _init(self)

    def forward(self, person: torch.Tensor, worn: torch.Tensor | None = None, target: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Three images, or one 9-channel stack of them."""
        x = person if worn is None else torch.cat([person, worn, target], 1)
        person = x[:, :3]
        h, w = x.shape[-2:]
        unit = 2**self.depth
        pad_h, pad_w = -h % unit, -w % unit
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        skips = [x]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for i in reversed(range(self.depth - 1)):
            y = self.up[i](F.interpolate(y, scale_factor=2, mode="nearest"))
            y = self.merge[i](torch.cat([y, skips.pop()], 1))
        y = torch.cat([F.interpolate(y, scale_factor=2, mode="nearest"), skips.pop()], 1)
        out = self.head(y)[..., :h, :w]
        rgb, alpha = torch.tanh(out[:, :3]), torch.sigmoid(out[:, 3:])
        return composite(rgb, alpha, person), alpha, rgb


class CAGANDiscriminator(nn.Module):
    """(person, article) -> logits (N, 1, h, w), one per patch; positive means "a real person wearing this article"."""

    def __init__(self, width: int = 32, layers: int = 3, max_channels: int = 256, in_channels: int = 6):
        super().__init__()
        ch = [min(width * 2**i, max_channels) for i in range(layers + 1)]
        blocks = [_conv(in_channels, ch[0], 4, 2, nn.LeakyReLU(0.2, True), norm=False)]
        blocks += [_conv(ch[i - 1], ch[i], 4, 2, nn.LeakyReLU(0.2, True)) for i in range(1, layers)]
        blocks.append(_conv(ch[layers - 1], ch[layers], 3, 1, nn.LeakyReLU(0.2, True)))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(ch[layers], 1, 3, 1, 1)
        self.noise_std = 0.0  # set by the trainer; only used in training mode
        _init(self)

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise_std > 0:
            return x + self.noise_std * torch.randn_like(x)
        return x

    def forward(self, person: torch.Tensor, article: torch.Tensor | None = None) -> torch.Tensor:
        """Two images, or one 6-channel stack."""
        x = self._noisy(person if article is None else torch.cat([person, article], 1))
        for block in self.blocks:
            x = self._noisy(block(x))
        return self.head(x)


@register_model
def cagan_g(width: int = 32, depth: int = 4, max_channels: int = 256) -> CAGANGenerator:
    return CAGANGenerator(width, depth, max_channels)


@register_model
def cagan_d(width: int = 32, layers: int = 3, max_channels: int = 256) -> CAGANDiscriminator:
    return CAGANDiscriminator(width, layers, max_channels)
