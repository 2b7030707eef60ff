"""Detection datasets: COCO JSON and YOLO folders read into one record type, bad boxes cleaned with a warning.

Conventions: boxes are float ``xyxy`` in pixels of the upright image, with pixel edges as
coordinates (pixel (i, j) covers ``[j, j + 1] x [i, i + 1]``, so ``(0, 0, W, H)`` is the whole
image); labels are 0..C-1 in the order of the returned class names.

Readers never stop on a bad annotation. A box past the image edge is clipped; a box that is
empty after clipping, holds NaN, names an unknown class or cannot be parsed is dropped; an image
whose file is missing or unreadable is left out. Each file's problems make one ``BadBoxWarning``
(``BadImageWarning`` for images) naming it. Only a JSON or YAML file that cannot be parsed at
all, or lacks what every dataset needs (images, classes), raises a ``ValueError`` naming it.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from modiste.data.datasets import BadSample, _find_images
from modiste.data.images import (
    _ORIENTATION_TAG,
    _TRANSPOSING_ORIENTATIONS,
    BadImageError,
    BadImageWarning,
    ImagePolicy,
    load_image,
    to_size,
)

# Boxes past the edge by less than this many pixels are rounding (COCO has many); clipped silently.
CLIP_TOLERANCE = 1.0
_SHOWN_FILES = 10  # files warned about one by one per read; the rest are counted in one warning
_SHOWN_PROBLEMS = 5  # problems listed per file
YOLO_FILL = 114  # the grey YOLO letterboxes with


class BadBoxWarning(UserWarning):
    """Annotations were clipped or dropped; the message names the file and says why."""


@dataclass
class DetectionRecord:
    """One image and its boxes."""

    path: Path
    boxes: torch.Tensor  # float32 (N, 4) xyxy, pixels
    labels: torch.Tensor  # int64 (N,), 0..C-1
    width: int  # of the upright image the boxes refer to
    height: int

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.boxes = torch.as_tensor(self.boxes, dtype=torch.float32).reshape(-1, 4)
        self.labels = torch.as_tensor(self.labels, dtype=torch.long).reshape(-1)
        if len(self.boxes) != len(self.labels):
            raise ValueError(f"{self.path}: {len(self.boxes)} boxes but {len(self.labels)} labels")


class _Log:
    """What a read fixed or left out, per file; ``flush`` warns once per file, the first few by name."""

    def __init__(self) -> None:
        self.boxes: dict[str, list[str]] = {}
        self.images: dict[str, str] = {}

    def box(self, where: str, what: str) -> None:
        self.boxes.setdefault(where, []).append(what)

    def image(self, path: str | os.PathLike, why: str) -> None:
        self.images.setdefault(str(path), why)

    def flush(self) -> None:
        for i, (path, why) in enumerate(self.images.items()):
            if i == _SHOWN_FILES:
                warnings.warn(f"... and {len(self.images) - i} more images skipped", BadImageWarning, stacklevel=3)
                break
            warnings.warn(f"skipping {path}: {why}", BadImageWarning, stacklevel=3)
        for i, (where, problems) in enumerate(self.boxes.items()):
            if i == _SHOWN_FILES:
                warnings.warn(f"... and {len(self.boxes) - i} more files with bad boxes", BadBoxWarning, stacklevel=3)
                break
            more = len(problems) - _SHOWN_PROBLEMS
            text = "; ".join(problems[:_SHOWN_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
            warnings.warn(f"{where}: {text}", BadBoxWarning, stacklevel=3)


Raw = list[tuple[str, int | str, list[float]]]  # (where in the file, label or why it is unusable, xyxy)


def _clean(raw: Raw, width: int, height: int, where: str, log: _Log) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(tag, label, xyxy)`` -> (float32 (N, 4), int64 (N,)), clipped, the bad ones dropped and logged.

    A ``label`` that is a string is why the entry cannot be used (an unknown class, a malformed line).
    """
    boxes, labels = [], []
    for tag, cls, box in raw:
        if isinstance(cls, str):
            log.box(where, f"{tag}: {cls}, dropped")
            continue
        if not all(math.isfinite(v) for v in box):
            log.box(where, f"{tag}: box {_fmt(box)} is not finite, dropped")
            continue
        clipped = [min(max(v, 0.0), side) for v, side in zip(box, (width, height, width, height))]
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            log.box(where, f"{tag}: empty box {_fmt(box)} in a {width}x{height} image, dropped")
            continue
        if max(abs(a - b) for a, b in zip(box, clipped)) > CLIP_TOLERANCE:
            log.box(where, f"{tag}: box {_fmt(box)} clipped to the {width}x{height} image")
        boxes.append(clipped)
        labels.append(int(cls))
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)


