"""The parts of a synthetic street scene: backgrounds (pavement, room), accessories (shoes, bag,
hat), figures in outfits with the boxes of what they wear, and the layout of figures in the frame."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from modiste.data.synth.body import Body, Frame, sample_body
from modiste.data.synth.canvas import Canvas
from modiste.data.synth.catalog import _filler
from modiste.data.synth.figures import FigureSpec, figure_bounds, paint_figure, sample_figure
from modiste.data.synth.paint import paint_garment
from modiste.data.synth.palette import COLOURS, RGB, scale_rgb, shade
from modiste.data.synth.snaps import _GROUNDS, _THINGS
from modiste.data.synth.spec import BOTTOMS, TOPS, GarmentSpec, sample_spec


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
