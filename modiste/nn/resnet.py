"""ResNet (He et al. 2016) classifiers with BatchNorm: the from-scratch baseline beside ConvNeXt.

On a few thousand photos and a CPU budget, BatchNorm and plain 3x3 convolutions learn faster
from scratch than ConvNeXt's LayerNorm and depthwise 7x7 blocks. The stem is one strided 3x3
convolution (no max-pool), sized for inputs of 64-128 px rather than ImageNet's 224.
"""
from __future__ import annotations

import torch
from torch import nn

from modiste.nn.registry import register_model

# name: (widths per stage, basic blocks per stage)
SIZES = {
    "r10": ((32, 64, 128, 256), (1, 1, 1, 1)),
    "r18": ((32, 64, 128, 256), (2, 2, 2, 2)),
    "r18w": ((64, 128, 256, 512), (2, 2, 2, 2)),
}


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1, self.conv2 = _conv_bn(c_in, c_out, stride), _conv_bn(c_out, c_out)
        # The last BatchNorm starts small: each block starts close to the identity (zero would
        # also stop the gradient to the block's first convolution at the first step).
        nn.init.constant_(self.conv2[1].weight, 0.1)
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(torch.relu(self.conv1(x)))
        return torch.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, widths=SIZES["r10"][0], depths=SIZES["r10"][1], num_classes: int = 1000,
                 head_dropout: float = 0.0):
        super().__init__()
        self.widths, self.num_classes = tuple(widths), num_classes
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, c = [], widths[0]
        for i, (w, d) in enumerate(zip(widths, depths)):
            blocks = [BasicBlock(c, w, 1 if i == 0 else 2)] + [BasicBlock(w, w) for _ in range(d - 1)]
            stages.append(nn.Sequential(*blocks))
            c = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.Dropout(head_dropout), nn.Linear(c, num_classes) if num_classes > 0 else nn.Identity())
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def feature_dim(self) -> int:
        return self.widths[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features before the head: (N, feature_dim)."""
        return self.stages(self.stem(x)).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _factory(size: str):
    widths, depths = SIZES[size]

    def make(num_classes: int = 1000, head_dropout: float = 0.0) -> ResNet:
        return ResNet(widths, depths, num_classes, head_dropout)

    make.__name__ = f"resnet_{size}"
    make.__doc__ = f"ResNet-{size}: widths {widths}, basic blocks {depths}, BatchNorm."
    return make


for _size in SIZES:
    register_model(_factory(_size))