def _fmt(box: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in box) + ")"


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of the upright image, from the header alone; raises BadImageError."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(_ORIENTATION_TAG, 1) in _TRANSPOSING_ORIENTATIONS:
                w, h = h, w
    except FileNotFoundError:
        raise BadImageError(path, "file not found") from None
    except Exception as e:  # unreadable headers come as several error types, depending on the plugin
        raise BadImageError(path, f"cannot read the image header: {type(e).__name__}: {e}") from None
    return w, h


# --- COCO ----------------------------------------------------------------------------------


def _load_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such COCO file") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path}: not a COCO file (expected an object with an 'images' list)")
    return data


def _coco_classes(path: Path, data: dict) -> tuple[dict[Any, int], list[str]]:
    cats = data.get("categories")
    if not isinstance(cats, list) or not cats:
        raise ValueError(f"{path}: no 'categories' list; detection needs the class names")
    by_id: dict[Any, str] = {}
    for c in cats:
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or isinstance(c.get("id"), bool):
            raise ValueError(f"{path}: category {c!r} has no integer 'id'")
        if c["id"] in by_id:
            raise ValueError(f"{path}: category id {c['id']} is listed twice")
        by_id[c["id"]] = str(c.get("name", f"class_{c['id']}"))
    order = sorted(by_id)  # labels follow the ids' order, whatever the list's
    return {cid: i for i, cid in enumerate(order)}, [by_id[cid] for cid in order]


def _coco_root(json_path: Path, images: list, images_root: str | os.PathLike | None) -> Path:
    """Where ``file_name`` is relative to: ``images_root``, else the JSON's folder or its ``images/``."""
    if images_root is not None:
        return Path(images_root).expanduser()
    here = json_path.parent
    names = [im.get("file_name") for im in images[:20] if isinstance(im, dict) and isinstance(im.get("file_name"), str)]
    for root in (here, here / "images"):
        if any((root / n).is_file() for n in names):
            return root
    return here


def read_coco(
    json_path: str | os.PathLike, images_root: str | os.PathLike | None = None
) -> tuple[list[DetectionRecord], list[str]]:
    """Records and class names from a COCO instances file; labels follow the category ids' order.

    ``file_name`` is taken relative to ``images_root``, by default the JSON's folder, or its
    ``images/`` subfolder when the files are there. Crowd annotations (``iscrowd`` 1) mark regions,
    not items, and are left out. Images without annotations stay, as background.
    """
    path = Path(json_path).expanduser()
    data = _load_json(path)
    to_label, names = _coco_classes(path, data)
    root = _coco_root(path, data["images"], images_root)
    log = _Log()

    images: dict[int | str, dict] = {}
    for k, im in enumerate(data["images"]):
        if not (isinstance(im, dict) and isinstance(im.get("id"), (int, str)) and isinstance(im.get("file_name"), str)):
            log.box(str(path), f"images[{k}] has no 'id' or 'file_name', left out")
        elif im["id"] in images:
            log.box(str(path), f"image id {im['id']} is listed twice, the second left out")
        else:
            images[im["id"]] = {"file": im["file_name"], "size": (im.get("width"), im.get("height")), "raw": []}
    anns = data.get("annotations", [])
    if not isinstance(anns, list):
        raise ValueError(f"{path}: 'annotations' is not a list")
    for k, ann in enumerate(anns):
        tag = f"annotation {ann.get('id', k) if isinstance(ann, dict) else k}"
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        if not isinstance(image_id, (int, str)) or image_id not in images:
            log.box(str(path), f"{tag}: no such image, dropped")
            continue
        if ann.get("iscrowd", 0):
            continue
        bbox, cat = ann.get("bbox"), ann.get("category_id")
        label = to_label[cat] if isinstance(cat, int) and cat in to_label else f"unknown category_id {cat!r}"
        try:
            x, y, w, h = (float(v) for v in bbox)
            entry = (tag, label, [x, y, x + w, y + h])
        except (TypeError, ValueError):
            entry = (tag, f"bbox {str(bbox)[:40]} is not [x, y, w, h]", [])
        images[image_id]["raw"].append(entry)

    records = []
    for im in images.values():
        file = root / im["file"]
        if not file.is_file():
            log.image(file, f"file not found (listed in {path})")
            continue
        w, h = im["size"]
        if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
            try:
                w, h = _image_size(file)
            except BadImageError as e:
                log.image(file, e.reason)
                continue
        boxes, labels = _clean(im["raw"], w, h, f"{path} ({im['file']})", log)
        records.append(DetectionRecord(file, torch.from_numpy(boxes), torch.from_numpy(labels), w, h))
    log.flush()
    return records, names


