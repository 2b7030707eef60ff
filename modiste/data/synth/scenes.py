"""Street scenes for detection: people wearing several items, with an exact box for every visible item.

Each image is a street or a room with one or two figures at different distances, each wearing
a few items: garments from ``spec.py`` plus shoes, a bag or a hat drawn here. A figure is drawn
whole on its own layer, tilted a little and placed, so parts of it may fall outside the frame.
Every item keeps its own coverage mask; its box is the tight box of the mask's pixels still
visible after everything drawn in front of it (later items, hair, a nearer person, a pole) and
after the frame's clipping. Image ``i`` draws only from ``default_rng([seed, i, _STREAM])``, so it
depends on neither ``n`` nor how the work was split between processes.

Written layout (COCO and YOLO side by side)::

    out/images/000000.jpg     JPEG, quality 90
    out/labels/000000.txt     YOLO: "class cx cy w h", normalised, one line per box
    out/annotations.json      COCO: every image, bbox [x, y, w, h] in pixels, ids from 1
    out/train.txt, val.txt    "./images/000000.jpg" lines: the split
    out/data.yaml             path, train, val, names: what YOLO trainers read
"""
from __future__ import annotations

import functools
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from modiste.data.synth.body import Body, Frame, sample_body
from modiste.data.synth.canvas import Canvas, supersample_for
from modiste.data.synth.catalog import SYNTH_VERSION, _filler, _resolve_workers, draw_all
from modiste.data.synth.figures import FigureSpec, figure_bounds, paint_figure, sample_figure
from modiste.data.synth.paint import paint_garment
from modiste.data.synth.palette import COLOURS, RGB, scale_rgb, shade
from modiste.data.synth.snaps import _GROUNDS, _THINGS, _occlude, _relight, _street
from modiste.data.synth.spec import BOTTOMS, TOPS, GarmentSpec, sample_spec
from modiste.io import atomic_path, atomic_write_json, atomic_write_text

# Detection classes, YOLO index = position, COCO id = position + 1. The catalog's t-shirts,
# long-sleeve tops and hoodies are one class: at street-snap scale sleeves and hoods are a few
# pixels, and the catalog search that follows the detector tells them apart.
SCENE_CATEGORIES = ("top", "coat", "dress", "skirt", "trousers", "shorts", "shoe", "bag", "hat")
_CLASS_OF = {"t-shirt": "top", "long-sleeve-top": "top", "hoodie": "top"}
# Non-zero last word, as in snaps.py: it keeps these draws apart from the catalog's [seed, i].
_STREAM = 0x5343454E
MIN_SIZE, MAX_SIZE = 32, 1024
MIN_VISIBLE = 0.3  # an item less visible than this (hidden or out of frame) gets no box
MIN_PIXELS = 12  # nor does a speck: a detector cannot learn from fewer visible pixels
MAX_ITEMS = 5  # dress or top and bottom, shoes, coat, bag, hat: at most five on one person
MANNEQUIN_RATE = 0.15  # shop windows; the rest are people
INDOOR_RATE = 0.35
TWO_FIGURES_RATE = 0.45
NEAR_RATE = 0.15  # a figure so close that the frame cuts it
EDGE_RATE = 0.15  # a figure half out at the side
TILT_RATE, MAX_TILT = 0.5, 6.0  # degrees either way: a leaning pose or a tilted camera
OCCLUDE_RATE = 0.3

_ROOM_WALLS: tuple[RGB, ...] = ((226, 220, 208), (200, 208, 214), (182, 160, 140), (232, 232, 228), (150, 160, 140))
_FLOORS: tuple[RGB, ...] = ((150, 110, 76), (196, 170, 130), (120, 120, 124), (176, 176, 170), (90, 64, 46))
_BAGS = ("black", "brown", "beige", "burgundy", "red", "navy", "white", "olive", "pink")
_HATS = ("black", "beige", "brown", "navy", "grey", "white", "red", "olive")


def _class(spec: GarmentSpec) -> str:
    return _CLASS_OF.get(spec.category, spec.category)


