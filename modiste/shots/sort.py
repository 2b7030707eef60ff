"""Sorting a product's photos by a regulation, saving the order, reading galleries, scoring orders.

Everything here starts after classification: each photo already has a predicted shot type and a
confidence. ``sort_gallery`` never touches files; ``SortedGallery.save`` writes ``order.csv``,
``order.json`` and, if asked, numbered copies, and never moves, renames or changes an original.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np

from modiste.data.datasets import checked_rows
from modiste.data.images import IMAGE_EXTENSIONS
from modiste.io import atomic_path, atomic_write_json, atomic_write_text, file_sha1, read_format_json
from modiste.shots.regulation import Regulation

ORDER_FORMAT = "modiste-shot-order"
CSV_COLUMNS = ("product", "position", "new_name", "path", "shot", "confidence", "rank",
               "review", "overflow", "dropped", "index")


@dataclass(frozen=True)
class Photo:
    """One photo with its predicted shot type; ``index`` is its 0-based place in the original gallery."""

    path: str | os.PathLike
    shot: str
    confidence: float
    index: int


@dataclass(frozen=True)
class SortedPhoto:
    """A photo in the house order; ``position`` is 1-based, None when dropped by a limit."""

    position: int | None
    path: str | os.PathLike
    shot: str
    confidence: float
    rank: int
    review: bool  # confidence below the review threshold: a person should check the shot type
    overflow: bool  # beyond the regulation's limit for its type
    dropped: bool  # overflow under ``overflow: drop``: listed, but not published or copied
    index: int


@dataclass(frozen=True)
class SortedGallery:
    """One product's photos in house order: published ones by position, then dropped ones."""

    product: str
    items: tuple[SortedPhoto, ...]
    regulation: str | None
    category: str | None
    tie_break: str
    overflow: str
    review_threshold: float

    @property
    def order(self) -> list:
        """Every photo's path, published first; the list ``evaluate_order`` compares."""
        return [it.path for it in self.items]

    @property
    def published(self) -> list[SortedPhoto]:
        return [it for it in self.items if not it.dropped]

    def to_rows(self, *, prefix_width: int = 2) -> list[dict[str, Any]]:
        """One dict per photo with the columns of ``order.csv``; ``new_name`` is the copy's name."""
        width = _width(prefix_width, len(self.items))
        rows = []
        for it in self.items:
            new_name = f"{it.position:0{width}d}_{Path(it.path).name}" if it.position is not None else None
            rows.append({"product": self.product, "position": it.position, "new_name": new_name,
                         "path": os.fspath(it.path), "shot": it.shot, "confidence": it.confidence,
                         "rank": it.rank, "review": it.review, "overflow": it.overflow,
                         "dropped": it.dropped, "index": it.index})
        return rows

    def to_json(self, *, prefix_width: int = 2) -> dict[str, Any]:
        """What ``order.json`` holds, but the record of written files."""
        return {"format": ORDER_FORMAT, "version": 1, "product": self.product, "regulation": self.regulation,
                "category": self.category, "tie_break": self.tie_break, "overflow": self.overflow,
                "review_threshold": self.review_threshold, "photos": self.to_rows(prefix_width=prefix_width)}

    def save(self, out_dir: str | os.PathLike, *, copy: bool = False, prefix_width: int = 2) -> Path:
        """Write ``out_dir/<product>/order.csv`` and ``order.json``; with ``copy``, numbered copies there too.

        Copies are named ``01_<original name>`` in published order; dropped photos are not copied.
        Originals are only read. A file already in the folder is replaced (or, when no longer
        part of the order, removed) only if the previous ``order.json`` lists it as an output of
        an earlier save and its bytes are unchanged; anything else there makes ``save`` refuse
        before writing. Refuses a folder that holds any of the gallery's photos. Returns the folder.
        """
        if not self.product or self.product in (".", "..") or "/" in self.product or os.sep in self.product:
            raise ValueError(f"product {self.product!r} cannot be a folder name")
        out_dir = Path(out_dir)
        folder = out_dir / self.product
        sources = [Path(it.path) for it in self.items]
        gallery_dirs = {p.resolve().parent for p in sources}
        for d in (out_dir, folder):
            if d.resolve() in gallery_dirs:
                raise ValueError(f"refusing to write into {d}: it holds the gallery's own photos; "
                                 "choose an output folder outside the gallery")
        rows = self.to_rows(prefix_width=prefix_width)
        planned = {}  # copy name -> source
        if copy:
            for row, src in zip(rows, sources):
                if row["new_name"] is not None:
                    if not src.is_file():
                        raise FileNotFoundError(f"{src}: photo not found; nothing was written")
                    planned[row["new_name"]] = src
        previous = _previous_outputs(folder)
        # A file may be replaced or removed only while it is still exactly what an earlier save wrote.
        stale = {}
        for name, sha1 in previous.items():
            target = folder / name
            if not target.is_file() or target.is_symlink():
                continue
            if file_sha1(target) != sha1:
                if name in planned:
                    raise FileExistsError(f"{target} was changed since modiste wrote it; refusing to overwrite it")
                continue  # changed by someone: keep it, and forget it
            stale[name] = sha1
        for name in planned:
            target = folder / name
            if (target.exists() or target.is_symlink()) and name not in stale:
                raise FileExistsError(f"{target} exists and is not an output of an earlier save; "
                                      "refusing to overwrite it (choose an empty output folder)")
        hashes = {name: file_sha1(src) for name, src in planned.items()}

        # The manifest goes first and lists old and new copies, so an interrupted save leaves
        # nothing on disk that the next save would not recognise as its own.
        meta = {k: v for k, v in self.to_json(prefix_width=prefix_width).items() if k != "photos"}
        atomic_write_json(folder / "order.json", {**meta, "photos": rows, "outputs": {**stale, **hashes}})
        for name, src in planned.items():
            with atomic_path(folder / name) as tmp:
                shutil.copy2(src, tmp)
                if file_sha1(tmp) != hashes[name]:
                    raise OSError(f"copy of {src} does not match the original; nothing replaced")
        for name in stale:
            if name not in planned:
                (folder / name).unlink()
        atomic_write_text(folder / "order.csv", _csv_text(rows))
        atomic_write_json(folder / "order.json", {**meta, "photos": rows, "outputs": hashes})
        return folder