# --- YOLO ----------------------------------------------------------------------------------


def _load_yaml(path: Path) -> dict:
    import yaml  # only the YOLO reader needs it

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such dataset YAML file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YOLO dataset file (expected a mapping with 'train', 'val' and 'names')")
    return data


def _yolo_names(path: Path, data: dict) -> list[str]:
    names, nc = data.get("names"), data.get("nc")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    if isinstance(names, dict) and names:
        try:
            by_index = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise ValueError(f"{path}: 'names' keys must be class indices, got {list(names)}") from None
        if min(by_index) < 0:
            raise ValueError(f"{path}: 'names' has a negative class index")
        return [by_index.get(i, f"class_{i}") for i in range(max(by_index) + 1)]
    if isinstance(nc, int) and nc > 0:
        return [f"class_{i}" for i in range(nc)]
    raise ValueError(f"{path}: no class names ('names' as a list or an index: name mapping, or 'nc')")


def _yolo_root(path: Path, data: dict) -> Path:
    """The dataset root: ``path`` if it exists (relative to the YAML's folder), else the YAML's folder.

    YOLO tools resolve a relative ``path`` against their own datasets folder; here it is the
    YAML's, and a root that no longer exists (a moved dataset) falls back to the YAML's folder.
    """
    here = path.parent
    given = data.get("path")
    if isinstance(given, str) and given:
        root = Path(given).expanduser()
        root = root if root.is_absolute() else here / root
        if root.is_dir():
            return root
    return here


def _yolo_images(path: Path, root: Path, entry: Any, split: str) -> list[Path]:
    """Image paths from a folder, a .txt list or a list of those, as YOLO tools read ``train``/``val``."""
    entries = entry if isinstance(entry, list) else [entry]
    found: list[Path] = []
    for e in entries:
        if not isinstance(e, str) or not e:
            raise ValueError(f"{path}: '{split}' must be a path or a list of paths, got {entry!r}")
        p = Path(e).expanduser()
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            found += _find_images(p)
        elif p.is_file():
            lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
            # "./x" lines are relative to the list's folder (as YOLO tools read them); so are bare relative ones here.
            found += [q if q.is_absolute() else p.parent / q for q in (Path(ln) for ln in lines if ln)]
        else:
            raise FileNotFoundError(f"{path}: '{split}' names {p}, which does not exist")
    return found


