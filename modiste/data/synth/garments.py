"""Garment silhouettes: the cut pieces of each category, in head units around a ``Body``.

The same spec is a flat-lay product shot, hangs on a dress form or is worn by a model, just by
cutting it for a different ``Body`` (see ``body.py``); ``paint.py`` turns the pieces into pixels.
Every category keeps its defining features in both style groups: trousers and shorts keep two
legs with an open split, t-shirts short sleeves, coats long sleeves, lapels and buttons,
hoodies a hood and pocket, dresses a bodice above a skirt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from modiste.data.synth.body import Body, Bounds
from modiste.data.synth.spec import GarmentSpec, Style

# Part ids painted into the label map; paint.py gives each a colour source and a brightness.
FABRIC, SLEEVE, INSIDE, TRIM, ACCENT, SEAM, DARK, OUTLINE = range(1, 9)


@dataclass
class Shape:
    """A garment as drawing instructions in head units, painted in list order."""

    pieces: list[tuple[int, np.ndarray, int]] = field(default_factory=list)  # (part, polygon, edge part or 0)
    lines: list[tuple[int, np.ndarray, float]] = field(default_factory=list)  # (part, polyline, width in heads)
    dots: list[tuple[int, float, float, float]] = field(default_factory=list)  # (part, x, y, radius)
    outlines: list[np.ndarray] = field(default_factory=list)  # closed seams drawn unfilled (pockets)
    fold_from: float = math.inf  # y where drape folds start (waist for skirts)
    hem_y: float = 0.0  # y where the folds are deepest
    folds: float = 0.0  # fold shading depth 0..1
    fold_period: float = 0.5  # heads between folds at the hem

    def bounds(self) -> Bounds:
        pts = np.concatenate([p for _, p, _ in self.pieces])
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())

    def add(self, part: int, poly, edge: int = OUTLINE) -> None:
        self.pieces.append((part, np.asarray(poly, float), edge))

    def line(self, part: int, pts, width: float) -> None:
        self.lines.append((part, np.asarray(pts, float), width))


def _mirror(right: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Left-side points for a right-side outline, in the order that closes the polygon."""
    return [(-x, y) for x, y in reversed(right)]


def _hem(x_right: float, x_left: float, y: float, st: Style, n: int = 12) -> list[tuple[float, float]]:
    """Hem points from right to left, with the style's slant and ruffle."""
    out = []
    scallops = max(2, round(abs(x_right - x_left) / 0.4))
    for k in range(n + 1):
        t = k / n
        x = x_right + (x_left - x_right) * t
        yy = y + st.slant * (0.5 - t)
        if st.ruffle:
            yy += st.ruffle * abs(math.sin(math.pi * scallops * t))
        out.append((x, yy))
    return out


def _neck_cut(nw: float, depth: float, kind: str, ny: float) -> list[tuple[float, float]]:
    """The front neckline from the left neck point to the right one."""
    if kind == "v":
        return [(-nw, ny), (0.0, ny + depth), (nw, ny)]
    angles = np.linspace(math.pi, 0.0, 9)
    return [(nw * math.cos(a), ny + depth * math.sin(a)) for a in angles]


_NECK = {"crew": (1.0, 0.17), "scoop": (1.15, 0.4), "v": (1.0, 0.55), "boat": (1.7, 0.1)}  # width x, depth


def _neckline(spec: GarmentSpec, body: Body, nw: float, depth: float, worn: bool) -> tuple[list, list | None]:
    """(top edge of the front piece, inside-back piece to paint over it or None).

    Worn garments are cut open at the neckline so the figure shows through; flat lays show
    the inside of the back instead, a darker shade of the same fabric.
    """
    ny = body.neck_y
    cut = _neck_cut(nw, depth, spec.style.neckline, ny)
    if worn:
        return cut, None
    back = [(x, ny - 0.05 * math.sin(math.pi * (x + nw) / (2 * nw))) for x, _ in cut]
    return [(-nw, ny - 0.05), (nw, ny - 0.05)], cut + back[::-1]


