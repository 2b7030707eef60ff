"""``Vectors``: one vector per image plus the image's path and attributes, in one ``.npz`` file.

Every vector modiste makes goes through this format: GAN latent codes from ``latent invert`` and,
later, retrieval embeddings. The map, the boundary, the tag probes and the similarity search read
it, so they work on any of them.

File layout (``numpy.savez``, no pickles): ``vectors`` (N, D) float32, ``paths`` (N,) str,
``col.<name>`` (N,) str for each attribute column, ``meta`` a JSON string.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from modiste.io import atomic_write_bytes

_COL = "col."


@dataclass
class Vectors:
    vectors: np.ndarray  # (N, D) float32
    paths: list[str]
    columns: dict[str, list[str]] = field(default_factory=dict)  # per-item attributes, as strings
    meta: dict[str, Any] = field(default_factory=dict)  # kind ("gan-latent", "embedding"), checkpoint, ...

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2:
            raise ValueError(f"vectors must be (N, D), got shape {self.vectors.shape}")
        self.paths = [str(p) for p in self.paths]
        n = self.vectors.shape[0]
        if len(self.paths) != n:
            raise ValueError(f"{n} vectors but {len(self.paths)} paths")
        for name, values in self.columns.items():
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} values for {n} vectors")
        self.columns = {k: [str(v) for v in vals] for k, vals in self.columns.items()}

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def column(self, name: str) -> list[str]:
        if name not in self.columns:
            have = ", ".join(sorted(self.columns)) or "none"
            raise KeyError(f"no column {name!r} (columns: {have})")
        return self.columns[name]

    def subset(self, index: Sequence[int] | np.ndarray) -> "Vectors":
        idx = np.asarray(index)
        # an empty list arrives as float64, which numpy refuses as an index
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64, copy=False)
        return Vectors(self.vectors[idx], [self.paths[i] for i in idx],
                       {k: [v[i] for i in idx] for k, v in self.columns.items()}, dict(self.meta))

    def where(self, column: str, value: str) -> "Vectors":
        """The items whose ``column`` equals ``value``."""
        vals = self.column(column)
        return self.subset([i for i, v in enumerate(vals) if v == value])

    def join_csv(self, csv_path: str | os.PathLike, path_column: str = "path") -> "Vectors":
        """Add the columns of a CSV whose ``path_column`` names the same files (matched by resolved path,
        then by file name); items the CSV does not list get "" in the new columns."""
        csv_path = Path(csv_path)
        with open(csv_path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets write a BOM
            reader = csv.DictReader(f)
            rows = list(reader)
            header = list(reader.fieldnames or [])
        if path_column not in header:
            raise ValueError(f"{csv_path}: no {path_column!r} column (columns: {', '.join(header) or 'none'})")
        by_path, by_name = {}, {}
        for row in rows:
            p = Path(row[path_column])
            p = p if p.is_absolute() else csv_path.parent / p
            by_path[str(p.resolve())] = row
            by_name.setdefault(p.name, row)
        names = [k for k in header if k != path_column]
        cols = {k: list(v) for k, v in self.columns.items()}
        for k in names:
            cols[k] = []
        for p in self.paths:
            row = by_path.get(str(Path(p).resolve())) or by_name.get(Path(p).name) or {}
            for k in names:
                cols[k].append(row.get(k) or "")  # None where a row is shorter than the header
        return Vectors(self.vectors, self.paths, cols, dict(self.meta))

    # ---- files --------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (a reader never sees half a file)."""
        arrays: dict[str, np.ndarray] = {"vectors": self.vectors, "paths": np.array(self.paths, dtype=str),
                                         "meta": np.array(json.dumps(self.meta))}
        for name, values in self.columns.items():
            arrays[_COL + name] = np.array(values, dtype=str)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vectors":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such vectors file")
        try:
            z = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:  # EOFError: an empty file
            raise ValueError(f"{path}: not a modiste vectors file ({e})") from e
        if not isinstance(z, np.lib.npyio.NpzFile):  # a bare .npy array has no paths or columns
            raise ValueError(f"{path}: not a modiste vectors file (a single array, not an .npz archive)")
        try:
            with z:
                vectors = z["vectors"]
                paths = z["paths"].tolist() if "paths" in z else [f"item{i}" for i in range(len(vectors))]
                meta = json.loads(str(z["meta"])) if "meta" in z else {}
                cols = {k[len(_COL):]: z[k].tolist() for k in z.files if k.startswith(_COL)}
            return cls(vectors, paths, cols, meta)
        except (ValueError, KeyError, OSError, TypeError) as e:
            raise ValueError(f"{path}: not a modiste vectors file ({e})") from e

    def __repr__(self) -> str:
        cols = ", ".join(self.columns) or "none"
        return f"Vectors(n={len(self)}, dim={self.dim}, kind={self.meta.get('kind')}, columns: {cols})"
