"""Virtual try-on pairs: a model wearing a garment, that garment's product photo, and label maps.

Made for CAGAN-style try-on (Jetchev & Bergmann 2017), which learns from (person wearing an
article, that article's product photo). Only tops, coats and dresses are drawn: they all sit on
the upper body, so swapping one for another is a sensible edit, whereas swapping a t-shirt for
trousers would ask the model to invent or erase half the outfit.

The model always stands front-facing in one pose, framed head to shin at one scale, with a few
percent of jitter, because CAGAN learns best when persons are roughly aligned. Pair ``i`` draws
only from ``default_rng([seed, i, _STREAM])``: it does not depend on ``n`` or on ``workers``.
"""
from __future__ import annotations

import functools
import math
import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from modiste.data.synth.body import Frame, sample_body
from modiste.data.synth.canvas import Canvas, supersample_for
from modiste.data.synth.catalog import MAX_SIZE, MIN_SIZE, SYNTH_VERSION, _filler, _resolve_workers, draw_all
from modiste.data.synth.figures import FigureSpec, paint_figure, sample_figure
from modiste.data.synth.garments import garment_shape
from modiste.data.synth.paint import paint_garment
from modiste.data.synth.palette import BACKGROUNDS, RGB, shade
from modiste.data.synth.spec import sample_spec
from modiste.io import atomic_path, atomic_write_csv

TRYON_CATEGORIES = ("t-shirt", "long-sleeve-top", "hoodie", "coat", "dress")
TRYON_COLUMNS = ("person", "article", "article_mask", "person_parse", "split")
FOLDERS = ("person", "article", "article_mask", "person_parse")
# Labels of person_parse; WORN is the region a try-on should repaint.
BACKGROUND, SKIN, HAIR, WORN, OTHER = range(5)
PARSE_NAMES = ("background", "skin", "hair", "worn", "other")
# A non-zero last word, so [seed, i, _STREAM] never replays a catalog item's [seed, i].
_STREAM = 0x5452594F
_SPLIT_STREAM = 0x53504C54
# Head units shown: the figure's hands reach about 2.1 either side; y runs from above the
# crown to mid-shin, so long dresses and coats show most of their length.
_VIEW = (-2.4, -0.15, 2.4, 7.0)
# Studio paper behind the model: light to mid neutrals, darker than product shots so white garments read.
_STUDIO: tuple[RGB, ...] = ((232, 232, 230), (214, 214, 216), (222, 214, 202), (204, 212, 220), (190, 190, 188))
# Label-canvas codes: each class is a distinct set of non-zero channels, which survives the
# darker outlines paint_figure draws (scaled copies of the fill colour).
_CODE_SKIN, _CODE_HAIR, _CODE_SHOES = (250, 0, 0), (0, 250, 0), (0, 0, 250)
_CODE_WORN, _CODE_OTHER = (250, 250, 0), (250, 0, 250)
_DECODE = np.array([BACKGROUND, OTHER, HAIR, OTHER, SKIN, OTHER, WORN, WORN], np.uint8)  # index r*4 + g*2 + b
_PARSE_COLOURS = np.array([(255, 255, 255), (230, 180, 140), (90, 60, 40), (220, 40, 60), (60, 90, 200)], np.uint8)


def pair_split(seed: int, index: int, val_fraction: float) -> str:
    """``train`` or ``val`` for pair ``index``: fixed per pair, never changed by ``n``.

    Pairs are spread evenly from a seeded offset, so any ``n`` pairs hold
    ``floor(n * val_fraction)`` or one more validation pairs.
    """
    u = float(np.random.default_rng([seed, _SPLIT_STREAM]).random())
    hit = math.floor((index + 1) * val_fraction + u) > math.floor(index * val_fraction + u)
    return "val" if hit else "train"


def _studio(canvas: Canvas, rng: np.random.Generator) -> None:
    """Seamless paper with a random fall-off and faint grain."""
    canvas.studio(shade(_STUDIO[int(rng.integers(len(_STUDIO)))], rng, 0.02), falloff=float(rng.uniform(0.03, 0.12)))
    # Grain at output resolution: finer grain would be averaged away by the supersampling.
    grain = rng.normal(0.0, float(rng.uniform(0.5, 2.0)), (canvas.size, canvas.size, 1)).round().astype(np.int16)
    grain = grain.repeat(canvas.ss, axis=0).repeat(canvas.ss, axis=1)
    paper = np.clip(np.asarray(canvas.image, np.int16) + grain, 0, 255).astype(np.uint8)
    canvas.image.paste(Image.fromarray(paper, "RGB"))


