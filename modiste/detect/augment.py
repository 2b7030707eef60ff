"""SSD's box-aware training augmentation, one image at a time as a DataLoader worker sees it.

Input: ``image`` uint8 ``(3, H, W)``, ``boxes`` float ``(N, 4)`` xyxy in pixels, ``labels``
``(N,)``. Output: a float32 ``(3, S, S)`` image in [-1, 1] and the surviving boxes xyxy in [0, 1]
of that image with their labels. The recipe is SSD's (Liu et al. 2016, and its Caffe sampler):

1. photometric distortion: brightness, then contrast either before or after saturation and hue;
2. zoom out: the image is put at a random place on a canvas up to ``max_expand`` times larger
   and filled with a constant, so large items are also seen small;
3. min-IoU crop: a random window that some box overlaps by at least a drawn IoU; boxes whose
   centre lies inside are kept and clipped to it;
4. horizontal flip, resize to ``S x S`` (bilinear), boxes under ``min_size`` output pixels dropped.

No canvas is built: zoom out, crop, flip and resize compose into one axis-aligned map from output
to input pixels, so the output is sampled once from the input (separable bilinear, two gathers).
The colour steps then act only on the part of the output the image covers, so the fill stays the
constant as in SSD. The work is O(S^2) whatever the photo's size; it differs from the step-by-step
recipe only in colouring after rather than before the interpolation, and in an affine saturation
and hue turn about the grey axis in place of HSV.

Coordinates are pixel edges: pixel (i, j) covers ``[j, j + 1] x [i, i + 1]``, so the box
``(0, 0, W, H)`` is the whole image. Every random draw comes from the ``numpy.random.Generator``
passed in, a fixed number per call, so a seed fixes the result and switching the photometric step
off leaves the geometry of the same seed unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601 grey, as PIL and torchvision use
GREY = (127.5, 127.5, 127.5)  # 0 after normalisation, where SSD fills with the mean that its normalisation removes
N_DRAWS = 15  # uniforms per call besides the crop candidates; see DetectionAugment.__call__


def to_pixels(boxes01: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Boxes xyxy in [0, 1] of the network input mapped to pixels of a ``width x height`` image."""
    scale = torch.tensor([width, height, width, height], dtype=boxes01.dtype, device=boxes01.device)
    return boxes01 * scale


def min_iou_crop(boxes: np.ndarray, width: float, height: float, min_iou: float, draws: np.ndarray,
                 scale: tuple[float, float] = (0.3, 1.0),
                 aspect: tuple[float, float] = (0.5, 2.0)) -> np.ndarray | None:
    """The first acceptable crop window, xyxy, among the candidates ``draws (T, 4)`` of uniforms.

    A candidate's sides are ``scale`` of the ``width x height`` canvas, its height over width must
    lie in ``aspect``, and some box whose centre it contains must overlap it with IoU >= ``min_iou``
    (any box, as Caffe SSD's sampler; mmdetection asks it of all). Without boxes any window of
    the right shape does. ``None`` when no candidate is acceptable.
    """
    w = width * (scale[0] + (scale[1] - scale[0]) * draws[:, 0])
    h = height * (scale[0] + (scale[1] - scale[0]) * draws[:, 1])
    x0, y0 = (width - w) * draws[:, 2], (height - h) * draws[:, 3]
    windows = np.stack([x0, y0, x0 + w, y0 + h], axis=1)
    ok = (h >= aspect[0] * w) & (h <= aspect[1] * w)
    if len(boxes):
        ok &= ((_iou(windows, boxes) >= min_iou) & _centre_inside(boxes, windows)).any(axis=1)
    hits = np.flatnonzero(ok)
    return windows[hits[0]] if len(hits) else None


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU ``(T, N)`` of xyxy boxes ``a (T, 4)`` and ``b (N, 4)``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=-1)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-12)


