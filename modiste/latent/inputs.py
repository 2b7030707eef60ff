"""Images for the latent tools: a folder, a CSV manifest or one file, decoded at the generator's size,
with each item's path and attributes (class folder name or CSV columns) kept beside it."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modiste.data import ImagePolicy, open_dataset, scan
from modiste.data.loading import SkipLog


@dataclass
class ImageBatch:
    images: torch.Tensor  # uint8 (N, 3, size, size), the usable images only
    paths: list[str]
    columns: dict[str, list[str]] = field(default_factory=dict)
    skips: SkipLog = field(default_factory=SkipLog)

    def __len__(self) -> int:
        return self.images.shape[0]


def read_images(source: str | os.PathLike, *, size: int, resize: str = "letterbox", workers: int | None = None,
                progress: bool = True) -> ImageBatch:
    """Decode every usable image of ``source``; bad files are skipped with a warning naming each one."""
    dataset = open_dataset(source, ImagePolicy(size=(size, size), resize=resize))
    images, idx, skips = scan(dataset, num_workers=workers, progress=progress)
    records = [dataset.records[i] for i in idx.tolist()]
    columns: dict[str, list[str]] = {}
    if dataset.classes is not None:
        columns["label"] = ["" if r.label is None else dataset.classes[r.label] for r in records]
    meta_keys: list[str] = []
    for r in records:
        meta_keys += [k for k in r.meta if k not in meta_keys and k != "label"]
    for k in meta_keys:
        columns[k] = [r.meta.get(k, "") for r in records]
    # absolute paths: the map, search results and tag tables must find the files from any working directory
    return ImageBatch(images, [str(Path(r.path).resolve()) for r in records], columns, skips)
