"""Figure shots of the synthetic product shoots: the garment worn, front, back, side, near and far.
The figure and garment are painted on a transparent layer (the back view swaps the face for hair
and drops front details, the side view squeezes the layer and draws a profile), then tilted onto a
studio backdrop."""
from __future__ import annotations


import numpy as np
from PIL import Image, ImageDraw

from modiste.data.synth.body import Body, Frame
from modiste.data.synth.canvas import Canvas
from modiste.data.synth.figures import FigureSpec, figure_bounds, floor_shadow, paint_figure
from modiste.data.synth.garments import garment_shape
from modiste.data.synth.paint import paint_garment
from modiste.data.synth.palette import scale_rgb
from modiste.data.synth.shoot_detail import _back_spec, _hood
from modiste.data.synth.shoot_studio import Product, _backdrop, _px, _u



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
