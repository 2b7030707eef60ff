"""Loading a dataset: batches that carry their bad files, one warning per bad file, decode-once scans."""
from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from modiste.data.datasets import BadSample, ImageDataset, Sample
from modiste.data.images import BadImageError, BadImageWarning
from modiste.progress import progress_bar

# Below this many items, starting worker processes costs more than decoding in the main one.
_MIN_ITEMS_FOR_WORKERS = 64
_MAX_DEFAULT_WORKERS = 4
_SKIPLOG_SHOWN = 10  # files named in str(SkipLog); the summary() has them all

@dataclass
class Batch:
    images: torch.Tensor  # uint8 (N, 3, H, W)
    indices: torch.Tensor  # long (N,): dataset index of each image
    labels: torch.Tensor  # long (N,): -1 where unlabelled
    bad: list[BadSample]  # items of this batch that could not be read

    def __len__(self) -> int:
        return len(self.indices)

    def pin_memory(self) -> Batch:
        # DataLoader(pin_memory=True) calls this on custom batch types.
        return Batch(self.images.pin_memory(), self.indices.pin_memory(), self.labels.pin_memory(), self.bad)


def collate(items: Sequence[Sample | BadSample], *, size: tuple[int, int] | None = None) -> Batch:
    """Stack the good items; the bad ones go to ``batch.bad``.

    ``size`` (height, width) only shapes the empty batch when every item is bad:
    (0, 3, H, W), or (0, 3, 0, 0) when unknown. make_loader passes the policy's size.
    """
    good = [s for s in items if isinstance(s, Sample)]
    bad = [s for s in items if isinstance(s, BadSample)]
    if good:
        shapes = {tuple(s.image.shape) for s in good}
        if len(shapes) > 1:
            raise ValueError(
                f"images of different sizes {sorted(shapes)} cannot be batched; "
                "give the ImagePolicy a size (e.g. open_dataset(..., size=64))"
            )
        images = torch.stack([s.image for s in good])
    else:
        h, w = size if size is not None else (0, 0)
        images = torch.empty((0, 3, h, w), dtype=torch.uint8)
    indices = torch.tensor([s.index for s in good], dtype=torch.long)
    labels = torch.tensor([s.label for s in good], dtype=torch.long)
    return Batch(images, indices, labels, bad)


class SkipLog:
    """Counts and reports the bad files of a run.

    Each bad file gives exactly one BadImageWarning naming it and the reason, and is counted
    once, however many epochs it is seen.
    """

    def __init__(self) -> None:
        self._items: dict[str, str] = {}

    def record(self, bad: Iterable[BadSample | BadImageError]) -> None:
        for item in bad:
            if item.path in self._items:
                continue
            self._items[item.path] = item.reason
            warnings.warn(f"skipping {item.path}: {item.reason}", BadImageWarning, stacklevel=2)

    @classmethod
    def of(cls, items: dict[str, str]) -> "SkipLog":
        """A log of files (path -> reason) a reader skipped and warned about already."""
        log = cls()
        log._items.update(items)
        return log

    def merge(self, other: "SkipLog") -> None:
        """Take another log's files (already warned about there) without warning again."""
        for path, reason in other.items.items():
            self._items.setdefault(path, reason)

    @property
    def count(self) -> int:
        return len(self._items)

    @property
    def items(self) -> dict[str, str]:
        """path -> reason, in the order they were first seen (a copy)."""
        return dict(self._items)

    def summary(self) -> dict:
        """For the run's JSON summary."""
        return {"skipped": self.count, "files": dict(self._items)}

    def __str__(self) -> str:
        n = self.count
        head = f"{n} file{'' if n == 1 else 's'} skipped"
        if not n:
            return head
        shown = [f"{p} ({r})" for p, r in list(self._items.items())[:_SKIPLOG_SHOWN]]
        more = f", ... and {n - len(shown)} more" if n > len(shown) else ""
        return f"{head}: {', '.join(shown)}{more}"

    def __repr__(self) -> str:
        return f"SkipLog(count={self.count})"


def usable_cpus() -> int:
    """The CPUs this process may use (containers, taskset), not the host's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_num_workers(dataset: Dataset) -> int:
    """min(4, usable CPUs), or 0 for a tiny dataset where worker start-up would dominate."""
    if len(dataset) < _MIN_ITEMS_FOR_WORKERS:  # type: ignore[arg-type]
        return 0
    return min(_MAX_DEFAULT_WORKERS, usable_cpus())


def _policy_size(dataset: Dataset) -> tuple[int, int] | None:
    # getattr: a torch Subset of an ImageDataset has no policy of its own.
    policy = getattr(dataset, "policy", None)
    return policy.size if policy is not None else None


def make_loader(
    dataset: ImageDataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    num_workers: int | None = None,
    sampler: Sampler | Iterable | None = None,
    drop_last: bool = False,
    generator: torch.Generator | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of Batch: files are decoded in the worker processes, bad ones in ``batch.bad``."""
    if num_workers is None:
        num_workers = default_num_workers(dataset)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=functools.partial(collate, size=_policy_size(dataset)),
        drop_last=drop_last,
        generator=generator,
        pin_memory=pin_memory,
        # Workers fork a copy of the dataset; restarting them every epoch costs seconds.
        persistent_workers=num_workers > 0,
    )


def scan(
    dataset: ImageDataset,
    *,
    batch_size: int = 64,
    num_workers: int | None = None,
    progress: bool = True,
    desc: str = "reading images",
) -> tuple[torch.Tensor, torch.Tensor, SkipLog]:
    """Decode every image once: (uint8 images (N, 3, H, W) of the good items in dataset order,
    their dataset indices (long), the SkipLog). For caching a small catalogue in memory."""
    loader = make_loader(dataset, batch_size, num_workers=num_workers)
    skips = SkipLog()
    out: torch.Tensor | None = None  # allocated once the image size is known: no 2x peak from cat
    indices: list[torch.Tensor] = []
    n = 0
    with progress_bar(total=len(dataset), desc=desc, unit="img", disable=not progress) as bar:
        for batch in loader:
            skips.record(batch.bad)
            if len(batch):
                if out is None:
                    out = torch.empty((len(dataset), *batch.images.shape[1:]), dtype=torch.uint8)
                elif batch.images.shape[1:] != out.shape[1:]:
                    raise ValueError(
                        f"scan needs images of one size, got {tuple(out.shape[2:])} and "
                        f"{tuple(batch.images.shape[2:])}; give the ImagePolicy a size"
                    )
                out[n : n + len(batch)] = batch.images
                n += len(batch)
                indices.append(batch.indices)
            bar.update(len(batch) + len(batch.bad))
    if out is None:
        size = _policy_size(dataset) or (0, 0)
        return torch.empty((0, 3, *size), dtype=torch.uint8), torch.empty(0, dtype=torch.long), skips
    images = out[:n] if n == len(dataset) else out[:n].clone()  # clone frees the unused rows
    return images, torch.cat(indices), skips