def _parse(labels: Image.Image, ss: int, box: tuple[int, int, int, int]) -> Image.Image:
    """Working-size label canvas -> output-size 'L' label map, each pixel its majority class."""
    a = np.asarray(labels.crop(tuple(v * ss for v in box))) > 0
    classes = _DECODE[a[..., 0] * 4 + a[..., 1] * 2 + a[..., 2]]
    onehot = classes[..., None] == np.arange(len(PARSE_NAMES), dtype=np.uint8)
    votes = sum(onehot[i::ss, j::ss].astype(np.uint8) for i in range(ss) for j in range(ss))
    # Like Canvas.reduce_mask, a pixel at least half covered by the figure is figure.
    figure = 1 + votes[..., 1:].argmax(axis=-1)
    parse = np.where(2 * votes[..., BACKGROUND] <= ss * ss, figure, BACKGROUND)
    return Image.fromarray(parse.astype(np.uint8), "L")


def render_pair(
    seed: int, index: int, size: tuple[int, int] = (96, 128), *, ss: int | None = None
) -> tuple[Image.Image, Image.Image, Image.Image, Image.Image]:
    """Pair ``index`` of ``seed``: (person RGB, article RGB, article_mask L, person_parse L).

    ``size`` is (width, height). ``article_mask`` is 255 on the garment in the product photo;
    ``person_parse`` labels the person photo 0 background, 1 skin, 2 hair, 3 the worn garment,
    4 other clothing (trousers or skirt under a top, shoes).
    """
    w, h = int(size[0]), int(size[1])
    rng = np.random.default_rng([seed, index, _STREAM])
    spec = sample_spec(rng, category=TRYON_CATEGORIES[int(rng.integers(len(TRYON_CATEGORIES)))])
    fig = sample_figure(rng, "model")
    # Narrower arm and stance ranges than the catalog's models, so persons stay aligned.
    body = replace(sample_body(rng, "model"), arm_angle=float(rng.uniform(0.2, 0.28)), stance=float(rng.uniform(0.36, 0.44)))
    filler = _filler(rng, spec)
    side = max(w, h)  # Canvas is square: draw on the square, crop the centre
    ss = ss or supersample_for(side)
    ox, oy = (side - w) // 2, (side - h) // 2
    crop = (ox, oy, ox + w, oy + h)

    # The product photo: the same garment cut for the same body, laid flat and centred.
    flat = replace(body, arm_angle=None)
    m = 0.08 * min(w, h)
    frame = Frame.fit(garment_shape(spec, flat).bounds(), (ox + m, oy + m, ox + w - m, oy + h - m))
    shop = Canvas(side, ss)
    shop.studio(shade(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], rng, 0.01))
    cover = paint_garment(shop, spec, flat, frame, shadow=0.16)
    article = shop.result().crop(crop)
    mask = Image.fromarray(np.where(shop.reduce_mask(cover), np.uint8(255), np.uint8(0)), "L").crop(crop)

    # The person: one fixed view with a few percent of zoom and shift.
    m = 0.03 * h
    fit = Frame.fit(_VIEW, (ox + m, oy + m, ox + w - m, oy + h - m))
    k = float(rng.uniform(0.97, 1.03))
    dx, dy = (rng.uniform(-0.02, 0.02, 2) * (w, h)).tolist()
    cx, cy = side / 2, side / 2
    frame = Frame(fit.scale * k, cx + (fit.x0 - cx) * k + dx, cy + (fit.y0 - cy) * k + dy)
    person = Canvas(side, ss)
    _studio(person, rng)
    labels = Canvas(side, ss, background=(0, 0, 0))
    coded = FigureSpec("model", skin=_CODE_SKIN, hair=_CODE_HAIR, hair_style=fig.hair_style, shoes=_CODE_SHOES)
    paint_figure(person, fig, body, frame, layer="back")
    paint_figure(labels, coded, body, frame, layer="back")
    for piece, code in ((filler, _CODE_OTHER), (spec, _CODE_WORN)):  # the article is painted last, on top
        if piece is not None:
            labels.image.paste(code, (0, 0), paint_garment(person, piece, body, frame, worn=True))
    paint_figure(person, fig, body, frame, layer="front")
    paint_figure(labels, coded, body, frame, layer="front")
    return person.result().crop(crop), article, mask, _parse(labels.image, ss, crop)


