"""The catalog map: every item's thumbnail at its t-SNE position, as one large PNG and one HTML page.

``layout`` places any (N, D) vectors in the unit square (PCA, then t-SNE); ``catalog_map`` draws a
``Vectors`` file's items there and writes ``map.png``, ``map.html`` (self-contained: pan, zoom, hover,
colour and filter by any column, search by file name) and ``map.json`` into one folder.
"""
from __future__ import annotations

import base64
import io
import json
import math
import shutil
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from modiste.data.images import BadImageError, BadImageWarning, ImagePolicy, load_image
from modiste.io import atomic_path, atomic_write_json, atomic_write_text
from modiste.data.vectors import Vectors
from modiste.progress import progress_bar

METHODS = ("tsne", "pca")

# tab10 then its light partners, without the greys: grey is kept for "other" values and for
# unreadable images, so a grey border never means a real value.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
)
OTHER = "#8a8a8a"
PLAIN = "#dcdcdc"  # border when nothing is coloured: white product shots need an edge on a white canvas
MAX_CANVAS = 8000  # px a side; past this the PNG is too big to open comfortably
_MAX_WARNINGS = 20  # one warning per bad file up to this many, then a single summary


# ---- layout ------------------------------------------------------------------------------------------
def layout(
    vectors: np.ndarray,
    *,
    method: str = "tsne",
    perplexity: float = 30.0,
    pca_dim: int = 50,
    seed: int = 0,
) -> np.ndarray:
    """(N, D) vectors -> (N, 2) positions in [0, 1]^2 (x right, y down), the same for the same seed.

    ``tsne``: PCA to ``pca_dim`` dimensions (t-SNE's neighbour search is slow in high dimensions and
    the discarded directions are mostly noise), then Barnes-Hut t-SNE. ``pca``: the first two
    principal components, for a quick look. Both axes share one scale, so distances stay honest.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if perplexity <= 0:
        raise ValueError(f"perplexity must be positive, got {perplexity}")
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"vectors must be (N, D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or infinite values")
    n, d = x.shape
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if n == 1 or np.ptp(x, axis=0).max() == 0:
        return np.full((n, 2), 0.5, dtype=np.float32)

    from sklearn.decomposition import PCA

    # t-SNE needs about 3 * perplexity neighbours per point; below 5 points it has nothing to fit.
    if method == "pca" or n < 5:
        k = min(2, d, n)
        y = PCA(n_components=k, random_state=seed).fit_transform(x)
        if k < 2:
            y = np.concatenate([y, np.zeros((n, 2 - k), dtype=y.dtype)], axis=1)
        return _unit_square(y)

    from sklearn.manifold import TSNE

    k = min(pca_dim, d, n)
    if k < d:
        x = PCA(n_components=k, random_state=seed).fit_transform(x)
    perplexity = min(float(perplexity), (n - 1) / 3 * 0.99)
    # 250 exaggerated + 500 plain iterations (openTSNE's schedule): the KL divergence is within about
    # 1% of sklearn's 1000 iterations, for three quarters of the time.
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=750, random_state=seed)
    y = tsne.fit_transform(x)
    return _unit_square(y)


def _unit_square(y: np.ndarray) -> np.ndarray:
    """Shift and scale (one factor for both axes) into [0, 1]^2, centring the shorter axis."""
    y = np.asarray(y, dtype=np.float64)
    lo, hi = y.min(axis=0), y.max(axis=0)
    extent = float((hi - lo).max())
    if extent == 0:
        return np.full(y.shape, 0.5, dtype=np.float32)
    u = (y - lo) / extent
    u += (1 - (hi - lo) / extent) / 2
    return np.clip(u, 0, 1).astype(np.float32)


# ---- the map -----------------------------------------------------------------------------------------
@dataclass
class CatalogMap:
    """Where each item landed on the map, and the files drawn from it."""

    positions: np.ndarray  # (N, 2) in [0, 1]^2, x right, y down
    paths: list[str]
    columns: dict[str, list[str]]
    files: dict[str, Path]  # "png", "html", "json"
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): drawn as blank tiles
    info: dict[str, Any] = field(default_factory=dict)  # method, perplexity, seed, canvas, thumb, ...

    def __len__(self) -> int:
        return len(self.paths)

    def save(self) -> Path:
        """Everything is written when the map is made; returns its folder."""
        return self.files["json"].parent

    def plot(self, path: str | Path) -> Path:
        """Copy the map's PNG to ``path``."""
        path = Path(path)
        with atomic_path(path) as tmp:
            shutil.copyfile(self.files["png"], tmp)
        return path

    def to_json(self) -> dict[str, Any]:
        return {
            "n": len(self), **self.info,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "files": {k: str(v) for k, v in self.files.items()},
        }

    def __repr__(self) -> str:
        return (f"CatalogMap(n={len(self)}, method={self.info.get('method')}, "
                f"skipped={len(self.skipped)}, out={str(self.save())!r})")


