"""Box operations for an SSD-style detector (Liu et al. 2016): IoU, encoding, matching, NMS.

Conventions used throughout:

* boxes are float tensors ``(..., 4)``, ``xyxy`` unless a name says ``cxcywh``;
* priors are ``cxcywh`` in [0, 1] image units, and so are the boxes ``match`` and ``postprocess``
  deal in: scale by the image width and height to get pixels;
* a box with ``x2 <= x1`` or ``y2 <= y1`` is empty: area 0, IoU 0 with everything;
* class labels: ground truth and detections use 0..C-1; only inside the detector (``match``'s
  output, the columns of the confidence logits) is 0 the background and the classes 1..C.
"""
from __future__ import annotations

import math

import torch

VARIANCES = (0.1, 0.2)  # SSD's: scales the centre and log-size offsets to roughly unit variance

# decode clamps the log-size offset so a wild early prediction gives a huge box, not inf
# (torchvision uses the same bound); it only binds for boxes over 62x the prior's size
_MAX_LOG_SCALE = math.log(1000.0 / 16)
# encode clamps sizes so an empty ground truth gives a finite (if large) target, not -inf
_MIN_SIZE = 1e-6


def box_area(b: torch.Tensor) -> torch.Tensor:
    """Area of ``(..., 4)`` xyxy boxes; empty boxes have area 0."""
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4): an (N, M) tensor."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    # two empty boxes have union 0: call their IoU 0 rather than 0/0
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter))


def xyxy_to_cxcywh(b: torch.Tensor) -> torch.Tensor:
    return torch.cat([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], dim=-1)


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], dim=-1)


