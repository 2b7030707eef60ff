"""Shop the look: detect the items in a street photo, crop each, find it in the catalog index."""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from modiste.data.images import ImagePolicy, fit_image, load_readable
from modiste.detect import Detections, Detector
from modiste.io import atomic_path, atomic_write_json, atomic_write_text
from modiste.results import ranked_grid, save_png

# Detector categories of the synthetic street scenes -> catalog labels of the synthetic catalog.
SYNTH_CATEGORIES = {"top": ("t-shirt", "long-sleeve-top", "hoodie"), "trousers": ("trousers",), "coat": ("coat",),
                    "dress": ("dress",), "skirt": ("skirt",), "shorts": ("shorts",)}


@dataclass
class LookItem:
    box: list[float]  # xyxy pixels in the snap
    category: str
    score: float
    crop: torch.Tensor  # uint8 (3, H, W) as cut (with margin) from the snap
    matches: list[dict[str, Any]]  # catalog items, best first: id, path, label, score ...


@dataclass
class Look:
    snap: str
    detections: Detections
    items: list[LookItem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"snap": self.snap, "items": [{"box": it.box, "category": it.category, "score": round(it.score, 5),
                                               "matches": it.matches} for it in self.items]}


@dataclass
class ShopResults:
    looks: list[Look]
    k: int
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": "modiste-shop", "version": 1, "k": self.k, **self.info,
                "snaps": [look.to_json() for look in self.looks]}

    def save(self, out: str | os.PathLike) -> Path:
        """``out/shop.json``, and ``out/index.html`` with each snap, its crops and their matches."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "shop.json", self.to_json())
        parts = []
        for i, look in enumerate(self.looks):
            with atomic_path(out / f"snap_{i:03d}.jpg") as tmp:
                look.detections.draw().save(tmp, format="JPEG", quality=90)
            row = f'<img src="snap_{i:03d}.jpg" style="max-height:360px">'
            if look.items:
                grid = ranked_grid([it.crop for it in look.items], [[m["path"] for m in it.matches] for it in look.items],
                                   96, self.k)
                save_png(grid, out / f"matches_{i:03d}.png")
                row += f' <img src="matches_{i:03d}.png" style="max-height:{110 * len(look.items)}px">'
            caption = "; ".join(f"{html.escape(it.category)} {it.score:.2f}" for it in look.items) or "no items found"
            parts.append(f"<h3>{html.escape(Path(look.snap).name)}</h3><p>{caption}</p><div>{row}</div>")
        page = ("<!doctype html><meta charset='utf-8'><title>modiste: shop the look</title>"
                "<style>body{font-family:sans-serif;margin:2em}img{vertical-align:top;margin-right:1em}</style>"
                "<h1>Shop the look</h1><p>Each snap with its detected items; per item, the crop (first column) "
                "and its nearest catalog items, best first.</p>" + "".join(parts))
        atomic_write_text(out / "index.html", page)
        return out


def _crop(image: torch.Tensor, box: Sequence[float], margin: float) -> torch.Tensor:
    h, w = image.shape[1:]
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    x0, y0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
    x1, y1 = min(w, int(round(x1 + mx))), min(h, int(round(y1 + my)))
    return image[:, y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]


def shop_the_look(
    snaps: Sequence[str | os.PathLike],
    detector: Detector | str | os.PathLike,
    index: Any,
    *,
    k: int = 5,
    margin: float = 0.1,
    same_category: bool = False,
    categories: Mapping[str, Sequence[str]] | None = None,
    model: Any = None,
    score_threshold: float | None = None,
) -> ShopResults:
    """Per snap: the detected items (box, category, score), each with its ``k`` nearest catalog items.

    ``index`` is an index folder or ``Index``; crops are embedded with the index's own model.
    ``same_category`` keeps only matches whose catalog label is the detected category, or one of
    ``categories[category]`` (default: the synthetic scene -> catalog mapping). A snap that cannot
    be read is skipped with a warning naming it.
    """
    from modiste.retrieval.index import Index, index_model

    detector = detector if isinstance(detector, Detector) else Detector.load(detector)
    if score_threshold is not None:
        detector.score_threshold = score_threshold
    index = index if isinstance(index, Index) else Index.open(index)
    model = index_model(index, model)
    policy = ImagePolicy(size=(model.image_size, model.image_size), resize=model.resize)
    categories = dict(SYNTH_CATEGORIES if categories is None else categories)

    images, names = load_readable(snaps)
    looks = []
    for det, image in zip(detector.detect(images, names), images):
        look = Look(det.path, det)
        if len(det):
            crops = [_crop(image, b.tolist(), margin) for b in det.boxes]
            vectors = model(torch.stack([fit_image(c, policy) for c in crops]))
            wide = k * 8 if same_category else k
            hits = index.search(vectors, min(wide, max(len(index), 1)))
            for i, (box, score, label) in enumerate(zip(det.boxes, det.scores, det.labels)):
                category = det.classes[int(label)]
                row = [{"rank": 0, "score": round(float(s), 6), **item} for s, item in zip(hits.scores[i], hits.items[i])]
                if same_category:
                    allowed = {category, *categories.get(category, ())}
                    row = [m for m in row if m.get("label") in allowed]
                row = row[:k]
                for r, m in enumerate(row):
                    m["rank"] = r + 1
                look.items.append(LookItem([round(float(v), 2) for v in box], category, float(score), crops[i], row))
        looks.append(look)
    return ShopResults(looks, k, {"detector": str(detector.path), "index": str(index.root),
                                  "same_category": same_category})
