"""Try-on pairs: a person photo, the product photo of the article they wear, optional masks; decoded once into memory.

Two sources:

* A CSV with ``person`` and ``article`` columns (paths relative to the CSV's folder), and
  optionally ``article_mask`` (255 on the garment in the product photo), ``person_parse`` (a label
  map of the person: 0 background, 1 skin, 2 hair, 3 the worn article, 4 other clothing, as
  ``modiste synth tryon`` writes) and ``split`` (``train``/``val``).
* The common try-on folder layout: ``image/``, ``cloth/`` and optionally ``cloth-mask/``, with a
  pairs file whose lines name a person photo and the product photo of the article that person
  wears (``train_pairs.txt`` or ``pairs.txt``; VITON's ``test_pairs.txt`` pairs people with other
  articles, which is not what CAGAN learns from). A ``train_pairs.txt`` beside a ``train/`` folder
  (VITON-HD) reads its images from ``train/``.

A row naming a file that cannot be read is skipped with one warning naming the row and the file;
the other rows go on. Images are letterboxed on white to (height, width); label maps take the
same geometry with nearest-neighbour resizing, so masks stay aligned with their pixels.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from modiste.data.datasets import read_manifest
from modiste.data.images import BadImageError, BadImageWarning, ImagePolicy, load_image, to_size
from modiste.progress import progress_bar

DEFAULT_SIZE = (128, 96)  # (height, width): portrait, like person photos; the CAGAN write-up used 128 x 96
OPTIONAL = ("article_mask", "person_parse")
CLOTHING = (3, 4)  # person_parse labels of clothing: the worn article and other clothing


@dataclass
class PairRecord:
    line: int                       # row of the CSV or line of the pairs file, for messages
    person: Path
    article: Path
    article_mask: Path | None = None
    person_parse: Path | None = None
    split: str = ""


@dataclass
class PairsData:
    """Decoded pairs: uint8 images (N, 3, H, W), masks (N, 1, H, W) uint8 0/1, parses (N, 1, H, W) labels."""

    persons: torch.Tensor
    articles: torch.Tensor
    article_masks: torch.Tensor | None
    parses: torch.Tensor | None
    records: list[PairRecord]
    source: str
    skipped: dict[str, str] = field(default_factory=dict)  # "line N: file" -> reason

    def __len__(self) -> int:
        return self.persons.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.persons.shape[-2:])  # type: ignore[return-value]

    @property
    def splits(self) -> list[str]:
        return [r.split for r in self.records]

    def indices(self, split: str) -> torch.Tensor:
        return torch.tensor([i for i, r in enumerate(self.records) if r.split == split], dtype=torch.long)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for s in self.splits:
            counts[s or "-"] = counts.get(s or "-", 0) + 1
        extra = [n for n, t in (("article_mask", self.article_masks), ("person_parse", self.parses)) if t is not None]
        return f"PairsData({self.source}, n={len(self)}, size={self.size}, splits={counts}, with={extra})"


# ---- reading the list of pairs -----------------------------------------------------------------------


def read_pairs(source: str | os.PathLike) -> list[PairRecord]:
    """The rows of a pairs CSV, a pairs .txt file, or a folder holding either."""
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such pairs file or folder")
    if path.is_dir():
        for name in ("pairs.csv", "train_pairs.txt", "pairs.txt"):
            if (path / name).is_file():
                return read_pairs(path / name)
        raise FileNotFoundError(f"{path}: no pairs.csv, train_pairs.txt or pairs.txt in this folder")
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    if path.suffix.lower() == ".txt":
        return _read_txt(path)
    raise ValueError(f"{path}: a pairs CSV (person, article columns), a pairs .txt file or a folder holding one")


def _read_csv(path: Path) -> list[PairRecord]:
    rows = read_manifest(path, "person")
    header = set(rows[0][1])
    if "article" not in header:
        raise ValueError(f"{path}, line 1: no 'article' column (columns: {', '.join(rows[0][1])})")
    optional = [c for c in OPTIONAL if c in header]
    for column in list(optional):
        empty = next((line for line, row in rows if not row[column]), None)
        if empty is not None:
            warnings.warn(f"{path}, line {empty}: empty {column!r}; the column is not used for any row",
                          stacklevel=3)
            optional.remove(column)
    base = path.parent

    def resolve(cell: str) -> Path:
        p = Path(cell).expanduser()
        return p if p.is_absolute() else base / p

    records = []
    for line, row in rows:
        if not row["article"]:
            raise ValueError(f"{path}, line {line}: empty 'article'")
        records.append(PairRecord(line, resolve(row["person"]), resolve(row["article"]),
                                  *(resolve(row[c]) if c in optional else None for c in OPTIONAL),
                                  split=row.get("split", "")))
    return records


def _read_txt(path: Path) -> list[PairRecord]:
    prefix = path.stem.split("_pairs")[0] if "_pairs" in path.stem else ""
    base = path.parent / prefix if prefix and (path.parent / prefix / "image").is_dir() else path.parent
    if not (base / "image").is_dir() or not (base / "cloth").is_dir():
        raise FileNotFoundError(f"{path}: expected image/ and cloth/ folders in {base}")
    masks = base / "cloth-mask" if (base / "cloth-mask").is_dir() else None
    records = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        cells = text.split()
        if not cells:
            continue
        if len(cells) != 2:
            raise ValueError(f"{path}, line {line}: expected 'person_image article_image', got {text!r}")
        person, article = cells
        mask = None
        if masks is not None:  # masks are often saved as PNG or JPEG whatever the photo's format
            candidates = [masks / article] + [masks / (Path(article).stem + ext) for ext in (".png", ".jpg")]
            mask = next((c for c in candidates if c.exists()), candidates[0])
        records.append(PairRecord(line, base / "image" / person, base / "cloth" / article, mask))
    if not records:
        raise ValueError(f"{path}: no pairs")
    return records


# ---- decoding ------------------------------------------------------------------------------------------


def _letterbox_box(w: int, h: int, tw: int, th: int) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a w x h image fitted whole into tw x th, as images.py letterboxes."""
    s = min(tw / w, th / h)
    nw, nh = min(tw, max(1, round(w * s))), min(th, max(1, round(h * s)))
    return (tw - nw) // 2, (th - nh) // 2, nw, nh


