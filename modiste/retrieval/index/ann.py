"""The FAISS file: a cache built from the embeddings, rebuilt whenever it does not match them."""
from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from modiste.retrieval.index.config import IndexConfig
from modiste.io import atomic_path, atomic_write_json

# FAISS warns below 39 training points per centroid; fewer than that gives poor cells.
_MIN_POINTS_PER_CELL = 39
_PQ_BITS = 8  # 256 centroids per sub-quantiser: FAISS's fast path
_IVF_MIN_VECTORS = 10_000  # below this the cells and codebooks are trained on too little


def import_faiss():
    try:
        import faiss
    except ImportError as e:
        raise ImportError("the catalog index needs FAISS: pip install faiss-cpu") from e
    return faiss


def fingerprint(ids: np.ndarray, shards: np.ndarray, rows: np.ndarray, dim: int, params: dict[str, Any]) -> str:
    """Identifies the vectors a FAISS file holds: shards are never rewritten, so which ids sit
    at which (shard, row) fixes the vectors without reading them."""
    h = hashlib.sha1()
    h.update(json.dumps({"dim": dim, **params}, sort_keys=True).encode())
    for a in (ids, shards, rows):
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


def _largest_divisor(dim: int, at_most: int) -> int:
    return max(d for d in range(1, max(1, at_most) + 1) if dim % d == 0)


def build(vectors: np.ndarray, ids: np.ndarray, config: IndexConfig) -> tuple[Any, dict[str, Any]]:
    """A FAISS index of ``vectors`` answering with ``ids``; and the parameters it was built with."""
    faiss = import_faiss()
    n, dim = vectors.shape
    params = config.build_params(n)
    kind = params["kind"]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if kind == "flat":
        base = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        base = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = config.ef_construction
    elif kind == "ivfpq":
        nlist = config.nlist or max(1, round(4 * math.sqrt(max(n, 1))))
        nlist = max(1, min(nlist, n // _MIN_POINTS_PER_CELL))
        m = config.pq_m or _largest_divisor(dim, min(64, max(1, dim // 4)))
        if dim % m:
            raise ValueError(f"pq_m={m} must divide the embedding dimension {dim}")
        # Each sub-quantiser needs at least 2**bits training points.
        nbits = min(_PQ_BITS, max(1, int(math.log2(max(n, 2)))))
        if n < _IVF_MIN_VECTORS:
            warnings.warn(f"IVF-PQ on {n} vectors is coarse; flat search is exact and fast at this size", stacklevel=3)
        base = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
        if config.refine:
            base = faiss.IndexRefineFlat(base)  # trains and fills the IVF-PQ index it wraps
        if n:
            base.train(vectors)
        params = {**params, "nlist_built": nlist, "pq_m_built": m, "nbits": nbits}
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    index = faiss.IndexIDMap(base)
    if n:
        index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    return index, params


def set_search_params(index: Any, *, k: int, nprobe: int, ef_search: int, refine: int) -> None:
    faiss = import_faiss()
    base = faiss.downcast_index(index.index)
    if isinstance(base, faiss.IndexRefine):
        base.k_factor = float(max(1, refine))
        base = faiss.downcast_index(base.base_index)
    if isinstance(base, faiss.IndexHNSW):
        base.hnsw.efSearch = max(ef_search, k)
    elif isinstance(base, faiss.IndexIVF):
        base.nprobe = min(nprobe, base.nlist)


def save(index: Any, path: Path, fp: str, params: dict[str, Any]) -> None:
    """Sidecar removed first, written last: a crash in between leaves a file that reads as stale."""
    faiss = import_faiss()
    sidecar = _sidecar(path)
    sidecar.unlink(missing_ok=True)
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))
    atomic_write_json(sidecar, {"fingerprint": fp, "ntotal": int(index.ntotal), "d": int(index.d), **params})


def load(path: Path, fp: str, dim: int, n: int) -> Any | None:
    """The saved index if it was built from exactly these vectors, else None."""
    sidecar = _sidecar(path)
    if not path.exists() or not sidecar.exists():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("fingerprint") != fp:
        return None
    faiss = import_faiss()
    try:
        index = faiss.read_index(str(path))
    except Exception:  # FAISS raises RuntimeError on damaged files; any failure means rebuild
        return None
    if index.d != dim or index.ntotal != n:
        return None
    return index


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def remove_files(path: Path) -> None:
    for p in (_sidecar(path), path):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
