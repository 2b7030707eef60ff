"""Product photo shoots: every product photographed as the house regulation's shot types, for shot classification.

A product is one ``GarmentSpec`` (a top, hoodie, coat or dress: garments where every shot type
applies) drawn from ``default_rng([seed, product, _PRODUCT])`` together with the model or
mannequin that wears it, so all its photos show the same garment on the same figure. Photo
``k`` of shot type ``t`` draws its framing, light and background only from
``default_rng([seed, product, t, k, _SHOT])``: it depends on neither the gallery plan nor how the
work was split between processes.

Figure shots paint the figure and the worn garment on a transparent layer (the back view swaps
the face for hair and drops front details, the side view squeezes the layer and draws a
profile), then tilt it onto a studio backdrop. Detail shots paint the flat garment at a zoom
centred on a point found from its cut pieces (neckline, sleeve, cuff, hem), add what the pieces
lack (labels, stitching, buttons, zips, pockets, weave) and rotate the whole crop.
"""
from __future__ import annotations

import csv
import functools
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from modiste.data.synth.canvas import supersample_for
from modiste.data.synth.catalog import MAX_SIZE, MIN_SIZE, SYNTH_VERSION, _resolve_workers, draw_all
from modiste.data.synth.snaps import _relight
from modiste.data.synth.shoot_detail import _detail
from modiste.data.synth.shoot_studio import _GALLERY, _PLAN, _SHOT, product
from modiste.data.synth.shoot_worn import _worn
from modiste.io import atomic_path, atomic_write_csv, atomic_write_json
from modiste.data.shot_types import SHOT_TYPES  # the 17 types, in the reference house order


SHOT_COLUMNS = ("path", "product", "shot", "index_in_product")
GALLERY_COLUMNS = ("product", "file", "shot")


def render_shot(
    seed: int, product_index: int, shot: str, size: int = 96, *, k: int = 0, ss: int | None = None
) -> Image.Image:
    """Photo ``k`` of shot type ``shot`` of product ``product_index`` of ``seed``: an RGB image ``size`` px square."""
    if shot not in SHOT_TYPES:
        raise ValueError(f"unknown shot type {shot!r}; choose from {', '.join(SHOT_TYPES)}")
    p = product(seed, product_index)
    rng = np.random.default_rng([seed, product_index, SHOT_TYPES.index(shot), k, _SHOT])
    ss = ss or supersample_for(size)
    if shot.startswith(("far_", "near_")):
        image = _worn(p, rng, shot, size, ss)
    else:
        image = _detail(p, rng, shot, size, ss)
    return _relight(image, rng)


# --- writing a shoot ---------------------------------------------------------------------------