def _sleeves(shape: Shape, body: Body, st: Style, *, S: float, sy: float, C: float, ay: float,
             length: float, cuff: float, angle: float, cuff_band: float = 0.0, hem_seam: bool = False) -> None:
    for side in (1, -1):
        start = np.array([side * (S - 0.14), sy + 0.14])
        d = np.array([side * math.sin(angle), math.cos(angle)])
        n = np.array([side * math.cos(angle), -math.sin(angle)])
        end = start + length * d
        pts = [(side * S, sy)]
        if st.puff:
            pts.append(tuple(start + 0.35 * length * d + n * (0.32 + st.puff)))
        pts += [tuple(end + n * cuff), tuple(end - n * cuff), (side * C, ay)]
        shape.add(SLEEVE, pts)
        if cuff_band:
            band = [end + n * cuff, end - n * cuff, end - n * cuff - d * cuff_band, end + n * cuff - d * cuff_band]
            shape.add(TRIM, band, SEAM)
        if hem_seam:
            shape.line(SEAM, [end + n * cuff * 0.9 - d * 0.1, end - n * cuff * 0.9 - d * 0.1], 0.03)


# Flat lays spread short sleeves wide and lay long ones close to the body.
_FLAT_ANGLE = {"t-shirt": 0.95, "long-sleeve-top": 0.42, "hoodie": 0.42, "coat": 0.32, "dress": 0.9}


def _top(spec: GarmentSpec, body: Body, worn: bool) -> Shape:
    """T-shirts, long-sleeve tops, hoodies and coats: a body panel and two set-in sleeves."""
    cat, st = spec.category, spec.style
    shape = Shape()
    S = body.shoulder_w * st.shoulder
    drop = (S - body.shoulder_w) * 0.4  # oversized cuts drop the shoulder seam
    sy, ay = body.shoulder_y + 0.3 * drop, body.armpit_y + drop
    C = body.chest_w * (1 + 0.7 * (st.shoulder - 1))
    coat = cat == "coat"
    hem_y = (body.knee_y - 0.25 if coat else body.hip_y + 0.22) + st.length
    H = C * st.volume * (1.1 if coat else 1.0)
    wx, ny = min(C, H) * (0.88 if st.belt else 0.97) * st.waist, body.neck_y
    width_k, depth = _NECK.get(st.neckline, _NECK["crew"])
    nw = body.neck_w * 1.15 * (1.0 if coat or cat == "hoodie" else width_k)
    if coat or cat == "hoodie":
        depth = 0.15

    if cat == "hoodie" and not worn:
        shape.add(FABRIC, _ellipse(0.0, ny - 0.12, nw + 0.32, 0.5))  # the hood, lying flat behind
    top, inside = _neckline(spec, body, nw, depth, worn)
    right = [(S, sy), (C, ay)] + ([(wx, body.waist_y)] if body.waist_y < hem_y - 0.4 else [])
    shape.add(FABRIC, top + right + _hem(H, -H, hem_y, st) + _mirror(right))
    if inside:
        shape.add(INSIDE, inside, SEAM)
    if cat in ("t-shirt", "long-sleeve-top"):
        shape.line(TRIM, _neck_cut(nw, depth, st.neckline, ny), 0.07)  # ribbed collar

    if cat == "t-shirt":
        length = 0.8 * (1 + 0.8 * (st.shoulder - 1))
        angle = body.arm_angle + 0.18 if body.arm_angle is not None else _FLAT_ANGLE[cat]
        _sleeves(shape, body, st, S=S, sy=sy, C=C, ay=ay, length=length, cuff=0.33 * st.sleeve, angle=angle, hem_seam=True)
        shape.line(SEAM, [(H * 0.95, hem_y - 0.1 + st.slant * 0.02), (-H * 0.95, hem_y - 0.1)], 0.03)
    else:
        angle = body.arm_angle if body.arm_angle is not None else _FLAT_ANGLE[cat]
        length = body.arm_len + (0.12 if coat else 0.02) - 0.6 * drop
        cuff = {"long-sleeve-top": 0.16, "hoodie": 0.19, "coat": 0.22}[cat] * st.sleeve
        band = 0.0 if coat else 0.16
        _sleeves(shape, body, st, S=S, sy=sy, C=C, ay=ay, length=length, cuff=cuff, angle=angle, cuff_band=band)

    if cat == "hoodie":
        _hoodie_details(shape, body, nw, depth, hem_y, H, st, worn)
    elif coat:
        _coat_details(shape, body, nw, hem_y, wx, st)
    return shape


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 20) -> np.ndarray:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], axis=1)