def clip_boxes(b: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Clamp xyxy boxes to the image ``[0, width] x [0, height]`` (use 1, 1 for [0, 1] units)."""
    x = b[..., 0::2].clamp(0, width)
    y = b[..., 1::2].clamp(0, height)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def encode(gt_xyxy: torch.Tensor, priors_cxcywh: torch.Tensor,
           variances: tuple[float, float] = VARIANCES) -> torch.Tensor:
    """SSD regression targets of ``gt_xyxy`` (P, 4) relative to ``priors_cxcywh`` (P, 4), row by row.

    ``((gcx - pcx) / (v0 pw), (gcy - pcy) / (v0 ph), log(gw / pw) / v1, log(gh / ph) / v1)``.
    Ground-truth sizes below 1e-6 are raised to 1e-6 so an empty box gives no infinite target.
    """
    g = xyxy_to_cxcywh(gt_xyxy)
    p = priors_cxcywh
    v0, v1 = variances
    centre = (g[..., :2] - p[..., :2]) / (v0 * p[..., 2:])
    size = torch.log(g[..., 2:].clamp(min=_MIN_SIZE) / p[..., 2:]) / v1
    return torch.cat([centre, size], dim=-1)


def decode(loc: torch.Tensor, priors_cxcywh: torch.Tensor,
           variances: tuple[float, float] = VARIANCES) -> torch.Tensor:
    """Inverse of ``encode``: offsets ``(P, 4)`` or ``(B, P, 4)`` -> xyxy boxes of the same shape."""
    p = priors_cxcywh
    v0, v1 = variances
    centre = p[..., :2] + loc[..., :2] * v0 * p[..., 2:]
    size = p[..., 2:] * torch.exp((loc[..., 2:] * v1).clamp(max=_MAX_LOG_SCALE))
    return cxcywh_to_xyxy(torch.cat([centre, size], dim=-1))


def _forced_priors(overlaps: torch.Tensor, gt_xyxy: torch.Tensor, priors_cxcywh: torch.Tensor) -> torch.Tensor:
    """A distinct prior for each ground truth (while priors last): (G,) prior indices, -1 for none.

    Greedy on the whole (G, P) table: the highest-IoU pair is fixed first, then its ground truth
    and prior leave the table, and so on. Where there is no conflict every ground truth gets its
    own best prior; where two want the same prior the weaker one takes its next best instead of
    losing its only positive (the original SSD code let the later ground truth win and the other
    could end up with none). A ground truth that overlaps no free prior at all (tiny or empty
    boxes between priors) takes the free prior whose centre is nearest to its own: IoU 0 says
    nothing about which prior should learn it.
    """
    g, p = overlaps.shape
    centre_dist2 = ((xyxy_to_cxcywh(gt_xyxy)[:, None, :2] - priors_cxcywh[None, :, :2]) ** 2).sum(-1)
    # positive IoUs all beat zero ones; among zeros, nearer centres score higher (less negative)
    score = torch.where(overlaps > 0, overlaps, -1 - centre_dist2)
    forced = torch.full((g,), -1, dtype=torch.long, device=overlaps.device)
    for _ in range(min(g, p)):
        flat = int(score.argmax())  # ties: the lowest ground truth index, then the lowest prior
        gi, pi = divmod(flat, p)
        forced[gi] = pi
        score[gi, :] = -math.inf
        score[:, pi] = -math.inf
    return forced


def match(gt_boxes: torch.Tensor, gt_labels: torch.Tensor, priors_cxcywh: torch.Tensor,
          iou_threshold: float = 0.5, variances: tuple[float, float] = VARIANCES) -> tuple[torch.Tensor, torch.Tensor]:
    """Assign ground truth to priors for one image, as SSD trains.

    ``gt_boxes`` (G, 4) xyxy in [0, 1] units, ``gt_labels`` (G,) in 0..C-1, ``priors_cxcywh`` (P, 4).
    Returns ``loc_targets`` (P, 4) from ``encode`` and ``labels`` (P,) long with 0 = background
    and ``gt_label + 1`` for positives. Loc targets of background priors are 0 (the loss ignores them).

    1. Each ground truth is forced onto one prior of its own, even below the threshold (see
       ``_forced_priors``), so no object goes untrained because no prior fits it well.
    2. Every other prior is positive for the ground truth it overlaps most (ties: the lowest
       index) when that IoU is >= ``iou_threshold``, background otherwise. There is no ignore zone.

    An image without ground truth gives all background.
    """
    num_priors = priors_cxcywh.shape[0]
    device = priors_cxcywh.device
    loc = torch.zeros(num_priors, 4, dtype=priors_cxcywh.dtype, device=device)
    labels = torch.zeros(num_priors, dtype=torch.long, device=device)
    if gt_boxes.numel() == 0:
        return loc, labels
    gt_boxes = gt_boxes.to(device=device, dtype=priors_cxcywh.dtype).reshape(-1, 4)
    gt_labels = gt_labels.to(device=device, dtype=torch.long).reshape(-1)

    overlaps = box_iou(gt_boxes, cxcywh_to_xyxy(priors_cxcywh))  # (G, P)
    best_iou, best_gt = overlaps.max(dim=0)  # per prior
    positive = best_iou >= iou_threshold

    forced = _forced_priors(overlaps, gt_boxes, priors_cxcywh)
    has = forced >= 0
    best_gt[forced[has]] = torch.arange(len(forced), device=device)[has]
    positive[forced[has]] = True

    labels[positive] = gt_labels[best_gt[positive]] + 1
    loc[positive] = encode(gt_boxes[best_gt[positive]], priors_cxcywh[positive], variances)
    return loc, labels


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_keep: int | None = None) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first.

    ``max_keep`` stops after that many boxes: greedy NMS keeps boxes in score order, so the first
    ``max_keep`` are the same as without the limit, and the loop is bounded by it, not by the
    thousands of candidates an untrained network gives.
    A box is dropped when its IoU with a kept, higher-scoring box is > ``iou_threshold``.
    Equal scores keep their input order. Runs on the CPU in float64 and returns indices on
    the boxes' device: a loop over a few hundred boxes costs less than a GPU sync per step.
    """
    device = boxes.device
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=device)
    b = boxes.detach().to("cpu", torch.float64).reshape(-1, 4)
    order = scores.detach().cpu().argsort(descending=True, stable=True)
    area = box_area(b)
    keep = []
    remaining = order
    while remaining.numel() > 0 and (max_keep is None or len(keep) < max_keep):
        i = remaining[0]
        keep.append(i)
        rest = remaining[1:]
        # one row of IoUs, the kept box against every box still in play
        lt = torch.maximum(b[i, :2], b[rest, :2])
        rb = torch.minimum(b[i, 2:], b[rest, 2:])
        wh = (rb - lt).clamp(min=0)
        inter = wh[:, 0] * wh[:, 1]
        union = area[i] + area[rest] - inter
        iou = torch.where(union > 0, inter / union.clamp(min=1e-300), torch.zeros_like(inter))
        remaining = rest[iou <= iou_threshold]
    return torch.stack(keep).to(device)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float,
                max_keep: int | None = None) -> torch.Tensor:
    """NMS within each class; boxes of different labels never suppress each other.

    Shifts each class's boxes by ``label * (max coordinate + 1)`` so classes cannot overlap and
    runs one ``nms``. The shift is done in float64, where adding a small integer to a float32
    coordinate is exact, so the IoUs are those of the unshifted boxes.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    b = boxes.detach().to(torch.float64).reshape(-1, 4)
    span = float(b.max() - min(float(b.min()), 0.0)) + 1
    shifted = b + (labels.to(b.device, torch.float64) * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_keep)


def postprocess(loc: torch.Tensor, conf_logits: torch.Tensor, priors_cxcywh: torch.Tensor, *,
                score_threshold: float = 0.05, iou_threshold: float = 0.45, max_detections: int = 100,
                pre_nms_top_k: int = 400,
                variances: tuple[float, float] = VARIANCES) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Detections of one image from the head's outputs ``loc`` (P, 4) and ``conf_logits`` (P, C+1).

    Softmax over background + C classes; each (prior, class) with probability > ``score_threshold``
    is a candidate; the best ``pre_nms_top_k`` per class go through per-class NMS; the best
    ``max_detections`` overall are kept. A prior can give boxes of several classes.
    Returns ``boxes`` (K, 4) xyxy clipped to [0, 1], ``scores`` (K,) sorted high to low and
    ``labels`` (K,) in 0..C-1 (the background column removed).
    """
    boxes = clip_boxes(decode(loc.detach(), priors_cxcywh, variances), 1.0, 1.0)
    # softmax over a short last dimension is ~10x slower in torch than down a long first one
    probs = torch.softmax(conf_logits.detach().float().t().contiguous(), dim=0).t()[:, 1:]
    prior_idx, cls = torch.nonzero(probs > score_threshold, as_tuple=True)
    scores = probs[prior_idx, cls]

    # group candidates by class, best first within each, and keep the first pre_nms_top_k of each
    order = scores.argsort(descending=True, stable=True)
    order = order[cls[order].argsort(stable=True)]
    counts = torch.bincount(cls, minlength=probs.shape[1])
    starts = counts.cumsum(0) - counts
    rank = torch.arange(len(order), device=order.device) - starts[cls[order]]
    order = order[rank < pre_nms_top_k]
    prior_idx, cls, scores = prior_idx[order], cls[order], scores[order]

    keep = batched_nms(boxes[prior_idx], scores, cls, iou_threshold, max_detections)
    return boxes[prior_idx[keep]], scores[keep], cls[keep]
