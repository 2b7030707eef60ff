"""Reading the files to add: content hash and decode in loader workers, known content not decoded."""
from __future__ import annotations

import hashlib
import multiprocessing
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
_MIN_ITEMS_FOR_WORKERS = 2048  # a worker starts a fresh interpreter (about a second): worth it for big adds only


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

    Whether content is indexed is asked of ``db`` (the index's meta.sqlite) batch by batch, through
    a read-only connection of each process's own, rather than from a set of every hash held in
    memory. Content committed while the loader reads ahead is still decoded; the index's own check
    at commit time is the one that counts.
    """

    def __init__(self, records: Sequence[ImageRecord], policy: ImagePolicy, db: str | os.PathLike | None) -> None:
        self.paths = [os.fspath(r.path) for r in records]  # all a worker needs of a record
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

    def _known(self, digests: set[str]) -> set[str]:
        """Which of ``digests`` are indexed: one query for a batch."""
        if self.db is None or not digests:
            return set()
        if self._conn is None or self._conn[0] != os.getpid():  # each worker opens its own
            uri = Path(self.db).resolve().as_uri() + "?mode=ro"
            self._conn = (os.getpid(), sqlite3.connect(uri, uri=True, timeout=30))
        found: set[str] = set()
        todo = list(digests)
        for start in range(0, len(todo), 500):  # under SQLite's limit on bound parameters
            chunk = todo[start:start + 500]
            rows = self._conn[1].execute(f"SELECT sha1 FROM items WHERE sha1 IN ({','.join('?' * len(chunk))})", chunk)
            found.update(r[0] for r in rows)
        return found

    def close(self) -> None:
        if self._conn is not None and self._conn[0] == os.getpid():
            self._conn[1].close()
        self._conn = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> ReadItem:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[ReadItem]:
        """A batch: every file read and hashed, the indexed ones looked up together, the rest decoded."""
        items = [self._read(i) for i in indices]
        known = self._known({it.sha1 for it, _ in items if it.sha1 is not None})
        for it, data in items:
            if data is None or it.sha1 in known:
                continue
            try:
                it.image = load_image_bytes(data, self.paths[it.index], self.policy)
            except BadImageError as e:
                it.reason = e.reason
        return [it for it, _ in items]

    def _read(self, index: int) -> tuple[ReadItem, bytes | None]:
        path = self.paths[index]
        stored = self._resolve(path)
        try:
            data = Path(path).read_bytes()  # read once: hashed, then decoded from memory
        except FileNotFoundError:
            return ReadItem(index, stored, None, None, "file not found"), None
        except IsADirectoryError:
            return ReadItem(index, stored, None, None, "not a file"), None
        except OSError as e:
            return ReadItem(index, stored, None, None, f"cannot read file: {e.strerror or e}"), None
        return ReadItem(index, stored, hashlib.sha1(data).hexdigest(), None), data


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
    """Decode workers for ``n`` files: none for fewer than 2048 files (starting a worker costs
    about a second) or on a machine with two cores or fewer (there a worker only takes a core
    from the model: benchmarks/embed_throughput.py), else one per two cores, at most two."""
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
    # Workers start from a fresh interpreter (forkserver), not as forks of this process: a forked
    # worker shares this process's heap copy-on-write, and every page of it either side then
    # touches (reference counts are writes) is copied, so memory grew with the files indexed.
    context = (multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                                           else "spawn") if num_workers else None)
    loader = DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=num_workers,
                        collate_fn=_Collate(tuple(policy.size)), multiprocessing_context=context)
    try:
        yield from loader
    finally:
        dataset.close()


def resolve(path: str | os.PathLike) -> str:
    """The form a path is stored in: absolute, so the index works from any folder."""
    return os.path.realpath(os.path.expanduser(os.fspath(path)))