def catalog_map(
    vectors: Vectors,
    out: str | Path,
    *,
    color_by: str | None = None,
    filter_by: str | None = None,
    perplexity: float = 30.0,
    thumb: int = 48,
    canvas: int | None = None,
    method: str = "tsne",
    seed: int = 0,
    images: torch.Tensor | None = None,
    progress: bool = True,
) -> CatalogMap:
    """Lay out ``vectors`` and draw each item's thumbnail there; writes ``out/map.png``,
    ``out/map.html`` and ``out/map.json``.

    ``color_by`` names a column whose values colour each thumbnail's border (with a legend);
    ``filter_by`` ("group=collection", "tags=floral") maps only the items whose value, or one of
    whose ";"-separated values, matches (case-insensitive). ``canvas`` is the PNG's side in pixels
    (default grows with the square root of N). ``images`` (uint8 (N, 3, h, w)) are used as the
    thumbnails instead of reading ``vectors.paths``. An unreadable image is drawn as a blank grey
    tile with a BadImageWarning naming it; it keeps its place on the map.
    """
    if thumb < 4:
        raise ValueError(f"thumb must be at least 4 px, got {thumb}")
    if images is not None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if images.shape[0] != len(vectors):
            raise ValueError(f"{images.shape[0]} images for {len(vectors)} vectors")
    if color_by is not None:
        vectors.column(color_by)  # a KeyError naming the columns, before any slow work
    if filter_by:
        keep = _filter(vectors, filter_by)
        vectors = vectors.subset(keep)
        images = images[torch.as_tensor(keep)] if images is not None else None
    n = len(vectors)
    if n == 0:
        raise ValueError("no vectors to map")

    positions = layout(vectors.vectors, method=method, perplexity=perplexity, seed=seed)
    thumbs, skipped = _thumbnails(vectors.paths, thumb, images, progress)
    border = max(1, thumb // 20)
    tile = thumb + 2 * border
    side = int(canvas) if canvas else int(min(MAX_CANVAS, max(8 * tile, math.sqrt(n) * tile * 1.6)))
    if side < 2 * tile:
        raise ValueError(f"canvas must be at least {2 * tile} px for {thumb} px thumbnails, got {side}")
    corners = np.round(positions * (side - tile)).astype(np.int64)  # tiles' top-left corners, in px
    # Lower items are pasted last, so overlapping thumbnails stack like prints on a table.
    order = np.lexsort((corners[:, 0], corners[:, 1]))
    legends = {name: _legend(values) for name, values in vectors.columns.items()}
    edges = _edge_colours(vectors.columns[color_by], legends[color_by]) if color_by else [PLAIN] * n

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"method": method, "perplexity": float(perplexity), "seed": int(seed), "canvas": side,
            "thumb": int(thumb), "color_by": color_by, "filter_by": filter_by,
            "kind": vectors.meta.get("kind")}
    png = _write_png(out / "map.png", thumbs, edges, corners, order, side, border,
                     (color_by, legends[color_by]) if color_by else None)
    html = atomic_write_text(out / "map.html", _html(vectors, thumbs, corners, order, side, tile, border,
                                                     legends, skipped, info))
    result = CatalogMap(positions, list(vectors.paths), {k: list(v) for k, v in vectors.columns.items()},
                        {"png": png, "html": html, "json": out / "map.json"}, skipped, info)
    atomic_write_json(out / "map.json", {**result.to_json(), "positions": np.round(positions, 5).tolist(),
                                         "paths": result.paths, "columns": result.columns})
    return result