# --- backgrounds ---------------------------------------------------------------------------


def _pavement(canvas: Canvas, rng: np.random.Generator, ground: float, eye: float) -> None:
    """The pavement the figures stand on, from ``ground`` (px) down, with joints running to the horizon."""
    k, n, draw = canvas.ss, canvas.work, canvas.draw
    g, e = ground * k, eye * k
    colour = shade(_GROUNDS[int(rng.integers(len(_GROUNDS)))], rng, 0.06)
    draw.rectangle([0, g, n, n], fill=colour)
    draw.rectangle([0, g, n, g + n * 0.012], fill=scale_rgb(colour, 1.15))  # the kerb's edge in the light
    joint = scale_rgb(colour, float(rng.uniform(0.8, 0.9)))
    for t in np.linspace(0.1, 1.0, int(rng.integers(3, 7))) ** 2:
        y = g + (n - g) * float(t)
        draw.line([(0, y), (n, y)], fill=joint, width=k)
    vx = n * float(rng.uniform(0.2, 0.8))
    for x in np.linspace(-n, 2 * n, int(rng.integers(5, 12))):
        # A line from the vanishing point (vx, e) through (x, n), drawn from the ground line down.
        t = (g - e) / max(n - e, 1.0)
        draw.line([(vx + (x - vx) * t, g), (float(x), n)], fill=joint, width=k)
    for _ in range(int(rng.integers(0, 4))):  # bollards, bins and planters along the kerb
        x, w = n * float(rng.uniform(0, 1)), n * float(rng.uniform(0.02, 0.08))
        h = w * float(rng.uniform(1.2, 3.0))
        thing = shade(_THINGS[int(rng.integers(len(_THINGS)))], rng, 0.08)
        box = [x, g - h, x + w, g + n * 0.01]
        draw.rounded_rectangle(box, radius=w * 0.2, fill=thing, outline=scale_rgb(thing, 0.7), width=k)


def _room(canvas: Canvas, rng: np.random.Generator, floor: float, eye: float) -> None:
    """A wall with windows, pictures, shelves and a door over a floor of boards or tiles."""
    k, n, draw = canvas.ss, canvas.work, canvas.draw
    f, e = floor * k, eye * k
    wall = shade(_ROOM_WALLS[int(rng.integers(len(_ROOM_WALLS)))], rng, 0.05)
    ground = shade(_FLOORS[int(rng.integers(len(_FLOORS)))], rng, 0.06)
    draw.rectangle([0, 0, n, f], fill=wall)
    draw.rectangle([0, f, n, n], fill=ground)
    seam = scale_rgb(ground, 0.8)
    vx = n * float(rng.uniform(0.2, 0.8))
    t = (f - e) / max(n - e, 1.0)
    for x in np.linspace(-n, 2 * n, int(rng.integers(8, 16))):
        draw.line([(vx + (x - vx) * t, f), (float(x), n)], fill=seam, width=k)
    for _ in range(int(rng.integers(2, 6))):
        kind = int(rng.integers(4))
        w, h = n * float(rng.uniform(0.1, 0.35)), n * float(rng.uniform(0.1, 0.3))
        x, y = n * float(rng.uniform(-0.1, 1.0)), f * float(rng.uniform(0.05, 0.6))
        thing = shade(_THINGS[int(rng.integers(len(_THINGS)))], rng, 0.1)
        if kind == 0:  # a window: sky and bars
            sky = shade((186, 210, 232), rng, 0.08)
            draw.rectangle([x, y, x + w, y + h], fill=sky, outline=(240, 240, 236), width=2 * k)
            draw.line([(x + w / 2, y), (x + w / 2, y + h)], fill=(240, 240, 236), width=2 * k)
        elif kind == 1:  # a framed picture
            draw.rectangle([x, y, x + w * 0.6, y + h * 0.7], fill=thing, outline=(60, 50, 40), width=2 * k)
        elif kind == 2:  # a shelf with books or boxes
            draw.rectangle([x, y + h, x + w, y + h + n * 0.015], fill=scale_rgb(wall, 0.6))
            bx = x
            while bx < x + w * 0.9:
                bw = w * float(rng.uniform(0.05, 0.2))
                colour = shade(_THINGS[int(rng.integers(len(_THINGS)))], rng, 0.1)
                draw.rectangle([bx, y + h * float(rng.uniform(0.2, 0.6)), bx + bw, y + h], fill=colour)
                bx += bw * 1.1
        else:  # a door down to the floor
            draw.rectangle([x, y, x + w * 0.7, f], fill=scale_rgb(wall, 0.8), outline=scale_rgb(wall, 0.6), width=k)
    draw.rectangle([0, f - n * 0.02, n, f], fill=scale_rgb(wall, 0.75))  # skirting board


