"""Nearest catalog items to a query vector (latent codes here; learned embeddings do better)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modiste.io import atomic_write_json
from modiste.data.vectors import Vectors
from modiste.results import file_tile, ranked_grid, save_png

METRICS = ("cosine", "euclidean")


def nearest(queries: np.ndarray, vectors: np.ndarray, k: int, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """(indices (Q, k), scores (Q, k)): cosine similarity (higher is closer) or euclidean distance (lower)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    q, v = np.atleast_2d(queries).astype(np.float32), vectors.astype(np.float32)
    if q.shape[1] != v.shape[1]:
        raise ValueError(f"query vectors have {q.shape[1]} dimensions, the catalog {v.shape[1]}")
    k = min(k, v.shape[0])
    if metric == "cosine":
        s = (q / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-12)) @ (v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-12)).T
        idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    else:
        s = np.sqrt(np.maximum((q**2).sum(1)[:, None] - 2 * q @ v.T + (v**2).sum(1)[None], 0))
        idx = np.argsort(s, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(s, idx, axis=1)


@dataclass
class Matches:
    """Per query: the k nearest catalog items."""

    query_paths: list[str]
    indices: np.ndarray  # (Q, k) rows of the catalog
    scores: np.ndarray  # (Q, k)
    catalog: Vectors
    metric: str = "cosine"
    query_images: torch.Tensor | None = None  # uint8, shown first in each row of the grid
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = []
        for qi, qp in enumerate(self.query_paths):
            items = []
            for rank, (j, s) in enumerate(zip(self.indices[qi].tolist(), self.scores[qi].tolist()), 1):
                items.append({"rank": rank, "path": self.catalog.paths[j], "score": round(float(s), 6),
                              **{k: v[j] for k, v in self.catalog.columns.items() if k not in ("mse", "ssim")}})
            out.append({"query": qp, "matches": items})
        return {"metric": self.metric, "k": int(self.indices.shape[1]), "queries": out, **self.info}

    def table(self) -> str:
        lines = []
        for q in self.to_json()["queries"]:
            lines.append(f"query {q['query']}")
            for m in q["matches"]:
                label = m.get("label", "")
                lines.append(f"  {m['rank']:>3}  {m['score']:>9.4f}  {label:<16} {m['path']}")
        return "\n".join(lines)

    def grid(self, size: int = 64) -> torch.Tensor:
        queries = [self.query_images[q] if self.query_images is not None else file_tile(p, size)
                   for q, p in enumerate(self.query_paths)]
        results = [[self.catalog.paths[j] for j in row] for row in self.indices.tolist()]
        return ranked_grid(queries, results, size, self.indices.shape[1])

    def plot(self, path: str | os.PathLike, size: int = 64) -> Path:
        """One row per query: the query, then its matches nearest first."""
        return save_png(self.grid(size), path)

    def save(self, out: str | os.PathLike) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "matches.json", self.to_json())
        self.plot(out / "matches.png")
        return out

    def __repr__(self) -> str:
        return f"Matches(queries={len(self.query_paths)}, k={self.indices.shape[1]}, metric={self.metric})"


def similar(queries: np.ndarray | torch.Tensor, catalog: Vectors, *, k: int = 8, metric: str = "cosine",
            query_paths: list[str] | None = None, query_images: torch.Tensor | None = None) -> Matches:
    q = queries.detach().cpu().numpy() if isinstance(queries, torch.Tensor) else np.asarray(queries)
    q = np.atleast_2d(q)
    idx, scores = nearest(q, catalog.vectors, k, metric)
    return Matches(query_paths or [f"query{i}" for i in range(q.shape[0])], idx, scores, catalog, metric, query_images)
