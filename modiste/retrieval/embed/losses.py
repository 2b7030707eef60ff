"""Triplet margin loss with in-batch mining, in plain torch.

For an anchor a, a positive p (same label) and a negative n (other label), the loss is
``max(0, d(a, p) - d(a, n) + margin)``. Which triplets of a batch enter the mean is the miner:

* ``"batch_hard"`` (Hermans et al. 2017, "In Defense of the Triplet Loss"): one triplet per
  anchor, its farthest positive and its nearest negative.
* ``"semi_hard"`` (Schroff et al. 2015, FaceNet): every anchor-positive pair, with the nearest
  negative that is still farther than the positive; the triplet is active when that negative is
  within the margin. When every negative is closer than the positive (no semi-hard one exists)
  the farthest negative is used instead, the fallback of TensorFlow's ``triplet_semihard_loss``:
  it keeps the pair in the loss with the mildest available gradient instead of the hardest.
* ``"all"``: every valid (a, p, n) triplet of the batch.

Distance: embeddings are L2-normalised first, then ``"euclidean"`` (default) is the chord length
``sqrt(2 - 2 cos)`` in [0, 2] and ``"cosine"`` is ``1 - cos`` in [0, 2]. Euclidean is the default
because margins in the literature (0.2 in FaceNet) and pytorch-metric-learning's defaults
(``LpDistance(normalize_embeddings=True)``) are stated for it, so the same margin means the same.

Reduction: ``"mean_active"`` (default) averages over triplets with a non-zero loss, as
pytorch-metric-learning's ``AvgNonZeroReducer`` and Hermans et al.'s batch-all variant do, so the
gradient does not fade as easy triplets become the majority; ``"mean"`` averages over all
mined triplets. A batch with no active triplet gives a loss of zero.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Mining = Literal["batch_hard", "semi_hard", "all"]
Distance = Literal["euclidean", "cosine"]
Reduction = Literal["mean_active", "mean"]


@dataclass
class TripletStats:
    """What the miner found in one batch; floats, ready for a JSON-lines log."""

    active_fraction: float  # mined triplets with a non-zero loss / mined triplets
    pos_distance: float  # mean d(a, p) over mined triplets
    neg_distance: float  # mean d(a, n) over mined triplets
    n_triplets: int  # mined triplets (anchors without a positive or a negative give none)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def pairwise_distance(emb: torch.Tensor, distance: Distance = "euclidean") -> torch.Tensor:
    """(n, n) distances between the rows of ``emb`` after L2 normalisation."""
    emb = F.normalize(emb, dim=1)
    cos = emb @ emb.T
    if distance == "cosine":
        return 1 - cos
    if distance == "euclidean":
        # the clamp keeps sqrt's gradient finite on the diagonal and for duplicate rows
        return (2 - 2 * cos).clamp_min(1e-12).sqrt()
    raise ValueError(f"unknown distance {distance!r}; choose 'euclidean' or 'cosine'")


def _mine(d: torch.Tensor, same: torch.Tensor, mining: Mining) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(d_ap, d_an)`` for the mined triplets, as 1-D tensors of equal length."""
    n = len(d)
    eye = torch.eye(n, dtype=torch.bool, device=d.device)
    pos, neg = same & ~eye, ~same
    inf = torch.tensor(float("inf"), device=d.device, dtype=d.dtype)
    if mining == "batch_hard":
        ok = pos.any(dim=1) & neg.any(dim=1)
        d_ap = torch.where(pos, d, -inf).amax(dim=1)
        d_an = torch.where(neg, d, inf).amin(dim=1)
        return d_ap[ok], d_an[ok]
    if mining == "all":
        valid = pos[:, :, None] & neg[:, None, :]  # [a, p, n]: n**3 booleans, fine up to a few hundred
        a, p, q = valid.nonzero(as_tuple=True)
        return d[a, p], d[a, q]
    if mining == "semi_hard":
        a, p = (pos & neg.any(dim=1, keepdim=True)).nonzero(as_tuple=True)
        d_ap = d[a, p]
        d_neg = torch.where(neg[a], d[a], inf)  # [pairs, n]: distances to the anchor's negatives
        farther = torch.where(d_neg > d_ap[:, None], d_neg, inf).amin(dim=1)
        farthest = torch.where(neg[a], d[a], -inf).amax(dim=1)
        d_an = torch.where(torch.isfinite(farther), farther, farthest)
        return d_ap, d_an
    raise ValueError(f"unknown mining {mining!r}; choose 'batch_hard', 'semi_hard' or 'all'")


class TripletLoss(nn.Module):
    """``loss, stats = TripletLoss(margin=0.2)(embeddings, labels)``."""

    def __init__(self, margin: float = 0.2, mining: Mining = "batch_hard",
                 distance: Distance = "euclidean", reduction: Reduction = "mean_active"):
        super().__init__()
        if mining not in ("batch_hard", "semi_hard", "all"):
            raise ValueError(f"unknown mining {mining!r}; choose 'batch_hard', 'semi_hard' or 'all'")
        if reduction not in ("mean_active", "mean"):
            raise ValueError(f"unknown reduction {reduction!r}; choose 'mean_active' or 'mean'")
        self.margin, self.mining, self.distance, self.reduction = margin, mining, distance, reduction

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, TripletStats]:
        if embeddings.ndim != 2 or len(embeddings) != len(labels):
            raise ValueError("embeddings must be (n, dim) with one label per row")
        labels = labels.to(embeddings.device)
        d = pairwise_distance(embeddings, self.distance)
        d_ap, d_an = _mine(d, labels[:, None] == labels[None, :], self.mining)
        losses = F.relu(d_ap - d_an + self.margin)
        active = losses > 0
        if self.reduction == "mean_active":
            loss = losses.sum() / active.sum().clamp_min(1)
        else:
            loss = losses.sum() / max(len(losses), 1)
        with torch.no_grad():
            n = len(losses)
            stats = TripletStats(
                active_fraction=float(active.float().mean()) if n else 0.0,
                pos_distance=float(d_ap.mean()) if n else float("nan"),
                neg_distance=float(d_an.mean()) if n else float("nan"),
                n_triplets=n,
            )
        return loss, stats

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, distance={self.distance!r}, reduction={self.reduction!r}"