def _hoodie_details(
    shape: Shape, body: Body, nw: float, depth: float, hem_y: float, H: float, st: Style, worn: bool
) -> None:
    ny = body.neck_y
    if worn:
        for side in (1, -1):  # hood bunched around the neck, either side of it
            lobe = [(nw * 0.8, ny + 0.1), (nw * 0.7, ny - 0.3), (nw + 0.32, ny - 0.2), (nw + 0.5, ny + 0.12)]
            shape.add(FABRIC, [(side * x, y) for x, y in lobe])
    else:
        shape.add(INSIDE, _ellipse(0.0, ny - 0.04, nw * 0.95, 0.3), SEAM)
    for side in (1, -1):
        shape.line(ACCENT, [(side * 0.11, ny + depth), (side * 0.13, ny + depth + 0.6)], 0.045)
        shape.dots.append((ACCENT, side * 0.13, ny + depth + 0.62, 0.04))
    band = _hem(H, -H, hem_y, st)
    shape.add(TRIM, band + [(x, y - 0.2) for x, y in reversed(band)], SEAM)
    top, bottom = hem_y - 1.0, hem_y - 0.32
    shape.outlines.append(np.array([(-0.4, top), (0.4, top), (0.62, bottom), (-0.62, bottom)]))


def _coat_details(shape: Shape, body: Body, nw: float, hem_y: float, wx: float, st: Style) -> None:
    ny, wy = body.neck_y, body.waist_y
    double = st.cut == "double"
    v_bottom = wy - 0.3
    shape.add(DARK, [(-nw, ny), (nw, ny), (0.0, v_bottom)], 0)  # what shows between the lapels
    k = 1.0 + 0.4 * (st.shoulder - 1)  # big coats have big lapels
    for side in (1, -1):
        lapel = [(nw, ny - 0.06), (nw + 0.36 * k, ny + 0.32 * k), (nw + 0.2 * k, ny + 0.44 * k),
                 (0.3 if double else 0.05, v_bottom + 0.02)]
        shape.add(FABRIC, [(side * x, y) for x, y in lapel], SEAM)
    opening = 0.3 if double else 0.04
    shape.line(SEAM, [(opening, v_bottom), (opening, hem_y - st.slant * (0.5 - (0.5 - opening / 4)))], 0.04)
    xs = (-0.16, 0.16) if double else (-0.1,)
    for i in range(3 if not st.belt else 2):
        for x in xs:
            shape.dots.append((DARK, x, v_bottom + 0.15 + 0.5 * i, 0.06))
    if st.belt:
        shape.add(TRIM, [(-wx, wy - 0.1), (wx, wy - 0.1), (wx, wy + 0.1), (-wx, wy + 0.1)], SEAM)
        shape.add(DARK, [(-0.12, wy - 0.12), (0.12, wy - 0.12), (0.12, wy + 0.12), (-0.12, wy + 0.12)], 0)
    for side in (1, -1):
        y = body.hip_y + 0.25
        shape.line(SEAM, [(side * 0.3, y), (side * 0.75 * min(1.4, st.volume), y)], 0.04)


