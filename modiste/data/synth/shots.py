"""Product photo shoots: every product photographed as the house regulation's shot types, for shot classification.

A product is one ``GarmentSpec`` (a top, hoodie, coat or dress: garments where every shot type
applies) drawn from ``default_rng([seed, product, _PRODUCT])`` together with the model or
mannequin that wears it, so all its photos show the same garment on the same figure. Photo
``k`` of shot type ``t`` draws its framing, light and background only from
``default_rng([seed, product, t, k, _SHOT])``: it depends on neither the gallery plan nor how the
work was split between processes.

Figure shots paint the figure and the worn garment on a transparent layer (the back view swaps
the face for hair and drops front details, the side view squeezes the layer and draws a
profile), then tilt it onto a studio backdrop. Detail shots paint the flat garment at a zoom
centred on a point found from its cut pieces (neckline, sleeve, cuff, hem), add what the pieces
lack (labels, stitching, buttons, zips, pockets, weave) and rotate the whole crop.
"""
from __future__ import annotations

import csv
import functools
import json
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from modiste.data.synth.body import Body, Frame, sample_body
from modiste.data.synth.canvas import Canvas, supersample_for
from modiste.data.synth.catalog import MAX_SIZE, MIN_SIZE, SYNTH_VERSION, _filler, _resolve_workers, draw_all
from modiste.data.synth.figures import FigureSpec, figure_bounds, floor_shadow, paint_figure, sample_figure
from modiste.data.synth.garments import DARK, FABRIC, SLEEVE, garment_shape
from modiste.data.synth.paint import paint_garment
from modiste.data.synth.palette import BACKGROUNDS, RGB, mix, scale_rgb, shade
from modiste.data.synth.snaps import _SURFACES, _relight
from modiste.data.synth.spec import GarmentSpec, sample_spec
from modiste.io import atomic_path, atomic_write_csv, atomic_write_json
from modiste.shots.regulation import SHOT_TYPES  # the 17 types, in the reference house order

SHOT_COLUMNS = ("path", "product", "shot", "index_in_product")
GALLERY_COLUMNS = ("product", "file", "shot")
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


# --- the garment alone: detail crops and the flat back -----------------------------------------


@dataclass
class _Geometry:
    """Where the details of a flat-laid garment are, in head units."""

    neck: tuple[float, float]
    sleeve_root: np.ndarray
    cuff: np.ndarray
    cuff_width: float
    hem: np.ndarray  # the hem's vertices, left to right
    chest_w: float
    body_span: tuple[float, float]  # y range of plain body panel, for print and label crops
    buttons: list[tuple[float, float, float]]


def _geometry(spec: GarmentSpec, body: Body, side: int) -> _Geometry:
    shape = garment_shape(spec, body, worn=False)
    sleeves = [poly for part, poly, _ in shape.pieces if part == SLEEVE]
    sleeve = sleeves[0] if side > 0 or len(sleeves) < 2 else sleeves[1]
    root = (sleeve[0] + sleeve[-1]) / 2
    cuff = (sleeve[-3] + sleeve[-2]) / 2
    main = max((poly for part, poly, _ in shape.pieces if part == FABRIC), key=lambda p: p[:, 1].max())
    low = main[:, 1].max() - abs(spec.style.slant) - spec.style.ruffle - 0.05
    hem = main[main[:, 1] >= low]
    hem = hem[np.argsort(hem[:, 0])]
    top = body.armpit_y + 0.25 if spec.category != "dress" else body.hip_y
    bottom = max(top + 0.1, (body.waist_y + 0.3 if spec.category != "dress" else main[:, 1].max() - 0.6))
    buttons = [(x, y, r) for part, x, y, r in shape.dots if part == DARK and y > body.neck_y + 0.3]
    return _Geometry(
        neck=(0.0, body.neck_y), sleeve_root=root, cuff=cuff, cuff_width=float(np.hypot(*(sleeve[-3] - sleeve[-2]))),
        hem=hem, chest_w=body.chest_w * spec.style.shoulder ** 0.5, body_span=(top, bottom), buttons=buttons,
    )


def _flat(
    p: Product, rng: np.random.Generator, size: int, ss: int, centre, width: float, angle: float, *,
    spec: GarmentSpec | None = None, worn: bool = False, under: Callable | None = None, over: Callable | None = None,
    shadow: float = 0.12,
) -> Image.Image:
    """The flat garment with ``centre`` (head units) mid-frame and ``width`` heads across, rotated ``angle`` degrees.

    ``under`` and ``over`` draw extras (a hanger, labels, stitching) before and after the garment,
    as ``f(draw, frame)`` on the working canvas.
    """
    a = math.radians(angle)
    m = int(math.ceil(size * (abs(math.cos(a)) + abs(math.sin(a))))) + 2  # covers the rotated crop
    scale = size / width
    mid = m / 2
    frame = Frame(scale, mid - centre[0] * scale, mid - centre[1] * scale)
    canvas = Canvas(m, ss)
    _surface(canvas, rng)
    f = frame.scaled(ss)
    if under:
        under(canvas.draw, f)
    paint_garment(canvas, spec or p.spec, p.flat, frame, worn=worn, shadow=shadow)
    if over:
        over(canvas.draw, f)
    crop = _rotate_crop(canvas.image, angle, (mid * ss, mid * ss), size * ss)
    return crop.reduce(ss) if ss > 1 else crop