def _write_pair(root: str, seed: int, size: tuple[int, int], val_fraction: float, index: int) -> dict[str, str]:
    row = {}
    for folder, image in zip(FOLDERS, render_pair(seed, index, size)):
        rel = f"{folder}/{index:06d}.png"
        # Plain writes: pairs.csv, written atomically last, is what says which pairs are complete.
        image.save(os.path.join(root, rel), format="PNG")
        row[folder] = rel
    return {**row, "split": pair_split(seed, index, val_fraction)}


def tryon_pairs(
    out: str | os.PathLike,
    n: int = 500,
    *,
    size: tuple[int, int] = (96, 128),
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    val_fraction: float = 0.1,
) -> "TryonPairs":
    """Write ``n`` try-on pairs under ``out`` (one folder per image kind) with ``out/pairs.csv``.

    ``size`` is (width, height). ``pairs.csv`` has one row per pair: the four image paths,
    relative to the CSV's folder, and ``split`` (``train`` or ``val``, see ``pair_split``).
    ``workers`` processes draw in parallel (default: up to 2); the images do not depend on it.
    """
    w, h = (int(v) for v in size)
    if not (MIN_SIZE <= w <= MAX_SIZE and MIN_SIZE <= h <= MAX_SIZE):
        raise ValueError(f"width and height must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = Path(out).expanduser()
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    job = functools.partial(_write_pair, str(root), int(seed), (w, h), float(val_fraction))
    records = draw_all(job, range(n), _resolve_workers(workers, n), desc="synth try-on", unit="pair",
                       progress=progress)
    csv_path = atomic_write_csv(root / "pairs.csv", TRYON_COLUMNS, records)
    return TryonPairs(root=root, csv=csv_path, records=records, size=(w, h), seed=int(seed))


@dataclass
class TryonPairs:
    """Try-on pairs on disk: ``records`` are the rows of ``csv``, paths relative to ``root``."""

    root: Path
    csv: Path
    records: list[dict[str, str]]
    size: tuple[int, int]  # width, height
    seed: int

    @property
    def n(self) -> int:
        return len(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n, "size": list(self.size), "seed": self.seed, "synth_version": SYNTH_VERSION,
            "splits": dict(sorted(Counter(r["split"] for r in self.records).items())),
            "parse_labels": list(PARSE_NAMES), "root": str(self.root), "csv": str(self.csv),
        }

    def save(self) -> Path:
        """Everything is written when the pairs are made; returns the CSV path."""
        return self.csv

    def plot(self, path: str | os.PathLike, n: int = 8) -> Path:
        """A sheet of the first ``n`` pairs, one row each: person | article | article mask | person parse."""
        rows = self.records[:n]
        w, h = self.size
        zoom = max(1, 128 // h)  # whole-number zoom keeps pixels honest
        cw, ch, caption = w * zoom, h * zoom, 12
        sheet = Image.new("RGB", (4 * (cw + 4) + 4, len(rows) * (ch + caption + 4) + 4), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=10)
        for r, rec in enumerate(rows):
            y = 4 + r * (ch + caption + 4)
            for c, folder in enumerate(FOLDERS):
                with Image.open(self.root / rec[folder]) as im:
                    cell = Image.fromarray(_PARSE_COLOURS[np.asarray(im)]) if folder == "person_parse" else im.convert("RGB")
                sheet.paste(cell.resize((cw, ch), Image.Resampling.NEAREST), (4 + c * (cw + 4), y))
            draw.text((5, y + ch + 1), f"{Path(rec['person']).stem} {rec['split']}", fill=(20, 20, 20), font=font)
        path = Path(path)
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
        return path

    def __repr__(self) -> str:
        return f"TryonPairs(n={self.n}, size={self.size}, seed={self.seed}, root={str(self.root)!r})"
