"""Reading the files to add: content hash and decode in loader workers, known content not decoded."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from modiste.data.datasets import ImageRecord
from modiste.data.images import BadImageError, ImagePolicy, load_image_bytes
from modiste.data.loading import default_num_workers

@dataclass
class ReadItem:
    index: int  # position in the records being added
    sha1: str | None  # None when the file could not be read at all
    image: torch.Tensor | None  # uint8 (3, H, W); None when known, bad or unread
    reason: str | None = None  # why the file is bad


class HashingDataset(Dataset):
    """Each record's sha1 and, unless that content is already indexed, its decoded image."""

    def __init__(self, records: Sequence[ImageRecord], policy: ImagePolicy, known: frozenset[str]) -> None:
        self.records = list(records)
        self.policy = policy
        self.known = known

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> ReadItem:
        path = self.records[index].path
        try:
            data = Path(path).read_bytes()  # read once: hashed, then decoded from memory
        except FileNotFoundError:
            return ReadItem(index, None, None, "file not found")
        except IsADirectoryError:
            return ReadItem(index, None, None, "not a file")
        except OSError as e:
            return ReadItem(index, None, None, f"cannot read file: {e.strerror or e}")
        digest = hashlib.sha1(data).hexdigest()
        if digest in self.known:
            return ReadItem(index, digest, None)
        try:
            image = load_image_bytes(data, path, self.policy)
        except BadImageError as e:
            return ReadItem(index, digest, None, e.reason)
        return ReadItem(index, digest, image)


def _as_list(items: list[ReadItem]) -> list[ReadItem]:
    return items


def read_batches(
    records: Sequence[ImageRecord],
    policy: ImagePolicy,
    known: frozenset[str],
    *,
    batch: int,
    num_workers: int | None = None,
) -> DataLoader:
    """Batches (lists) of ReadItem in record order."""
    dataset = HashingDataset(records, policy, known)
    if num_workers is None:
        num_workers = default_num_workers(dataset)
    return DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=num_workers, collate_fn=_as_list)


def resolve(path: str | os.PathLike) -> str:
    """The form a path is stored in: absolute, so the index works from any folder."""
    return str(Path(path).expanduser().resolve())
