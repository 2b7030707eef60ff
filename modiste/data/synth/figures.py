"""Who wears the garment: nobody (a flat product shot), a dress form on a stand, or a model.

A figure is painted in two layers around its garments: ``back`` (everything a garment covers:
body, limbs, neck, the form and its stand) before them and ``front`` (head and hair, the
form's neck cap) after, so hoods and collars sit behind the head.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from modiste.data.synth.body import Body, Bounds, Frame
from modiste.data.synth.canvas import Canvas, supersample_for
from modiste.data.synth.palette import FORM_COLOURS, HAIR_COLOURS, RGB, SKIN_TONES, scale_rgb, shade

FIGURES = ("none", "mannequin", "model")
FIGURE_RATES = (0.5, 0.25, 0.25)
HAIR_STYLES = ("bob", "long", "bun", "short")
_SHOES: tuple[RGB, ...] = ((30, 30, 32), (30, 30, 32), (236, 234, 228), (150, 110, 76), (170, 30, 40))


@dataclass(frozen=True)
class FigureSpec:
    """How a figure looks; the proportions come from the ``Body`` it is drawn with."""

    kind: str = "none"  # none, mannequin, model
    skin: RGB = SKIN_TONES[1]  # a model's skin, or a dress form's cover
    hair: RGB = HAIR_COLOURS[0]
    hair_style: str = "bob"
    shoes: RGB = _SHOES[0]
    stand: RGB = (70, 58, 48)  # the form's pole, base and neck cap


def sample_figure(rng: np.random.Generator, kind: str | None = None) -> FigureSpec:
    """A random figure; ``kind`` pins none / mannequin / model (rates ``FIGURE_RATES`` otherwise)."""
    kind = kind or FIGURES[int(rng.choice(len(FIGURES), p=FIGURE_RATES))]
    if kind not in FIGURES:
        raise ValueError(f"unknown figure {kind!r}; choose from {', '.join(FIGURES)}")
    if kind == "mannequin":
        form = FORM_COLOURS[int(rng.integers(len(FORM_COLOURS)))]
        stand = ((70, 58, 48), (40, 40, 42), (170, 170, 172))[int(rng.integers(3))]
        return FigureSpec(kind, skin=shade(form, rng, 0.04), stand=stand)
    if kind == "model":
        return FigureSpec(
            kind,
            skin=shade(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], rng, 0.04),
            hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
            hair_style=HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))],
            shoes=_SHOES[int(rng.integers(len(_SHOES)))],
        )
    return FigureSpec(kind)


def hand_reach(body: Body) -> float:
    """How far out a model's hands reach (head units), for framing."""
    angle = body.arm_angle or 0.0
    x, _ = body.shoulder_joint(1)
    return x + (body.arm_len + 0.4) * math.sin(angle) + 0.2


def figure_bounds(fig: FigureSpec, body: Body) -> Bounds | None:
    """Extent of the whole figure in head units; None for ``none``."""
    if fig.kind == "model":
        reach = max(hand_reach(body), body.hip_w + 0.1)
        return -reach, -0.12, reach, body.floor_y + 0.05
    if fig.kind == "mannequin":
        return -body.shoulder_w, body.neck_y - 0.55, body.shoulder_w, body.floor_y + 0.05
    return None


def _limb(start: np.ndarray, d: np.ndarray, n: np.ndarray, length: float, w0: float, w1: float) -> list[np.ndarray]:
    """A tapered quad along ``d`` from ``start``: an arm or a leg seen from the front."""
    end = start + d * length
    mid = start + d * length * 0.45
    wm = (w0 + w1) * 0.55
    return [start + n * w0, mid + n * wm, end + n * w1, end - n * w1, mid - n * wm, start - n * w0]


def _paint_model_back(draw: ImageDraw.ImageDraw, fig: FigureSpec, body: Body, f: Frame, edge: int) -> None:
    skin, line = fig.skin, scale_rgb(fig.skin, 0.8)
    for side in (1, -1):
        hip = np.array([side * 0.42 * body.hip_w / 0.84, body.hip_y])
        ankle = np.array([side * body.stance, body.ankle_y])
        v = ankle - hip
        length = float(np.hypot(*v))
        d = v / length
        n = np.array([d[1], -d[0]]) * side
        draw.polygon(f.points(np.array(_limb(hip, d, n, length, 0.36, 0.09))), fill=skin, outline=line, width=edge)
        shoe = [(ankle[0] - 0.12, body.ankle_y - 0.04), (ankle[0] + 0.12, body.ankle_y - 0.04),
                (ankle[0] + 0.17, body.floor_y), (ankle[0] - 0.17, body.floor_y)]
        draw.polygon(f.points(np.array(shoe)), fill=fig.shoes, outline=scale_rgb(fig.shoes, 0.6), width=edge)
    torso = [(0.16, body.neck_y - 0.1), (body.shoulder_w * 0.9, body.shoulder_y), (body.chest_w * 0.92, body.armpit_y),
             (body.waist_w, body.waist_y), (body.hip_w, body.hip_y), (0.0, body.crotch_y)]
    torso = torso + [(-x, y) for x, y in reversed(torso[:-1])]
    draw.polygon(f.points(np.array(torso)), fill=skin, outline=line, width=edge)
    draw.rectangle(f.box(-0.15, 0.8, 0.15, body.neck_y + 0.05), fill=skin)
    angle = body.arm_angle or 0.0
    for side in (1, -1):
        start, d, n = body.arm_axis(side, angle)
        draw.polygon(f.points(np.array(_limb(start, d, n, body.arm_len, 0.15, 0.075))), fill=skin, outline=line, width=edge)
        hx, hy = start + d * (body.arm_len + 0.2)
        draw.ellipse(f.box(hx - 0.11, hy - 0.2, hx + 0.11, hy + 0.2), fill=skin, outline=line, width=edge)


