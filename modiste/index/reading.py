"""Reading the files to add: content hash and decode in loader workers, known content not decoded."""
from __future__ import annotations

import gc
import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from modiste.data.datasets import ImageRecord
from modiste.data.images import BadImageError, ImagePolicy, load_image_bytes
from modiste.data.loading import usable_cpus

# Decode workers compete with the model for the cores: on a machine with few, one worker
# overlaps decoding with the model and more only slow it (benchmarks/embed_throughput.py).
_MAX_WORKERS = 2
_MIN_ITEMS_FOR_WORKERS = 256
_WORKER_NICENESS = int(os.environ.get("MODISTE_NICE", "10"))  # below this, starting a worker costs more than it saves


@dataclass
class ReadItem:
    index: int  # position in the records being added
    path: str  # the stored form of the path (see resolve)
    sha1: str | None  # None when the file could not be read at all
    image: torch.Tensor | None  # uint8 (3, H, W); None when known, bad or unread
    reason: str | None = None  # why the file is bad


@dataclass
class ReadBatch:
    """One batch as a worker sends it: the decoded images stacked into one tensor, so a batch
    crosses from the worker in one piece of shared memory rather than one per image."""

    items: list[ReadItem]  # image left None; the pixels are in ``images``
    images: torch.Tensor  # uint8 (n, 3, H, W): the items with ``decoded[i]``, in order
    decoded: list[bool]

    def __iter__(self) -> Iterator[ReadItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class HashingDataset(Dataset):
    """Each record's stored path, sha1 and, unless that content is already indexed, its image.

    Whether content is indexed is asked of ``db`` (the index's meta.sqlite) file by file, through
    a read-only connection of each process's own, rather than from a set of every hash held in
    memory. Content committed while the loader reads ahead is still decoded; the index's own check
    at commit time is the one that counts.
    """

    def __init__(self, records: Sequence[ImageRecord], policy: ImagePolicy, db: str | os.PathLike | None) -> None:
        self.records = list(records)
        self.policy = policy
        self.db = os.fspath(db) if db is not None else None
        self._conn: tuple[int, sqlite3.Connection] | None = None
        self._real_dirs: dict[str, str] = {}  # folder -> its resolved form: one per folder, not per file

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_conn": None}

    def _resolve(self, path: str | os.PathLike) -> str:
        """``resolve(path)``, resolving each folder once: a file that is not a link itself
        resolves to its folder's resolved form plus its name."""
        absolute = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if os.path.islink(absolute):
            return os.path.realpath(absolute)
        folder, name = os.path.split(absolute)
        real = self._real_dirs.get(folder)
        if real is None:
            real = self._real_dirs[folder] = os.path.realpath(folder)
        return os.path.join(real, name)

    def _known(self, digest: str) -> bool:
        if self.db is None:
            return False
        if self._conn is None or self._conn[0] != os.getpid():  # a forked worker opens its own
            uri = Path(self.db).resolve().as_uri() + "?mode=ro"
            self._conn = (os.getpid(), sqlite3.connect(uri, uri=True, timeout=30))
        row = self._conn[1].execute("SELECT 1 FROM items WHERE sha1 = ?", (digest,)).fetchone()
        return row is not None

    def close(self) -> None:
        if self._conn is not None and self._conn[0] == os.getpid():
            self._conn[1].close()
        self._conn = None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> ReadItem:
        path = self.records[index].path
        stored = self._resolve(path)
        try:
            data = Path(path).read_bytes()  # read once: hashed, then decoded from memory
        except FileNotFoundError:
            return ReadItem(index, stored, None, None, "file not found")
        except IsADirectoryError:
            return ReadItem(index, stored, None, None, "not a file")
        except OSError as e:
            return ReadItem(index, stored, None, None, f"cannot read file: {e.strerror or e}")
        digest = hashlib.sha1(data).hexdigest()
        if self._known(digest):
            return ReadItem(index, stored, digest, None)
        try:
            image = load_image_bytes(data, path, self.policy)
        except BadImageError as e:
            return ReadItem(index, stored, digest, None, e.reason)
        return ReadItem(index, stored, digest, image)


def _stack(items: list[ReadItem], size: tuple[int, int]) -> ReadBatch:
    decoded = [it.image is not None for it in items]
    images = [it.image for it in items if it.image is not None]
    stacked = torch.stack(images) if images else torch.empty((0, 3, *size), dtype=torch.uint8)
    for it in items:
        it.image = None
    return ReadBatch(items, stacked, decoded)


class _Collate:
    # A class, not a lambda: workers started by spawn pickle it.
    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size

    def __call__(self, items: list[ReadItem]) -> ReadBatch:
        return _stack(items, self.size)


def default_workers(n: int) -> int:
    """Decode workers for ``n`` files: none for a few files or on a machine with two cores or
    fewer (there a worker only takes a core from the model: decoding in-process kept 83% of the
    model's speed, one worker 79%), else one per two cores, at most two."""
    if n < _MIN_ITEMS_FOR_WORKERS:
        return 0
    cpus = usable_cpus()
    return 0 if cpus <= 2 else min(_MAX_WORKERS, cpus // 2)


def read_batches(
    records: Sequence[ImageRecord],
    policy: ImagePolicy,
    db: str | os.PathLike | None,
    *,
    batch: int,
    num_workers: int | None = None,
) -> Iterator[ReadBatch]:
    """ReadBatches in record order."""
    if policy.size is None:
        raise ValueError("read_batches stacks images, so its ImagePolicy needs a size")
    dataset = HashingDataset(records, policy, db)
    if num_workers is None:
        num_workers = default_workers(len(dataset))
    loader = DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=num_workers,
                        collate_fn=_Collate(tuple(policy.size)))
    frozen = False
    try:
        if num_workers:
            # Workers are forked with the parent's objects. Freezing those (for the whole read)
            # keeps either side's garbage collector from touching, and so copying, every page
            # the parent and its workers share.
            gc.collect()
            gc.freeze()
            frozen = True
        yield from loader
    finally:
        if frozen:
            gc.unfreeze()
        dataset.close()


def resolve(path: str | os.PathLike) -> str:
    """The form a path is stored in: absolute, so the index works from any folder."""
    return os.path.realpath(os.path.expanduser(os.fspath(path)))
