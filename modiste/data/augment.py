"""Street-snap augmentation: batched, on-device, reproducible from a ``torch.Generator``.

A shop photo is clean, centred and evenly lit; the same item in a street snap is cropped,
tilted, seen at an angle, under other light and often a little soft. ``SnapAugment`` imitates
that on a float batch ``(N, 3, H, W)`` in [-1, 1], every image drawing its own parameters:

1. one warp: random resized crop, corner perspective, horizontal flip and a small rotation are
   composed into a single 3x3 homography per image (4-point DLT, ``torch.linalg.solve``) and
   applied with one bilinear ``grid_sample``. Outside the image the border pixels are repeated
   (``fill=None``) so no frame appears around the item; a constant ``fill`` (1.0 = white, the
   usual shop background) is the alternative;
2. colour: brightness, contrast, saturation and a hue turn about the grey axis of RGB, then
   grayscale, folded into one 3x3 matrix and offset per image;
3. gaussian blur, separable, per-image sigma, reflect padding.

All draws come from one ``torch.rand`` call of fixed size on the generator's device, so the
same generator state gives the same output and one call always advances it by the same amount.
``strength`` scales every magnitude; at 0 the input is returned as is and nothing is drawn.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as PIL and torchvision use
CORNERS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))  # top-left, clockwise; y points down
N_DRAWS = 23  # uniforms per image, see SnapAugment._draw


def homography(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """3x3 matrices ``(..., 3, 3)`` mapping the 4 points ``src (..., 4, 2)`` onto ``dst``.

    Direct linear transform with ``H[2, 2] = 1``: two equations per point pair, one 8x8 solve.
    """
    u, v = src.unbind(-1)
    x, y = dst.unbind(-1)
    one, zero = torch.ones_like(u), torch.zeros_like(u)
    rows_x = torch.stack([u, v, one, zero, zero, zero, -u * x, -v * x], dim=-1)
    rows_y = torch.stack([zero, zero, zero, u, v, one, -u * y, -v * y], dim=-1)
    a = torch.cat([rows_x, rows_y], dim=-2)  # (..., 8, 8)
    b = torch.cat([x, y], dim=-1)  # (..., 8)
    h = torch.linalg.solve(a, b)
    return torch.cat([h, torch.ones_like(h[..., :1])], dim=-1).unflatten(-1, (3, 3))


def warp(x: torch.Tensor, matrices: torch.Tensor, fill: float | None = None) -> torch.Tensor:
    """Resample ``x (N, C, H, W)`` where ``matrices (N, 3, 3)`` map output to input coordinates.

    Coordinates are ``grid_sample``'s normalised ones (``align_corners=False``): -1 and 1 are the
    outer edges of the image. ``fill=None`` repeats the border pixels, a number fills with it.
    """
    n, _, h, w = x.shape
    ys = (torch.arange(h, device=x.device, dtype=x.dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=x.device, dtype=x.dtype) * 2 + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(1, h * w, 3)
    pts = base @ matrices.to(x.dtype).mT  # (N, H*W, 3)
    grid = (pts[..., :2] / pts[..., 2:]).reshape(n, h, w, 2)
    if fill is None:
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # zero padding of (x - fill) blends edge pixels with the constant exactly as it should
    out = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + fill


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Blur each image of ``x (N, C, H, W)`` with its own ``sigma (N,)``; kernel ``2 * radius + 1``.

    Separable grouped convolutions with reflect padding; ``radius`` is capped at ``min(H, W) - 1``.
    """
    n, c, h, w = x.shape
    radius = max(0, min(radius, h - 1, w - 1))
    if radius == 0:
        return x
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    sigma = sigma.to(x.device, x.dtype).clamp_min(1e-3)
    k = torch.exp(-(t**2) / (2 * sigma[:, None] ** 2))
    k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (N * C, K)
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), k[:, None, None, :], groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), k[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def _about_grey_axis(angle: torch.Tensor) -> torch.Tensor:
    """Rotations ``(N, 3, 3)`` of RGB about (1, 1, 1) by ``angle (N,)`` radians (Rodrigues)."""
    k = torch.full((3,), 1 / math.sqrt(3), dtype=angle.dtype, device=angle.device)
    cross = torch.tensor([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=angle.dtype, device=angle.device)
    cross = cross / math.sqrt(3)
    eye = torch.eye(3, dtype=angle.dtype, device=angle.device)
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    return cos * eye + sin * cross + (1 - cos) * torch.outer(k, k)


@dataclass
class SnapAugment:
    """Street-snap look for shop photos; call as ``aug(x, generator=g)``.

    ``x`` is ``(N, 3, H, W)`` float in [-1, 1] on any device; the output has the same shape,
    dtype and device and lies in [-1, 1]. Settings are plain fields, so ``to_dict`` / ``from_dict``
    round-trip through a JSON training config.
    """

    scale: tuple[float, float] = (0.35, 1.0)        # crop area as a fraction of the image: ImageNet's 0.08 loses the item
    ratio: tuple[float, float] = (3 / 4, 4 / 3)     # crop aspect (w / h), drawn log-uniform; clipped so the crop fits
    perspective: float = 0.15                       # max move of each corner coordinate, as a fraction of the crop side
    p_perspective: float = 0.5                      # a snap is often, not always, taken at an angle
    p_flip: float = 0.5                             # garments are left-right symmetric enough
    rotate: float = 10.0                            # max rotation in degrees, every image; phones are held roughly level
    brightness: float = 0.3                         # factor drawn in 1 +- this
    contrast: float = 0.3                           # factor in 1 +- this, towards the image's mean grey
    saturation: float = 0.3                         # factor in 1 +- this, towards each pixel's grey
    hue: float = 0.05                               # max turn about the grey axis, in turns (0.05 = 18 degrees)
    p_color: float = 0.8                            # street light is rarely the studio's
    p_gray: float = 0.1                             # a few grey images stop the embedding leaning only on colour
    blur_sigma: tuple[float, float] = (0.1, 1.5)    # pixels; sets the kernel size too (radius ceil(3 * max))
    p_blur: float = 0.3                             # motion and focus softness in some snaps
    fill: float | None = None                       # outside the image: None repeats the border, a value fills (1 = white)
    strength: float = 1.0                           # scales every magnitude; 0 is the identity, for ramp-up or ablation

    def __post_init__(self) -> None:
        self.scale = (float(self.scale[0]), float(self.scale[1]))
        self.ratio = (float(self.ratio[0]), float(self.ratio[1]))
        self.blur_sigma = (float(self.blur_sigma[0]), float(self.blur_sigma[1]))
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < lo <= hi <= 1, not {self.scale}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"ratio must satisfy 0 < lo <= hi, not {self.ratio}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"blur_sigma must satisfy 0 < lo <= hi, not {self.blur_sigma}")
        for name in ("p_perspective", "p_flip", "p_color", "p_gray", "p_blur"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], not {getattr(self, name)}")
        for name in ("perspective", "rotate", "brightness", "contrast", "saturation", "hue", "strength"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.fill is not None and not -1 <= self.fill <= 1:
            raise ValueError(f"fill must be None or in [-1, 1], not {self.fill}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SnapAugment:
        """Unknown keys are an error: a misspelt setting would otherwise be silently the default."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown SnapAugment settings: {sorted(unknown)}")
        return cls(**d)

    def __call__(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment ``x``; ``generator=None`` draws from torch's global CPU generator."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a batch (N, 3, H, W), got shape {tuple(x.shape)}")
        if self.strength == 0 or x.shape[0] == 0:
            return x
        n, _, h, w = x.shape
        p = self._draw(n, h, w, generator)
        out = warp(x, p["warp"].to(x.device), self.fill)
        if p["recolour"]:
            out = self._colour(out, p["colour"].to(x.device, x.dtype), p["grey_offset"].to(x.device, x.dtype))
        out = out.clamp(-1, 1)
        idx = p["blur"].nonzero().flatten()
        if len(idx):
            idx_x = idx.to(x.device)
            out[idx_x] = gaussian_blur(out[idx_x], p["sigma"][idx], p["radius"])
        return out

    def _draw(self, n: int, h: int, w: int, generator: torch.Generator | None) -> dict[str, Any]:
        """Per-image parameters, computed in float64 on the generator's device (tiny tensors)."""
        s = self.strength
        s1 = min(s, 1.0)  # flip and grayscale have no magnitude: their probability ramps instead
        dev = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(n, N_DRAWS, generator=generator, device=dev, dtype=torch.float64).unbind(1)
        opts = {"dtype": torch.float64, "device": dev}

        # random resized crop, in grid_sample's normalised coordinates (the image spans [-1, 1])
        lo, hi = (max(1 - s * (1 - a), 1e-3) for a in self.scale)
        area = lo + u[0] * (hi - lo)
        image_aspect = w / h
        log_r = s * (math.log(self.ratio[0]) + u[1] * math.log(self.ratio[1] / self.ratio[0]))
        # narrow the aspect where the crop would not fit; the area is kept, as torchvision's fallback does
        log_r = torch.minimum(torch.maximum(log_r, area.log() + math.log(image_aspect)),
                              math.log(image_aspect) - area.log())
        half = torch.stack([(area * log_r.exp() / image_aspect).sqrt(),
                            (area * image_aspect / log_r.exp()).sqrt()], dim=1).clamp(max=1.0)  # (N, 2)
        centre = (torch.stack([u[2], u[3]], dim=1) * 2 - 1) * (1 - half)
        corners = torch.tensor(CORNERS, **opts)
        dst = centre[:, None] + corners * half[:, None]  # (N, 4, 2)

        # perspective: every corner coordinate moves by up to `perspective` of the crop side, either way
        tilt = (u[4] < self.p_perspective).to(torch.float64) * self.perspective * s
        moves = torch.stack(u[5:13], dim=1).view(n, 4, 2) * 2 - 1
        dst = dst + moves * (2 * half[:, None]) * tilt[:, None, None]

        # rotation about the crop centre, in pixel units so that non-square images are not sheared
        angle = (u[14] * 2 - 1) * math.radians(self.rotate * s)
        cos, sin = angle.cos(), angle.sin()
        rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (N, 2, 2)
        pixels = torch.tensor([w, h], **opts)
        rel = (dst - centre[:, None]) * pixels
        dst = centre[:, None] + (rel @ rot.mT) / pixels

        # flip: output corner i takes the mirrored corner's place
        sign = torch.where(u[13] < self.p_flip * s1, -1.0, 1.0)
        src = corners * torch.stack([sign, torch.ones_like(sign)], dim=1)[:, None]
        matrices = homography(src, dst)

        colour, grey_offset, recolour = self._colour_matrices(u, s, s1, opts)
        blur = u[21] < self.p_blur
        sigma = (self.blur_sigma[0] + u[22] * (self.blur_sigma[1] - self.blur_sigma[0])) * s
        radius = math.ceil(3 * self.blur_sigma[1] * s)
        return {"warp": matrices, "colour": colour, "grey_offset": grey_offset, "recolour": recolour,
                "blur": blur, "sigma": sigma, "radius": radius}

    def _colour_matrices(self, u: tuple[torch.Tensor, ...], s: float, s1: float,
                         opts: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """``A (N, 3, 3)`` and ``v (N, 3)`` such that, in [0, 1] units, ``y' = A y + m v``, where
        ``m`` is the image's mean grey (contrast pulls towards it)."""
        n = len(u[0])
        on = (u[15] < self.p_color).to(torch.float64)
        bright = (1 + on * (u[16] * 2 - 1) * self.brightness * s).clamp_min(0)
        contrast = (1 + on * (u[17] * 2 - 1) * self.contrast * s).clamp_min(0)
        sat = (1 + on * (u[18] * 2 - 1) * self.saturation * s).clamp_min(0)
        turn = on * (u[19] * 2 - 1) * self.hue * s * 2 * math.pi
        grey = (u[20] < self.p_gray * s1).to(torch.float64)

        eye = torch.eye(3, **opts).expand(n, 3, 3)
        to_grey = torch.ones(3, 1, **opts) @ torch.tensor([GREY_WEIGHTS], **opts)  # rows: the grey of a pixel
        after = (_about_grey_axis(turn)
                 @ (sat[:, None, None] * eye + (1 - sat)[:, None, None] * to_grey))
        after = (grey[:, None, None] * to_grey + (1 - grey)[:, None, None] * eye) @ after
        a = after * (bright * contrast)[:, None, None]
        # the mean grey after brightness is bright * m; contrast adds (1 - c) of it to every channel
        v = (after @ torch.ones(n, 3, 1, **opts)).squeeze(-1) * (bright * (1 - contrast))[:, None]
        recolour = bool((on > 0).any() or (grey > 0).any())
        return a, v, recolour

    @staticmethod
    def _colour(x: torch.Tensor, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        weights = torch.tensor(GREY_WEIGHTS, device=x.device, dtype=x.dtype)
        mean_grey = ((x.mean(dim=(2, 3)) @ weights) + 1) / 2  # (N,), in [0, 1] units
        # y = (x + 1) / 2 and y' = A y + m v give x' = A x + (A 1 + 2 m v - 1)
        offset = a.sum(dim=2) + 2 * mean_grey[:, None] * v - 1
        return torch.baddbmm(offset[:, :, None], a, x.reshape(n, c, h * w)).reshape(n, c, h, w)
