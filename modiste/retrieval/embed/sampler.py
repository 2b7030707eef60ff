"""m-per-class sampling: every batch holds ``batch_size // m`` classes with ``m`` items each.

In-batch triplet mining needs positives in the batch; a plain shuffle over many classes gives
almost none. Use it as ``DataLoader(ds, batch_size=sampler.batch_size, sampler=sampler)`` (no
``shuffle``) and call ``sampler.set_epoch(epoch)`` before each epoch.

Classes are drawn uniformly, without repeats inside a batch. Items of a class come from a
shuffled queue that is refilled when empty, so every item is seen before any repeats; a class
with fewer than ``m`` items fills its slots by drawing with replacement.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler


class MPerClassSampler(Sampler[int]):
    def __init__(self, labels: Sequence[Any] | np.ndarray | torch.Tensor, m: int = 4, batch_size: int = 32,
                 seed: int = 0, length: int | None = None):
        """``length``: indices per epoch, rounded down to whole batches; default about one pass
        over the data (``len(labels)`` rounded down, at least one batch)."""
        if m < 1 or batch_size % m:
            raise ValueError(f"batch_size ({batch_size}) must be a positive multiple of m ({m})")
        labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
        _, codes = np.unique(labels, return_inverse=True)
        self.class_items = [torch.as_tensor(np.flatnonzero(codes == c)) for c in range(codes.max() + 1)]
        self.m, self.batch_size, self.seed, self.epoch = m, batch_size, seed, 0
        self.classes_per_batch = batch_size // m
        if self.classes_per_batch > len(self.class_items):
            raise ValueError(f"a batch of {batch_size} with m={m} needs {self.classes_per_batch} classes; "
                             f"the labels hold {len(self.class_items)}")
        n = len(labels) if length is None else length
        self.num_batches = max(n // batch_size, 1 if length is None else 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        queues: list[list[int]] = [[] for _ in self.class_items]
        for _ in range(self.num_batches):
            for c in torch.randperm(len(self.class_items), generator=g)[: self.classes_per_batch].tolist():
                items = self.class_items[c]
                if len(items) < self.m:
                    yield from items[torch.randint(len(items), (self.m,), generator=g)].tolist()
                    continue
                if len(queues[c]) < self.m:
                    # top up with a fresh permutation, skipping what is still queued so the m differ
                    fresh = [i for i in items[torch.randperm(len(items), generator=g)].tolist() if i not in queues[c]]
                    queues[c] += fresh
                yield from queues[c][: self.m]
                del queues[c][: self.m]