# --- accessories ---------------------------------------------------------------------------


class _Ink:
    """Draws shapes given in head units in colour on the layer and in white on one item's own mask."""

    def __init__(self, layer: Canvas, f: Frame) -> None:
        self.f, self.draw = f, layer.draw
        self.mask = Image.new("L", layer.image.size, 0)
        self._mask = ImageDraw.Draw(self.mask)
        self.edge = max(1, round(0.03 * f.scale))  # the outline width figures.py uses

    def _both(self, kind: str, xy, fill: RGB, outline: RGB | None, **kw) -> None:
        width = self.edge if outline else 0
        getattr(self.draw, kind)(xy, fill=fill, outline=outline, width=width, **kw)
        getattr(self._mask, kind)(xy, fill=255, outline=255 if outline else None, width=width, **kw)

    def polygon(self, pts, fill: RGB, outline: RGB | None = None) -> None:
        self._both("polygon", self.f.points(np.array(pts)), fill, outline)

    def box(self, kind: str, x0: float, y0: float, x1: float, y1: float, fill: RGB, outline: RGB | None = None,
            **kw) -> None:
        """An ellipse, rectangle, rounded_rectangle or chord inside the box."""
        self._both(kind, self.f.box(x0, y0, x1, y1), fill, outline, **kw)

    def line(self, pts, fill: RGB, width: float) -> None:
        xy, w = self.f.points(np.array(pts)), max(1, round(width * self.f.scale))
        self.draw.line(xy, fill=fill, width=w, joint="curve")
        self._mask.line(xy, fill=255, width=w, joint="curve")


def _paint_shoes(layer: Canvas, rng: np.random.Generator, fig: FigureSpec, body: Body, f: Frame) -> list[Image.Image]:
    """A pair of sneakers, boots or flats over the figure's own feet: one mask per shoe."""
    kind = int(rng.integers(3))  # sneaker, boot, flat
    colour = shade(fig.shoes if rng.random() < 0.6 else COLOURS[str(rng.choice(_BAGS))], rng, 0.05)
    sole = (236, 234, 228) if kind == 0 else scale_rgb(colour, 0.55)
    # Drawn over the figure's shoe whatever the body's jitter did to the ankle and the floor.
    top = min(body.ankle_y - 0.04, body.floor_y - 0.3) - (0.7 if kind == 1 else 0.12)
    y = max(body.floor_y, body.ankle_y + 0.15) + 0.03  # the sole
    masks = []
    for side in (-1, 1):
        x = side * body.stance
        ink = _Ink(layer, f)
        shoe = [(x - 0.15, top), (x + 0.15, top), (x + 0.2, y - 0.14), (x + 0.19, y), (x - 0.19, y),
                (x - 0.2, y - 0.14)]
        ink.polygon(shoe, fill=colour, outline=scale_rgb(colour, 0.6))
        ink.polygon([(x - 0.2, y - 0.08), (x + 0.2, y - 0.08), (x + 0.19, y), (x - 0.19, y)], fill=sole)
        if kind == 0:
            ink.line([(x, top + 0.05), (x, y - 0.15)], fill=scale_rgb(colour, 0.7), width=0.03)  # laces
        masks.append(ink.mask)
    return masks


