"""Garment pixels: rasterise a ``Shape`` into a part map, fill it with fabric, shade it, paste it.

One label map per garment (a part id per pixel, painted in order so later pieces occlude
earlier ones) lets every part be coloured in a single vectorised lookup: fabric parts take
the pattern at a brightness, trims and buttons take solid colours.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from modiste.data.synth.body import Body, Frame, sample_body
from modiste.data.synth.canvas import Canvas, supersample_for
from modiste.data.synth.garments import ACCENT, DARK, INSIDE, OUTLINE, SEAM, SLEEVE, TRIM, garment_shape
from modiste.data.synth.palette import mix, scale_rgb
from modiste.data.synth.patterns import fill_pattern
from modiste.data.synth.spec import GarmentSpec

_N_PARTS = 9
# Brightness per part on top of the fabric: sleeves a touch darker so they read over the body,
# the inside of the back clearly darker, outlines darkest so white garments hold on white paper.
_GAIN = np.ones(_N_PARTS, np.float32)
_GAIN[[SLEEVE, INSIDE, SEAM, OUTLINE]] = (0.93, 0.6, 0.66, 0.5)
_SOLID = np.zeros(_N_PARTS, bool)
_SOLID[[TRIM, ACCENT, DARK]] = True


def _solid_colours(spec: GarmentSpec) -> np.ndarray:
    main, second, _ = spec.rgb
    lum = 0.3 * main[0] + 0.59 * main[1] + 0.11 * main[2]
    # Buttons and the coat's inner V: darker than the fabric, unless the fabric is already near black.
    dark = scale_rgb(main, 0.38) if lum > 70 else mix(main, (190, 190, 190), 0.35)
    table = np.zeros((_N_PARTS, 3), np.float32)
    table[TRIM], table[ACCENT], table[DARK] = scale_rgb(main, 0.86), second, dark
    return table


def paint_garment(
    canvas: Canvas, spec: GarmentSpec, body: Body, frame: Frame, *, worn: bool = False, shadow: float = 0.0
) -> Image.Image:
    """Paint ``spec`` cut for ``body`` at ``frame`` (output pixels); return its working-size coverage 'L'.

    ``shadow`` > 0 first casts a soft drop shadow of that strength down and to the right.
    """
    f = frame.scaled(canvas.ss)
    shape = garment_shape(spec, body, worn=worn)
    n = canvas.work
    labels = Image.new("L", (n, n), 0)
    draw = ImageDraw.Draw(labels)
    edge = max(1, round(0.03 * f.scale))
    for part, poly, outline in shape.pieces:
        draw.polygon(f.points(poly), fill=part, outline=outline or None, width=edge)
    for poly in shape.outlines:
        draw.polygon(f.points(poly), outline=SEAM, width=edge)
    for part, pts, width in shape.lines:
        draw.line(f.points(pts), fill=part, width=max(1, round(width * f.scale)), joint="curve")
    for part, x, y, r in shape.dots:
        draw.ellipse(f.box(x - r, y - r, x + r, y + r), fill=part)

    full = np.asarray(labels)
    cover = Image.fromarray(np.where(full > 0, np.uint8(255), np.uint8(0)), "L")
    box = labels.getbbox()
    if box is None:
        return cover
    x0, y0, x1, y1 = box
    if shadow > 0:
        off = max(1, round(0.012 * canvas.work))
        canvas.shadow(cover, offset=(off, round(1.5 * off)), strength=shadow, blur=1.5 * off)
    lab = full[y0:y1, x0:x1]
    h, w = lab.shape
    params = dict(spec.pattern_params)
    phase = params.pop("phase", (0.0, 0.0))
    scale_px = max(spec.pattern_scale * f.scale, 3.5 * canvas.ss)  # finer prints would only alias
    seed = params.pop("seed", 0)
    origin = (f.x0 - x0 + phase[0] * scale_px, f.y0 - y0 + phase[1] * scale_px)
    fabric = fill_pattern(spec.pattern, h, w, spec.rgb, scale_px, np.random.default_rng(seed), origin=origin, **params)
    rgb = np.where(_SOLID[lab][..., None], _solid_colours(spec)[lab], fabric) * _GAIN[lab][..., None]

    # Volume: a blurred coverage map darkens toward every edge, so sleeves and legs look round.
    radius = max(1.0, 0.16 * f.scale)
    soft = np.asarray(cover.crop(box).filter(ImageFilter.BoxBlur(radius)), np.float32) / 255.0
    light = 0.74 + 0.26 * soft
    if shape.folds > 0:
        light = light * _folds(shape, f, x0, y0, h, w)
    rgb *= light[..., None]
    piece = Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), "RGB")
    canvas.paste(piece, (x0, y0), cover.crop(box))
    return cover


def _folds(shape, f: Frame, x0: int, y0: int, h: int, w: int) -> np.ndarray:
    """Vertical drape folds fanning out from ``fold_from`` and deepest at the hem."""
    ys = (np.arange(h, dtype=np.float32) + y0 + 0.5 - f.y0) / f.scale
    xs = (np.arange(w, dtype=np.float32) + x0 + 0.5 - f.x0) / f.scale
    span = max(shape.hem_y - shape.fold_from, 1e-3)
    t = np.clip((ys - shape.fold_from) / span, 0.0, 1.0)[:, None]
    fan = xs[None, :] / (0.3 + 0.7 * t)  # folds converge toward the waist
    wave = 0.5 + 0.5 * np.sin(2 * math.pi * fan / max(shape.fold_period, 0.05))
    return 1.0 - shape.folds * t * wave


def garment_frame(spec: GarmentSpec, body: Body, box: tuple[float, float, float, float], *, worn: bool = False) -> Frame:
    """The frame that fits the whole garment inside ``box`` (pixels), centred."""
    return Frame.fit(garment_shape(spec, body, worn=worn).bounds(), box)


def draw_garment(
    spec: GarmentSpec,
    size: int,
    rng: np.random.Generator | None = None,
    *,
    body: Body | None = None,
    frame: Frame | None = None,
    box: tuple[float, float, float, float] | None = None,
    worn: bool = False,
    ss: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One garment alone: (uint8 RGBA (size, size, 4), bool mask (size, size)).

    Placement: ``frame`` (head units -> pixels) if given, else the garment fitted into ``box``
    (pixels, default the canvas less a 8% margin). ``rng`` jitters the body's proportions;
    without it the garment is cut for the standard ``Body()``.
    """
    body = body or (sample_body(rng, "none") if rng is not None else Body())
    if frame is None:
        m = 0.08 * size
        frame = garment_frame(spec, body, box or (m, m, size - m, size - m), worn=worn)
    canvas = Canvas(size, ss or supersample_for(size), background=None)
    cover = paint_garment(canvas, spec, body, frame, worn=worn)
    return np.asarray(canvas.result()), canvas.reduce_mask(cover)