def sort_gallery(photos: Iterable[Photo], regulation: Regulation, *, category: str | None = None,
                 review_threshold: float = 0.5, product: str | None = None) -> SortedGallery:
    """Order one product's photos: by rank, then the tie-break, then original index.

    The first ``limits[type]`` photos of a type in that order are kept; the rest are overflow,
    placed after everything or dropped, as the regulation says. ``product`` defaults to the
    photos' common folder name. Deterministic: the result depends only on the inputs.
    """
    photos = list(photos)
    for p in photos:
        c = p.confidence
        if isinstance(c, bool) or not isinstance(c, (int, float, np.floating)) or not 0.0 <= c <= 1.0:
            raise ValueError(f"{p.path}: confidence must be a number in [0, 1], got {c!r}")
    for what, values in (("index", [p.index for p in photos]), ("path", [os.fspath(p.path) for p in photos])):
        repeated = [v for v, n in Counter(values).items() if n > 1]
        if repeated:
            raise ValueError(f"each photo needs its own {what}; repeated: {repeated[:5]}")
    rules = regulation.rules(category)

    def key(p: Photo):
        tie = -float(p.confidence) if rules.tie_break == "confidence" else 0.0
        return (rules.rank(p.shot), tie, p.index)

    ranked = sorted(photos, key=key)
    seen = Counter()
    kept, extra = [], []
    for p in ranked:
        seen[p.shot] += 1
        limit = rules.limits.get(p.shot)
        (extra if limit is not None and seen[p.shot] > limit else kept).append(p)
    drop = rules.overflow == "drop"
    published = kept if drop else kept + extra
    extra_ids = {id(p) for p in extra}
    items = []
    for p in published + (extra if drop else []):
        dropped = drop and id(p) in extra_ids
        items.append(SortedPhoto(position=None if dropped else len(items) + 1, path=p.path, shot=p.shot,
                                 confidence=float(p.confidence), rank=rules.rank(p.shot),
                                 review=float(p.confidence) < review_threshold, overflow=id(p) in extra_ids,
                                 dropped=dropped, index=p.index))
    if product is None:
        parents = {Path(p.path).parent.name for p in photos}
        product = parents.pop() if len(parents) == 1 and "" not in parents else "gallery"
    return SortedGallery(product=product, items=tuple(items), regulation=regulation.name, category=category,
                         tie_break=rules.tie_break, overflow=rules.overflow, review_threshold=review_threshold)


