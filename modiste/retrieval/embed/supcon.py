"""Supervised contrastive loss (Khosla et al. 2020, "SupCon"), in plain torch.

For each anchor, a softmax over the cosine similarities (divided by a temperature) to every other
image of the batch; the loss is minus the mean log-probability of its positives (same label).
With street-to-shop pairs, a batch of m=2 per item holds each item's street photo and shop
photo, so this is the two-way cross-domain InfoNCE of CLIP-style training, and every other
item of the batch is a negative at every step, where a mined triplet loss uses few of them.
Anchors without a positive in the batch are left out.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from modiste.retrieval.embed.losses import TripletStats


class SupConLoss(nn.Module):
    def __init__(self, temperature: float = 0.05):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, TripletStats]:
        if embeddings.ndim != 2 or len(embeddings) != len(labels):
            raise ValueError("embeddings must be (n, dim) with one label per row")
        labels = labels.to(embeddings.device)
        e = F.normalize(embeddings.float(), dim=1)
        sim = e @ e.T
        self_mask = torch.eye(len(e), dtype=torch.bool, device=e.device)
        logits = (sim / self.temperature).masked_fill(self_mask, float("-inf"))
        log_prob = logits.log_softmax(dim=1)
        positive = (labels[:, None] == labels[None, :]) & ~self_mask
        n_pos = positive.sum(1)
        has = n_pos > 0
        per_anchor = -(log_prob.masked_fill(~positive, 0.0).sum(1)[has] / n_pos[has])
        loss = per_anchor.mean() if bool(has.any()) else embeddings.sum() * 0.0
        with torch.no_grad():
            d = (2 - 2 * sim).clamp_min(0).sqrt()  # chord distances, as the triplet loss reports them
            negative = ~positive & ~self_mask
            # "active": anchors whose nearest negative is closer than their farthest positive
            far_pos = d.masked_fill(~positive, -1.0).max(1).values
            near_neg = d.masked_fill(~negative, 9.0).min(1).values
            stats = TripletStats(
                active_fraction=float((near_neg[has] < far_pos[has]).float().mean()) if bool(has.any()) else 0.0,
                pos_distance=float(d[positive].mean()) if bool(positive.any()) else float("nan"),
                neg_distance=float(d[negative].mean()) if bool(negative.any()) else float("nan"),
                n_triplets=int(has.sum()),
            )
        return loss, stats

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