def _centre_inside(boxes: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Whether each box's centre lies strictly inside each window: ``(T, N)``."""
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    return ((c[None] > windows[:, None, :2]) & (c[None] < windows[:, None, 2:])).all(axis=-1)


def _axis(start: float, length: float, size: int, n_in: int, flip: bool = False):
    """Sampling plan along one axis: ``size`` output pixels span input ``[start, start + length]``.

    Returns ``(lo, hi, i0, i1, t)``: output pixels ``lo:hi`` fall on the image, and each takes
    ``(1 - t) * in[i0] + t * in[i1]``. Outside the image is fill; the image's own border pixels
    repeat up to its edge, as in ``F.interpolate(align_corners=False)``.
    """
    j = np.arange(size) + 0.5
    x = start + (size - j if flip else j) * (length / size)  # output pixel centres in input coordinates
    inside = np.flatnonzero((x >= 0) & (x < n_in))  # contiguous: x is monotonic
    lo, hi = (int(inside[0]), int(inside[-1]) + 1) if len(inside) else (0, 0)
    p = np.clip(x[lo:hi] - 0.5, 0, n_in - 1)  # in units of pixel centres
    i0 = np.floor(p).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return lo, hi, torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy((p - i0).astype(np.float32))


def _resample(image: torch.Tensor, rows, cols) -> torch.Tensor:
    """Bilinear samples of ``image (C, H, W)`` (any dtype) on two ``_axis`` plans, as float32."""
    _, _, r0, r1, rt = rows
    _, _, c0, c1, ct = cols
    x = image.index_select(1, r0).float()
    x = torch.lerp(x, image.index_select(1, r1).float(), rt[:, None])
    shape = (x.shape[0], x.shape[1], len(c0))  # gather is several times faster than index_select on the last dim
    return torch.lerp(x.gather(2, c0.expand(shape)), x.gather(2, c1.expand(shape)), ct)


def _check(image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor) -> None:
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a uint8 image (3, H, W), got {image.dtype} {tuple(image.shape)}")
    if boxes.ndim != 2 or boxes.shape[1] != 4 or labels.shape != (boxes.shape[0],):
        raise ValueError(f"expected boxes (N, 4) and labels (N,), got {tuple(boxes.shape)} and {tuple(labels.shape)}")


def _clip_to_image(boxes: torch.Tensor, width: int, height: int) -> np.ndarray:
    b = boxes.detach().cpu().double().numpy().reshape(-1, 4)
    return np.clip(b, 0, [width, height, width, height])


def _hue_matrix(degrees: float) -> np.ndarray:
    """Rotation of RGB about the grey axis (1, 1, 1): a hue turn that keeps the grey level."""
    a = math.radians(degrees)
    cross = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / math.sqrt(3)
    return math.cos(a) * np.eye(3) + math.sin(a) * cross + (1 - math.cos(a)) * np.full((3, 3), 1 / 3)


@dataclass
class DetectionAugment:
    """SSD training augmentation; call as ``aug(image, boxes, labels, rng)``, see the module doc."""

    size: int = 320                                   # network input side S
    photometric: bool = True
    p_colour: float = 0.5                             # chance of each of brightness, contrast, saturation, hue (SSD)
    brightness: float = 32.0                          # offset drawn in +- this, on the 0-255 scale (SSD)
    contrast: tuple[float, float] = (0.5, 1.5)        # factor about the mean grey (SSD's range; SSD scales about 0)
    saturation: tuple[float, float] = (0.5, 1.5)      # factor about each pixel's grey (SSD)
    hue: float = 18.0                                 # turn drawn in +- this many degrees (ssd.pytorch)
    expand: bool = True                               # zoom out
    p_expand: float = 0.5                             # SSD's
    min_expand: float = 1.0                           # canvas side / image side is drawn in [min_expand, max_expand]
    max_expand: float = 3.0                           # SSD's 4 makes a quarter-width item 20 px at S = 320, under the
                                                      # smallest default box (0.1 S); 3 keeps it near 27 px
    crop: bool = True
    min_ious: tuple[float | None, ...] = (None, 0.1, 0.3, 0.5, 0.7, 0.9)  # drawn evenly; None keeps the whole image
    crop_scale: tuple[float, float] = (0.3, 1.0)      # crop side as a fraction of the canvas side (SSD)
    crop_aspect: tuple[float, float] = (0.5, 2.0)     # crop height / width (SSD)
    max_trials: int = 50                              # crop candidates; if none fits, the image is not cropped
    p_flip: float = 0.5
    fill: tuple[float, float, float] = GREY           # zoom-out canvas colour, 0-255 per channel
    min_size: float = 1.0                             # boxes narrower or lower than this many output pixels are dropped

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"size must be >= 1, not {self.size}")
        if not 1 <= self.min_expand <= self.max_expand:
            raise ValueError(f"need 1 <= min_expand <= max_expand, not {self.min_expand}, {self.max_expand}")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < lo <= hi <= 1, not {self.crop_scale}")
        if not 0 < self.crop_aspect[0] <= self.crop_aspect[1]:
            raise ValueError(f"crop_aspect must satisfy 0 < lo <= hi, not {self.crop_aspect}")
        if not self.min_ious or self.max_trials < 1:
            raise ValueError("min_ious must not be empty and max_trials must be >= 1")
        for name in ("p_colour", "p_expand", "p_flip"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], not {getattr(self, name)}")
        if len(self.fill) != 3:
            raise ValueError(f"fill needs one value per channel, not {self.fill}")

    def __call__(self, image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check(image, boxes, labels)
        _, h, w = image.shape
        s = self.size
        # u[0:9] colour, u[9:13] zoom out, u[13] crop mode, u[14] flip
        u = rng.random(N_DRAWS)
        trials = rng.random((self.max_trials, 4))
        b = _clip_to_image(boxes, w, h)

        # zoom out: the image sits at (left, top) of a cw x ch canvas
        cw, ch, left, top = float(w), float(h), 0.0, 0.0
        if self.expand and u[9] < self.p_expand:
            ratio = self.min_expand + (self.max_expand - self.min_expand) * u[10]
            cw, ch = w * ratio, h * ratio
            left, top = (cw - w) * u[11], (ch - h) * u[12]
        b = b + [left, top, left, top]

        window = np.array([0.0, 0.0, cw, ch])
        keep = np.ones(len(b), dtype=bool)
        min_iou = self.min_ious[min(int(u[13] * len(self.min_ious)), len(self.min_ious) - 1)]
        if self.crop and min_iou is not None:
            found = min_iou_crop(b, cw, ch, min_iou, trials, self.crop_scale, self.crop_aspect)
            if found is not None:
                window = found
                keep = _centre_inside(b, window[None])[0]
        x0, y0, x1, y1 = window
        b = np.clip(b, [x0, y0, x0, y0], [x1, y1, x1, y1]) - [x0, y0, x0, y0]
        flip = u[14] < self.p_flip
        if flip:
            b = np.stack([x1 - x0 - b[:, 2], b[:, 1], x1 - x0 - b[:, 0], b[:, 3]], axis=1)
        b = b / [x1 - x0, y1 - y0, x1 - x0, y1 - y0]
        keep &= ((b[:, 2] - b[:, 0]) * s >= self.min_size) & ((b[:, 3] - b[:, 1]) * s >= self.min_size)

        rows = _axis(y0 - top, y1 - y0, s, h)
        cols = _axis(x0 - left, x1 - x0, s, w, flip)
        fill = torch.tensor(self.fill, dtype=torch.float32) / 127.5 - 1
        out = fill[:, None, None].repeat(1, s, s)
        if rows[1] > rows[0] and cols[1] > cols[0]:
            region = _resample(image, rows, cols)
            if self.photometric:
                region = self._colour(region, u)
            else:
                region = region.mul_(1 / 127.5).sub_(1)
            out[:, rows[0]:rows[1], cols[0]:cols[1]] = region
        keep_t = torch.from_numpy(keep)
        return out, torch.from_numpy(b[keep]).float(), labels[keep_t.to(labels.device)]

    def _colour(self, region: torch.Tensor, u: np.ndarray) -> torch.Tensor:
        """SSD's photometric distortion of ``region (3, h, w)`` on 0-255, returned normalised to [-1, 1].

        Brightness, then contrast before or after saturation-and-hue, each step clipped to 0-255
        as SSD's 8-bit steps are: without the clipping the order would hardly matter.
        """
        x = region.reshape(3, -1)
        if u[0] < self.p_colour:
            x.add_(self.brightness * (2 * u[1] - 1)).clamp_(0, 255)

        def contrast(x):
            if u[2] >= self.p_colour:
                return x
            f = self.contrast[0] + (self.contrast[1] - self.contrast[0]) * u[3]
            grey = float(LUMA @ x.mean(dim=1).double().numpy())
            return x.mul_(f).add_((1 - f) * grey).clamp_(0, 255)

        def saturation_hue(x):
            m, on = np.eye(3), False
            if u[4] < self.p_colour:
                f = self.saturation[0] + (self.saturation[1] - self.saturation[0]) * u[5]
                m, on = f * np.eye(3) + (1 - f) * np.outer(np.ones(3), LUMA), True
            if u[6] < self.p_colour:
                m, on = _hue_matrix(self.hue * (2 * u[7] - 1)) @ m, True
            return torch.mm(torch.from_numpy(m).float(), x).clamp_(0, 255) if on else x

        x = saturation_hue(contrast(x)) if u[8] < 0.5 else contrast(saturation_hue(x))
        return x.mul_(1 / 127.5).sub_(1).reshape(region.shape)


@dataclass
class DetectionTransform:
    """Eval-time transform: resize to ``size x size``, normalise to [-1, 1], boxes to [0, 1].

    No randomness; ``rng`` is accepted and ignored so a dataset can call either transform the same
    way. Boxes are clipped to the image but none are dropped: evaluation needs every ground truth.
    ``to_pixels(boxes01, W, H)`` maps predictions back to the original image.
    """

    size: int = 320

    def __call__(self, image: torch.Tensor, boxes: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if boxes is None:
            boxes = torch.zeros(0, 4)
        if labels is None:
            labels = torch.zeros(len(boxes), dtype=torch.long)
        _check(image, boxes, labels)
        _, h, w = image.shape
        out = _resample(image, _axis(0, h, self.size, h), _axis(0, w, self.size, w))
        b = _clip_to_image(boxes, w, h) / [w, h, w, h]
        return out.mul_(1 / 127.5).sub_(1), torch.from_numpy(b).float(), labels
