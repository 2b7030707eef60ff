"""Detail shots of the synthetic product shoots: the garment alone. The flat garment is painted at
a zoom centred on a point found from its cut pieces (neckline, sleeve, cuff, hem), with what the
pieces lack (labels, stitching, buttons, zips, pockets, weave), and the whole crop is rotated."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from modiste.data.synth.body import Body, Frame
from modiste.data.synth.canvas import Canvas
from modiste.data.synth.garments import DARK, FABRIC, SLEEVE, garment_shape
from modiste.data.synth.paint import paint_garment
from modiste.data.synth.palette import RGB, mix, scale_rgb, shade
from modiste.data.synth.spec import GarmentSpec
from modiste.data.synth.shoot_studio import _HANGERS, Product, _dashes, _px, _rotate_crop, _surface, _thread, _u



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