def true_order(paths: Sequence, shots: Sequence[str], regulation: Regulation, *,
               category: str | None = None) -> list:
    """The house order of a gallery with known shot types, ties broken by original index.

    Photos a limit would drop are kept at the end (as in ``SortedGallery.order``), so the true
    and predicted orders hold the same photos and can be compared with ``evaluate_order``.
    """
    if len(paths) != len(shots):
        raise ValueError(f"{len(paths)} paths but {len(shots)} shot labels")
    photos = [Photo(p, s, 1.0, i) for i, (p, s) in enumerate(zip(paths, shots))]
    return sort_gallery(photos, regulation, category=category, product="truth").order


# --- reading galleries -----------------------------------------------------------------------------

def read_galleries(source: str | os.PathLike) -> dict[str, list[Path]]:
    """Product -> photo paths in original order, from a folder or a CSV.

    - a folder with images directly inside: one product, named after the folder;
    - a folder of product folders: one product per subfolder that holds images;
    - a CSV with ``path`` and ``product`` columns (other columns ignored), paths relative to the CSV.

    Original order is always the photos' file names sorted with digits read as numbers
    (``2.jpg`` before ``10.jpg``), case-insensitively; CSV row order does not matter. Images are
    files ending in one of ``IMAGE_EXTENSIONS``; names starting with "." are skipped.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such folder or CSV")
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise ValueError(f"{source}: expected a folder of photos or a CSV with path and product columns")
        galleries = _read_csv(source)
    elif _images_in(source):
        galleries = {source.resolve().name: _images_in(source)}
    else:
        galleries = {d.name: _images_in(d) for d in sorted(source.iterdir(), key=_name_key)
                     if d.is_dir() and not d.name.startswith(".")}
        galleries = {k: v for k, v in galleries.items() if v}
    if not galleries:
        raise ValueError(f"{source}: no photos found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return {k: sorted(v, key=_name_key) for k, v in galleries.items()}


def _images_in(folder: Path) -> list[Path]:
    """The photos of a gallery folder by name: one that cannot be read (a broken link, a folder
    named like a photo, a damaged file) is warned about when read, counted, and left unsorted."""
    return [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]


_DIGITS = re.compile(r"(\d+)", re.ASCII)


def _name_key(path: Path):
    parts = _DIGITS.split(path.name.casefold())  # text, number, text, ...: same types at each place
    return (tuple(int(s) if i % 2 else s for i, s in enumerate(parts)), path.name, str(path))


def _read_csv(csv_path: Path) -> dict[str, list[Path]]:
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, strict=True)
        missing = {"path", "product"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
        galleries: dict[str, list[Path]] = {}
        owner: dict[Path, str] = {}
        for line, row in checked_rows(reader, csv_path):
            rel, product = (row.get("path") or "").strip(), (row.get("product") or "").strip()
            if not rel or not product:
                raise ValueError(f"{csv_path}:{line}: empty path or product")
            path = csv_path.parent / rel
            if not path.is_file():
                raise FileNotFoundError(f"{csv_path}:{line}: {path} not found")
            key = path.resolve()
            if key in owner:
                raise ValueError(f"{csv_path}:{line}: {rel} is listed twice (also in product {owner[key]!r})")
            owner[key] = product
            galleries.setdefault(product, []).append(path)
    return galleries


# --- scoring an order against a known one ----------------------------------------------------------

def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two rankings: ties count in neither concordant nor discordant pairs.

    Equals tau-a when there are no ties (as with two orders of the same photos). NaN for fewer
    than two items or when either side is all ties, as ``scipy.stats.kendalltau``.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"expected two sequences of equal length, got {x.shape} and {y.shape}")
    n = len(x)
    if n < 2:
        return math.nan
    i, j = np.triu_indices(n, k=1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    pairs = len(i)
    denom = math.sqrt(float(pairs - np.count_nonzero(sx == 0)) * float(pairs - np.count_nonzero(sy == 0)))
    return float(np.sum(sx * sy) / denom) if denom > 0 else math.nan


def evaluate_order(predicted: Mapping[str, Sequence], truth: Mapping[str, Sequence]) -> dict[str, Any]:
    """Score predicted gallery orders against true ones; both hold the same photos per product.

    - ``exact_order``: share of galleries in exactly the true order;
    - ``kendall_tau``: mean over galleries of Kendall's tau between predicted and true positions;
      galleries of fewer than two photos have no pairs and are left out of this mean (None if
      none are left; ``tau_galleries`` says how many counted);
    - ``position_accuracy``: share of all photos (pooled) at their true position.
    ``per_gallery`` holds the same numbers for each product.
    """
    if set(predicted) != set(truth):
        missing, extra = set(truth) - set(predicted), set(predicted) - set(truth)
        raise ValueError(f"products differ: missing from predicted {sorted(missing)[:5]}, "
                         f"not in truth {sorted(extra)[:5]}")
    if not truth:
        raise ValueError("no galleries to evaluate")
    per_gallery, taus, exact, hits, photos = {}, [], 0, 0, 0
    for product in truth:
        t, p = [_key(x) for x in truth[product]], [_key(x) for x in predicted[product]]
        if len(set(t)) != len(t):
            raise ValueError(f"{product}: the true order lists a photo twice")
        if Counter(p) != Counter(t):
            raise ValueError(f"{product}: predicted and true orders do not hold the same photos")
        true_pos = {x: k for k, x in enumerate(t)}
        n, right = len(t), sum(a == b for a, b in zip(p, t))
        tau = kendall_tau([true_pos[x] for x in p], range(n)) if n >= 2 else None
        per_gallery[product] = {"photos": n, "exact": p == t, "kendall_tau": tau,
                                "position_accuracy": right / n if n else 1.0}
        exact += p == t
        hits += right
        photos += n
        if tau is not None:
            taus.append(tau)
    return {"galleries": len(truth), "photos": photos, "exact_order": exact / len(truth),
            "kendall_tau": float(np.mean(taus)) if taus else None, "tau_galleries": len(taus),
            "position_accuracy": hits / photos if photos else 1.0, "per_gallery": per_gallery}


# --- small helpers ---------------------------------------------------------------------------------

def _key(x: Any) -> Hashable:
    """Paths compare as paths whether given as str or Path; other labels as they are."""
    return Path(x) if isinstance(x, (str, os.PathLike)) else x


def _width(prefix_width: int, n: int) -> int:
    if isinstance(prefix_width, bool) or not isinstance(prefix_width, int) or prefix_width < 1:
        raise ValueError(f"prefix_width must be a whole number >= 1, got {prefix_width!r}")
    return max(prefix_width, len(str(n)))  # widened so that names still sort by position


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r[k] is None else str(r[k]).lower() if isinstance(r[k], bool) else r[k])
                    for k in CSV_COLUMNS})
    return buf.getvalue()


def _previous_outputs(folder: Path) -> dict[str, str]:
    """Copies an earlier save wrote into ``folder`` (name -> SHA-1); refuses a folder not made by save."""
    manifest, table = folder / "order.json", folder / "order.csv"
    if not manifest.exists():
        if table.exists():
            raise FileExistsError(f"{table} exists but was not written by modiste (no order.json); "
                                  "refusing to overwrite it")
        return {}
    try:
        d = read_format_json(manifest, ORDER_FORMAT, "shot order")
    except ValueError as e:
        raise FileExistsError(f"{e}; refusing to overwrite it") from None
    outputs = d.get("outputs", {})
    return {n: h for n, h in outputs.items() if isinstance(n, str) and "/" not in n and n not in ("order.json", "order.csv")}
