"""What the index's verbs return: an add report and search results (``.save() / .plot() / .to_json()``)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from modiste.data.loading import SkipLog
from modiste.io import atomic_write_json
from modiste.results import ranked_grid, save_png


@dataclass
class Duplicate:
    path: str  # the file not added
    item_id: int  # the indexed item with the same content
    item_path: str

    @property
    def same_file(self) -> bool:
        """True when the file itself is already indexed (a re-run), not a copy elsewhere."""
        return self.path == self.item_path


@dataclass
class AddReport:
    added: list[int] = field(default_factory=list)  # new item ids, in the order of the input
    duplicates: list[Duplicate] = field(default_factory=list)
    skipped: SkipLog = field(default_factory=SkipLog)  # unreadable files, each warned about once

    def to_json(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "duplicates": [vars(d) for d in self.duplicates],
            **self.skipped.summary(),
        }

    def save(self, path: str | Path) -> Path:
        """The report as JSON."""
        return atomic_write_json(path, self.to_json())

    def __str__(self) -> str:
        again = sum(d.same_file for d in self.duplicates)
        return (
            f"{len(self.added)} added, {again} already indexed, "
            f"{len(self.duplicates) - again} duplicates of indexed items, {self.skipped}"
        )


@dataclass
class SearchResults:
    """The k nearest items to each query; ``ids`` is -1 where the index holds fewer than k."""

    ids: np.ndarray  # int64 (Q, k)
    scores: np.ndarray  # float32 (Q, k): inner product, 1 is identical for normalised vectors
    # Metadata of each hit (id, path, label, tags, extra columns), or a function that reads it:
    # the search itself then costs what FAISS costs, and the rows are read on first use of .items.
    hits: list[list[dict[str, Any]]] | Callable[[], list[list[dict[str, Any]]]]
    query_names: list[str] = field(default_factory=list)
    query_images: torch.Tensor | None = None  # uint8 (Q, 3, H, W), for plot()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def items(self) -> list[list[dict[str, Any]]]:
        if callable(self.hits):
            self.hits = self.hits()
        return self.hits

    def __len__(self) -> int:
        return self.ids.shape[0]

    @property
    def paths(self) -> list[list[str]]:
        return [[item["path"] for item in row] for row in self.items]

    def to_json(self) -> dict[str, Any]:
        names = self.query_names or [f"query_{i}" for i in range(len(self))]
        queries = []
        for name, ids, scores, row in zip(names, self.ids, self.scores, self.items):
            hits = [
                {"rank": r + 1, "score": round(float(s), 6), **item}
                for r, (s, item) in enumerate(zip(scores, row))
            ]
            queries.append({"query": name, "results": hits})
        return {"k": int(self.ids.shape[1]), "queries": queries, **self.info}

    def plot(self, path: str | Path, *, size: int = 96) -> Path:
        """One row per query: the query image (grey when not given) then its results, best first."""
        queries = [self.query_images[q] if self.query_images is not None else None for q in range(len(self.items))]
        grid = ranked_grid(queries, [[item["path"] for item in row] for row in self.items], size, self.ids.shape[1])
        return save_png(grid, path)

    def save(self, out: str | Path) -> Path:
        """``out/results.json`` and ``out/results.png``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "results.json", self.to_json())
        self.plot(out / "results.png")
        return out

    def __repr__(self) -> str:
        return f"SearchResults(queries={len(self)}, k={self.ids.shape[1]}, {json.dumps(self.info)})"
