"""ConvNeXt (Liu et al. 2022): the backbone shared by embeddings, detection and shot classification.

Each block: depthwise 7x7 convolution, LayerNorm over channels, an inverted MLP (x4, GELU), a
learnt per-channel layer scale, and stochastic depth on the residual branch. Parameter names
follow the common public layout (``stem.0``, ``stages.1.downsample.1``,
``stages.0.blocks.0.conv_dw``, ``mlp.fc1``, ``gamma``, ``head.fc``), so a local weights file in
that layout loads directly (``load_convnext_weights``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from modiste.nn.registry import register_model

# name: (widths per stage, blocks per stage); atto..tiny are the published sizes, "micro" trains on a CPU
SIZES = {
    "micro": ((16, 32, 64, 128), (1, 1, 2, 1)),
    "atto": ((40, 80, 160, 320), (2, 2, 6, 2)),
    "femto": ((48, 96, 192, 384), (2, 2, 6, 2)),
    "pico": ((64, 128, 256, 512), (2, 2, 6, 2)),
    "nano": ((80, 160, 320, 640), (2, 2, 8, 2)),
    "tiny": ((96, 192, 384, 768), (3, 3, 9, 3)),
}


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class Mlp(nn.Module):
    def __init__(self, dim: int, ratio: int = 4):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, ratio * dim), nn.GELU(), nn.Linear(ratio * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop a sample's whole residual branch with probability p (scaled to keep the mean)."""
    if p == 0.0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - p)
    return x * keep / (1 - p)


class Block(nn.Module):
    def __init__(self, dim: int, drop_path: float = 0.0, layer_scale: float = 1e-6):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim)
        # small initial scale: each block starts close to the identity, so deep stacks train from scratch
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale)) if layer_scale > 0 else None
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_dw(x).permute(0, 2, 3, 1)  # channels last: LayerNorm and the MLP act per position
        y = self.mlp(self.norm(y))
        if self.gamma is not None:
            y = y * self.gamma
        return x + drop_path(y.permute(0, 3, 1, 2), self.drop_path, self.training)


class Stage(nn.Module):
    def __init__(self, c_in: int, c_out: int, depth: int, drop_paths: list[float], downsample: bool):
        super().__init__()
        self.downsample = (nn.Sequential(LayerNorm2d(c_in, eps=1e-6), nn.Conv2d(c_in, c_out, 2, 2))
                           if downsample else nn.Identity())
        self.blocks = nn.Sequential(*[Block(c_out, p) for p in drop_paths[:depth]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class Head(nn.Module):
    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.norm(x.mean(dim=(2, 3)))))


class ConvNeXt(nn.Module):
    """``forward`` gives class logits; ``features`` the pooled, normalised vector before the head;
    ``feature_maps`` the output of every stage (strides 4, 8, 16, 32) for detection necks."""

    def __init__(self, widths=SIZES["micro"][0], depths=SIZES["micro"][1], num_classes: int = 1000,
                 drop_path_rate: float = 0.0, head_dropout: float = 0.0, in_chans: int = 3):
        super().__init__()
        self.widths, self.num_classes = tuple(widths), num_classes
        self.stem = nn.Sequential(nn.Conv2d(in_chans, widths[0], 4, 4), LayerNorm2d(widths[0], eps=1e-6))
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()  # deeper blocks drop more often
        stages, c_prev, k = [], widths[0], 0
        for i, (c, d) in enumerate(zip(widths, depths)):
            stages.append(Stage(c_prev, c, d, rates[k : k + d], downsample=i > 0))
            c_prev, k = c, k + d
        self.stages = nn.Sequential(*stages)
        self.head = Head(widths[-1], num_classes, head_dropout)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    @property
    def feature_dim(self) -> int:
        return self.widths[-1]

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x, out = self.stem(x), []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.norm(self.stages(self.stem(x)).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def _factory(size: str):
    widths, depths = SIZES[size]

    def make(num_classes: int = 1000, drop_path_rate: float = 0.0, head_dropout: float = 0.0) -> ConvNeXt:
        return ConvNeXt(widths, depths, num_classes, drop_path_rate, head_dropout)

    make.__name__ = f"convnext_{size}"
    make.__doc__ = f"ConvNeXt-{size}: widths {widths}, blocks {depths}."
    return make


for _size in SIZES:
    register_model(_factory(_size))


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A local weights file: safetensors, or a torch file holding a state dict (loaded without pickled code)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a plain state dict"
        raise ValueError(f"{path}: not a readable weights file ({e})") from e
    for key in ("state_dict", "model"):  # training scripts often wrap the weights
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: does not hold a state dict of tensors")
    return obj


def load_convnext_weights(model: ConvNeXt, path: str | os.PathLike) -> ConvNeXt:
    """Load weights in the public ConvNeXt layout. A classifier head of another class count is left as
    initialised (with a warning); any other missing, unexpected or misshapen key is an error."""
    from modiste.nn.pretrained import load_state

    state = {k.removeprefix("module."): v for k, v in read_state_dict(path).items()}
    n_file = state["head.fc.weight"].shape[0] if "head.fc.weight" in state else None
    if n_file is not None and n_file != model.num_classes:
        warnings.warn(f"{path}: classifier head for {n_file} classes, the model has {model.num_classes}: "
                      "head left as initialised", stacklevel=2)
    return load_state(model, state, str(path))
