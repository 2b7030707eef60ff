"""Improved precision and recall (Kynkäänniemi et al. 2019).

Each set's manifold is the union of balls around its points, with radius the distance to the
k-th nearest neighbour within the set. Precision: the fraction of generated samples inside the
real manifold (are the samples realistic?). Recall: the fraction of real samples inside the
generated manifold (is the variety covered?).
"""
from __future__ import annotations

import torch


def _pairwise(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    return torch.cat([torch.cdist(a[i : i + chunk], b) for i in range(0, a.shape[0], chunk)])


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    d = _pairwise(x, x)
    # the k+1-th smallest includes the zero distance to the point itself
    return d.kthvalue(k + 1, dim=1).values


def coverage_fraction(manifold: torch.Tensor, radii: torch.Tensor, queries: torch.Tensor) -> float:
    """Fraction of ``queries`` within radius of at least one manifold point."""
    d = _pairwise(queries, manifold)
    return float((d <= radii[None, :]).any(dim=1).double().mean())


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3) -> tuple[float, float]:
    real, fake = real.double(), fake.double()
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} vectors in each set")
    precision = coverage_fraction(real, knn_radii(real, k), fake)
    recall = coverage_fraction(fake, knn_radii(fake, k), real)
    return precision, recall
