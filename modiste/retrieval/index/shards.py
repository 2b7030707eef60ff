"""Embeddings on disk: append-only .npy shards, one per committed batch, never rewritten."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from modiste.io import atomic_path


class ShardStore:
    """``embeddings/000001.npy`` ... float32 (n, dim); SQLite says which rows are live.

    A shard is written (temp file, fsync, rename) before the batch's rows are committed, so a
    committed row always points at a complete shard. A shard written by a batch that never
    committed is unreferenced and is overwritten by the next batch, which gets the same number.
    """

    def __init__(self, folder: str | Path, dim: int) -> None:
        self.folder = Path(folder)
        self.dim = dim

    def path(self, shard: int) -> Path:
        return self.folder / f"{shard:06d}.npy"

    def write(self, shard: int, vectors: np.ndarray) -> Path:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        path = self.path(shard)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, vectors)
                f.flush()
                os.fsync(f.fileno())
        return path

    def gather(self, shards: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The vectors at (shard, row) pairs, in the given order."""
        shards, rows = np.asarray(shards, dtype=np.int64), np.asarray(rows, dtype=np.int64)
        out = np.empty((len(shards), self.dim), dtype=np.float32)
        # One sort groups the pairs by shard: each shard file is then opened once.
        order = np.argsort(shards, kind="stable")
        numbers, starts = np.unique(shards[order], return_index=True)
        for shard, start, stop in zip(numbers, starts, [*starts[1:], len(order)]):
            where = order[start:stop]
            path = self.path(int(shard))
            try:
                data = np.load(path)  # shards are one batch each: reading beats mapping
            except FileNotFoundError:
                raise FileNotFoundError(f"{path}: embedding shard missing; the index is damaged") from None
            if data.ndim != 2 or data.shape[1] != self.dim or rows[where].max() >= data.shape[0]:
                raise ValueError(f"{path}: shape {data.shape} does not match the index (dim {self.dim})")
            out[where] = data[rows[where]]
        return out

    def orphans(self, live: set[int]) -> list[Path]:
        """Shard files no row refers to (left by interrupted batches or full removals)."""
        return sorted(p for p in self.folder.glob("*.npy") if p.stem.isdigit() and int(p.stem) not in live)
