"""Fabric patterns as vectorised numpy fills: plain, stripes, dots, check, floral, colourblock.

Every fill is a pure function of its arguments: the same call gives the same pixels, and
edges are anti-aliased analytically (coverage ramps over one pixel) so patterns survive the
supersampling downscale without moiré-prone hard steps.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

PATTERNS = ("plain", "stripes", "dots", "check", "floral", "colourblock")

Colours = Sequence[Sequence[float]]
Point = tuple[float, float]
Rng = np.random.Generator | None
_Fill = Callable[..., np.ndarray]


def _coords(h: int, w: int, origin: Point, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates rotated by ``angle`` (radians) about ``origin`` (x, y)."""
    y = np.arange(h, dtype=np.float32)[:, None] + 0.5 - origin[1]
    x = np.arange(w, dtype=np.float32)[None, :] + 0.5 - origin[0]
    c, s = math.cos(angle), math.sin(angle)
    return x * c + y * s, -x * s + y * c


def _band(t: np.ndarray, duty: float, period: float) -> np.ndarray:
    """Anti-aliased square wave: 1 on the first ``duty`` of each period of ``t`` (in periods)."""
    f = t - np.floor(t)
    inside = np.minimum(f, duty - f)
    outside = -np.minimum(f - duty, 1.0 - f)
    d = np.where(f < duty, inside, outside)  # signed distance to the nearest edge, in periods
    return np.clip(d * period + 0.5, 0.0, 1.0)


def _blend(base: np.ndarray, colour: Sequence[float], cover: np.ndarray) -> np.ndarray:
    return base + (np.asarray(colour, np.float32) - base) * cover[..., None]


def _solid(h: int, w: int, colour: Sequence[float]) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, np.float32), (h, w, 3)).copy()


def plain(h: int, w: int, colours: Colours, scale: float, rng: Rng, **_: object) -> np.ndarray:
    return _solid(h, w, colours[0])


def stripes(
    h: int, w: int, colours: Colours, scale: float, rng: Rng, *,
    origin: Point = (0.0, 0.0), angle: float = 0.0, duty: float = 0.5, pin: float = 0.0, **_: object
) -> np.ndarray:
    """Bands of ``colours[1]`` on ``colours[0]``; ``pin`` > 0 adds a thin ``colours[2]`` line (Breton)."""
    u, v = _coords(h, w, origin, angle)
    out = _blend(_solid(h, w, colours[0]), colours[1], _band(v / scale, duty, scale))
    if pin > 0 and len(colours) > 2:
        out = _blend(out, colours[2], _band(v / scale - duty - (1 - duty - pin) / 2, pin, scale))
    return out


def dots(
    h: int, w: int, colours: Colours, scale: float, rng: Rng, *,
    origin: Point = (0.0, 0.0), angle: float = 0.0, radius: float = 0.28, stagger: bool = True, **_: object
) -> np.ndarray:
    """Polka dots of ``colours[1]``; ``radius`` is a fraction of the spacing ``scale``."""
    u, v = _coords(h, w, origin, angle)
    row = np.floor(v / scale)
    if stagger:
        u = u + (row % 2) * (scale / 2)  # half-drop repeat, as printed polka dots are
    du = u - (np.floor(u / scale) + 0.5) * scale
    dv = v - (row + 0.5) * scale
    cover = np.clip(radius * scale - np.hypot(du, dv) + 0.5, 0.0, 1.0)
    return _blend(_solid(h, w, colours[0]), colours[1], cover)


def check(
    h: int, w: int, colours: Colours, scale: float, rng: Rng, *,
    origin: Point = (0.0, 0.0), angle: float = 0.0, lines: float = 0.0, **_: object
) -> np.ndarray:
    """Gingham: crossing half-tone bands, full ``colours[1]`` where they meet; ``lines`` adds a tartan overcheck."""
    u, v = _coords(h, w, origin, angle)
    a = _band(u / scale, 0.5, scale)
    b = _band(v / scale, 0.5, scale)
    out = _blend(_solid(h, w, colours[0]), colours[1], 0.5 * (a + b))
    if lines > 0 and len(colours) > 2:
        thin = np.maximum(_band(u / scale - 0.7, lines, scale), _band(v / scale - 0.7, lines, scale))
        out = _blend(out, colours[2], thin)
    return out


def floral(
    h: int, w: int, colours: Colours, scale: float, rng: Rng, *,
    origin: Point = (0.0, 0.0), angle: float = 0.0, petals: int = 5, size: float = 0.36, **_: object
) -> np.ndarray:
    """Five-petal flowers of ``colours[1]`` with ``colours[2]`` hearts on a jittered grid of spacing ``scale``."""
    rng = rng if rng is not None else np.random.default_rng(0)
    k = 8  # the jitter table repeats every k cells, far beyond what one garment shows
    jitter = rng.uniform(-0.14, 0.14, (k, k, 2)).astype(np.float32)
    spin = rng.uniform(0, 2 * math.pi, (k, k)).astype(np.float32)
    grow = rng.uniform(0.75, 1.1, (k, k)).astype(np.float32)
    u, v = _coords(h, w, origin, angle)
    iu, iv = np.floor(u / scale), np.floor(v / scale)
    row = iv.astype(np.int64) % k
    col = iu.astype(np.int64) % k
    du = u - (iu + 0.5 + jitter[row, col, 0]) * scale
    dv = v - (iv + 0.5 + jitter[row, col, 1]) * scale
    r = np.hypot(du, dv)
    theta = np.arctan2(dv, du)
    radius = size * scale * grow[row, col]
    petal = radius * (0.5 + 0.5 * np.abs(np.cos(petals / 2 * theta + spin[row, col])))
    out = _blend(_solid(h, w, colours[0]), colours[1], np.clip(petal - r + 0.5, 0.0, 1.0))
    heart = colours[2] if len(colours) > 2 else colours[0]
    return _blend(out, heart, np.clip(0.3 * radius - r + 0.5, 0.0, 1.0))


def colourblock(
    h: int, w: int, colours: Colours, scale: float, rng: Rng, *,
    origin: Point = (0.0, 0.0), angle: float = 0.0, offset: float = 0.0, **_: object
) -> np.ndarray:
    """Broad bands cycling through the colours: at a scale near the garment's width, colour blocking.

    Edges are left hard: blocks are many pixels wide and the supersampling smooths the seam.
    """
    u, v = _coords(h, w, origin, angle)
    n = min(3, len(colours))
    band = np.floor(v / scale + offset).astype(np.int64) % n
    return np.asarray(colours[:n], np.float32)[band]


_FILLS: dict[str, _Fill] = {
    "plain": plain, "stripes": stripes, "dots": dots, "check": check, "floral": floral, "colourblock": colourblock,
}


def fill_pattern(
    name: str,
    h: int,
    w: int,
    colours: Colours,
    scale: float,
    rng: np.random.Generator | None = None,
    **params,
) -> np.ndarray:
    """float32 (h, w, 3) in 0..255: pattern ``name`` in ``colours`` (RGB 0..255; main first).

    ``scale`` is the repeat in pixels; ``rng`` seeds irregular patterns (floral); ``params``
    are per-pattern options (``origin``, ``angle``, ``duty``, ``radius``...), unknown ones ignored.
    """
    if name not in _FILLS:
        raise ValueError(f"unknown pattern {name!r}; choose from {', '.join(PATTERNS)}")
    return _FILLS[name](h, w, colours, max(float(scale), 2.0), rng, **params)