def _skirt_sides(body: Body, st: Style, top_y: float, top_w: float, hem_y: float, H: float) -> list[tuple[float, float]]:
    """Right side of a skirt from its top to just above the hem: flares hang from the hip."""
    hip_x = max(body.hip_w * (0.98 if st.cut == "pencil" else 1.0), top_w + (H - top_w) * 0.3)
    pts = [(top_w, top_y)]
    if body.hip_y < hem_y - 0.3:
        pts.append((hip_x, body.hip_y))
    return pts


def _tiers(shape: Shape, st: Style, top_y: float, top_w: float, hem_y: float, H: float) -> None:
    for k in range(1, st.tiers):
        t = k / st.tiers
        y = top_y + (hem_y - top_y) * t
        x = top_w + (H - top_w) * t ** 0.8
        shape.line(SEAM, [(x, y + st.slant * 0.5 * t * 0.5), (-x, y - st.slant * 0.5 * t * 0.5)], 0.05)


def _dress(spec: GarmentSpec, body: Body, worn: bool) -> Shape:
    st = spec.style
    shape = Shape()
    ny, wy = body.neck_y, body.waist_y
    wx = body.waist_w * 1.02 * st.waist
    C = body.chest_w * 0.95
    hem_y = body.knee_y - 0.35 + st.length
    H = body.hip_w * 1.25 * st.volume
    width_k, depth = _NECK.get(st.neckline, _NECK["scoop"])
    if st.cut == "strap":
        nw = 0.32 * min(width_k, 1.3)
        top, inside = _neckline(spec, body, nw, max(depth, 0.4), worn)
        right = [(nw + 0.2, ny), (nw + 0.28, ny + 0.38), (C, body.armpit_y + 0.12)]
    else:
        nw = body.neck_w * 1.2 * width_k
        top, inside = _neckline(spec, body, nw, max(depth, 0.25), worn)
        right = [(body.shoulder_w * 0.98, body.shoulder_y), (C, body.armpit_y)]
    right += [(wx, wy)] + _skirt_sides(body, st, wy, wx, hem_y, H)[1:]
    shape.add(FABRIC, top + right + _hem(H, -H, hem_y, st, n=16) + _mirror(right))
    if inside:
        shape.add(INSIDE, inside, SEAM)
    if st.cut != "strap":
        angle = body.arm_angle + 0.25 if body.arm_angle is not None else _FLAT_ANGLE["dress"]
        _sleeves(shape, body, st, S=body.shoulder_w * 0.98, sy=body.shoulder_y, C=C, ay=body.armpit_y,
                 length=0.5 + 0.6 * st.puff, cuff=0.27 + 0.4 * st.puff, angle=angle)
    shape.line(SEAM, [(wx, wy), (-wx, wy)], 0.035)
    if st.belt:
        shape.add(ACCENT, [(-wx, wy - 0.1), (wx, wy - 0.1), (wx * 1.02, wy + 0.1), (-wx * 1.02, wy + 0.1)], 0)
    _tiers(shape, st, wy, wx, hem_y, H)
    shape.fold_from, shape.hem_y, shape.folds = wy, hem_y, min(0.35, 0.12 + 0.1 * st.volume)
    shape.fold_period = 2 * H / (5 + 3 * st.volume)
    return shape


