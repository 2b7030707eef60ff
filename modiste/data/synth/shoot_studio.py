"""The studio of the synthetic product shoots: a product (garment, figure, close-up details),
drawn once from ``default_rng([seed, product, _PRODUCT])`` so all its photos show the same garment
on the same figure, and the drawing helpers every shot type shares."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from modiste.data.synth.body import Body, Frame, sample_body
from modiste.data.synth.canvas import Canvas
from modiste.data.synth.catalog import _filler
from modiste.data.synth.figures import FigureSpec, sample_figure
from modiste.data.synth.palette import BACKGROUNDS, RGB, mix, scale_rgb, shade
from modiste.data.synth.snaps import _SURFACES
from modiste.data.synth.spec import GarmentSpec, sample_spec


# Garments with a neckline, sleeves and a hem, so every shot type shows something real.
PRODUCT_CATEGORIES = ("t-shirt", "long-sleeve-top", "hoodie", "coat", "dress")
_CATEGORY_RATES = (0.25, 0.2, 0.2, 0.2, 0.15)
MANNEQUIN_RATE = 0.3  # the rest are shot on a model
# Non-zero last words keep these streams apart from each other and from catalog.py's [seed, i].
_PRODUCT, _SHOT, _PLAN, _GALLERY = 0x50524F44, 0x53484F54, 0x504C414E, 0x47414C4C

_STUDIO: tuple[RGB, ...] = BACKGROUNDS + ((226, 226, 224), (206, 207, 208), (188, 189, 192))
_BACKDROPS: tuple[RGB, ...] = ((196, 212, 226), (232, 210, 206), (214, 204, 180), (150, 152, 156), (204, 218, 200))
_TAG_COLOURS: tuple[tuple[RGB, RGB], ...] = (  # woven brand label, its lettering
    ((30, 30, 34), (236, 234, 228)), ((34, 44, 88), (226, 206, 150)), ((240, 238, 232), (30, 30, 34)),
    ((170, 32, 40), (244, 240, 232)), ((214, 196, 160), (70, 50, 36)),
)
_HANGERS: tuple[RGB, ...] = ((156, 112, 72), (36, 36, 38), (188, 190, 194))
_FEATURES = {  # construction details a shopper zooms in on, per category
    "t-shirt": ("pocket", "buttons"), "long-sleeve-top": ("pocket", "buttons", "zip"),
    "hoodie": ("drawstring", "pocket"), "coat": ("buttons",), "dress": ("buttons", "zip", "pocket"),
}


@dataclass(frozen=True)
class Product:
    """One product as the studio has it: the garment, who wears it, and the bits only close-ups show."""

    spec: GarmentSpec
    figure: FigureSpec
    body: Body  # the figure's
    flat: Body  # the garment cut for a flat lay
    filler: GarmentSpec | None  # what a model wears with a top
    feature: str  # pocket, buttons, zip or drawstring
    tag: tuple[RGB, RGB]  # brand label and lettering colours
    glyphs: tuple[float, ...]  # the brand name: glyph widths as fractions of the label


def product(seed: int, index: int) -> Product:
    """Product ``index`` of ``seed``: the same garment and figure in every one of its photos."""
    rng = np.random.default_rng([seed, index, _PRODUCT])
    category = PRODUCT_CATEGORIES[int(rng.choice(len(PRODUCT_CATEGORIES), p=_CATEGORY_RATES))]
    spec = sample_spec(rng, category=category)
    if category == "dress" and spec.style.cut == "strap":
        spec = replace(spec, style=replace(spec.style, cut="cap"))  # a strap dress has no sleeve to photograph
    fig = sample_figure(rng, "mannequin" if rng.random() < MANNEQUIN_RATE else "model")
    body = sample_body(rng, fig.kind)
    filler = _filler(rng, spec) if fig.kind == "model" else None
    feature = str(rng.choice(_FEATURES[category]))
    tag = _TAG_COLOURS[int(rng.integers(len(_TAG_COLOURS)))]
    glyphs = tuple(float(w) for w in rng.uniform(0.06, 0.14, int(rng.integers(3, 6))))
    return Product(spec, fig, body, sample_body(rng, "none"), filler, feature, tag, glyphs)


# --- drawing helpers ---------------------------------------------------------------------------


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _px(f: Frame, heads: float) -> int:
    """A line width of ``heads`` in working pixels, never thinner than one."""
    return max(1, round(heads * f.scale))


def _thread(rgb: RGB) -> RGB:
    """Stitching that shows on the fabric: darker on light cloth, lighter on dark."""
    lum = 0.3 * rgb[0] + 0.59 * rgb[1] + 0.11 * rgb[2]
    return scale_rgb(rgb, 0.55) if lum > 110 else mix(rgb, (236, 232, 222), 0.5)


def _dashes(draw: ImageDraw.ImageDraw, f: Frame, pts, colour: RGB, *, dash: float = 0.05, width: float = 0.018) -> None:
    """A stitched line along the polyline ``pts`` (head units): dashes ``dash`` long with gaps as long."""
    p = np.asarray(pts, float)
    seg = np.hypot(*np.diff(p, axis=0).T)
    at = np.concatenate([[0.0], np.cumsum(seg)])
    if at[-1] <= 0:
        return
    ts = np.arange(0.0, at[-1], dash)
    xs, ys = np.interp(ts, at, p[:, 0]), np.interp(ts, at, p[:, 1])
    w = _px(f, width)
    for i in range(0, len(ts) - 1, 2):
        draw.line(f.points(np.array([(xs[i], ys[i]), (xs[i + 1], ys[i + 1])])), fill=colour, width=w)


def _backdrop(canvas: Canvas, rng: np.random.Generator) -> RGB:
    """Seamless studio paper, white to mid grey, now and then coloured; returns its colour."""
    tones = _BACKDROPS if rng.random() < 0.2 else _STUDIO
    tone = tones[int(rng.integers(len(tones)))]
    tone = shade(tone, rng, 0.02)
    canvas.studio(tone, falloff=_u(rng, 0.02, 0.14))
    return tone


def _surface(canvas: Canvas, rng: np.random.Generator) -> None:
    """What a flat lay lies on: studio paper mostly, a table or linen sometimes."""
    if rng.random() < 0.8:
        _backdrop(canvas, rng)
        return
    base = shade(_SURFACES[int(rng.integers(len(_SURFACES)))], rng, 0.05)
    n = canvas.work
    canvas.draw.rectangle([0, 0, n, n], fill=base)
    grain, step = scale_rgb(base, _u(rng, 0.88, 0.95)), n * _u(rng, 0.04, 0.12)
    for y in np.arange(0.0, n, step):
        canvas.draw.line([(0, y), (n, y)], fill=grain, width=canvas.ss)


def _rotate_crop(image: Image.Image, angle: float, centre: tuple[float, float], side: int) -> Image.Image:
    """Rotate ``image`` about ``centre`` and cut the ``side`` square around it."""
    turned = image.rotate(angle, resample=Image.Resampling.BILINEAR, center=centre)
    x0, y0 = round(centre[0] - side / 2), round(centre[1] - side / 2)
    return turned.crop((x0, y0, x0 + side, y0 + side))
