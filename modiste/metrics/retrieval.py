"""Retrieval metrics for embeddings: Recall@k and mAP@R.

Ranking is by cosine similarity (the inner product of L2-normalised vectors; inputs are
normalised here, which changes nothing for vectors that already have unit length).

* Recall@k: the fraction of queries with at least one same-label item among their k nearest
  references (the "recall" of the metric-learning literature, equal to precision@1 for k = 1).
* mAP@R (Musgrave et al. 2020, "A Metric Learning Reality Check"): for a query with R relevant
  references, AP@R = (1/R) * sum_{i=1..R} P(i) * rel(i), where rel(i) says whether the i-th
  nearest reference shares the label and P(i) is the precision over the first i.

Queries with no relevant reference (R = 0) are left out of both metrics, as in
pytorch-metric-learning's ``AccuracyCalculator``; ``retrieval_report`` counts them.
With ``same_set=True`` queries and references are one set and each query's own row is excluded.

Similarities are computed ``chunk`` queries at a time, so memory grows with
``chunk * n_refs`` rather than ``n_queries * n_refs``.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_KS = (1, 5, 10, 20)


def _as_embeddings(x: Any) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n, dim), got shape {tuple(x.shape)}")
    # float32 keeps a 10k x 10k chunked pass quick; ranking does not need float64
    return F.normalize(x.detach().float().cpu(), dim=1)


def _encode_labels(query_labels: Any, ref_labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels of any hashable dtype -> shared integer codes."""
    q = np.asarray(query_labels.cpu() if isinstance(query_labels, torch.Tensor) else query_labels)
    r = np.asarray(ref_labels.cpu() if isinstance(ref_labels, torch.Tensor) else ref_labels)
    _, codes = np.unique(np.concatenate([q.reshape(-1), r.reshape(-1)]), return_inverse=True)
    codes = torch.as_tensor(codes.reshape(-1), dtype=torch.long)
    return codes[: q.size], codes[q.size :]


def _ranked_relevance(query_emb: Any, query_labels: Any, ref_emb: Any, ref_labels: Any, *,
                      same_set: bool, depth: int, chunk: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(rel, r)`` per chunk of queries that have at least one relevant reference.

    ``rel[i, j]``: whether query i's (j+1)-th nearest reference shares its label, for j up to
    ``max(depth, max r)`` (capped by the number of references). ``r[i]``: relevant references.
    """
    if ref_emb is None:
        ref_emb, ref_labels, same_set = query_emb, query_labels, True
    q, ref = _as_embeddings(query_emb), _as_embeddings(ref_emb)
    ql, rl = _encode_labels(query_labels, ref_labels)
    if q.shape[1] != ref.shape[1]:
        raise ValueError(f"query dim {q.shape[1]} != reference dim {ref.shape[1]}")
    if len(ql) != len(q) or len(rl) != len(ref):
        raise ValueError("one label per embedding is needed")
    if same_set and len(q) != len(ref):
        raise ValueError("same_set=True needs queries and references of the same length")

    counts = torch.bincount(rl, minlength=int(max(ql.max(), rl.max())) + 1)
    n_avail = len(ref) - int(same_set)
    for start in range(0, len(q), chunk):
        rows = torch.arange(start, min(start + chunk, len(q)))
        r = counts[ql[rows]] - int(same_set)
        keep = r > 0
        rows, r = rows[keep], r[keep]
        if len(rows) == 0:
            continue
        sim = q[rows] @ ref.T
        if same_set:
            sim[torch.arange(len(rows)), rows] = -float("inf")
        k = min(n_avail, max(depth, int(r.max())))
        nearest = sim.topk(k, dim=1).indices
        yield rl[nearest] == ql[rows, None], r


def _recall_and_map(query_emb, query_labels, ref_emb, ref_labels, ks: Sequence[int], *,
                    same_set: bool, chunk: int) -> dict[str, Any]:
    ks = tuple(int(k) for k in ks)
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be >= 1, got {ks}")
    hits = dict.fromkeys(ks, 0)
    ap_sum, n_queries = 0.0, 0
    for rel, r in _ranked_relevance(query_emb, query_labels, ref_emb, ref_labels,
                                    same_set=same_set, depth=max(ks, default=1), chunk=chunk):
        # argmax returns the first maximum: the rank of the first relevant reference
        first_hit = torch.where(rel.any(dim=1), rel.long().argmax(dim=1), torch.iinfo(torch.long).max)
        for k in ks:
            hits[k] += int((first_hit < k).sum())
        # only ranks 1..R count towards AP@R
        in_top_r = torch.arange(rel.shape[1])[None, :] < r[:, None]
        rel_r = (rel & in_top_r).double()
        precision = rel_r.cumsum(dim=1) / torch.arange(1, rel.shape[1] + 1, dtype=torch.float64)
        ap_sum += float(((precision * rel_r).sum(dim=1) / r.double()).sum())
        n_queries += len(r)
    denom = max(n_queries, 1)
    return {"recall": {k: hits[k] / denom for k in ks}, "map_at_r": ap_sum / denom, "n_queries": n_queries}


def recall_at_k(query_emb, query_labels, ref_emb, ref_labels, ks: Sequence[int] = DEFAULT_KS, *,
                same_set: bool = False, chunk: int = 1024) -> dict[int, float]:
    """``{k: Recall@k}``. Pass ``ref_emb=ref_labels=None`` to rank the queries among themselves."""
    return _recall_and_map(query_emb, query_labels, ref_emb, ref_labels, ks,
                           same_set=same_set, chunk=chunk)["recall"]


def map_at_r(query_emb, query_labels, ref_emb, ref_labels, *,
             same_set: bool = False, chunk: int = 1024) -> float:
    """Mean over queries of AP@R, R being the number of references sharing the query's label."""
    return _recall_and_map(query_emb, query_labels, ref_emb, ref_labels, (1,),
                           same_set=same_set, chunk=chunk)["map_at_r"]


def retrieval_report(query_emb, query_labels, ref_emb=None, ref_labels=None,
                     ks: Sequence[int] = DEFAULT_KS, *, same_set: bool = False,
                     chunk: int = 1024) -> dict[str, float | int]:
    """One pass for both metrics: ``{"recall@1": .., ..., "map@r": .., "n_queries": ..,
    "n_queries_without_match": ..}``, ready for a JSON-lines log."""
    out = _recall_and_map(query_emb, query_labels, ref_emb, ref_labels, ks,
                          same_set=same_set, chunk=chunk)
    n_total = len(query_labels)
    report: dict[str, float | int] = {f"recall@{k}": v for k, v in out["recall"].items()}
    report["map@r"] = out["map_at_r"]
    report["n_queries"] = out["n_queries"]
    report["n_queries_without_match"] = n_total - out["n_queries"]
    return report