def _parse_filter(spec: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"filter must look like COLUMN=VALUE (e.g. group=collection), got {spec!r}")
    return name.strip(), value.strip()


def _matches(value: str, wanted: str) -> bool:
    """``wanted`` is the whole value or one of its ";"-separated parts (tags), ignoring case."""
    value, wanted = value.lower(), wanted.lower()
    return value == wanted or wanted in (part.strip() for part in value.split(";"))


def _filter(vectors: Vectors, spec: str) -> list[int]:
    name, wanted = _parse_filter(spec)
    values = vectors.column(name)
    keep = [i for i, v in enumerate(values) if _matches(v, wanted)]
    if not keep:
        seen = sorted({p.strip() for v in values for p in v.split(";")})
        sample = ", ".join(seen[:20]) + (", ..." if len(seen) > 20 else "")
        raise ValueError(f"no item has {name}={wanted!r} (values: {sample})")
    return keep


# ---- thumbnails and colours --------------------------------------------------------------------------
def _thumbnails(paths: Sequence[str], thumb: int, images: torch.Tensor | None,
                progress: bool) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """uint8 (N, thumb, thumb, 3), letterboxed on white, and the (path, reason) of unreadable files."""
    n = len(paths)
    out = np.empty((n, thumb, thumb, 3), dtype=np.uint8)
    skipped: list[tuple[str, str]] = []
    if images is not None:
        if tuple(images.shape[-2:]) == (thumb, thumb):
            return images.permute(0, 2, 3, 1).cpu().numpy().copy(), skipped
        for i, img in enumerate(images.cpu()):
            pil = Image.fromarray(img.permute(1, 2, 0).contiguous().numpy())
            out[i] = np.asarray(ImageOps.pad(pil, (thumb, thumb), Image.Resampling.BICUBIC, color=(255, 255, 255)))
        return out, skipped
    policy = ImagePolicy(size=(thumb, thumb))
    bar = progress_bar(total=n, desc="map thumbnails", unit="img", disable=not progress)
    for i, path in enumerate(paths):
        try:
            out[i] = load_image(path, policy).permute(1, 2, 0).numpy()
        except BadImageError as e:
            skipped.append((e.path, e.reason))
            out[i] = _blank(thumb)
            if len(skipped) <= _MAX_WARNINGS:
                warnings.warn(f"{e.path}: {e.reason}; drawn as a blank tile", BadImageWarning, stacklevel=3)
        bar.update(1)
    bar.close()
    if len(skipped) > _MAX_WARNINGS:
        warnings.warn(f"{len(skipped) - _MAX_WARNINGS} more unreadable images drawn as blank tiles "
                      "(all are listed in map.json)", BadImageWarning, stacklevel=3)
    return out, skipped


def _blank(thumb: int) -> np.ndarray:
    """Light grey with a cross: an item whose image could not be read."""
    tile = np.full((thumb, thumb, 3), 235, dtype=np.uint8)
    idx = np.arange(thumb)
    tile[idx, idx] = tile[idx, thumb - 1 - idx] = 170
    return tile


def _legend(values: Sequence[str]) -> dict[str, Any]:
    """The most common values get the palette's colours in order; the rest share "other"."""
    ranked = sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))
    head, tail = ranked[: len(PALETTE)], ranked[len(PALETTE):]
    return {
        "entries": [[v, PALETTE[i], c] for i, (v, c) in enumerate(head)],
        "other": [OTHER, sum(c for _, c in tail), len(tail)] if tail else None,
    }


def _edge_colours(values: Sequence[str], legend: dict[str, Any]) -> list[str]:
    colour = {v: c for v, c, _ in legend["entries"]}
    return [colour.get(v, OTHER) for v in values]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


