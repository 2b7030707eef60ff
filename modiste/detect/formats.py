"""Reading boxed photos: COCO JSON and YOLO folders into one record type (``records.py``), bad boxes
cleaned with a warning naming the file. ``read_detection`` takes either, or a folder holding one."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from modiste.data.datasets import _find_images
from modiste.data.images import BadImageError
from modiste.detect.records import DetectionRecord, Raw, Records, _clean, _image_size, _Log


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
    return Records(records, log.images), names


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
    return Records(records, log.images), names


def read_detection(source: str | os.PathLike, split: str = "train") -> tuple[Records, list[str]]:
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