def _paint_bag(layer: Canvas, rng: np.random.Generator, body: Body, f: Frame) -> tuple[Image.Image, Image.Image]:
    """A handbag held at one hand or a bag hung from one shoulder: (bag mask, strap mask).

    The strap is drawn and hides what lies under it, but it is not boxed: the box is the bag.
    """
    colour = shade(COLOURS[str(rng.choice(_BAGS))], rng, 0.05)
    dark = scale_rgb(colour, 0.6)
    side = 1 if rng.random() < 0.5 else -1
    w = float(rng.uniform(0.7, 1.1))
    h = w * float(rng.uniform(0.55, 0.8))  # wider than tall
    held = rng.random() < 0.5 and body.arm_angle is not None
    strap = _Ink(layer, f)
    if held:
        start, d, _ = body.arm_axis(side, body.arm_angle)
        hx, hy = (start + d * (body.arm_len + 0.2)).tolist()
        cx, top = hx + side * 0.05, hy + 0.15
    else:
        cx, top = side * (body.hip_w + w * 0.2), body.hip_y - 0.35 - h * 0.3
        sx, sy = body.shoulder_joint(side)
        strap.line([(sx, sy - 0.1), (cx - side * w * 0.35, top)], fill=dark, width=0.06)
    bag = _Ink(layer, f)
    if held:  # the handle loops up to the hand
        bag.line([(cx - w * 0.28, top), (hx, hy - 0.08), (cx + w * 0.28, top)], fill=dark, width=0.05)
    bag.box("rounded_rectangle", cx - w / 2, top, cx + w / 2, top + h, fill=colour, outline=dark, radius=0.12 * f.scale)
    bag.box("rectangle", cx - w / 2, top, cx + w / 2, top + h * 0.4, fill=scale_rgb(colour, 0.85), outline=dark)  # flap
    bag.box("ellipse", cx - 0.05, top + h * 0.4 - 0.05, cx + 0.05, top + h * 0.4 + 0.05, fill=(210, 190, 120))  # clasp
    return bag.mask, strap.mask


def _paint_hat(layer: Canvas, rng: np.random.Generator, f: Frame) -> Image.Image:
    """A brimmed hat, a beanie or a cap on the head."""
    colour = shade(COLOURS[str(rng.choice(_HATS))], rng, 0.05)
    dark = scale_rgb(colour, 0.65)
    ink = _Ink(layer, f)
    kind = int(rng.integers(3))
    if kind == 0:
        k = float(rng.uniform(0.55, 0.8))
        ink.box("ellipse", -k, 0.18, k, 0.4, fill=colour, outline=dark)  # brim
        ink.box("chord", -0.36, -0.26, 0.36, 0.62, fill=colour, outline=dark, start=180, end=360)
        ink.box("rectangle", -0.36, 0.12, 0.36, 0.24, fill=dark)  # band
        ink.box("rectangle", -0.36, 0.18, 0.36, 0.3, fill=colour)
    elif kind == 1:  # beanie
        ink.box("chord", -0.4, -0.22, 0.4, 0.9, fill=colour, outline=dark, start=180, end=360)
        ink.box("rectangle", -0.41, 0.22, 0.41, 0.44, fill=scale_rgb(colour, 0.9), outline=dark)
    else:  # cap
        ink.box("chord", -0.37, -0.14, 0.37, 0.74, fill=colour, outline=dark, start=180, end=360)
        ink.box("ellipse", -0.44, 0.24, 0.44, 0.42, fill=dark)
    return ink.mask


# --- figures -------------------------------------------------------------------------------