def _skirt(spec: GarmentSpec, body: Body, worn: bool) -> Shape:
    st = spec.style
    shape = Shape()
    wy = body.waist_y - (0.3 if st.high_waist else 0.0)
    ww = body.waist_w * 1.04
    pencil = st.cut == "pencil"
    hem_y = body.knee_y - (0.2 if pencil else 0.45) + st.length
    H = body.hip_w * (0.92 if pencil else 1.3 * st.volume)
    top = wy + 0.16
    right = _skirt_sides(body, st, top, ww, hem_y, H)
    shape.add(FABRIC, right + _hem(H, -H, hem_y, st, n=16) + _mirror(right))
    shape.add(TRIM, [(-ww, wy - 0.06), (ww, wy - 0.06), (ww, top), (-ww, top)])
    _tiers(shape, st, top, ww, hem_y, H)
    if pencil:
        shape.line(SEAM, [(0.0, hem_y - 0.55), (0.0, hem_y)], 0.04)  # the back vent
    shape.fold_from, shape.hem_y, shape.folds = top, hem_y, 0.08 if pencil else min(0.38, 0.14 + 0.1 * st.volume)
    shape.fold_period = 2 * H / (4 + 3 * st.volume)
    return shape


def _legs(spec: GarmentSpec, body: Body, worn: bool) -> Shape:
    """Trousers and shorts: a waistband and two legs split from the crotch down."""
    st = spec.style
    shape = Shape()
    shorts = spec.category == "shorts"
    wy = body.waist_y - (0.32 if st.high_waist else 0.0)
    ww = body.waist_w * 1.04
    top = wy + 0.16
    hip_x = body.hip_w * 1.02
    knee = []
    if shorts:
        hem_y = body.crotch_y + 0.65 + st.length
        # The split between the legs must stay open however wide they get, or shorts read as a skirt.
        Ho, Hi = (body.hip_w + 0.06) * st.volume, 0.18 + 0.12 * (st.volume - 1)
    else:
        hem_y = body.ankle_y - 0.05 + st.length
        Ho, Hi = {"straight": (0.76, 0.17), "wide": (0.98, 0.17)}.get(st.cut, (0.74 * st.volume, 0.26))
        if st.cut == "flare":
            knee = [(0.68, body.knee_y)]
            Ho, Hi = 0.5 + 0.4 * st.volume, 0.14
    inner_knee = [(0.24, body.knee_y)] if knee else []
    right = [(hip_x, body.hip_y)] + knee + [(Ho, hem_y), (Hi, hem_y)] + inner_knee
    shape.add(FABRIC, [(-ww, top), (ww, top)] + right + [(0.0, body.crotch_y)] + _mirror(right))
    shape.add(TRIM, [(-ww, wy - 0.06), (ww, wy - 0.06), (ww, top), (-ww, top)])
    shape.dots.append((DARK, 0.0, wy + 0.05, 0.05))
    shape.line(SEAM, [(0.0, top), (0.0, body.crotch_y - 0.25)], 0.035)  # fly
    for side in (1, -1):
        shape.line(SEAM, [(side * (ww - 0.18), top), (side * (hip_x - 0.02), body.hip_y - 0.12)], 0.035)  # pockets
        if not shorts:
            centre_top = side * (hip_x * 0.5 + 0.05)
            shape.line(SEAM, [(centre_top, body.hip_y + 0.35), (side * (Ho + Hi) / 2, hem_y - 0.1)], 0.025)  # crease
        elif st.cut == "turn-up":
            cuff = [(Hi, hem_y - 0.2), (Ho * 0.99, hem_y - 0.2), (Ho, hem_y), (Hi, hem_y)]
            shape.add(TRIM, [(side * x, y) for x, y in cuff], SEAM)
    shape.fold_from, shape.hem_y, shape.folds = body.knee_y if not shorts else hem_y, hem_y, 0.08
    return shape


_BUILDERS = {
    "t-shirt": _top, "long-sleeve-top": _top, "hoodie": _top, "coat": _top,
    "dress": _dress, "skirt": _skirt, "trousers": _legs, "shorts": _legs,
}


def garment_shape(spec: GarmentSpec, body: Body | None = None, *, worn: bool = False) -> Shape:
    """The pieces of ``spec`` cut for ``body``; ``worn`` leaves necklines open to show the figure."""
    return _BUILDERS[spec.category](spec, body or Body(), worn)
