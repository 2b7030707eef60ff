"""ImageNet features for generative metrics: EfficientNet-Lite0's pooled 1280-d vector at 224 px.

FID's recipe with the backbone modiste ships: every image, real or generated, is resized to the
network's native 224 x 224 (bilinear, antialiased, as a square like Inception's 299) and read by
the released ImageNet weights, untouched. The space is the same for every dataset and every run,
so numbers compare across them (but not with Inception FIDs: another network, another scale).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from modiste.nn.pretrained import PREFERRED, frozen_imagenet, imagenet_installed

SIZE = 224


class ImagenetFeatures(nn.Module):
    """``features(x)``: images in [-1, 1] of any size -> (N, 1280) float32."""

    def __init__(self, backbone: str = PREFERRED, size: int = SIZE):
        super().__init__()
        self.size = size
        self.net = frozen_imagenet(backbone)
        self.feature_meta = {"task": "imagenet", "backbone": backbone, "image_size": [size, size]}

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x.float(), size=(self.size, self.size), mode="bilinear", antialias=True,
                              align_corners=False).clamp(-1, 1)
        return self.net.features(x.contiguous(memory_format=torch.channels_last)).float()


def imagenet_space_available() -> bool:
    return imagenet_installed(PREFERRED)