def _outfit(rng: np.random.Generator, kind: str, k: int) -> tuple[list[GarmentSpec], list[str]]:
    """``k`` items: garments in paint order (under to over) and the accessories.

    A person always wears shoes; a dress counts one item, a top with a bottom or a bottom under
    a coat two, and a bag and a hat fill up to ``k``. A form wears one garment or a pair.
    """
    if kind == "mannequin":
        if k == 1:
            return [sample_spec(rng)], []
        return _separates(rng), []
    bases = [(n, base) for n, base in ((2, "dress"), (3, "separates"), (3, "coat")) if n <= k <= n + 2]
    n, base = bases[int(rng.integers(len(bases)))]
    if base == "dress":
        garments = [sample_spec(rng, category="dress")]
    elif base == "separates":
        garments = _separates(rng)
    else:
        garments = [sample_spec(rng, category=str(rng.choice(BOTTOMS))), sample_spec(rng, category="coat")]
    extras = [str(a) for a in rng.permutation(["bag", "hat"])[: k - n]]
    return garments, ["shoes", *extras]


def _separates(rng: np.random.Generator) -> list[GarmentSpec]:
    """A top and a bottom in paint order: often with the catalog's plain filler, else two free pieces."""
    hero = sample_spec(rng, category=str(rng.choice(TOPS + BOTTOMS)))
    if rng.random() < 0.6:
        return [_filler(rng, hero), hero]  # the filler is tucked in or worn under, as in catalog shots
    other = sample_spec(rng, category=str(rng.choice(BOTTOMS if hero.category in TOPS else TOPS)))
    return [other, hero] if hero.category in TOPS else [hero, other]  # the top over the bottom


@dataclass
class _Item:
    label: str
    total: int  # its pixels as drawn, inside the frame or not
    visible: np.ndarray  # bool (H, W): its pixels nothing hides, in scene coordinates


