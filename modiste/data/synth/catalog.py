"""The built-in synthetic fashion catalog: product shots written as PNGs plus ``catalog.csv``.

Item ``i`` is drawn only from ``np.random.default_rng([seed, i])``, so an item never depends
on the catalog's length or on how the work was split between processes.
"""
from __future__ import annotations

import csv
import functools
import json
import multiprocessing
import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from modiste.progress import progress_bar

from modiste.data.synth.body import Body, Bounds, Frame, sample_body
from modiste.data.synth.canvas import Canvas, supersample_for
from modiste.data.synth.figures import FigureSpec, figure_bounds, floor_shadow, paint_figure, sample_figure
from modiste.data.synth.garments import garment_shape
from modiste.data.synth.spec import BOTTOMS, TOPS, GarmentSpec, sample_spec
from modiste.data.synth.paint import paint_garment
from modiste.data.synth.palette import BACKGROUNDS, shade
from modiste.io import atomic_path, atomic_write_csv, atomic_write_json

# Bump when the drawing changes, so a catalog on disk says which generator made it.
SYNTH_VERSION = 1
COLUMNS = ("path", "label", "colour", "colour2", "pattern", "figure", "group", "tags")
ATTRIBUTES = ("label", "colour", "colour2", "pattern", "figure", "group")
MIN_SIZE, MAX_SIZE = 32, 256
# Below this many items a process pool costs more to start than it saves.
_MIN_ITEMS_FOR_POOL = 64
_FILLER_COLOURS = ("black", "navy", "beige", "white", "grey", "blue")


def _filler(rng: np.random.Generator, hero: GarmentSpec) -> GarmentSpec | None:
    """The plain neutral piece a model wears with a catalogued top or bottom, so nothing floats over bare skin."""
    if hero.category not in TOPS + BOTTOMS:
        return None
    colour = str(rng.choice([c for c in _FILLER_COLOURS if c != hero.colour]))
    if hero.category in TOPS:
        category = str(rng.choice(["trousers", "trousers", "skirt"]))
        return sample_spec(rng, category=category, group="everyday", colour=colour, pattern="plain")
    category = str(rng.choice(["t-shirt", "t-shirt", "long-sleeve-top"]))
    spec = sample_spec(rng, category=category, group="everyday", colour=colour, pattern="plain")
    return replace(spec, style=replace(spec.style, length=-0.3))  # tucked in under the waistband


def _framing(rng: np.random.Generator, size: int, hero: Bounds, fig: FigureSpec, body: Body) -> Frame:
    """Where the shot puts the body: the garment fills a flat lay; a figure is shown head to knee or whole."""
    worn = fig.kind != "none"
    margin = size * float(rng.uniform(0.04, 0.08) if worn else rng.uniform(0.06, 0.12))
    bounds = hero
    if worn:
        fb = figure_bounds(fig, body)
        # Crop tops at the knee so the garment stays large; long garments need the whole figure.
        bottom = min(fb[3], max(hero[3] + (1.0 if fig.kind == "model" else 1.3), body.hip_y + 1.6))
        reach = max(-fb[0], fb[2], -hero[0], hero[2])
        bounds = (-reach, fb[1], reach, bottom)
    frame = Frame.fit(bounds, (margin, margin, size - margin, size - margin))
    # A little zoom and shift so that no two shots are framed alike.
    k = float(rng.uniform(0.92, 1.0))
    dx, dy = rng.uniform(-0.03, 0.03, 2) * size
    c = size / 2
    return Frame(frame.scale * k, c + (frame.x0 - c) * k + dx, c + (frame.y0 - c) * k + dy)


def render_item(seed: int, index: int, size: int = 64, *, ss: int | None = None) -> tuple[Image.Image, dict[str, str]]:
    """Catalog item ``index`` of ``seed``: (RGB image ``size`` px square, its CSV row without ``path``)."""
    rng = np.random.default_rng([seed, index])
    spec = sample_spec(rng)
    fig = sample_figure(rng)
    body = sample_body(rng, fig.kind)
    backdrop = shade(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], rng, 0.01)
    worn = fig.kind != "none"
    filler = _filler(rng, spec) if fig.kind == "model" else None
    outfit = [filler, spec] if filler else [spec]  # the catalogued item is painted last, on top
    frame = _framing(rng, size, garment_shape(spec, body, worn=worn).bounds(), fig, body)

    canvas = Canvas(size, ss or supersample_for(size))
    canvas.studio(backdrop)
    if worn:
        floor_shadow(canvas, body, frame)
    paint_figure(canvas, fig, body, frame, layer="back")
    for piece in outfit:
        paint_garment(canvas, piece, body, frame, worn=worn, shadow=0.0 if worn else 0.16)
    paint_figure(canvas, fig, body, frame, layer="front")

    shown = [spec.colour] if spec.pattern == "plain" else [spec.colour, spec.colour2]
    tags = [spec.category, *shown, spec.pattern, fig.kind, spec.group]
    row = {
        "label": spec.category, "colour": spec.colour, "colour2": spec.colour2, "pattern": spec.pattern,
        "figure": fig.kind, "group": spec.group, "tags": ";".join(tags),
    }
    return canvas.result(), row