def _weave(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Threads at pixel scale: plain or twill weave, with uneven yarn."""
    a = np.asarray(image, np.float32)
    h, w, _ = a.shape
    period, t = _u(rng, 2.2, 3.6), _u(rng, -0.3, 0.3)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs * math.cos(t) + ys * math.sin(t)) / period
    v = (-xs * math.sin(t) + ys * math.cos(t)) / period
    iu, iv = np.floor(u), np.floor(v)
    over = ((iu + iv) % 2 == 0) if rng.random() < 0.5 else ((iu + iv) % 4 < 2)  # plain or twill
    profile = np.where(over, np.sin(math.pi * (u - iu)), np.sin(math.pi * (v - iv)))
    slub = rng.normal(1.0, 0.05, (h // 4 + 1, 1)).repeat(4, axis=0)[:h]  # thicker and thinner yarns
    gain = (0.72 + 0.36 * profile) * slub + rng.normal(0.0, 0.025, (h, w))
    return Image.fromarray(np.clip(a * gain[..., None] + 0.5, 0, 255).astype(np.uint8), "RGB")


def _brand_label(p: Product, rng: np.random.Generator, at: tuple[float, float]) -> Callable:
    w, h = _u(rng, 0.24, 0.3), _u(rng, 0.1, 0.13)
    cloth, ink = p.tag

    def draw(d: ImageDraw.ImageDraw, f: Frame) -> None:
        x0, y0 = at[0] - w / 2, at[1] - h / 2
        d.rectangle(f.box(x0, y0, x0 + w, y0 + h), fill=cloth, outline=scale_rgb(cloth, 0.7), width=_px(f, 0.008))
        for x in (x0 + 0.02, x0 + w - 0.02):  # where it is sewn down
            d.line(f.points(np.array([(x, y0), (x, y0 + h)])), fill=mix(cloth, ink, 0.4), width=_px(f, 0.008))
        x, gy = x0 + 0.035, y0 + h * 0.28
        for g in p.glyphs:  # the brand name as blocks
            gw = g * w * 0.8
            if x + gw > x0 + w - 0.035:
                break
            d.rectangle(f.box(x, gy, x + gw, gy + h * 0.3), fill=ink)
            x += gw + 0.012
        d.rectangle(f.box(x0 + 0.035, y0 + h * 0.7, x0 + 0.035 + w * 0.35, y0 + h * 0.78), fill=mix(cloth, ink, 0.7))
        if rng.random() < 0.5:  # a size tag under it
            sy = y0 + h + 0.005
            d.rectangle(f.box(at[0] - 0.04, sy, at[0] + 0.04, sy + 0.06), fill=(236, 234, 228), outline=(150, 150, 150))
            d.rectangle(f.box(at[0] - 0.015, sy + 0.015, at[0] + 0.015, sy + 0.045), fill=(40, 40, 44))

    return draw


def _care_symbol(d: ImageDraw.ImageDraw, box: list[float], kind: int, ink: RGB, lw: int) -> None:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    if kind == 0:  # wash tub
        tub = [(x0, y0 + r * 0.6), (x1, y0 + r * 0.6), (x1 - r * 0.3, y1), (x0 + r * 0.3, y1)]
        d.polygon(tub, outline=ink, width=lw)
    elif kind == 1:  # bleach
        d.polygon([(cx, y0), (x1, y1), (x0, y1)], outline=ink, width=lw)
    elif kind == 2:  # tumble dry
        d.rectangle(box, outline=ink, width=lw)
        d.ellipse([cx - r * 0.6, cy - r * 0.6, cx + r * 0.6, cy + r * 0.6], outline=ink, width=lw)
    elif kind == 3:  # iron
        iron = [(x0, y1), (x1, y1), (x1 - r * 0.2, y0 + r * 0.5), (x0 + r * 0.6, y0 + r * 0.5)]
        d.polygon(iron, outline=ink, width=lw)
    else:  # dry clean
        d.ellipse(box, outline=ink, width=lw)


def _care_label(rng: np.random.Generator, at: tuple[float, float], width: float) -> Callable:
    w, h = width * _u(rng, 0.3, 0.42), width * _u(rng, 0.95, 1.3)
    cloth = shade((242, 241, 236), rng, 0.02)
    ink = shade((78, 78, 84), rng, 0.05)
    rows = [int(rng.integers(2)) for _ in range(6)]  # 0: a line of text, 1: a row of symbols
    rows[int(rng.integers(1, 4))] = 1
    crossed = rng.random(5) < 0.3

    def draw(d: ImageDraw.ImageDraw, f: Frame) -> None:
        x0, y0 = at[0] - w / 2, at[1] - h / 2
        d.rectangle(f.box(x0, y0, x0 + w, y0 + h), fill=cloth, outline=scale_rgb(cloth, 0.78), width=_px(f, 0.006))
        y, pad, step = y0 + h * 0.06, w * 0.12, h * 0.145
        lw = _px(f, 0.01)
        for i, kind in enumerate(rows):
            if kind:
                n = 4
                s = (w - 2 * pad) / n
                for j in range(n):
                    left = x0 + pad + j * s + s * 0.15
                    box = f.box(left, y + step * 0.1, left + s * 0.7, y + step * 0.1 + s * 0.7)
                    _care_symbol(d, box, (i + j) % 5, ink, lw)
                    if crossed[j]:
                        d.line([(box[0], box[1]), (box[2], box[3])], fill=ink, width=lw)
            else:
                for k in range(2):
                    end = x0 + pad + (w - 2 * pad) * (1.0 if k == 0 else _u(rng, 0.4, 0.9))
                    top = y + step * (0.15 + 0.38 * k)
                    d.rectangle(f.box(x0 + pad, top, end, top + step * 0.15), fill=mix(cloth, ink, 0.7))
            y += step

    return draw


def _feature(p: Product, rng: np.random.Generator, g: _Geometry, body: Body) -> tuple[tuple[float, float], Callable]:
    """(where the detail is, how to draw it) for the product's construction detail."""
    main, second, _ = p.spec.rgb
    thread = _thread(main)
    kind, ny = p.feature, body.neck_y
    dark = scale_rgb(main, 0.4) if sum(main) > 200 else mix(main, (200, 200, 196), 0.5)

    def button(d, f, x, y, r):
        d.ellipse(f.box(x - r, y - r, x + r, y + r), fill=dark, outline=scale_rgb(dark, 0.6), width=_px(f, 0.012))
        rim = mix(dark, (255, 255, 255), 0.25)
        d.ellipse(f.box(x - r * 0.7, y - r * 0.7, x + r * 0.7, y + r * 0.7), outline=rim, width=_px(f, 0.008))
        for hx, hy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            q = r * 0.28
            hole = (x + hx * q, y + hy * q)
            d.ellipse(f.box(hole[0] - r * 0.12, hole[1] - r * 0.12, hole[0] + r * 0.12, hole[1] + r * 0.12),
                      fill=scale_rgb(dark, 0.5))

    if kind == "buttons":
        if g.buttons:  # the coat's own buttons, given holes and a rim
            x, y, r = g.buttons[int(rng.integers(len(g.buttons)))]
            return (x, y), lambda d, f: [button(d, f, bx, by, br * 1.15) for bx, by, br in g.buttons]
        top = ny + 0.12

        def placket(d, f):
            pw = 0.09
            d.rectangle(f.box(-pw, top, pw, top + 0.75), outline=scale_rgb(main, 0.7), width=_px(f, 0.012))
            _dashes(d, f, [(-pw + 0.02, top), (-pw + 0.02, top + 0.75)], thread)
            for i in range(3):
                button(d, f, 0.0, top + 0.14 + 0.24 * i, 0.055)

        return (0.0, top + 0.35), placket
    if kind == "zip":
        top, length = ny + 0.08, 0.8

        def zip_(d, f):
            tape = scale_rgb(main, 0.6)
            d.rectangle(f.box(-0.045, top, 0.045, top + length), fill=tape)
            metal = (186, 180, 160) if rng.random() < 0.5 else (60, 60, 64)
            for i, y in enumerate(np.arange(top + 0.01, top + length, 0.022)):
                x = -0.028 if i % 2 else 0.0
                d.rectangle(f.box(x, y, x + 0.028, y + 0.014), fill=metal)
            for box in ((-0.035, top + 0.05, 0.035, top + 0.15), (-0.02, top + 0.14, 0.02, top + 0.3)):  # slider, pull
                d.rounded_rectangle(f.box(*box), radius=0.01 * f.scale, fill=metal, outline=scale_rgb(metal, 0.6))

        return (0.0, top + 0.3), zip_
    if kind == "drawstring":
        depth = 0.15

        def cords(d, f):
            for side in (1, -1):
                x0, y0 = side * 0.11, ny + depth
                eyelet = f.box(x0 - 0.035, y0 - 0.035, x0 + 0.035, y0 + 0.035)
                d.ellipse(eyelet, outline=(170, 166, 150), width=_px(f, 0.012))
                end = (side * 0.13, y0 + 0.6)
                d.line(f.points(np.array([(x0, y0), end])), fill=second, width=_px(f, 0.045))
                d.rectangle(f.box(end[0] - 0.025, end[1], end[0] + 0.025, end[1] + 0.09), fill=(200, 196, 184))

        return (0.0, ny + depth + 0.35), cords
    # A patch pocket: on the chest of a top, on the skirt of a dress, the kangaroo pocket of a hoodie.
    if p.spec.category == "hoodie":
        hem_y = float(g.hem[:, 1].mean())
        box = (-0.42, hem_y - 1.0, 0.42, hem_y - 0.3)
    elif p.spec.category == "dress":
        box = (0.25, body.hip_y + 0.1, 0.7, body.hip_y + 0.6)
    else:
        box = (0.22, body.armpit_y - 0.05, 0.58, body.armpit_y + 0.38)

    def pocket(d, f):
        x0, y0, x1, y1 = box
        d.rectangle(f.box(x0, y0, x1, y1), outline=scale_rgb(main, 0.62), width=_px(f, 0.014))
        d.line(f.points(np.array([(x0, y0 + 0.02), (x1, y0 + 0.02)])), fill=scale_rgb(main, 0.8), width=_px(f, 0.02))
        i = 0.035
        _dashes(d, f, [(x0 + i, y0 + i * 2), (x0 + i, y1 - i), (x1 - i, y1 - i), (x1 - i, y0 + i * 2)], thread)
        _dashes(d, f, [(x0, y0 + 0.06), (x1, y0 + 0.06)], thread)

    return (box[0] + (box[2] - box[0]) * 0.3, box[1] + 0.05), pocket


def _back_spec(spec: GarmentSpec, body: Body) -> GarmentSpec:
    """The garment seen from behind: a high round neck and none of the front's details.

    Coats and hoodies become a long-sleeve top of the same length and width (the back has no
    lapels, buttons, pocket or drawstrings); the hood is drawn by ``_hood``.
    """
    st = replace(spec.style, neckline="crew")
    if spec.category == "coat":
        longer = (body.knee_y - 0.25) - (body.hip_y + 0.22)  # coat hem minus top hem, from garments.py
        st = replace(st, length=st.length + longer, volume=st.volume * 1.1, sleeve=st.sleeve * 1.35)
        return replace(spec, category="long-sleeve-top", style=st)
    if spec.category == "hoodie":
        return replace(spec, category="long-sleeve-top", style=replace(st, sleeve=st.sleeve * 1.2))
    return replace(spec, style=st)


def _hood(spec: GarmentSpec, body: Body) -> Callable:
    """A hood lying on the back, below the neck."""
    main = spec.rgb[0]

    def draw(d: ImageDraw.ImageDraw, f: Frame) -> None:
        ny, w = body.neck_y, body.neck_w * 1.15 + 0.3
        a = np.linspace(0, math.pi, 12)
        pts = [(-w, ny - 0.12)] + [(-w * math.cos(t), ny + 0.1 + 0.75 * math.sin(t)) for t in a] + [(w, ny - 0.12)]
        d.polygon(f.points(np.array(pts)), fill=scale_rgb(main, 0.9), outline=scale_rgb(main, 0.5), width=_px(f, 0.03))
        d.line(f.points(np.array([(0.0, ny - 0.05), (0.0, ny + 0.8)])), fill=scale_rgb(main, 0.65), width=_px(f, 0.025))

    return draw


def _detail(p: Product, rng: np.random.Generator, shot: str, size: int, ss: int) -> Image.Image:
    body, spec = p.flat, p.spec
    side = 1 if rng.random() < 0.5 else -1
    g = _geometry(spec, body, side)
    tilt = _u(rng, -10, 10)
    thread = _thread(spec.rgb[0])
    if shot == "collar":
        centre = (_u(rng, -0.08, 0.08), g.neck[1] + _u(rng, 0.0, 0.15))
        return _flat(p, rng, size, ss, centre, _u(rng, 1.1, 1.5), tilt)
    if shot == "brand_tag":
        at = (_u(rng, -0.04, 0.04), g.neck[1] + _u(rng, 0.0, 0.06))
        centre = (at[0] + _u(rng, -0.06, 0.06), at[1] + _u(rng, -0.04, 0.06))
        return _flat(p, rng, size, ss, centre, _u(rng, 0.45, 0.62), tilt, over=_brand_label(p, rng, at))
    if shot in ("sleeve", "sleeve_hem"):
        d = g.cuff - g.sleeve_root
        length = float(np.hypot(*d))
        axis = math.degrees(math.atan2(d[1], d[0]))
        if shot == "sleeve":
            centre = g.sleeve_root + d * _u(rng, 0.45, 0.6)
            target = (0.0 if d[0] > 0 else 180.0) + _u(rng, -20, 20)  # photographed lying across the frame
            width = float(np.clip(length * 0.4, 0.6, 1.1)) * _u(rng, 0.9, 1.1)
            return _flat(p, rng, size, ss, centre, width, axis - target)
        u = d / length
        width = max(1.6 * g.cuff_width, 0.55) * _u(rng, 0.9, 1.1)
        centre = g.cuff - u * width * _u(rng, 0.15, 0.3)
        n = np.array([-u[1], u[0]]) * g.cuff_width * 0.5
        stitch = [g.cuff + n - u * 0.08, g.cuff - n - u * 0.08]
        # The cuff pointing down, like a hem, but a tube with background either side.
        return _flat(p, rng, size, ss, centre, width, axis - (90.0 + _u(rng, -25, 25)),
                     over=lambda dr, f: _dashes(dr, f, stitch, thread))
    if shot == "hem":
        width = _u(rng, 0.75, 1.1)
        inner = g.hem[np.abs(g.hem[:, 0]) < 0.7 * np.abs(g.hem[:, 0]).max()]
        x, y = inner[int(rng.integers(len(inner)))] if len(inner) else g.hem[len(g.hem) // 2]
        centre = (x, y - width * _u(rng, 0.15, 0.3))
        stitch = g.hem - np.array([0.0, 0.08])
        return _flat(p, rng, size, ss, centre, width, tilt, over=lambda dr, f: _dashes(dr, f, stitch, thread))

    lo, hi = g.body_span
    reach = max(0.0, g.chest_w * 0.7)
    spot = (_u(rng, -reach, reach) * 0.6, _u(rng, lo, hi))
    if shot == "print":
        width = float(np.clip(3.0 * spec.pattern_scale, 0.5, 1.2)) * _u(rng, 0.9, 1.1)
        return _flat(p, rng, size, ss, spot, width, tilt)
    if shot == "material":
        return _weave(_flat(p, rng, size, ss, spot, _u(rng, 0.14, 0.22), tilt), rng)
    if shot == "wash_tag":
        width = _u(rng, 0.6, 0.85)
        return _flat(p, rng, size, ss, spot, width, tilt, over=_care_label(rng, spot, width))
    if shot == "feature":
        at, draw = _feature(p, rng, g, body)
        centre = (at[0] + _u(rng, -0.06, 0.06), at[1] + _u(rng, -0.06, 0.06))
        return _flat(p, rng, size, ss, centre, _u(rng, 0.5, 0.75), tilt, over=draw)
    # back: the whole garment from behind, laid flat or on a hanger
    back = _back_spec(spec, body)
    x0, y0, x1, y1 = garment_shape(back, body, worn=True).bounds()
    hanger = rng.random() < 0.4
    if hanger:
        y0 = min(y0, body.neck_y - 0.75)
    fill = _u(rng, 0.78, 0.9)
    centre = ((x0 + x1) / 2 + _u(rng, -0.03, 0.03) * (x1 - x0), (y0 + y1) / 2 + _u(rng, -0.03, 0.03) * (y1 - y0))
    hood = _hood(spec, body) if spec.category == "hoodie" else None
    under = over = None
    if hanger:
        colour = _HANGERS[int(rng.integers(len(_HANGERS)))]
        under = functools.partial(_hanger_bar, body=body, colour=colour)
        over = functools.partial(_hanger_hook, body=body, colour=colour, then=hood)
    else:
        over = hood
    return _flat(p, rng, size, ss, centre, max(x1 - x0, y1 - y0) / fill, _u(rng, -4, 4),
                 spec=back, worn=True, under=under, over=over, shadow=0.16)


def _hanger_bar(d: ImageDraw.ImageDraw, f: Frame, *, body: Body, colour: RGB) -> None:
    w = body.shoulder_w * 1.02
    d.line(f.points(np.array([(-w, body.shoulder_y + 0.05), (0.0, body.neck_y - 0.2), (w, body.shoulder_y + 0.05)])),
           fill=colour, width=_px(f, 0.06), joint="curve")


def _hanger_hook(d: ImageDraw.ImageDraw, f: Frame, *, body: Body, colour: RGB, then: Callable | None) -> None:
    if then:
        then(d, f)
    ny, w = body.neck_y, _px(f, 0.03)
    metal = (176, 176, 180) if colour != (188, 190, 194) else scale_rgb(colour, 0.8)
    d.line(f.points(np.array([(0.0, ny - 0.1), (0.0, ny - 0.45)])), fill=metal, width=w)
    d.arc(f.box(-0.15, ny - 0.75, 0.15, ny - 0.45), 180, 90, fill=metal, width=w)


# --- the garment worn: front, back, side, near and far -----------------------------------------


def _back_of_head(d: ImageDraw.ImageDraw, fig: FigureSpec, f: Frame, body: Body) -> None:
    """Hair where the face would be; long hair falls over the shoulders."""
    if fig.kind != "model":
        return
    hair = fig.hair
    d.rectangle(f.box(-0.15, 0.8, 0.15, body.neck_y), fill=fig.skin)  # the nape
    if fig.hair_style == "long":
        fall = body.shoulder_y + 0.6
        d.polygon(f.points(np.array([(-0.42, 0.4), (0.42, 0.4), (0.5, fall), (-0.5, fall)])), fill=hair)
    bottom = {"short": 0.78, "bun": 0.92}.get(fig.hair_style, 1.0)
    d.ellipse(f.box(-0.34, -0.06, 0.34, bottom), fill=hair, outline=scale_rgb(hair, 0.8), width=_px(f, 0.02))
    if fig.hair_style == "bun":
        d.ellipse(f.box(-0.17, -0.3, 0.17, 0.04), fill=hair)


def _profile_head(d: ImageDraw.ImageDraw, fig: FigureSpec, f: Frame, facing: int) -> None:
    """A head seen from the side: face and nose towards ``facing``, hair behind."""
    skin, hair, line = fig.skin, fig.hair, scale_rgb(fig.skin, 0.8)
    e = _px(f, 0.03)
    d.ellipse(f.box(-0.28, 0.08, 0.28, 1.0), fill=skin, outline=line, width=e)
    nose = [(facing * 0.25, 0.45), (facing * 0.36, 0.64), (facing * 0.25, 0.68)]
    d.polygon(f.points(np.array(nose)), fill=skin, outline=line)
    low = 0.98 if fig.hair_style in ("long", "bob") else 0.7
    start = 90 if facing > 0 else 270  # PIL angles run clockwise from 3 o'clock: this is the back half
    d.chord(f.box(-0.33, -0.06, 0.33, low), start, start + 180, fill=hair)
    d.chord(f.box(-0.33, -0.06, 0.33, 0.62), 180, 360, fill=hair)
    if fig.hair_style == "long":
        fall = [(-facing * 0.05, 0.6), (-facing * 0.34, 0.5), (-facing * 0.36, 1.9), (-facing * 0.05, 1.7)]
        d.polygon(f.points(np.array(fall)), fill=hair)
    elif fig.hair_style == "bun":
        d.ellipse(f.box(-facing * 0.42 - 0.15, 0.1, -facing * 0.42 + 0.15, 0.4), fill=hair)


def _squeeze(layer: Canvas, cx: float, q: float) -> None:
    """Narrow the layer to ``q`` of its width about column ``cx`` (working pixels): a figure turned sideways."""
    n = layer.work
    src = layer.image.convert("RGBa")  # premultiplied, so edges do not darken
    w = max(1, round(n * q))
    narrow = src.resize((w, n), Image.Resampling.BOX).convert("RGBA")
    out = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    out.paste(narrow, (round(cx - cx * q), 0))
    layer.image, layer.draw = out, ImageDraw.Draw(out)


def _worn(p: Product, rng: np.random.Generator, shot: str, size: int, ss: int) -> Image.Image:
    fig, body = p.figure, p.body
    view = "zoom" if shot == "near_zoom" else shot.split("_")[1]
    outfit = [p.filler, p.spec] if p.filler else [p.spec]
    if view == "back":
        outfit = [_back_spec(s, body) for s in outfit]
    side_q = _u(rng, 0.45, 0.6) if view == "side" else 1.0

    if shot.startswith("far"):
        bounds = [figure_bounds(fig, body)] + [garment_shape(s, body, worn=True).bounds() for s in outfit]
        bx0, by0 = min(b[0] for b in bounds), min(b[1] for b in bounds)
        bx1, by1 = max(b[2] for b in bounds), max(b[3] for b in bounds)
        scale = size * _u(rng, 0.72, 0.9) / (by1 - by0)
        scale = min(scale, size * 0.92 / ((bx1 - bx0) * side_q))
        x0 = size / 2 + _u(rng, -0.06, 0.06) * size - (bx0 + bx1) / 2 * scale
        y0 = (size - (by1 - by0) * scale) / 2 + _u(rng, -0.04, 0.04) * size - by0 * scale
    elif shot.startswith("near") and view != "zoom":
        top, span = _u(rng, -0.25, 0.45), _u(rng, 3.4, 4.4)
        scale = size / span
        x0, y0 = size / 2 + _u(rng, -0.05, 0.05) * size, -top * scale
    else:
        cy, width = _u(rng, 1.95, 2.45), _u(rng, 1.4, 1.9)
        scale = size / width
        x0, y0 = size / 2 + _u(rng, -0.12, 0.12) * scale, size / 2 - cy * scale
    frame = Frame(scale, x0, y0)

    canvas = Canvas(size, ss)
    tone = _backdrop(canvas, rng)
    f = frame.scaled(ss)
    if shot.startswith("far"):
        if rng.random() < 0.35:  # the studio floor, a shade darker than the wall
            horizon = f.y0 + (body.floor_y - _u(rng, 0.3, 1.2)) * f.scale
            canvas.draw.rectangle([0, horizon, canvas.work, canvas.work], fill=scale_rgb(tone, _u(rng, 0.86, 0.95)))
        floor_shadow(canvas, body, frame)
    layer = Canvas(size, ss, background=None)
    paint_figure(layer, fig, body, frame, layer="back")
    for piece in outfit:
        paint_garment(layer, piece, body, frame, worn=True)
    if view == "back" and p.spec.category == "hoodie":
        _hood(p.spec, body)(layer.draw, f)
    if view == "side":
        _squeeze(layer, f.x0, side_q)
    if fig.kind == "model" and view == "back":
        _back_of_head(layer.draw, fig, f, body)
    elif fig.kind == "model" and view == "side":
        _profile_head(layer.draw, fig, f, 1 if rng.random() < 0.5 else -1)
    else:
        paint_figure(layer, fig, body, frame, layer="front")
    angle = _u(rng, -3.5, 3.5)
    centre = (f.x0, f.y0 + (body.hip_y if shot.startswith("far") else 2.0) * f.scale)
    # Rotated premultiplied, so the transparent surround does not bleed a dark fringe into the edges.
    turned = layer.image.convert("RGBa").rotate(angle, Image.Resampling.BILINEAR, center=centre).convert("RGBA")
    canvas.image.paste(turned, (0, 0), turned)
    return canvas.result()


def render_shot(
    seed: int, product_index: int, shot: str, size: int = 96, *, k: int = 0, ss: int | None = None
) -> Image.Image:
    """Photo ``k`` of shot type ``shot`` of product ``product_index`` of ``seed``: an RGB image ``size`` px square."""
    if shot not in SHOT_TYPES:
        raise ValueError(f"unknown shot type {shot!r}; choose from {', '.join(SHOT_TYPES)}")
    p = product(seed, product_index)
    rng = np.random.default_rng([seed, product_index, SHOT_TYPES.index(shot), k, _SHOT])
    ss = ss or supersample_for(size)
    if shot.startswith(("far_", "near_")):
        image = _worn(p, rng, shot, size, ss)
    else:
        image = _detail(p, rng, shot, size, ss)
    return _relight(image, rng)


# --- writing a shoot ---------------------------------------------------------------------------


def plan(
    seed: int, product_index: int, types: Sequence[str] = SHOT_TYPES, *, per_product: int | None = None,
    missing_rate: float = 0.15, extra_rate: float = 0.1,
) -> list[tuple[str, int]]:
    """The (shot, k) photos taken of one product, in regulation order.

    Each type is skipped with ``missing_rate``; with ``extra_rate`` a second photo of one of the
    types taken is added. ``per_product`` instead takes exactly that many photos: distinct types
    while they last, then second photos. A product always has at least one photo.
    """
    rng = np.random.default_rng([seed, product_index, _PLAN])
    types = [t for t in SHOT_TYPES if t in types]
    if per_product is not None:
        order = [types[i] for i in rng.permutation(len(types))]
        taken = [(t, 0) for t in order[:per_product]]
        taken += [(order[i % len(order)], 1 + i // len(order)) for i in range(max(0, per_product - len(order)))]
    else:
        keep = rng.random(len(types)) >= missing_rate
        taken = [(t, 0) for t, kept in zip(types, keep) if kept] or [(types[int(rng.integers(len(types)))], 0)]
        if rng.random() < extra_rate:
            taken.append((taken[int(rng.integers(len(taken)))][0], 1))
    return sorted(taken, key=lambda tk: (SHOT_TYPES.index(tk[0]), tk[1]))


def _write_product(root: str, seed: int, size: int, plans: dict, index: int) -> list[dict[str, str]]:
    rows = []
    for pos, (shot, k) in enumerate(plans[index]):
        rel = f"images/{shot}/p{index:05d}_{shot}_{k}.png"
        # Plain writes: shots.csv, written atomically last, is what says which photos are complete.
        render_shot(seed, index, shot, size, k=k).save(os.path.join(root, rel), format="PNG")
        rows.append({"path": rel, "product": str(index), "shot": shot, "index_in_product": str(pos)})
    return rows


def shots(
    out: str | os.PathLike,
    n_products: int = 100,
    *,
    size: int = 96,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    types: Sequence[str] = SHOT_TYPES,
    per_product: int | None = None,
    missing_rate: float = 0.15,
    extra_rate: float = 0.1,
) -> "Shots":
    """Photograph ``n_products`` products: ``out/images/<shot>/pNNNNN_<shot>_<k>.png`` and ``out/shots.csv``.

    Class folders, so ``out/images`` trains a shot classifier as it is. ``shots.csv`` has one row
    per photo: ``path`` (relative to the CSV), ``product``, ``shot`` and ``index_in_product`` (its
    place in the product's regulation order). See ``plan`` for which photos a product gets.
    ``workers`` processes draw in parallel (default: up to 2); the images do not depend on it.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if n_products < 1:
        raise ValueError(f"n_products must be at least 1, got {n_products}")
    unknown = [t for t in types if t not in SHOT_TYPES]
    if unknown or not types:
        raise ValueError(f"unknown or no shot types {unknown}; choose from {', '.join(SHOT_TYPES)}")
    if per_product is not None and per_product < 1:
        raise ValueError(f"per_product must be at least 1, got {per_product}")
    if not (0.0 <= missing_rate < 1.0 and 0.0 <= extra_rate <= 1.0):
        raise ValueError(f"missing_rate must be in [0, 1) and extra_rate in [0, 1], got {missing_rate}, {extra_rate}")
    root = Path(out).expanduser().resolve()
    for t in types:
        (root / "images" / t).mkdir(parents=True, exist_ok=True)
    plans = {i: plan(seed, i, types, per_product=per_product, missing_rate=missing_rate, extra_rate=extra_rate)
             for i in range(n_products)}
    job = functools.partial(_write_product, str(root), int(seed), int(size), plans)
    workers = _resolve_workers(workers, sum(len(v) for v in plans.values()))
    groups = draw_all(job, range(n_products), workers, desc="synth shots", unit="product", progress=progress,
                      max_chunk=8)
    records = [row for rows in groups for row in rows]

    csv_path = atomic_write_csv(root / "shots.csv", SHOT_COLUMNS, records)
    result = Shots(root=root, csv=csv_path, records=records, size=int(size), seed=int(seed))
    atomic_write_json(root / "SUMMARY.json", result.to_json())
    return result


def galleries(out: str | os.PathLike, shots_result: "Shots | str | os.PathLike", *, seed: int = 0) -> Path:
    """Copy each product's photos to ``out/galleries/pNNNNN/img_01.png ...`` in shuffled order; return that folder.

    ``out/galleries/truth.csv`` lists every copy: ``product``, ``file`` (relative to the CSV) and
    ``shot``; the names say nothing, so a sorter has only the pixels. The originals are only read.
    """
    result = shots_result if isinstance(shots_result, Shots) else Shots.load(shots_result)
    root = Path(out).expanduser().resolve() / "galleries"
    by_product: dict[str, list[dict[str, str]]] = {}
    for rec in result.records:
        by_product.setdefault(rec["product"], []).append(rec)
    truth = []
    for prod, recs in by_product.items():
        index = int(prod)
        folder = root / f"p{index:05d}"
        if folder.exists():
            shutil.rmtree(folder)  # a stale gallery would mix old files into the new truth
        folder.mkdir(parents=True)
        order = np.random.default_rng([seed, index, _GALLERY]).permutation(len(recs))
        width = max(2, len(str(len(recs))))
        for n, i in enumerate(order, start=1):
            name = f"img_{n:0{width}d}.png"
            shutil.copyfile(result.root / recs[i]["path"], folder / name)
            truth.append({"product": prod, "file": f"{folder.name}/{name}", "shot": recs[i]["shot"]})
    atomic_write_csv(root / "truth.csv", GALLERY_COLUMNS, truth)
    return root


@dataclass
class Shots:
    """A photo shoot on disk: ``records`` are the rows of ``csv``, image paths relative to ``root``."""

    root: Path
    csv: Path
    records: list[dict[str, str]]
    size: int
    seed: int

    def __len__(self) -> int:
        return len(self.records)

    def counts(self) -> dict[str, int]:
        """Photos per shot type, in regulation order."""
        c = Counter(r["shot"] for r in self.records)
        return {t: c[t] for t in SHOT_TYPES if t in c}

    def to_json(self) -> dict[str, Any]:
        return {
            "n": len(self), "products": len({r["product"] for r in self.records}), "size": self.size,
            "seed": self.seed, "synth_version": SYNTH_VERSION, "root": str(self.root), "csv": str(self.csv),
            "counts": self.counts(),
        }

    def save(self) -> Path:
        """Everything is written when the shoot is made; returns the CSV path."""
        return self.csv

    def plot(self, path: str | os.PathLike, n_products: int = 4) -> Path:
        """One row per product (the first ``n_products``): its photos in order, each captioned with its shot type."""
        rows: dict[str, list[dict[str, str]]] = {}
        for r in self.records:
            if r["product"] in rows or len(rows) < n_products:
                rows.setdefault(r["product"], []).append(r)
        cell = self.size * max(1, 96 // self.size)  # whole-number zoom keeps pixels honest
        caption, ncol = 12, max(len(v) for v in rows.values())
        sheet = Image.new("RGB", (ncol * (cell + 4) + 4, len(rows) * (cell + caption + 4) + 4), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=10)
        for r, recs in enumerate(rows.values()):
            y = 4 + r * (cell + caption + 4)
            for c, rec in enumerate(recs):
                x = 4 + c * (cell + 4)
                with Image.open(self.root / rec["path"]) as im:
                    sheet.paste(im.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST), (x, y))
                label = rec["shot"] if c else f"p{int(rec['product'])} {rec['shot']}"
                draw.text((x + 1, y + cell + 1), label, fill=(20, 20, 20), font=font)
        path = Path(path)
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
        return path

    @classmethod
    def load(cls, root: str | os.PathLike) -> "Shots":
        """Reopen a shoot written by ``shots()``."""
        root = Path(root).expanduser()
        summary = json.loads((root / "SUMMARY.json").read_text(encoding="utf-8"))
        with open(root / "shots.csv", newline="", encoding="utf-8") as f:
            records = list(csv.DictReader(f))
        return cls(root=root, csv=root / "shots.csv", records=records, size=summary["size"], seed=summary["seed"])

    def __repr__(self) -> str:
        return f"Shots(n={len(self)}, size={self.size}, seed={self.seed}, root={str(self.root)!r})"
