"""An SSD-style single-shot detector (Liu et al. 2016) on a ConvNeXt or EfficientNet-Lite backbone.

One network predicts, for every default box of every cell of several feature maps, four box
offsets and a score per class (plus background). There is no proposal stage, so inference is one
forward pass and a non-maximum suppression.

Feature maps: the backbone's stride-8, -16 and -32 stages, then extra stride-2 blocks down to a
map of one or two cells, so the default boxes span small items (hats, shoes) on the fine maps to
whole coats and dresses on the coarse ones. The default boxes' aspect ratios (height / width) suit
garments: tall (2, 3) for dresses, coats and trousers; wide (1/2) for bags and shoes; square.

On EfficientNet-Lite (``ssd_efficientnet``, started from ImageNet weights by the trainer) the extra
blocks and the box and class predictors are SSDLite's (Sandler et al. 2018, MobileNetV2):
depthwise-separable convolutions with BatchNorm and ReLU6, a fraction of the plain 3x3 cost.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from modiste.nn.convnext import SIZES, ConvNeXt, LayerNorm2d
from modiste.nn.efficientnet import BN_EPS, VARIANTS, EfficientNetLite
from modiste.nn.registry import register_model

# height / width of the default boxes at each cell, besides the extra square one between scales
ASPECTS = (1.0, 2.0, 3.0, 0.5)


def scales_for(n_maps: int, smallest: float = 0.06, largest: float = 0.9) -> list[float]:
    """Box side (fraction of the image) per map, evenly spaced as in SSD, with one more for the extra square box."""
    step = (largest - smallest) / max(1, n_maps - 1)
    return [smallest + i * step for i in range(n_maps + 1)]


def default_boxes(map_sizes: list[tuple[int, int]], aspects=ASPECTS, smallest: float = 0.06,
                  largest: float = 0.9) -> torch.Tensor:
    """(P, 4) cx, cy, w, h in [0, 1] units, in the order the heads emit them (map, row, column, box)."""
    scales = scales_for(len(map_sizes), smallest, largest)
    boxes = []
    for k, (h, w) in enumerate(map_sizes):
        s, s_next = scales[k], scales[k + 1]
        shapes = [(s / math.sqrt(a), s * math.sqrt(a)) for a in aspects]  # (w, h) with h / w = a
        shapes.insert(1, (math.sqrt(s * s_next),) * 2)  # SSD's extra square box between this scale and the next
        ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij")
        centres = torch.stack([xs, ys], -1).reshape(-1, 1, 2).expand(-1, len(shapes), 2)
        sizes = torch.tensor(shapes).expand(h * w, -1, -1)
        boxes.append(torch.cat([centres, sizes], -1).reshape(-1, 4))
    return torch.cat(boxes).clamp(0, 1)


class Extra(nn.Module):
    """1x1 squeeze then a stride-2 3x3 conv: one more, coarser feature map."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out // 2, 1), LayerNorm2d(c_out // 2, eps=1e-6), nn.GELU(),
            nn.Conv2d(c_out // 2, c_out, 3, stride=2, padding=1), LayerNorm2d(c_out, eps=1e-6), nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _conv_bn(c_in: int, c_out: int, k: int = 1, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out, eps=BN_EPS), nn.ReLU6(inplace=True)]


class ExtraLite(nn.Sequential):
    """SSDLite's extra block: 1x1 squeeze, stride-2 depthwise 3x3, 1x1 expand, BatchNorm + ReLU6."""

    def __init__(self, c_in: int, c_out: int):
        mid = c_out // 2
        super().__init__(*_conv_bn(c_in, mid), *_conv_bn(mid, mid, 3, 2, groups=mid), *_conv_bn(mid, c_out))


class PredictLite(nn.Sequential):
    """SSDLite's predictor: depthwise 3x3 with BatchNorm + ReLU6, then a 1x1 convolution to the outputs."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(*_conv_bn(c_in, c_in, 3, groups=c_in), nn.Conv2d(c_in, c_out, 1))


class SSD(nn.Module):
    """``forward(x)`` -> (loc (B, P, 4), conf logits (B, P, num_classes + 1)); class 0 is background.

    ``backbone`` is a network whose ``feature_maps`` gives stride 4, 8, 16 and 32 maps with
    ``channels`` (the last three are used). ``lite``: SSDLite's depthwise-separable extras and
    predictors instead of plain 3x3 ones. ``priors`` (P, 4) are the default boxes for
    ``image_size``; the input must be that size.
    """

    def __init__(self, num_classes: int, backbone: nn.Module, channels: tuple[int, ...], image_size: int = 320,
                 extra_width: int = 128, n_extra: int = 3, smallest: float = 0.06, largest: float = 0.9,
                 lite: bool = False):
        super().__init__()
        self.num_classes, self.image_size = num_classes, image_size
        self.backbone = backbone
        chans = list(channels[1:])
        self.extras = nn.ModuleList()
        for _ in range(n_extra):
            self.extras.append((ExtraLite if lite else Extra)(chans[-1], extra_width))
            chans.append(extra_width)
        self.n_boxes = len(ASPECTS) + 1
        predict = PredictLite if lite else (lambda c_in, c_out: nn.Conv2d(c_in, c_out, 3, padding=1))
        self.loc = nn.ModuleList(predict(c, self.n_boxes * 4) for c in chans)
        self.conf = nn.ModuleList(predict(c, self.n_boxes * (num_classes + 1)) for c in chans)
        for head in self.conf:  # start near "background everywhere": most boxes are background
            last = head[-1] if isinstance(head, nn.Sequential) else head
            if last is head:
                nn.init.zeros_(last.weight)
            else:  # small, not zero: the depthwise layer before it needs a gradient from the first step
                nn.init.normal_(last.weight, std=0.01)
            nn.init.constant_(last.bias, 0.0)
            last.bias.data.view(self.n_boxes, num_classes + 1)[:, 0] = math.log(num_classes * 99)
        with torch.no_grad():
            self.eval()  # one probe image: BatchNorm must not compute batch statistics from it
            sizes = [tuple(f.shape[2:]) for f in self._maps(torch.zeros(1, 3, image_size, image_size))]
            self.train()
        self.map_sizes = sizes
        self.register_buffer("priors", default_boxes(sizes, smallest=smallest, largest=largest), persistent=False)

    def _maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = self.backbone.feature_maps(x)[1:]  # strides 8, 16, 32
        for extra in self.extras:
            maps.append(extra(maps[-1]))
        return maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        locs, confs = [], []
        for f, loc, conf in zip(self._maps(x), self.loc, self.conf):
            locs.append(loc(f).permute(0, 2, 3, 1).reshape(b, -1, 4))
            confs.append(conf(f).permute(0, 2, 3, 1).reshape(b, -1, self.num_classes + 1))
        return torch.cat(locs, 1), torch.cat(confs, 1)


@register_model
def ssd_convnext(num_classes: int = 9, image_size: int = 320, size: str = "micro", extra_width: int = 128,
                 drop_path_rate: float = 0.0) -> SSD:
    """SSD heads on a ConvNeXt of the given size; ``image_size`` 320 by default, 512 for small items."""
    if size not in SIZES:
        raise ValueError(f"unknown ConvNeXt size {size!r}; choose one of {', '.join(SIZES)}")
    widths, depths = SIZES[size]
    backbone = ConvNeXt(widths, depths, num_classes=0, drop_path_rate=drop_path_rate)
    backbone.head = nn.Identity()  # only the feature maps are used
    return SSD(num_classes, backbone, widths, image_size, extra_width=extra_width)


@register_model
def ssd_efficientnet(num_classes: int = 9, image_size: int = 320, variant: str = "lite0", extra_width: int = 256,
                     drop_path_rate: float = 0.0) -> SSD:
    """SSDLite heads on EfficientNet-Lite's stride 8, 16 and 32 maps, and three extra maps below."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    backbone = EfficientNetLite(variant, num_classes=0, dropout=0.0, drop_path_rate=drop_path_rate)
    backbone.head = nn.Identity()  # the 1280-channel head conv is not used: its maps are the stages'
    return SSD(num_classes, backbone, backbone.map_channels, image_size, extra_width=extra_width, lite=True)
