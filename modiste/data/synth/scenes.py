"""Street scenes for detection: people wearing several items, with an exact box for every visible item.

Each image is a street or a room with one or two figures at different distances, each wearing
a few items: garments from ``spec.py`` plus shoes, a bag or a hat drawn here. A figure is drawn
whole on its own layer, tilted a little and placed, so parts of it may fall outside the frame.
Every item keeps its own coverage mask; its box is the tight box of the mask's pixels still
visible after everything drawn in front of it (later items, hair, a nearer person, a pole) and
after the frame's clipping. Image ``i`` draws only from ``default_rng([seed, i, _STREAM])``, so it
depends on neither ``n`` nor how the work was split between processes.

Written layout (COCO and YOLO side by side)::

    out/images/000000.jpg     JPEG, quality 90
    out/labels/000000.txt     YOLO: "class cx cy w h", normalised, one line per box
    out/annotations.json      COCO: every image, bbox [x, y, w, h] in pixels, ids from 1
    out/train.txt, val.txt    "./images/000000.jpg" lines: the split
    out/data.yaml             path, train, val, names: what YOLO trainers read
"""
from __future__ import annotations

import functools
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from modiste.data.synth.canvas import Canvas, supersample_for
from modiste.data.synth.catalog import SYNTH_VERSION, _resolve_workers, draw_all
from modiste.data.synth.palette import RGB
from modiste.data.synth.snaps import _occlude, _relight, _street
from modiste.data.synth.scene_parts import (INDOOR_RATE, MAX_ITEMS, MAX_SIZE, MIN_PIXELS, MIN_SIZE, MIN_VISIBLE, OCCLUDE_RATE,
                                            SCENE_CATEGORIES, _STREAM, _figure, _Item, _layout, _pavement, _room)
from modiste.io import atomic_path, atomic_write_json, atomic_write_text


def render_scene(
    seed: int,
    index: int,
    size: tuple[int, int] = (240, 320),
    *,
    min_items: int = 1,
    max_items: int = 4,
    ss: int | None = None,
) -> tuple[Image.Image, list[dict[str, Any]]]:
    """Scene ``index`` of ``seed``: (RGB image, its items), ``size`` being (width, height).

    Each item is ``{"label": class name, "box": (x0, y0, x1, y1), "area": visible pixels}``;
    box edges are pixel edges (a box around pixel columns 3..5 is x0=3, x1=6), so
    ``0 <= x0 < x1 <= width``. Items are listed far figure first, in paint order.
    """
    width, height = (int(v) for v in size)
    rng = np.random.default_rng([seed, index, _STREAM])
    n = max(width, height)
    canvas = Canvas(n, ss or supersample_for(n))
    eye, ground, people = _layout(rng, width, height)
    if rng.random() < INDOOR_RATE:
        _room(canvas, rng, ground, eye)
    else:
        _street(canvas, rng)
        _pavement(canvas, rng, ground, eye)

    shape = (height, width)
    items: list[_Item] = []
    for h, cx, top in people:
        new, cover = _figure(canvas, rng, h, cx, top, (min_items, max_items), shape)
        for item in items:
            item.visible &= ~cover
        items += new
    if rng.random() < OCCLUDE_RATE:
        h, cx, top = people[int(rng.integers(len(people)))]
        layer = Canvas(n, canvas.ss, background=None)
        _occlude(layer, rng, 0.4 * h, (cx, top + h * float(rng.uniform(0.3, 0.8))))
        canvas.image.paste(layer.image, (0, 0), layer.image)
        cover = (np.asarray(layer.image.getchannel("A").reduce(canvas.ss)) >= 128)[:height, :width]
        for item in items:
            item.visible &= ~cover
    image = _relight(canvas.result().crop((0, 0, width, height)), rng)

    out = []
    for item in items:
        area = int(item.visible.sum())
        if area < MIN_PIXELS or area < MIN_VISIBLE * item.total:
            continue
        rows, cols = np.flatnonzero(item.visible.any(1)), np.flatnonzero(item.visible.any(0))
        box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        out.append({"label": item.label, "box": box, "area": area})
    return image, out


# --- writing -------------------------------------------------------------------------------


def _yolo_lines(items: list[dict[str, Any]], width: int, height: int) -> str:
    lines = []
    for it in items:
        x0, y0, x1, y1 = it["box"]
        lines.append(
            f"{SCENE_CATEGORIES.index(it['label'])} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
            f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}\n"
        )
    return "".join(lines)


def _write_scene(
    root: str, seed: int, size: tuple[int, int], min_items: int, max_items: int, index: int
) -> list[dict[str, Any]]:
    image, items = render_scene(seed, index, size, min_items=min_items, max_items=max_items)
    # Plain writes: annotations.json, written atomically last, is what says which images are complete.
    image.save(os.path.join(root, "images", f"{index:06d}.jpg"), format="JPEG", quality=90)
    with open(os.path.join(root, "labels", f"{index:06d}.txt"), "w", encoding="utf-8") as fh:
        fh.write(_yolo_lines(items, *size))
    return items


def _is_val(index: int, fraction: float) -> bool:
    """Every 1/fraction-th image: the split keeps its images when ``n`` grows."""
    return math.floor((index + 1) * fraction) > math.floor(index * fraction)