def load_label_map(path: str | os.PathLike, size: tuple[int, int]) -> torch.Tensor:
    """A label map or mask (uint8 (H, W)) letterboxed like the photos, with nearest-neighbour resizing
    so labels are never blended; palette images give their indices. Raises BadImageError."""
    path = Path(path)
    if not path.is_file():
        raise BadImageError(path, "file not found")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            if im.mode not in ("L", "P"):
                im = im.convert("L")
            labels = Image.fromarray(np.asarray(im), "L")
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image Pillow can read") from None
    except (OSError, SyntaxError, EOFError, ValueError) as e:
        raise BadImageError(path, f"truncated or corrupt image data: {e}") from None
    th, tw = size
    x, y, nw, nh = _letterbox_box(*labels.size, tw, th)
    canvas = Image.new("L", (tw, th), 0)
    canvas.paste(labels.resize((nw, nh), Image.Resampling.NEAREST), (x, y))
    return torch.from_numpy(np.array(canvas))


def _decode_row(rec: PairRecord, size: tuple[int, int]) -> tuple | BadImageError:
    policy = ImagePolicy(size=size)
    try:
        person, article = load_image(rec.person, policy), load_image(rec.article, policy)
        mask = load_label_map(rec.article_mask, size) if rec.article_mask is not None else None
        parse = load_label_map(rec.person_parse, size) if rec.person_parse is not None else None
    except BadImageError as e:
        return e
    if mask is not None:
        mask = (mask > 127).to(torch.uint8)  # 0/255 masks; anti-aliased edges go either way
    return person, article, mask, parse