def plan(
    seed: int, product_index: int, types: Sequence[str] = SHOT_TYPES, *, per_product: int | None = None,
    missing_rate: float = 0.15, extra_rate: float = 0.1,
) -> list[tuple[str, int]]:
    """The (shot, k) photos taken of one product, in regulation order.

    Each type is skipped with ``missing_rate``; with ``extra_rate`` a second photo of one of the
    types taken is added. ``per_product`` instead takes exactly that many photos: distinct types
    while they last, then second photos. A product always has at least one photo.
    """
    rng = np.random.default_rng([seed, product_index, _PLAN])
    types = [t for t in SHOT_TYPES if t in types]
    if per_product is not None:
        order = [types[i] for i in rng.permutation(len(types))]
        taken = [(t, 0) for t in order[:per_product]]
        taken += [(order[i % len(order)], 1 + i // len(order)) for i in range(max(0, per_product - len(order)))]
    else:
        keep = rng.random(len(types)) >= missing_rate
        taken = [(t, 0) for t, kept in zip(types, keep) if kept] or [(types[int(rng.integers(len(types)))], 0)]
        if rng.random() < extra_rate:
            taken.append((taken[int(rng.integers(len(taken)))][0], 1))
    return sorted(taken, key=lambda tk: (SHOT_TYPES.index(tk[0]), tk[1]))


def _write_product(root: str, seed: int, size: int, plans: dict, index: int) -> list[dict[str, str]]:
    rows = []
    for pos, (shot, k) in enumerate(plans[index]):
        rel = f"images/{shot}/p{index:05d}_{shot}_{k}.png"
        # Plain writes: shots.csv, written atomically last, is what says which photos are complete.
        render_shot(seed, index, shot, size, k=k).save(os.path.join(root, rel), format="PNG")
        rows.append({"path": rel, "product": str(index), "shot": shot, "index_in_product": str(pos)})
    return rows


def shots(
    out: str | os.PathLike,
    n_products: int = 100,
    *,
    size: int = 96,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    types: Sequence[str] = SHOT_TYPES,
    per_product: int | None = None,
    missing_rate: float = 0.15,
    extra_rate: float = 0.1,
) -> "Shots":
    """Photograph ``n_products`` products: ``out/images/<shot>/pNNNNN_<shot>_<k>.png`` and ``out/shots.csv``.

    Class folders, so ``out/images`` trains a shot classifier as it is. ``shots.csv`` has one row
    per photo: ``path`` (relative to the CSV), ``product``, ``shot`` and ``index_in_product`` (its
    place in the product's regulation order). See ``plan`` for which photos a product gets.
    ``workers`` processes draw in parallel (default: up to 2); the images do not depend on it.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if n_products < 1:
        raise ValueError(f"n_products must be at least 1, got {n_products}")
    unknown = [t for t in types if t not in SHOT_TYPES]
    if unknown or not types:
        raise ValueError(f"unknown or no shot types {unknown}; choose from {', '.join(SHOT_TYPES)}")
    if per_product is not None and per_product < 1:
        raise ValueError(f"per_product must be at least 1, got {per_product}")
    if not (0.0 <= missing_rate < 1.0 and 0.0 <= extra_rate <= 1.0):
        raise ValueError(f"missing_rate must be in [0, 1) and extra_rate in [0, 1], got {missing_rate}, {extra_rate}")
    root = Path(out).expanduser().resolve()
    for t in types:
        (root / "images" / t).mkdir(parents=True, exist_ok=True)
    plans = {i: plan(seed, i, types, per_product=per_product, missing_rate=missing_rate, extra_rate=extra_rate)
             for i in range(n_products)}
    job = functools.partial(_write_product, str(root), int(seed), int(size), plans)
    workers = _resolve_workers(workers, sum(len(v) for v in plans.values()))
    groups = draw_all(job, range(n_products), workers, desc="synth shots", unit="product", progress=progress,
                      max_chunk=8)
    records = [row for rows in groups for row in rows]

    csv_path = atomic_write_csv(root / "shots.csv", SHOT_COLUMNS, records)
    result = Shots(root=root, csv=csv_path, records=records, size=int(size), seed=int(seed))
    atomic_write_json(root / "SUMMARY.json", result.to_json())
    return result


def galleries(out: str | os.PathLike, shots_result: "Shots | str | os.PathLike", *, seed: int = 0) -> Path:
    """Copy each product's photos to ``out/galleries/pNNNNN/img_01.png ...`` in shuffled order; return that folder.

    ``out/galleries/truth.csv`` lists every copy: ``product``, ``file`` (relative to the CSV) and
    ``shot``; the names say nothing, so a sorter has only the pixels. The originals are only read.
    """
    result = shots_result if isinstance(shots_result, Shots) else Shots.load(shots_result)
    root = Path(out).expanduser().resolve() / "galleries"
    by_product: dict[str, list[dict[str, str]]] = {}
    for rec in result.records:
        by_product.setdefault(rec["product"], []).append(rec)
    truth = []
    for prod, recs in by_product.items():
        index = int(prod)
        folder = root / f"p{index:05d}"
        if folder.exists():
            shutil.rmtree(folder)  # a stale gallery would mix old files into the new truth
        folder.mkdir(parents=True)
        order = np.random.default_rng([seed, index, _GALLERY]).permutation(len(recs))
        width = max(2, len(str(len(recs))))
        for n, i in enumerate(order, start=1):
            name = f"img_{n:0{width}d}.png"
            shutil.copyfile(result.root / recs[i]["path"], folder / name)
            truth.append({"product": prod, "file": f"{folder.name}/{name}", "shot": recs[i]["shot"]})
    atomic_write_csv(root / "truth.csv", GALLERY_COLUMNS, truth)
    return root


@dataclass
class Shots:
    """A photo shoot on disk: ``records`` are the rows of ``csv``, image paths relative to ``root``."""

    root: Path
    csv: Path
    records: list[dict[str, str]]
    size: int
    seed: int

    def __len__(self) -> int:
        return len(self.records)

    def counts(self) -> dict[str, int]:
        """Photos per shot type, in regulation order."""
        c = Counter(r["shot"] for r in self.records)
        return {t: c[t] for t in SHOT_TYPES if t in c}

    def to_json(self) -> dict[str, Any]:
        return {
            "n": len(self), "products": len({r["product"] for r in self.records}), "size": self.size,
            "seed": self.seed, "synth_version": SYNTH_VERSION, "root": str(self.root), "csv": str(self.csv),
            "counts": self.counts(),
        }

    def save(self) -> Path:
        """Everything is written when the shoot is made; returns the CSV path."""
        return self.csv

    def plot(self, path: str | os.PathLike, n_products: int = 4) -> Path:
        """One row per product (the first ``n_products``): its photos in order, each captioned with its shot type."""
        rows: dict[str, list[dict[str, str]]] = {}
        for r in self.records:
            if r["product"] in rows or len(rows) < n_products:
                rows.setdefault(r["product"], []).append(r)
        cell = self.size * max(1, 96 // self.size)  # whole-number zoom keeps pixels honest
        caption, ncol = 12, max(len(v) for v in rows.values())
        sheet = Image.new("RGB", (ncol * (cell + 4) + 4, len(rows) * (cell + caption + 4) + 4), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=10)
        for r, recs in enumerate(rows.values()):
            y = 4 + r * (cell + caption + 4)
            for c, rec in enumerate(recs):
                x = 4 + c * (cell + 4)
                with Image.open(self.root / rec["path"]) as im:
                    sheet.paste(im.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST), (x, y))
                label = rec["shot"] if c else f"p{int(rec['product'])} {rec['shot']}"
                draw.text((x + 1, y + cell + 1), label, fill=(20, 20, 20), font=font)
        path = Path(path)
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
        return path

    @classmethod
    def load(cls, root: str | os.PathLike) -> "Shots":
        """Reopen a shoot written by ``shots()``."""
        root = Path(root).expanduser()
        summary = json.loads((root / "SUMMARY.json").read_text(encoding="utf-8"))
        with open(root / "shots.csv", newline="", encoding="utf-8") as f:
            records = list(csv.DictReader(f))
        return cls(root=root, csv=root / "shots.csv", records=records, size=summary["size"], seed=summary["seed"])

    def __repr__(self) -> str:
        return f"Shots(n={len(self)}, size={self.size}, seed={self.seed}, root={str(self.root)!r})"