def _write_item(root: str, seed: int, size: int, index: int) -> dict[str, str]:
    image, row = render_item(seed, index, size)
    rel = f"images/{index:06d}.png"
    # Plain writes: catalog.csv, written atomically last, is what says which images are complete.
    image.save(os.path.join(root, rel), format="PNG")
    return {"path": rel, **row}


def _resolve_workers(workers: int | None, n: int) -> int:
    if workers is None:
        return 1 if n < _MIN_ITEMS_FOR_POOL else min(2, os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return int(workers)


def draw_all(job: Callable[[Any], Any], items: Sequence[Any], workers: int, *, desc: str, unit: str,
             progress: bool, max_chunk: int = 32) -> list[Any]:
    """``job`` over ``items`` in order, in ``workers`` processes (1: in this one), with a progress bar."""
    bar = functools.partial(progress_bar, total=len(items), disable=not progress, desc=desc, unit=unit)
    if workers == 1:
        return list(bar(map(job, items)))
    chunk = max(1, min(max_chunk, len(items) // (workers * 8)))
    with multiprocessing.get_context().Pool(workers) as pool:
        return list(bar(pool.imap(job, items, chunksize=chunk)))


def catalog(
    out: str | os.PathLike,
    n: int = 2000,
    size: int = 64,
    seed: int = 0,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> "Catalog":
    """Write ``n`` synthetic product shots to ``out/images/``, with ``out/catalog.csv`` and ``out/SUMMARY.json``.

    ``workers`` processes draw in parallel (default: up to 2); the images do not depend on it.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    root = Path(out).expanduser()
    (root / "images").mkdir(parents=True, exist_ok=True)
    job = functools.partial(_write_item, str(root), int(seed), int(size))
    records = draw_all(job, range(n), _resolve_workers(workers, n), desc="synth catalog", unit="img",
                       progress=progress)
    csv_path = atomic_write_csv(root / "catalog.csv", COLUMNS, records)
    result = Catalog(root=root, csv=csv_path, records=records, size=int(size), seed=int(seed))
    atomic_write_json(root / "SUMMARY.json", result.to_json())
    return result


@dataclass
class Catalog:
    """A synthetic catalog on disk: ``records`` are the rows of ``csv``, image paths relative to ``root``."""

    root: Path
    csv: Path
    records: list[dict[str, str]]
    size: int
    seed: int

    def __len__(self) -> int:
        return len(self.records)

    def counts(self) -> dict[str, dict[str, int]]:
        """How many items have each value of each attribute."""
        return {a: dict(sorted(Counter(r[a] for r in self.records).items())) for a in ATTRIBUTES}

    def to_json(self) -> dict[str, Any]:
        return {
            "n": len(self), "size": self.size, "seed": self.seed, "synth_version": SYNTH_VERSION,
            "root": str(self.root), "csv": str(self.csv), "counts": self.counts(),
        }

    def save(self) -> Path:
        """Everything is written when the catalog is made; returns the CSV path."""
        return self.csv

    def plot(self, path: str | os.PathLike, n: int = 64, *, ncol: int = 8) -> Path:
        """A contact sheet of the first ``n`` images, each captioned with label, group and figure."""
        items = self.records[:n]
        cell = self.size * max(1, 128 // self.size)  # whole-number zoom keeps pixels honest
        caption = 24
        rows = (len(items) + ncol - 1) // ncol
        sheet = Image.new("RGB", (ncol * (cell + 4) + 4, rows * (cell + caption + 4) + 4), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=10)
        for k, rec in enumerate(items):
            x, y = 4 + (k % ncol) * (cell + 4), 4 + (k // ncol) * (cell + caption + 4)
            with Image.open(self.root / rec["path"]) as im:
                sheet.paste(im.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST), (x, y))
            draw.text((x + 1, y + cell + 1), rec["label"], fill=(20, 20, 20), font=font)
            draw.text((x + 1, y + cell + 12), f"{rec['group']} {rec['figure']}", fill=(110, 110, 110), font=font)
        path = Path(path)
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
        return path

    @classmethod
    def load(cls, root: str | os.PathLike) -> "Catalog":
        """Reopen a catalog written by ``catalog()``."""
        root = Path(root).expanduser()
        summary = json.loads((root / "SUMMARY.json").read_text(encoding="utf-8"))
        with open(root / "catalog.csv", newline="", encoding="utf-8") as f:
            records = list(csv.DictReader(f))
        return cls(root=root, csv=root / "catalog.csv", records=records, size=summary["size"], seed=summary["seed"])

    def __repr__(self) -> str:
        return f"Catalog(n={len(self)}, size={self.size}, seed={self.seed}, root={str(self.root)!r})"
