"""Which FAISS structure a catalog index uses, and how it is built and searched."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

KINDS = ("auto", "flat", "hnsw", "ivfpq")


@dataclass(frozen=True)
class IndexConfig:
    """Stored in the index's metadata; search settings may also be given per query."""

    # "auto" picks by catalog size at build time; the other kinds force one structure.
    kind: str = "auto"
    # Exact search over 50k vectors of a few hundred dimensions takes milliseconds per query;
    # above that an approximate graph pays for its build time.
    flat_max: int = 50_000
    # Neighbours per HNSW node: 32 is FAISS's usual recall/memory balance for 100-1000 dims.
    hnsw_m: int = 32
    # Candidate list while inserting; higher builds slower and recalls better.
    ef_construction: int = 80
    # Candidate list while searching; raised to k when k is larger.
    ef_search: int = 64
    # IVF cells; None is 4 * sqrt(n), the FAISS guideline, capped so each cell gets >= 39 training points.
    nlist: int | None = None
    # PQ sub-quantisers; None is the largest divisor of dim not above dim // 4 (and 64):
    # 16x smaller vectors for a small loss in recall.
    pq_m: int | None = None
    # IVF cells visited per query. PQ codes alone keep only about 0.7 of the exact top-10 at any
    # nprobe (they lose the order among near neighbours); the refine step below restores it.
    nprobe: int = 16
    # IVF-PQ re-ranks refine * k candidates by their exact inner product (FAISS IndexRefineFlat,
    # which keeps the full vectors in memory beside the codes); 0 turns it off. At 4, recall@10
    # against exact was 0.99 on 100k clustered vectors (benchmarks/search_speed.py measures it).
    refine: int = 4

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        for name in ("flat_max", "hnsw_m", "ef_construction", "ef_search", "nprobe"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.refine < 0:
            raise ValueError(f"refine must be 0 (off) or positive, got {self.refine}")
        for name in ("nlist", "pq_m"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive, got {value}")

    def resolve_kind(self, n: int) -> str:
        """The structure built for ``n`` vectors."""
        if self.kind != "auto":
            return self.kind
        return "flat" if n <= self.flat_max else "hnsw"

    def build_params(self, n: int) -> dict[str, Any]:
        """What the built FAISS file depends on (search-time settings left out)."""
        kind = self.resolve_kind(n)
        if kind == "hnsw":
            return {"kind": kind, "hnsw_m": self.hnsw_m, "ef_construction": self.ef_construction}
        if kind == "ivfpq":
            return {"kind": kind, "nlist": self.nlist, "pq_m": self.pq_m, "refine": self.refine > 0}
        return {"kind": kind}

    def with_overrides(self, **overrides: Any) -> IndexConfig:
        """A copy with the non-None ``overrides`` applied."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown index settings {unknown}; known: {sorted(names)}")
        overrides = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **overrides) if overrides else self

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> IndexConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
