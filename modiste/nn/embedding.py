"""Embedding networks for similar-item search: image -> L2-normalised vector (default 128 floats).

``embed_vgg`` follows the street-to-shop write-up: pairs of 3x3 convolutions with BatchNorm and
ReLU, 4x4 max-pooling, dropout 0.25, then a linear layer. ``embed_convnext`` and
``embed_efficientnet`` put the same linear projection on a ConvNeXt or EfficientNet-Lite backbone
(the trainer starts the backbone from ImageNet weights, a local file, or scratch).
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from modiste.nn.convnext import SIZES, ConvNeXt, load_convnext_weights
from modiste.nn.efficientnet import EfficientNetLite
from modiste.nn.registry import register_model


class Embedder(nn.Module):
    """``backbone.features(x)`` -> linear -> unit length. Cosine similarity is then a dot product."""

    def __init__(self, backbone: nn.Module, feature_dim: int, dim: int = 128):
        super().__init__()
        self.backbone, self.dim = backbone, dim
        self.proj = nn.Linear(feature_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.backbone.features(x)), dim=1)


class VGGBackbone(nn.Module):
    def __init__(self, width: int = 32, blocks: int = 2, dropout: float = 0.25):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(blocks):
            c = width * 2**i
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True),
                       nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True),
                       nn.MaxPool2d(4, ceil_mode=True), nn.Dropout(dropout)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.feature_dim = c_in

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))  # global average: any input size gives one vector


@register_model
def embed_vgg(dim: int = 128, width: int = 32, blocks: int = 2, dropout: float = 0.25) -> Embedder:
    backbone = VGGBackbone(width, blocks, dropout)
    return Embedder(backbone, backbone.feature_dim, dim)


@register_model
def embed_convnext(dim: int = 128, size: str = "micro", drop_path_rate: float = 0.0,
                   backbone_weights: str | os.PathLike | None = None) -> Embedder:
    """``backbone_weights``: a local file in the public ConvNeXt layout (its classifier head is dropped)."""
    if size not in SIZES:
        raise ValueError(f"unknown ConvNeXt size {size!r}; choose one of {', '.join(SIZES)}")
    widths, depths = SIZES[size]
    backbone = ConvNeXt(widths, depths, num_classes=0, drop_path_rate=drop_path_rate)
    if backbone_weights is not None:
        load_convnext_weights(backbone, backbone_weights)
    return Embedder(backbone, backbone.feature_dim, dim)


@register_model
def embed_efficientnet(dim: int = 128, variant: str = "lite0", drop_path_rate: float = 0.0) -> Embedder:
    """EfficientNet-Lite's pooled 1280-d features, projected to ``dim``."""
    backbone = EfficientNetLite(variant, num_classes=0, dropout=0.0, drop_path_rate=drop_path_rate)
    return Embedder(backbone, backbone.feature_dim, dim)
