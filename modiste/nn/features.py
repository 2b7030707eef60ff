"""A small CNN classifier whose pooled features serve as the space for FD, KID and precision/recall.

Inception weights cannot be downloaded here, so modiste trains this network on the user's real
images (on their class labels, or on a rotation pretext task when there are none). Distances in
its space rank models trained on the same data; they are NOT comparable to Inception FID numbers.
"""
from __future__ import annotations

import torch
from torch import nn

from modiste.nn.registry import register_model


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True),
        nn.MaxPool2d(2),
    )


class FeatureNet(nn.Module):
    def __init__(self, num_classes: int, width: int = 32, feature_dim: int = 256):
        super().__init__()
        chans = [width, width * 2, width * 4, width * 8]
        # a strided stem first: full-resolution 3x3 blocks would cost 4x more for little gain in a
        # network whose only job is a stable feature space
        stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True))
        self.body = nn.Sequential(stem, *[_block(a, b) for a, b in zip(chans[:1] + chans[:-1], chans)])
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1], feature_dim), nn.ReLU(True))
        self.head = nn.Linear(feature_dim, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> (N, feature_dim); any input size (global pooling)."""
        return self.embed(self.pool(self.body(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model
def feature_net(num_classes: int = 10, width: int = 32, feature_dim: int = 256) -> FeatureNet:
    return FeatureNet(num_classes, width, feature_dim)