def _to_scene(small: np.ndarray, at: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Place a layer-sized bool mask at ``at`` (x, y) in a scene of ``shape`` (H, W), clipping it."""
    out = np.zeros(shape, bool)
    x, y = at
    h, w = small.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(shape[1], x + w), min(shape[0], y + h)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = small[y0 - y : y1 - y, x0 - x : x1 - x]
    return out


def _figure(
    scene: Canvas, rng: np.random.Generator, height: float, cx: float, top: float, items: tuple[int, int],
    shape: tuple[int, int],
) -> tuple[list[_Item], np.ndarray]:
    """Draw one figure ``height`` px tall (head top at ``top``, centre line at ``cx``) wearing ``items`` (lo, hi).

    Returns its items and everything it hides (bool (H, W)), once pasted onto ``scene``.
    """
    lo, hi = items
    # A form wears one or two garments, a person two to five items (shoes and a dress at least).
    mannequin = hi < 2 or (lo <= 2 and rng.random() < MANNEQUIN_RATE)
    kind = "mannequin" if mannequin else "model"
    lo, hi = (max(lo, 1), min(hi, 2)) if mannequin else (max(lo, 2), min(hi, MAX_ITEMS))
    fig = sample_figure(rng, kind)
    body = sample_body(rng, kind)
    garments, accessories = _outfit(rng, kind, int(rng.integers(lo, hi + 1)))
    fb = figure_bounds(fig, body)
    scale = height / (fb[3] - fb[1])
    side = int(math.ceil(height * 1.1)) + 4  # room for hats, hems and the tilt
    ox, oy = int(round(cx - side / 2)), int(round(top - 0.05 * height)) - 2
    frame = Frame(scale, cx - ox, top - oy - fb[1] * scale)  # in layer pixels
    f = frame.scaled(scene.ss)

    layer = Canvas(side, scene.ss, background=None)
    # What is on top where: pixel value i is op i (1-based) of ``ops``, 0 the figure or nothing.
    on_top = Image.new("L", layer.image.size, 0)
    ops: list[tuple[str | None, int]] = []  # (class or None for unboxed things, pixels drawn) in paint order

    def mark(label: str | None, mask: Image.Image) -> None:
        ops.append((label, mask.histogram()[255]))
        on_top.paste(len(ops), mask=mask)

    paint_figure(layer, fig, body, frame, layer="back")
    if "shoes" in accessories:
        for mask in _paint_shoes(layer, rng, fig, body, f):
            mark("shoe", mask)
    for spec in garments:
        mark(_class(spec), paint_garment(layer, spec, body, frame, worn=True))
    if "bag" in accessories:
        bag, strap = _paint_bag(layer, rng, body, f)
        mark(None, strap)
        mark("bag", bag)
    front = Canvas(side, scene.ss, background=None)  # apart, so hair and head count as hiding what is under them
    paint_figure(front, fig, body, frame, layer="front")
    alpha = front.image.getchannel("A")
    layer.image.paste(front.image, (0, 0), alpha)
    mark(None, alpha)
    if "hat" in accessories:
        mark("hat", _paint_hat(layer, rng, f))

    image = layer.image
    if rng.random() < TILT_RATE:
        angle = float(rng.uniform(-MAX_TILT, MAX_TILT))
        centre = (side * scene.ss / 2, side * scene.ss / 2)
        # Premultiplied, so the transparent surround does not bleed a dark fringe (see snaps.py).
        image = image.convert("RGBa").rotate(angle, Image.Resampling.BILINEAR, center=centre).convert("RGBA")
        on_top = on_top.rotate(angle, Image.Resampling.NEAREST, center=centre)
    scene.image.paste(image, (ox * scene.ss, oy * scene.ss), image)

    ss = scene.ss
    found = []
    for i, (label, drawn) in enumerate(ops, start=1):
        if label is not None and drawn > 0:
            lut = [255 if v == i else 0 for v in range(256)]
            seen = np.asarray(on_top.point(lut).reduce(ss)) >= 128  # on top over at least half of the pixel
            found.append(_Item(label, drawn // (ss * ss), _to_scene(seen, (ox, oy), shape)))
    cover = np.asarray(image.getchannel("A").reduce(ss)) >= 128
    return found, _to_scene(cover, (ox, oy), shape)


def _layout(rng: np.random.Generator, width: int, height: int) -> tuple[float, float, list[tuple[float, float, float]]]:
    """(eye line, ground line, [(height, centre x, head top) far to near]) in px, for a camera at eye height.

    With the camera at eye level every standing person's eyes are on the horizon, so nearer
    people are taller and stand lower; the farthest one stands at the foot of the wall.
    """
    eye = height * float(rng.uniform(0.12, 0.32))
    count = 2 if rng.random() < TWO_FIGURES_RATE else 1
    people = []
    for _ in range(count):
        h = height * float(rng.uniform(0.95, 1.35) if rng.random() < NEAR_RATE else rng.uniform(0.38, 0.92))
        spread = (-0.05, 1.05) if rng.random() < EDGE_RATE else (0.2, 0.8)
        cx = width * float(rng.uniform(*spread))
        top = eye - 0.085 * h + height * float(rng.uniform(-0.03, 0.03))  # eyes half a head below the crown
        people.append((h, cx, top))
    people.sort()
    h, _, top = people[0]
    ground = min(top + 0.96 * h - height * float(rng.uniform(0.0, 0.04)), 0.92 * height)
    return eye, max(ground, eye + 0.05 * height), people


def render_scene(
    seed: int,
    index: int,
    size: tuple[int, int] = (240, 320),
    *,
    min_items: int = 1,
    max_items: int = 4,
    ss: int | None = None,
) -> tuple[Image.Image, list[dict[str, Any]]]:
    """Scene ``index`` of ``seed``: (RGB image, its items), ``size`` being (width, height).

    Each item is ``{"label": class name, "box": (x0, y0, x1, y1), "area": visible pixels}``;
    box edges are pixel edges (a box around pixel columns 3..5 is x0=3, x1=6), so
    ``0 <= x0 < x1 <= width``. Items are listed far figure first, in paint order.
    """
    width, height = (int(v) for v in size)
    rng = np.random.default_rng([seed, index, _STREAM])
    n = max(width, height)
    canvas = Canvas(n, ss or supersample_for(n))
    eye, ground, people = _layout(rng, width, height)
    if rng.random() < INDOOR_RATE:
        _room(canvas, rng, ground, eye)
    else:
        _street(canvas, rng)
        _pavement(canvas, rng, ground, eye)

    shape = (height, width)
    items: list[_Item] = []
    for h, cx, top in people:
        new, cover = _figure(canvas, rng, h, cx, top, (min_items, max_items), shape)
        for item in items:
            item.visible &= ~cover
        items += new
    if rng.random() < OCCLUDE_RATE:
        h, cx, top = people[int(rng.integers(len(people)))]
        layer = Canvas(n, canvas.ss, background=None)
        _occlude(layer, rng, 0.4 * h, (cx, top + h * float(rng.uniform(0.3, 0.8))))
        canvas.image.paste(layer.image, (0, 0), layer.image)
        cover = (np.asarray(layer.image.getchannel("A").reduce(canvas.ss)) >= 128)[:height, :width]
        for item in items:
            item.visible &= ~cover
    image = _relight(canvas.result().crop((0, 0, width, height)), rng)

    out = []
    for item in items:
        area = int(item.visible.sum())
        if area < MIN_PIXELS or area < MIN_VISIBLE * item.total:
            continue
        rows, cols = np.flatnonzero(item.visible.any(1)), np.flatnonzero(item.visible.any(0))
        box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        out.append({"label": item.label, "box": box, "area": area})
    return image, out


# --- writing -------------------------------------------------------------------------------


def _yolo_lines(items: list[dict[str, Any]], width: int, height: int) -> str:
    lines = []
    for it in items:
        x0, y0, x1, y1 = it["box"]
        lines.append(
            f"{SCENE_CATEGORIES.index(it['label'])} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
            f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}\n"
        )
    return "".join(lines)


def _write_scene(
    root: str, seed: int, size: tuple[int, int], min_items: int, max_items: int, index: int
) -> list[dict[str, Any]]:
    image, items = render_scene(seed, index, size, min_items=min_items, max_items=max_items)
    # Plain writes: annotations.json, written atomically last, is what says which images are complete.
    image.save(os.path.join(root, "images", f"{index:06d}.jpg"), format="JPEG", quality=90)
    with open(os.path.join(root, "labels", f"{index:06d}.txt"), "w", encoding="utf-8") as fh:
        fh.write(_yolo_lines(items, *size))
    return items


def _is_val(index: int, fraction: float) -> bool:
    """Every 1/fraction-th image: the split keeps its images when ``n`` grows."""
    return math.floor((index + 1) * fraction) > math.floor(index * fraction)


def _coco(images: list[list[dict[str, Any]]], size: tuple[int, int], seed: int) -> dict[str, Any]:
    width, height = size
    coco: dict[str, Any] = {
        "info": {"description": f"modiste synthetic street scenes, seed {seed}", "version": str(SYNTH_VERSION)},
        "images": [], "annotations": [],
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "fashion"} for i, name in enumerate(SCENE_CATEGORIES)
        ],
    }
    for index, items in enumerate(images):
        coco["images"].append({"id": index + 1, "file_name": f"{index:06d}.jpg", "width": width, "height": height})
        for it in items:
            x0, y0, x1, y1 = it["box"]
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": index + 1,
                "category_id": SCENE_CATEGORIES.index(it["label"]) + 1,
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": it["area"], "iscrowd": 0,
            })
    return coco


def scenes(
    out: str | os.PathLike,
    n: int = 200,
    *,
    size: tuple[int, int] = (240, 320),
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    min_items: int = 1,
    max_items: int = 4,
    val_fraction: float = 0.2,
) -> "Scenes":
    """Write ``n`` street scenes with item boxes to ``out``, as COCO and as YOLO (see the module docstring).

    ``size`` is (width, height). Each figure wears ``min_items`` to ``max_items`` items, as far as
    it can: a person wears two to five (shoes and a dress at least), a shop-window form one or
    two. An item more than 70% hidden or out of frame gets no box, so an image can hold fewer. Every ``1 / val_fraction``-th image goes to ``val.txt``, the rest to
    ``train.txt``. ``workers`` processes draw in parallel (default: up to 2); the files do not
    depend on it.
    """
    import yaml  # only needed here, to write data.yaml

    width, height = (int(v) for v in size)
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise ValueError(f"size must be (width, height) between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 1 <= min_items <= max_items or min_items > MAX_ITEMS:
        raise ValueError(f"need 1 <= min_items <= max_items and min_items <= {MAX_ITEMS}, got {min_items}, {max_items}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = Path(out).expanduser().resolve()
    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    job = functools.partial(_write_scene, str(root), int(seed), (width, height), int(min_items), int(max_items))
    images = draw_all(job, range(n), _resolve_workers(workers, n), desc="synth scenes", unit="img",
                      progress=progress, max_chunk=16)

    split = {"train": [], "val": []}
    for index in range(n):
        split["val" if _is_val(index, val_fraction) else "train"].append(f"./images/{index:06d}.jpg\n")
    for name, lines in split.items():
        atomic_write_text(root / f"{name}.txt", "".join(lines))
    data = {"path": str(root), "train": "train.txt", "val": "val.txt", "names": dict(enumerate(SCENE_CATEGORIES))}
    header = f"# modiste synthetic street scenes: {n} images {width}x{height}, seed {seed}\n"
    yaml_path = atomic_write_text(root / "data.yaml", header + yaml.safe_dump(data, sort_keys=False))
    coco_path = atomic_write_json(root / "annotations.json", _coco(images, (width, height), int(seed)))
    return Scenes(root=root, n=n, size=(width, height), seed=int(seed), images=images, coco=coco_path, yaml=yaml_path)


@dataclass
class Scenes:
    """Street scenes on disk: ``images[i]`` are the items of ``images/{i:06d}.jpg`` (see ``render_scene``)."""

    root: Path
    n: int
    size: tuple[int, int]  # width, height
    seed: int
    images: list[list[dict[str, Any]]]
    coco: Path
    yaml: Path
    categories: tuple[str, ...] = SCENE_CATEGORIES

    def __len__(self) -> int:
        return self.n

    def counts(self) -> dict[str, int]:
        """Boxes per class."""
        c = Counter(it["label"] for items in self.images for it in items)
        return {name: c[name] for name in self.categories}

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n, "size": list(self.size), "seed": self.seed, "synth_version": SYNTH_VERSION,
            "categories": list(self.categories), "boxes": sum(map(len, self.images)), "counts": self.counts(),
            "root": str(self.root), "coco": str(self.coco), "yaml": str(self.yaml),
        }

    def save(self) -> Path:
        """Everything is written when the scenes are made; returns the COCO file."""
        return self.coco

    def plot(self, path: str | os.PathLike, n: int = 16, *, ncol: int = 4) -> Path:
        """A sheet of the first ``n`` images with their boxes and class names."""
        n = min(n, self.n)
        width, height = self.size
        rows = (n + ncol - 1) // ncol
        sheet = Image.new("RGB", (ncol * (width + 4) + 4, rows * (height + 4) + 4), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=10)
        for i in range(n):
            x, y = 4 + (i % ncol) * (width + 4), 4 + (i // ncol) * (height + 4)
            with Image.open(self.root / "images" / f"{i:06d}.jpg") as im:
                sheet.paste(im.convert("RGB"), (x, y))
            for it in self.images[i]:
                x0, y0, x1, y1 = it["box"]
                colour = _BOX_COLOURS[self.categories.index(it["label"]) % len(_BOX_COLOURS)]
                draw.rectangle([x + x0, y + y0, x + x1 - 1, y + y1 - 1], outline=colour, width=1)
                draw.text((x + x0 + 1, y + max(y0 - 11, 0)), it["label"], fill=colour, font=font)
        path = Path(path)
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
        return path

    def __repr__(self) -> str:
        return f"Scenes(n={self.n}, size={self.size}, seed={self.seed}, root={str(self.root)!r})"


# Saturated and distinct, so a box reads against any street.
_BOX_COLOURS: tuple[RGB, ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60),
)