def label_path(image: str | os.PathLike) -> Path:
    """The YOLO label file of ``image``: the last ``images`` folder becomes ``labels``, the suffix ``.txt``."""
    parts = list(Path(image).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _yolo_boxes(text: str, width: int, height: int, classes: int) -> Raw:
    """Boxes for ``_clean`` from a label file's lines: ``class cx cy w h`` or a polygon ``class x1 y1 x2 y2 ...``."""
    raw: Raw = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raw.append((f"line {n}", f"{line.strip()[:40]!r} is not numbers", []))
            continue
        c = values[0]
        label: int | str = int(c) if c.is_integer() and 0 <= c < classes else f"unknown class {fields[0]}"
        if len(values) == 5:
            cx, cy, w, h = values[1:]
            box = [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
        elif len(values) >= 7 and len(values) % 2 == 1:  # a segment polygon: its box
            xs, ys = values[1::2], values[2::2]
            box = [min(xs) * width, min(ys) * height, max(xs) * width, max(ys) * height]
        else:
            label, box = f"{len(fields)} fields (expected 'class cx cy w h')", []
        raw.append((f"line {n}", label, box))
    return raw


def read_yolo(data_yaml: str | os.PathLike, split: str = "train") -> tuple[list[DetectionRecord], list[str]]:
    """Records and class names of one split of a YOLO dataset described by ``data_yaml``.

    ``split`` names an entry of the YAML (``train``, ``val``, ``test``): a folder, a ``.txt`` list
    of images or a list of those, relative to ``path``. Labels are read from the parallel
    ``labels/`` path (``.../images/a.jpg`` -> ``.../labels/a.txt``); an image without a label
    file is background. Image sizes come from the file headers, EXIF rotation applied.
    """
    path = Path(data_yaml).expanduser()
    data = _load_yaml(path)
    names = _yolo_names(path, data)
    if data.get(split) in (None, ""):
        raise ValueError(f"{path}: no '{split}' entry")
    images = _yolo_images(path, _yolo_root(path, data), data[split], split)
    log = _Log()
    records, unlabelled = [], 0
    for image in images:
        if not image.is_file():
            log.image(image, f"file not found (listed for '{split}' in {path})")
            continue
        try:
            w, h = _image_size(image)
        except BadImageError as e:
            log.image(image, e.reason)
            continue
        labels_file = label_path(image)
        try:
            text = labels_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            unlabelled += 1
            text = ""
        except (OSError, UnicodeDecodeError) as e:
            log.box(str(labels_file), f"cannot read it ({e}); the image is kept without boxes")
            text = ""
        boxes, labels = _clean(_yolo_boxes(text, w, h, len(names)), w, h, str(labels_file), log)
        records.append(DetectionRecord(image, torch.from_numpy(boxes), torch.from_numpy(labels), w, h))
    if records and unlabelled == len(records):
        example = label_path(records[0].path)
        log.box(str(path), f"no label files found for '{split}' (looked for {example} and the like)")
    log.flush()
    return records, names


def read_detection(source: str | os.PathLike, split: str = "train") -> tuple[list[DetectionRecord], list[str]]:
    """Read a COCO ``.json``, a YOLO ``.yaml``, or a folder holding ``data.yaml`` (YOLO) or ``annotations.json`` (COCO).

    ``split`` picks the YOLO split; a COCO file is one split already and ignores it.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        for name in ("data.yaml", "data.yml"):
            if (path / name).is_file():
                return read_yolo(path / name, split)
        if (path / "annotations.json").is_file():
            return read_coco(path / "annotations.json")
        raise ValueError(f"{path}: no data.yaml (YOLO) or annotations.json (COCO) in this folder")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_coco(path)
    if suffix in (".yaml", ".yml"):
        return read_yolo(path, split)
    raise ValueError(f"{path}: not a COCO .json, a YOLO .yaml or a folder holding one")


# --- dataset -------------------------------------------------------------------------------


@dataclass
class DetectionSample:
    index: int
    image: torch.Tensor  # uint8 (3, H, W) as decoded, unless a transform changed it
    boxes: torch.Tensor  # float32 (N, 4) xyxy
    labels: torch.Tensor  # int64 (N,)
    path: str


@dataclass
class DetectionBatch:
    images: torch.Tensor | list[torch.Tensor]  # stacked when all the same size, else a list
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    paths: list[str]
    indices: torch.Tensor  # long (N,): dataset index of each image
    bad: list[BadSample]  # items of this batch that could not be read

    def __len__(self) -> int:
        return len(self.indices)

    def pin_memory(self) -> DetectionBatch:
        images = self.images
        images = images.pin_memory() if isinstance(images, torch.Tensor) else [i.pin_memory() for i in images]
        return DetectionBatch(images, [b.pin_memory() for b in self.boxes], [lab.pin_memory() for lab in self.labels],
                              self.paths, self.indices.pin_memory(), self.bad)


Triple = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
Transform = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, np.random.Generator], Triple]


class DetectionDataset(Dataset):
    """``DetectionRecord``s read as ``DetectionSample``s, or ``BadSample`` when the file cannot be read.

    Images come as decoded (upright RGB, original size); this class never resizes. ``size`` is the
    network's input side, kept for the transform to agree with. ``transform(image, boxes, labels,
    rng)`` (e.g. ``modiste.detect.augment.DetectionAugment``) gets a numpy generator seeded from
    torch's, so DataLoader workers (seeded per worker and epoch by torch) draw differently.
    """

    def __init__(
        self,
        records: Sequence[DetectionRecord],
        size: int = 320,
        transform: Transform | None = None,
        *,
        policy: ImagePolicy | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.records = list(records)
        self.size = int(size)
        self.transform = transform
        self.policy = policy if policy is not None else ImagePolicy()
        if self.policy.size is not None:
            raise ValueError("the policy must keep the image size (size=None): boxes are in original pixels")
        self.classes = list(classes) if classes is not None else None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> DetectionSample | BadSample:
        rec = self.records[index]
        try:
            image = load_image(rec.path, self.policy)
        except BadImageError as e:
            return BadSample(index, str(rec.path), e.reason)
        h, w = image.shape[1:]
        if (w, h) != (rec.width, rec.height):
            why = f"image is {w}x{h} px but its boxes are for {rec.width}x{rec.height}"
            return BadSample(index, str(rec.path), why)
        boxes, labels = rec.boxes.clone(), rec.labels.clone()
        if self.transform is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
            image, boxes, labels = self.transform(image, boxes, labels, rng)
        return DetectionSample(index, image, boxes, labels, str(rec.path))

    def __repr__(self) -> str:
        n = sum(len(r.labels) for r in self.records)
        return f"{type(self).__name__}({len(self)} images, {n} boxes, size={self.size})"


def detection_collate(items: Sequence[DetectionSample | BadSample]) -> DetectionBatch:
    """Batch the good items; the bad ones go to ``batch.bad`` for a ``SkipLog`` to warn about (see loading.py)."""
    good = [s for s in items if isinstance(s, DetectionSample)]
    bad = [s for s in items if isinstance(s, BadSample)]
    images: torch.Tensor | list[torch.Tensor]
    if not good:
        images = torch.empty((0, 3, 0, 0), dtype=torch.uint8)
    elif len({tuple(s.image.shape) for s in good}) == 1:
        images = torch.stack([s.image for s in good])
    else:
        images = [s.image for s in good]
    return DetectionBatch(
        images, [s.boxes for s in good], [s.labels for s in good], [s.path for s in good],
        torch.tensor([s.index for s in good], dtype=torch.long), bad,
    )


class Letterbox(NamedTuple):
    """How ``letterbox`` mapped the image: ``out = in * scale + pad`` per axis."""

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def invert(self, boxes: torch.Tensor) -> torch.Tensor:
        """Boxes xyxy on the letterboxed image -> pixels of the original."""
        pad = boxes.new_tensor([self.pad_x, self.pad_y, self.pad_x, self.pad_y])
        scale = boxes.new_tensor([self.scale_x, self.scale_y, self.scale_x, self.scale_y])
        return (boxes - pad) / scale


def letterbox(
    image: torch.Tensor, boxes: torch.Tensor, size: int | tuple[int, int], *, fill: int = YOLO_FILL
) -> tuple[torch.Tensor, torch.Tensor, Letterbox]:
    """Fit ``image`` uint8 (3, H, W) whole into ``size`` (side, or (height, width)), centred, padded with ``fill``.

    Returns (image uint8 (3, h, w), boxes xyxy mapped onto it, the ``Letterbox`` to map predictions back).
    """
    th, tw = to_size(size)
    _, h, w = image.shape
    s = min(tw / w, th / h)
    nw, nh = min(tw, max(1, round(w * s))), min(th, max(1, round(h * s)))
    px, py = (tw - nw) // 2, (th - nh) // 2
    out = torch.full((3, th, tw), fill, dtype=torch.uint8)
    if (nw, nh) == (w, h):
        out[:, py : py + nh, px : px + nw] = image
    else:
        small = F.interpolate(image[None].float(), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        out[:, py : py + nh, px : px + nw] = small[0].round_().clamp_(0, 255).to(torch.uint8)
    box = Letterbox(nw / w, nh / h, px, py)
    scale = torch.tensor([box.scale_x, box.scale_y, box.scale_x, box.scale_y], dtype=torch.float32)
    shift = torch.tensor([px, py, px, py], dtype=torch.float32)
    return out, boxes.float() * scale + shift, box
