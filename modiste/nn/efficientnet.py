"""EfficientNet-Lite (Tan & Le 2019; the Lite variants for mobile CPUs): the pretrained ImageNet backbone.

Inverted-residual blocks (1x1 expansion, depthwise kxk, 1x1 projection) with BatchNorm and ReLU6,
no squeeze-excitation, fixed stem (32) and head (1280). The ImageNet weights were trained in
TensorFlow, so three details must match it exactly or the features drift (the logits move by 2-5
and test accuracy drops by about 3 points): "SAME" padding computed from the actual input size
(asymmetric on a stride-2 convolution over an even side), BatchNorm eps 1e-3, and the input
``(x_uint8 - 127) / 128``. Like every modiste network the model takes images in [-1, 1] and maps
them onto that input itself.

``forward`` gives class logits; ``features`` the pooled 1280-d vector before the classifier;
``feature_maps`` the stride 4, 8, 16 and 32 maps for detection necks. Weights: ``modiste.nn.pretrained``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from modiste.nn.convnext import drop_path
from modiste.nn.registry import register_model

# (repeats, kernel, stride, expansion, channels in, channels out) per stage, at width and depth 1.0
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
# name: (width multiplier, depth multiplier, native input side)
VARIANTS = {"lite0": (1.0, 1.0, 224), "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260)}
STEM, HEAD = 32, 1280  # fixed in the Lite variants, whatever the width multiplier
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's epsilon; its decay 0.99 is PyTorch's momentum 0.01


def round_channels(c: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count and round it to a multiple of ``divisor``, never more than 10% down."""
    if width == 1.0:
        return c
    scaled = c * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one side: the output is ceil(size / stride) and
    any odd remainder goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvSame(nn.Conv2d):
    """A bias-free convolution with "SAME" padding. Stride 1 pads k // 2 on every side (the same
    thing, statically); stride 2 pads from the input's actual size on every call."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(c_in, c_out, kernel, stride, padding=kernel // 2 if stride == 1 else 0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            k, s = self.kernel_size[0], self.stride[0]
            top, bottom = same_padding(x.shape[-2], k, s)
            left, right = same_padding(x.shape[-1], k, s)
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class ConvBN(nn.Sequential):
    """Convolution, BatchNorm and (unless ``act=False``) ReLU6."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
        layers = [ConvSame(c_in, c_out, kernel, stride, groups), nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)]
        super().__init__(*layers, *([nn.ReLU6(inplace=True)] if act else []))


class MBConv(nn.Module):
    """Inverted residual: expand (skipped at expansion 1), depthwise, linear projection; the residual
    (with stochastic depth) when the block keeps stride and channels."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expansion: int, drop_path: float = 0.0):
        super().__init__()
        mid = c_in * expansion
        self.expand = ConvBN(c_in, mid) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBN(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBN(mid, c_out, act=False)
        self.residual = stride == 1 and c_in == c_out
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + drop_path(y, self.drop_path, self.training) if self.residual else y


def stage_specs(width: float, depth: float) -> list[tuple[int, int, int, int, int, int]]:
    """The stages of a variant: depth scales every stage but the first and the last (rounded up)."""
    specs = []
    for i, (n, k, s, e, c_in, c_out) in enumerate(STAGES):
        repeats = n if i in (0, len(STAGES) - 1) else math.ceil(depth * n)
        specs.append((repeats, k, s, e, round_channels(c_in, width), round_channels(c_out, width)))
    return specs


class EfficientNetLite(nn.Module):
    channels_last = True  # depthwise convolutions run 1.6-1.9x faster on CPU in that layout

    def __init__(self, variant: str = "lite0", num_classes: int = 1000, dropout: float = 0.2,
                 drop_path_rate: float = 0.0):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        width, depth, self.native_size = VARIANTS[variant]
        self.variant, self.num_classes = variant, num_classes
        specs = stage_specs(width, depth)
        self.stem = ConvBN(3, STEM, 3, 2)
        n_blocks, blocks, ends, c = sum(s[0] for s in specs), [], [], STEM
        for repeats, k, s, e, _, c_out in specs:
            for r in range(repeats):
                # deeper blocks are dropped more often (stochastic depth, as in the reference training)
                blocks.append(MBConv(c, c_out, k, s if r == 0 else 1, e, drop_path_rate * len(blocks) / n_blocks))
                c = c_out
            ends.append(len(blocks) - 1)
        self.blocks = nn.Sequential(*blocks)
        self.stage_ends = tuple(ends)  # index of each stage's last block
        # the last block of the stride 4, 8, 16 and 32 stages (stages 1, 2, 4 and 6)
        self.map_ends = (ends[1], ends[2], ends[4], ends[6])
        self.map_channels = tuple(specs[i][5] for i in (1, 2, 4, 6))
        self.head = ConvBN(c, HEAD)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD, num_classes) if num_classes > 0 else nn.Identity()

    @property
    def feature_dim(self) -> int:
        return HEAD

    @staticmethod
    def prepare(x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] (modiste's convention, x_uint8 / 127.5 - 1) -> (x_uint8 - 127) / 128, the input
        the ImageNet weights were trained on."""
        return x * (127.5 / 128) + 0.5 / 128

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stride 4, 8, 16 and 32 maps (24, 40, 112 and 320 channels for Lite0); the head conv is not run."""
        x, out = self.stem(self.prepare(x)), []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.map_ends:
                out.append(x)
        return out

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled 1280-d vector the ImageNet classifier reads; any input size."""
        return self.head(self.blocks(self.stem(self.prepare(x)))).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(x)))


def _factory(variant: str):
    def make(num_classes: int = 1000, dropout: float = 0.2, drop_path_rate: float = 0.0) -> EfficientNetLite:
        return EfficientNetLite(variant, num_classes, dropout, drop_path_rate)

    make.__name__ = f"efficientnet_{variant}"
    make.__doc__ = f"EfficientNet-{variant.capitalize()}: width x{VARIANTS[variant][0]}, depth x{VARIANTS[variant][1]}, " \
                   f"native input {VARIANTS[variant][2]} px."
    return make


for _variant in VARIANTS:
    register_model(_factory(_variant))
