"""Street snaps of catalog items: the shop garment worn by a figure or lying in a cluttered scene.

Each snap shows exactly the garment of its shop image (the ``GarmentSpec`` is re-derived from
the catalog's ``default_rng([seed, index])``, never read back from pixels), scaled, rotated,
moved off-centre, relit and sometimes partly hidden, so street-to-shop retrieval has ground truth.
Snap ``k`` of item ``i`` draws only from ``default_rng([snap_seed, catalog_seed, i, k, _STREAM])``:
it depends on neither the number of snaps per item nor how the work was split between processes.
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from modiste.data.synth.body import Bounds, Frame, sample_body
from modiste.data.synth.canvas import Canvas, supersample_for
from modiste.data.synth.catalog import MAX_SIZE, MIN_SIZE, SYNTH_VERSION, Catalog, _filler, _resolve_workers, draw_all
from modiste.data.synth.figures import FigureSpec, paint_figure, sample_figure
from modiste.data.synth.garments import garment_shape
from modiste.data.synth.paint import paint_garment
from modiste.data.synth.palette import RGB, scale_rgb, shade
from modiste.data.synth.spec import GarmentSpec, sample_spec
from modiste.io import atomic_path, atomic_write_csv

SNAP_COLUMNS = ("query", "catalog", "item", "label", "group")
# A non-zero last word: numpy's SeedSequence pads with zeros, so [seed, i, 0] would replay the catalog's [seed, i].
_STREAM = 0x534E4150
WORN_RATE = 0.55  # the rest lie flat on a table, a bed or a floor
OCCLUDE_RATE = 0.4
SCALE = (0.5, 1.0)  # the garment's longer side, as a fraction of the frame
MAX_ROTATION = 20.0  # degrees either way

# Muted street and interior colours, so the garment's own colour stays the strongest note in most snaps.
_WALLS: tuple[RGB, ...] = (
    (196, 188, 176), (168, 96, 74), (150, 152, 158), (222, 214, 196), (120, 134, 118), (176, 200, 222),
)  # plaster, brick, concrete, stone, ivy, sky
_GROUNDS: tuple[RGB, ...] = ((92, 92, 96), (140, 136, 128), (118, 98, 74), (88, 112, 68))  # asphalt, paving, earth, grass
_SURFACES: tuple[RGB, ...] = (
    (172, 130, 90), (214, 206, 192), (98, 72, 54), (186, 188, 194), (140, 152, 172),
)  # oak, linen, walnut, concrete, bedspread
_THINGS: tuple[RGB, ...] = (
    (60, 62, 66), (232, 230, 224), (150, 110, 70), (96, 124, 84), (176, 72, 58), (70, 96, 140), (214, 182, 90),
)  # bags, cars, signs, plates, books, cups: a few strong colours too, as streets have them


def item_spec(seed: int, index: int) -> GarmentSpec:
    """The garment of catalog item ``index`` of ``seed``: the first draw ``render_item`` makes."""
    return sample_spec(np.random.default_rng([seed, index]))


def _street(canvas: Canvas, rng: np.random.Generator) -> None:
    """A wall or sky over a pavement, with buildings, windows, trees and a pole."""
    n, draw = canvas.work, canvas.draw
    horizon = n * float(rng.uniform(0.55, 0.85))
    wall = shade(_WALLS[int(rng.integers(len(_WALLS)))], rng, 0.06)
    draw.rectangle([0, 0, n, horizon], fill=wall)
    draw.rectangle([0, horizon, n, n], fill=shade(_GROUNDS[int(rng.integers(len(_GROUNDS)))], rng, 0.06))
    for _ in range(int(rng.integers(2, 6))):
        x0, w = rng.uniform(-0.2, 1.0) * n, rng.uniform(0.15, 0.5) * n
        top = horizon * float(rng.uniform(0.05, 0.7))
        colour = shade(_WALLS[int(rng.integers(len(_WALLS)))], rng, 0.08)
        draw.rectangle([x0, top, x0 + w, horizon], fill=colour)
        pane = scale_rgb(colour, float(rng.uniform(0.45, 0.7)))
        step = n * float(rng.uniform(0.08, 0.14))
        for wx in np.arange(x0 + step * 0.3, x0 + w - step * 0.5, step):
            for wy in np.arange(top + step * 0.3, horizon - step * 0.6, step * 1.3):
                draw.rectangle([wx, wy, wx + step * 0.5, wy + step * 0.7], fill=pane)
    for _ in range(int(rng.integers(0, 3))):
        cx, cy, r = rng.uniform(0, 1) * n, horizon * float(rng.uniform(0.5, 1.0)), n * float(rng.uniform(0.06, 0.16))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r * 1.2], fill=shade(_THINGS[3], rng, 0.1))
    if rng.random() < 0.5:
        x, w = rng.uniform(0, 1) * n, n * float(rng.uniform(0.012, 0.025))
        draw.rectangle([x, horizon * float(rng.uniform(0.0, 0.4)), x + w, n], fill=shade(_THINGS[0], rng, 0.1))


def _surface(canvas: Canvas, rng: np.random.Generator) -> None:
    """A table, bed or floor with grain and whatever else lies on it."""
    n, draw = canvas.work, canvas.draw
    base = shade(_SURFACES[int(rng.integers(len(_SURFACES)))], rng, 0.06)
    draw.rectangle([0, 0, n, n], fill=base)
    grain = scale_rgb(base, float(rng.uniform(0.82, 0.92)))
    step = n * float(rng.uniform(0.05, 0.2))
    tilt = n * float(rng.uniform(-0.3, 0.3))
    for y in np.arange(-abs(tilt), n + abs(tilt), step):  # planks, tiles or the weave of a cover
        draw.line([(0, y), (n, y + tilt)], fill=grain, width=max(1, canvas.ss))
    for _ in range(int(rng.integers(2, 6))):
        colour = shade(_THINGS[int(rng.integers(len(_THINGS)))], rng, 0.08)
        cx, cy = rng.uniform(-0.1, 1.1, 2) * n
        a, b = rng.uniform(0.06, 0.2, 2) * n
        if rng.random() < 0.5:
            draw.ellipse([cx - a, cy - a, cx + a, cy + a], fill=colour, outline=scale_rgb(colour, 0.7), width=canvas.ss)
            draw.ellipse([cx - a * 0.6, cy - a * 0.6, cx + a * 0.6, cy + a * 0.6], fill=scale_rgb(colour, 0.9))
        else:
            t = float(rng.uniform(0, math.pi))
            u, v = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])
            corners = [(cx, cy) + su * a * u + sv * b * v for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            draw.polygon([tuple(p) for p in corners], fill=colour)


def _place(rng: np.random.Generator, size: int, bounds: Bounds) -> tuple[Frame, float, tuple[float, float]]:
    """A frame putting the garment's longer side at ``SCALE`` of the image, anywhere it still fits."""
    side = size * float(rng.uniform(*SCALE))
    cx, cy = (side / 2 + rng.uniform(0, 1, 2) * (size - side)).tolist()  # plain floats: PIL filters reject numpy scalars
    f = Frame.fit(bounds, (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    return Frame(float(f.scale), float(f.x0), float(f.y0)), side, (cx, cy)


def _occlude(canvas: Canvas, rng: np.random.Generator, side: float, centre: tuple[float, float]) -> None:
    """Something in front of the garment: a bag, a passer-by's shoulder or a pole, over one edge of it."""
    k = canvas.ss
    half, (cx, cy) = side * k / 2, (centre[0] * k, centre[1] * k)
    colour = shade(_THINGS[int(rng.integers(len(_THINGS)))], rng, 0.08)
    edge = scale_rgb(colour, 0.65)
    kind = int(rng.integers(3))
    if kind == 2:  # a pole or lamp post straight across
        x = cx + float(rng.uniform(-0.5, 0.5)) * half
        w = half * float(rng.uniform(0.12, 0.25))
        canvas.draw.rectangle([x - w, 0, x + w, canvas.work], fill=colour, outline=edge, width=k)
        return
    depth = 2 * half * float(rng.uniform(0.15, 0.3))  # how far in from the garment's edge it reaches
    span = 2 * half * float(rng.uniform(0.4, 0.8))
    along = float(rng.uniform(-0.5, 0.5)) * (2 * half - span)
    which = int(rng.integers(4))  # left, right, top, bottom
    if which < 2:
        x_in = cx - half + depth if which == 0 else cx + half - depth
        x_out = x_in - 2 * depth if which == 0 else x_in + 2 * depth
        box = [min(x_in, x_out), cy + along - span / 2, max(x_in, x_out), cy + along + span / 2]
    else:
        y_in = cy - half + depth if which == 2 else cy + half - depth
        y_out = y_in - 2 * depth if which == 2 else y_in + 2 * depth
        box = [cx + along - span / 2, min(y_in, y_out), cx + along + span / 2, max(y_in, y_out)]
    if kind == 0:
        canvas.draw.rounded_rectangle(box, radius=depth * 0.3, fill=colour, outline=edge, width=k)
    else:
        canvas.draw.ellipse(box, fill=colour, outline=edge, width=k)


def _relight(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Other light: brightness, contrast, a colour cast, light falling from one side, and sensor grain."""
    a = np.asarray(image, np.float32)
    h, w, _ = a.shape
    brightness, contrast = float(rng.uniform(0.82, 1.15)), float(rng.uniform(0.8, 1.15))
    cast = 1.0 + rng.uniform(-0.07, 0.07, 3).astype(np.float32)
    t, slope = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.0, 0.3))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = 1.0 + slope * ((xs / w - 0.5) * math.cos(t) + (ys / h - 0.5) * math.sin(t))
    mean = a.mean()
    out = ((a - mean) * contrast + mean) * brightness * cast * ramp[..., None]
    out += rng.normal(0.0, float(rng.uniform(0.5, 3.0)), a.shape).astype(np.float32)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


def render_snap(
    seed: int, index: int, k: int, size: int = 64, *, snap_seed: int = 0, ss: int | None = None
) -> Image.Image:
    """Snap ``k`` of catalog item ``index`` of catalog ``seed``: an RGB image ``size`` px square.

    ``snap_seed`` picks the scene, pose and light; the garment depends only on ``seed`` and ``index``.
    """
    spec = item_spec(seed, index)
    rng = np.random.default_rng([snap_seed, seed, index, k, _STREAM])
    ss = ss or supersample_for(size)
    worn = bool(rng.random() < WORN_RATE)
    canvas = Canvas(size, ss)
    (_street if worn else _surface)(canvas, rng)

    if worn:
        fig = sample_figure(rng, "model" if rng.random() < 0.8 else "mannequin")  # a window display now and then
        body = sample_body(rng, fig.kind)
        filler = _filler(rng, spec) if fig.kind == "model" else None
    else:
        fig, body, filler = FigureSpec("none"), sample_body(rng, "none"), None
    frame, side, centre = _place(rng, size, garment_shape(spec, body, worn=worn).bounds())
    layer = Canvas(size, ss, background=None)
    paint_figure(layer, fig, body, frame, layer="back")
    for piece in ([filler, spec] if filler else [spec]):
        paint_garment(layer, piece, body, frame, worn=worn, shadow=0.0 if worn else 0.25)
    paint_figure(layer, fig, body, frame, layer="front")
    angle = float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    # Rotated premultiplied, so the transparent surround does not bleed a dark fringe into the edges.
    turned = layer.image.convert("RGBa").rotate(
        angle, resample=Image.Resampling.BILINEAR, center=(centre[0] * ss, centre[1] * ss)
    ).convert("RGBA")
    canvas.image.paste(turned, (0, 0), turned)
    if rng.random() < OCCLUDE_RATE:
        _occlude(canvas, rng, side, centre)
    return _relight(canvas.result(), rng)


def _write_item(
    root: str, catalog_root: str, seed: int, snap_seed: int, size: int, per_item: int, job: tuple[int, dict]
) -> list[dict[str, str]]:
    index, rec = job
    shop = os.path.relpath(os.path.join(catalog_root, rec["path"]), root)
    rows = []
    for k in range(per_item):
        rel = f"images/{index:06d}_{k:02d}.png"
        # Plain writes: pairs.csv, written atomically last, is what says which snaps are complete.
        render_snap(seed, index, k, size, snap_seed=snap_seed).save(os.path.join(root, rel), format="PNG")
        rows.append({"query": rel, "catalog": shop, "item": str(index), "label": rec["label"], "group": rec["group"]})
    return rows


def _open_catalog(cat: Catalog | str | os.PathLike) -> Catalog:
    if isinstance(cat, Catalog):
        return cat
    root = Path(cat).expanduser()
    for name in ("catalog.csv", "SUMMARY.json"):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root}: no {name} here; snaps need a folder written by modiste.data.synth.catalog()")
    return Catalog.load(root)


def _check_specs(cat: Catalog) -> None:
    """Every catalog row must be the item its seed and index re-derive, or the snaps would show other garments."""
    for index, rec in enumerate(cat.records):
        spec = item_spec(cat.seed, index)
        drawn = {"label": spec.category, "colour": spec.colour, "pattern": spec.pattern, "group": spec.group}
        listed = {key: rec.get(key) for key in drawn}
        if drawn != listed:
            raise ValueError(
                f"{cat.csv}, row {index + 1}: {listed} is not item {index} of seed {cat.seed} ({drawn}); "
                f"the catalog was edited or made by another generator (this one is version {SYNTH_VERSION})"
            )


def snaps(
    catalog: Catalog | str | os.PathLike,
    out: str | os.PathLike,
    *,
    per_item: int = 2,
    size: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> "Snaps":
    """Write ``per_item`` street snaps of every item of ``catalog`` to ``out/images/``, with ``out/pairs.csv``.

    ``catalog`` is a ``Catalog`` or the folder ``catalog()`` wrote; ``size`` defaults to the
    catalog's. ``seed`` picks the snaps, not the garments: those always follow the catalog's seed.
    ``workers`` processes draw in parallel (default: up to 2); the images do not depend on it.

    ``pairs.csv`` has one row per snap: ``query`` (the snap) and ``catalog`` (its shop image),
    both relative to the CSV's folder like every modiste manifest; ``item`` (the catalog row
    index), ``label`` and ``group`` (copied from the catalog).
    """
    cat = _open_catalog(catalog)
    size = int(size or cat.size)
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if per_item < 1:
        raise ValueError(f"per_item must be at least 1, got {per_item}")
    _check_specs(cat)
    root = Path(out).expanduser().resolve()
    (root / "images").mkdir(parents=True, exist_ok=True)
    catalog_root = str(Path(cat.root).expanduser().resolve())
    job = functools.partial(_write_item, str(root), catalog_root, int(cat.seed), int(seed), size, int(per_item))
    jobs = list(enumerate(cat.records))
    groups = draw_all(job, jobs, _resolve_workers(workers, len(jobs) * per_item), desc="synth snaps", unit="item",
                      progress=progress, max_chunk=16)
    pairs = [row for rows in groups for row in rows]

    csv_path = atomic_write_csv(root / "pairs.csv", SNAP_COLUMNS, pairs)
    return Snaps(root=root, csv=csv_path, pairs=pairs, size=size, seed=int(seed), per_item=int(per_item))


@dataclass
class Snaps:
    """Street snaps on disk: ``pairs`` are the rows of ``csv``; both image paths are relative to ``root``."""

    root: Path
    csv: Path
    pairs: list[dict[str, str]]
    size: int
    seed: int
    per_item: int

    def __len__(self) -> int:
        return len(self.pairs)

    def to_json(self) -> dict[str, Any]:
        return {
            "n": len(self), "items": len({p["item"] for p in self.pairs}), "per_item": self.per_item,
            "size": self.size, "seed": self.seed, "synth_version": SYNTH_VERSION,
            "root": str(self.root), "csv": str(self.csv),
        }

    def save(self) -> Path:
        """Everything is written when the snaps are made; returns the CSV path."""
        return self.csv

    def plot(self, path: str | os.PathLike, n: int = 16) -> Path:
        """A sheet of the first ``n`` items, one row each: the shop image, a gap, then its snaps."""
        rows: dict[str, list[dict[str, str]]] = {}
        for p in self.pairs:
            if p["item"] in rows or len(rows) < n:
                rows.setdefault(p["item"], []).append(p)
        cell = self.size * max(1, 96 // self.size)  # whole-number zoom keeps pixels honest
        gap, caption, ncol = 12, 12, 1 + max(len(r) for r in rows.values())
        sheet = Image.new("RGB", (ncol * (cell + 4) + gap + 4, len(rows) * (cell + caption + 4) + 4), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=10)
        for r, (item, pairs) in enumerate(rows.items()):
            y = 4 + r * (cell + caption + 4)
            paths = [pairs[0]["catalog"]] + [p["query"] for p in pairs]
            for c, rel in enumerate(paths):
                x = 4 + c * (cell + 4) + (gap if c else 0)
                with Image.open(self.root / rel) as im:
                    sheet.paste(im.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST), (x, y))
            draw.text((5, y + cell + 1), f"{item} {pairs[0]['label']}", fill=(20, 20, 20), font=font)
        path = Path(path)
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
        return path

    def __repr__(self) -> str:
        return f"Snaps(n={len(self)}, per_item={self.per_item}, size={self.size}, seed={self.seed}, root={str(self.root)!r})"