def load_pairs(source: str | os.PathLike, size: int | tuple[int, int] = DEFAULT_SIZE, *,
               val_fraction: float = 0.1, seed: int = 0, workers: int = 2, progress: bool = True) -> PairsData:
    """Decode every pair at ``size`` (height, width). Rows without a split are split into ``train``
    and ``val`` (``val_fraction`` of them, chosen by ``seed``); rows that cannot be read are skipped
    with a warning naming the row and the file."""
    size = to_size(size)
    records = read_pairs(source)
    bar = progress_bar(total=len(records), desc="decoding pairs", unit="pair", disable=not progress, leave=False)
    with ThreadPoolExecutor(max(1, workers)) as pool:  # Pillow decodes without holding the GIL
        decoded = []
        for item in pool.map(lambda r: _decode_row(r, size), records):
            decoded.append(item)
            bar.update(1)
    bar.close()
    kept, rows, skipped = [], [], {}
    for rec, item in zip(records, decoded):
        if isinstance(item, BadImageError):
            where = f"{source}, line {rec.line}"
            warnings.warn(f"{where}: skipping the pair: {item.path}: {item.reason}", BadImageWarning, stacklevel=2)
            skipped[f"line {rec.line}: {item.path}"] = item.reason
            continue
        kept.append(rec)
        rows.append(item)
    if not rows:
        raise ValueError(f"{source}: none of the {len(records)} pairs could be read")
    if not any(r.split for r in kept):
        order = np.random.default_rng([seed, 0x5F11]).permutation(len(kept))
        n_val = max(1, round(len(kept) * val_fraction)) if len(kept) > 1 and val_fraction > 0 else 0
        held = set(order[:n_val].tolist())
        for i, rec in enumerate(kept):
            rec.split = "val" if i in held else "train"
    persons, articles, masks, parses = zip(*rows)
    return PairsData(torch.stack(persons), torch.stack(articles),
                     torch.stack(masks)[:, None] if masks[0] is not None else None,
                     torch.stack(parses)[:, None] if parses[0] is not None else None,
                     kept, str(source), skipped)


# ---- what a training step sees ---------------------------------------------------------------------------


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div(127.5).sub(1)


def fixed_targets(n: int, seed: int) -> torch.Tensor:
    """For each of ``n`` rows another row's index (a random cycle, so no row keeps its own article)."""
    if n < 2:
        return torch.zeros(n, dtype=torch.long)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    target = torch.empty(n, dtype=torch.long)
    target[order] = order.roll(-1)
    return target


class TryonDataset(Dataset):
    """The pairs of one split, as float tensors in [-1, 1], each with a target article from another row.

    Item ``i`` of epoch ``e`` (sampled as ``e * n + i``) draws its target row and flips from
    ``default_rng([seed, e, i])``, so an epoch does not depend on batch order or on where a resumed
    run restarted. The person, their article and the masks are flipped together (an asymmetric
    design must stay on the same side in the photo and the product shot); the target article is
    flipped on its own draw, which makes it a plausible other article.
    """

    def __init__(self, data: PairsData, index: torch.Tensor, *, seed: int = 0, flip: bool = True,
                 targets: torch.Tensor | None = None):
        self.data, self.index, self.seed, self.flip = data, index, seed, flip
        self.targets = targets  # fixed target positions (validation); None draws them per epoch
        if len(index) < 2:
            raise ValueError(f"{data.source}: a split needs at least two pairs to draw target articles, has {len(index)}")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        epoch, pos = divmod(int(key), len(self.index))
        rng = np.random.default_rng([self.seed, epoch, pos])
        if self.targets is not None:
            other = int(self.targets[pos])
        else:
            other = int(rng.integers(len(self.index) - 1))
            other += other >= pos  # any row but this one
        flip_pair, flip_target = (rng.random(2) < 0.5) & self.flip
        i, j = int(self.index[pos]), int(self.index[other])
        d = self.data
        item = {"person": to_float(d.persons[i]), "article": to_float(d.articles[i]),
                "target": to_float(d.articles[j]), "row": torch.tensor(i), "target_row": torch.tensor(j)}
        if d.article_masks is not None:
            item["article_mask"] = d.article_masks[i].float()
            item["target_mask"] = d.article_masks[j].float()
        if d.parses is not None:
            item["person_parse"] = d.parses[i].long()
        for name in ("person", "article", "article_mask", "person_parse"):
            if flip_pair and name in item:
                item[name] = item[name].flip(-1)
        for name in ("target", "target_mask"):
            if flip_target and name in item:
                item[name] = item[name].flip(-1)
        return item