# ---- map.png -----------------------------------------------------------------------------------------
def _write_png(path: Path, thumbs: np.ndarray, edges: list[str], corners: np.ndarray, order: np.ndarray,
               side: int, border: int, legend: tuple[str, dict[str, Any]] | None) -> Path:
    thumb = thumbs.shape[1]
    tile = thumb + 2 * border
    sheet = np.full((side, side, 3), 255, dtype=np.uint8)
    for i in order:
        x, y = corners[i]
        sheet[y : y + tile, x : x + tile] = _rgb(edges[i])
        sheet[y + border : y + border + thumb, x + border : x + border + thumb] = thumbs[i]
    image = Image.fromarray(sheet)
    if legend is not None:
        strip = _legend_strip(*legend, side)
        full = Image.new("RGB", (side, side + strip.height), (255, 255, 255))
        full.paste(image, (0, 0))
        full.paste(strip, (0, side))
        image = full
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def _legend_strip(name: str, legend: dict[str, Any], width: int) -> Image.Image:
    """Swatches with "value (count)", flowed in rows under a title, across the map's width."""
    size = int(np.clip(width / 110, 12, 48))
    font = ImageFont.load_default(size=size)
    entries = [(v or "(empty)", c, k) for v, c, k in legend["entries"]]
    if legend["other"]:
        colour, count, nvalues = legend["other"]
        entries.append((f"other ({nvalues} values)", colour, count))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad, line = size, int(size * 1.6)
    x, y, placed = pad, pad + line, []
    for text, colour, count in entries:
        label = f"{text} ({count})"
        w = size + size // 2 + int(measure.textlength(label, font=font)) + 2 * size
        if x + w > width - pad and x > pad:
            x, y = pad, y + line
        placed.append((x, y, label, colour))
        x += w
    strip = Image.new("RGB", (width, y + line + pad), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    draw.text((pad, pad), f"border colour: {name}", fill=(40, 40, 40), font=font)
    for x, y, label, colour in placed:
        draw.rectangle([x, y + size // 8, x + size, y + size + size // 8], fill=_rgb(colour), outline=(90, 90, 90))
        draw.text((x + size + size // 2, y), label, fill=(40, 40, 40), font=font)
    return strip


# ---- map.html ----------------------------------------------------------------------------------------
def _sprite(thumbs: np.ndarray) -> tuple[str, int]:
    """All thumbnails on one JPEG sheet, row-major, as a data URI; and the number of columns."""
    n, t = thumbs.shape[:2]
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    sheet = np.full((rows * t, cols * t, 3), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        sheet[r * t : (r + 1) * t, c * t : (c + 1) * t] = thumbs[i]
    buf = io.BytesIO()
    # JPEG: product photos compress about ten times smaller than as PNG, and the page is one file.
    Image.fromarray(sheet).save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), cols


def _html(vectors: Vectors, thumbs: np.ndarray, corners: np.ndarray, order: np.ndarray, side: int, tile: int,
          border: int, legends: dict[str, Any], skipped: list[tuple[str, str]], info: dict[str, Any]) -> str:
    sprite, cols = _sprite(thumbs)
    reasons = dict(skipped)
    how = "t-SNE" if info["method"] == "tsne" else "PCA"
    title = f"catalog map: {len(vectors)} items, {how}" + (f", {info['filter_by']}" if info["filter_by"] else "")
    data = {
        "title": title, "world": side, "tile": tile, "border": border, "thumb": int(thumbs.shape[1]),
        "cols": cols, "plain": PLAIN, "color_by": info["color_by"] or "",
        "x": corners[:, 0].tolist(), "y": corners[:, 1].tolist(), "order": order.tolist(),
        "paths": list(vectors.paths), "columns": vectors.columns, "legends": legends,
        "missing": {str(i): reasons[p] for i, p in enumerate(vectors.paths) if p in reasons},
    }
    # Inside <script>, only "<" can end the block early; \u003c is the same character to JSON.parse.
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    return _page().replace("__SPRITE__", sprite).replace("__DATA__", text)


def _page() -> str:
    """The pan/zoom viewer (plain JavaScript, no external files), kept as package data."""
    from importlib.resources import files

    return files("modiste.latent").joinpath("map_page.html").read_text(encoding="utf-8")
