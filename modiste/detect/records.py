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

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from modiste.data.images import (
    _ORIENTATION_TAG,
    _TRANSPOSING_ORIENTATIONS,
    BadImageError,
    BadImageWarning,
)


# Boxes past the edge by less than this many pixels are rounding (COCO has many); clipped silently.
CLIP_TOLERANCE = 1.0
_SHOWN_FILES = 10  # files warned about one by one per read; the rest are counted in one warning
_SHOWN_PROBLEMS = 5  # problems listed per file



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


class Records(list):
    """The records a reader returns; ``skipped``: the images it left out (path -> why), already warned about."""

    def __init__(self, records: Sequence["DetectionRecord"] = (), skipped: dict[str, str] | None = None):
        super().__init__(records)
        self.skipped = dict(skipped or {})


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