def _coco(images: list[list[dict[str, Any]]], size: tuple[int, int], seed: int) -> dict[str, Any]:
    width, height = size
    coco: dict[str, Any] = {
        "info": {"description": f"modiste synthetic street scenes, seed {seed}", "version": str(SYNTH_VERSION)},
        "images": [], "annotations": [],
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "fashion"} for i, name in enumerate(SCENE_CATEGORIES)
        ],
    }
    for index, items in enumerate(images):
        coco["images"].append({"id": index + 1, "file_name": f"{index:06d}.jpg", "width": width, "height": height})
        for it in items:
            x0, y0, x1, y1 = it["box"]
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": index + 1,
                "category_id": SCENE_CATEGORIES.index(it["label"]) + 1,
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": it["area"], "iscrowd": 0,
            })
    return coco


def scenes(
    out: str | os.PathLike,
    n: int = 200,
    *,
    size: tuple[int, int] = (240, 320),
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    min_items: int = 1,
    max_items: int = 4,
    val_fraction: float = 0.2,
) -> "Scenes":
    """Write ``n`` street scenes with item boxes to ``out``, as COCO and as YOLO (see the module docstring).

    ``size`` is (width, height). Each figure wears ``min_items`` to ``max_items`` items, as far as
    it can: a person wears two to five (shoes and a dress at least), a shop-window form one or
    two. An item more than 70% hidden or out of frame gets no box, so an image can hold fewer. Every ``1 / val_fraction``-th image goes to ``val.txt``, the rest to
    ``train.txt``. ``workers`` processes draw in parallel (default: up to 2); the files do not
    depend on it.
    """
    import yaml  # only needed here, to write data.yaml

    width, height = (int(v) for v in size)
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise ValueError(f"size must be (width, height) between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 1 <= min_items <= max_items or min_items > MAX_ITEMS:
        raise ValueError(f"need 1 <= min_items <= max_items and min_items <= {MAX_ITEMS}, got {min_items}, {max_items}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = Path(out).expanduser().resolve()
    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    job = functools.partial(_write_scene, str(root), int(seed), (width, height), int(min_items), int(max_items))
    images = draw_all(job, range(n), _resolve_workers(workers, n), desc="synth scenes", unit="img",
                      progress=progress, max_chunk=16)

    split = {"train": [], "val": []}
    for index in range(n):
        split["val" if _is_val(index, val_fraction) else "train"].append(f"./images/{index:06d}.jpg\n")
    for name, lines in split.items():
        atomic_write_text(root / f"{name}.txt", "".join(lines))
    data = {"path": str(root), "train": "train.txt", "val": "val.txt", "names": dict(enumerate(SCENE_CATEGORIES))}
    header = f"# modiste synthetic street scenes: {n} images {width}x{height}, seed {seed}\n"
    yaml_path = atomic_write_text(root / "data.yaml", header + yaml.safe_dump(data, sort_keys=False))
    coco_path = atomic_write_json(root / "annotations.json", _coco(images, (width, height), int(seed)))
    return Scenes(root=root, n=n, size=(width, height), seed=int(seed), images=images, coco=coco_path, yaml=yaml_path)


@dataclass
class Scenes:
    """Street scenes on disk: ``images[i]`` are the items of ``images/{i:06d}.jpg`` (see ``render_scene``)."""

    root: Path
    n: int
    size: tuple[int, int]  # width, height
    seed: int
    images: list[list[dict[str, Any]]]
    coco: Path
    yaml: Path
    categories: tuple[str, ...] = SCENE_CATEGORIES

    def __len__(self) -> int:
        return self.n

    def counts(self) -> dict[str, int]:
        """Boxes per class."""
        c = Counter(it["label"] for items in self.images for it in items)
        return {name: c[name] for name in self.categories}

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n, "size": list(self.size), "seed": self.seed, "synth_version": SYNTH_VERSION,
            "categories": list(self.categories), "boxes": sum(map(len, self.images)), "counts": self.counts(),
            "root": str(self.root), "coco": str(self.coco), "yaml": str(self.yaml),
        }

    def save(self) -> Path:
        """Everything is written when the scenes are made; returns the COCO file."""
        return self.coco

    def plot(self, path: str | os.PathLike, n: int = 16, *, ncol: int = 4) -> Path:
        """A sheet of the first ``n`` images with their boxes and class names."""
        n = min(n, self.n)
        width, height = self.size
        rows = (n + ncol - 1) // ncol
        sheet = Image.new("RGB", (ncol * (width + 4) + 4, rows * (height + 4) + 4), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=10)
        for i in range(n):
            x, y = 4 + (i % ncol) * (width + 4), 4 + (i // ncol) * (height + 4)
            with Image.open(self.root / "images" / f"{i:06d}.jpg") as im:
                sheet.paste(im.convert("RGB"), (x, y))
            for it in self.images[i]:
                x0, y0, x1, y1 = it["box"]
                colour = _BOX_COLOURS[self.categories.index(it["label"]) % len(_BOX_COLOURS)]
                draw.rectangle([x + x0, y + y0, x + x1 - 1, y + y1 - 1], outline=colour, width=1)
                draw.text((x + x0 + 1, y + max(y0 - 11, 0)), it["label"], fill=colour, font=font)
        path = Path(path)
        with atomic_path(path) as tmp:
            sheet.save(tmp, format="PNG")
        return path

    def __repr__(self) -> str:
        return f"Scenes(n={self.n}, size={self.size}, seed={self.seed}, root={str(self.root)!r})"


# Saturated and distinct, so a box reads against any street.
_BOX_COLOURS: tuple[RGB, ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60),
)