def _paint_model_front(draw: ImageDraw.ImageDraw, fig: FigureSpec, body: Body, f: Frame, edge: int) -> None:
    skin, hair, line = fig.skin, fig.hair, scale_rgb(fig.skin, 0.8)
    if fig.hair_style == "long":
        fall = body.shoulder_y + 0.3
        draw.polygon(f.points(np.array([(-0.4, 0.35), (0.4, 0.35), (0.5, fall), (-0.5, fall)])), fill=hair)
    if fig.hair_style in ("long", "bob"):
        draw.ellipse(f.box(-0.44, -0.08, 0.44, 1.02 if fig.hair_style == "bob" else 0.9), fill=hair)
    draw.ellipse(f.box(-0.31, 0.08, 0.31, 1.0), fill=skin, outline=line, width=edge)
    if fig.hair_style == "bun":
        draw.ellipse(f.box(-0.17, -0.3, 0.17, 0.04), fill=hair)
    # The crown: a cap of hair over the top of the face.
    draw.chord(f.box(-0.36, -0.06, 0.36, 0.74 if fig.hair_style != "short" else 0.6), 180, 360, fill=hair)


def _paint_mannequin_back(draw: ImageDraw.ImageDraw, fig: FigureSpec, body: Body, f: Frame, edge: int) -> None:
    form, line, stand = fig.skin, scale_rgb(fig.skin, 0.72), fig.stand
    bottom = body.hip_y + 0.35
    draw.ellipse(f.box(-0.55, body.floor_y - 0.12, 0.55, body.floor_y + 0.05), fill=stand)
    draw.rectangle(f.box(-0.045, bottom - 0.1, 0.045, body.floor_y - 0.04), fill=stand)
    right = [(0.17, body.neck_y - 0.36), (0.17, body.neck_y - 0.02), (body.shoulder_w * 0.7, body.shoulder_y - 0.06),
             (body.shoulder_w * 0.9, body.shoulder_y + 0.12), (body.chest_w * 0.92, body.armpit_y),
             (body.waist_w * 0.95, body.waist_y), (body.hip_w * 0.98, body.hip_y), (body.hip_w * 0.9, bottom)]
    draw.polygon(f.points(np.array(right + [(-x, y) for x, y in reversed(right)])), fill=form, outline=line, width=edge)


def _paint_mannequin_front(draw: ImageDraw.ImageDraw, fig: FigureSpec, body: Body, f: Frame, edge: int) -> None:
    draw.ellipse(f.box(-0.2, body.neck_y - 0.46, 0.2, body.neck_y - 0.3), fill=fig.stand)


_PAINTERS = {
    ("model", "back"): _paint_model_back, ("model", "front"): _paint_model_front,
    ("mannequin", "back"): _paint_mannequin_back, ("mannequin", "front"): _paint_mannequin_front,
}


def paint_figure(canvas: Canvas, fig: FigureSpec, body: Body, frame: Frame, *, layer: str) -> None:
    """Paint one layer (``back`` or ``front``) of ``fig`` at ``frame`` (output pixels)."""
    painter = _PAINTERS.get((fig.kind, layer))
    if painter is not None:
        f = frame.scaled(canvas.ss)
        painter(canvas.draw, fig, body, f, max(1, round(0.03 * f.scale)))


def floor_shadow(canvas: Canvas, body: Body, frame: Frame, strength: float = 0.14) -> None:
    """A soft contact shadow under the feet or stand."""
    f = frame.scaled(canvas.ss)
    mask = Image.new("L", (canvas.work, canvas.work), 0)
    ImageDraw.Draw(mask).ellipse(f.box(-0.95, body.floor_y - 0.12, 0.95, body.floor_y + 0.1), fill=255)
    canvas.shadow(mask, strength=strength, blur=max(1.0, 0.1 * f.scale))


def draw_figure(
    fig: FigureSpec,
    size: int,
    *,
    body: Body | None = None,
    frame: Frame | None = None,
    ss: int | None = None,
) -> np.ndarray:
    """The figure alone, both layers, as uint8 RGBA (size, size, 4); fitted to the canvas by default."""
    body = body or Body(arm_angle=0.25 if fig.kind == "model" else 0.1)
    if frame is None:
        bounds = figure_bounds(fig, body) or (-1.0, 0.0, 1.0, body.floor_y)
        m = 0.05 * size
        frame = Frame.fit(bounds, (m, m, size - m, size - m))
    canvas = Canvas(size, ss or supersample_for(size), background=None)
    for layer in ("back", "front"):
        paint_figure(canvas, fig, body, frame, layer=layer)
    return np.asarray(canvas.result())
