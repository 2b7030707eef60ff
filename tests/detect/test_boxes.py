import itertools
import math

import pytest
import torch

from modiste.detect.boxes import (
    batched_nms, box_area, box_iou, clip_boxes, cxcywh_to_xyxy, decode, encode, match, nms, postprocess,
    xyxy_to_cxcywh,
)


def make_priors(sizes=((4, 0.3), (2, 0.6)), ratios=(1.0, 2.0, 0.5)):
    """SSD-like priors (cxcywh, [0, 1]): one grid per (cells, scale), a box per aspect ratio per cell."""
    out = []
    for cells, scale in sizes:
        for i, j, r in itertools.product(range(cells), range(cells), ratios):
            out.append([(j + 0.5) / cells, (i + 0.5) / cells, scale * math.sqrt(r), scale / math.sqrt(r)])
    return torch.tensor(out, dtype=torch.float64)


def random_boxes(n, seed, scale=1.0):
    """Random xyxy boxes with the awkward cases mixed in: duplicates, zero-width, zero-area, inverted."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 0.8
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 0.5
    b = torch.cat([xy, xy + wh], 1) * scale
    if n >= 6:
        b[1] = b[0]                                   # an exact duplicate
        b[2, 2] = b[2, 0]                             # zero width
        b[3, 2:] = b[3, :2]                           # a point
        b[4, [0, 2]] = b[4, [2, 0]]                   # inverted: empty
        b[5] = torch.tensor([0.1, 0.1, 0.3, 0.3]) * scale  # nested in ...
        b[0] = torch.tensor([0.0, 0.0, 0.4, 0.4]) * scale  # ... this one (and its duplicate b[1] moves away)
    return b


# brute-force references, one pair of boxes at a time in plain Python floats

def iou_one(a, b):
    area = lambda x: max(x[2] - x[0], 0.0) * max(x[3] - x[1], 0.0)  # noqa: E731
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    union = area(a) + area(b) - w * h
    return w * h / union if union > 0 else 0.0


def nms_loops(boxes, scores, labels, thr):
    boxes, scores, labels = boxes.tolist(), scores.tolist(), labels.tolist()
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])  # sorted() is stable: ties keep input order
    keep = []
    for i in order:
        if all(labels[k] != labels[i] or iou_one(boxes[i], boxes[k]) <= thr for k in keep):
            keep.append(i)
    return keep


def match_loops(gt, gt_labels, priors_cxcywh, thr):
    """SSD matching as match() documents it, written out with loops."""
    pri = cxcywh_to_xyxy(priors_cxcywh).tolist()
    pc = priors_cxcywh[:, :2].tolist()
    gt_l, labels = gt.tolist(), gt_labels.tolist()
    G, P = len(gt_l), len(pri)
    iou = [[iou_one(gt_l[g], pri[p]) for p in range(P)] for g in range(G)]
    # 1. forced: repeatedly the best free (gt, prior) pair; IoU 0 ranks by (minus) centre distance
    def score(g, p):
        if iou[g][p] > 0:
            return iou[g][p]
        cx, cy = (gt_l[g][0] + gt_l[g][2]) / 2, (gt_l[g][1] + gt_l[g][3]) / 2
        return -1 - ((cx - pc[p][0]) ** 2 + (cy - pc[p][1]) ** 2)
    free_g, free_p, forced = set(range(G)), set(range(P)), {}
    for _ in range(min(G, P)):
        best = None
        for g in sorted(free_g):
            for p in sorted(free_p):
                if best is None or score(g, p) > best[0]:
                    best = (score(g, p), g, p)
        _, g, p = best
        forced[p] = g
        free_g.discard(g)
        free_p.discard(p)
    # 2. the rest: best gt per prior (first of equals), positive at >= thr
    assigned = []
    for p in range(P):
        if p in forced:
            assigned.append(forced[p])
            continue
        best_g = max(range(G), key=lambda g: (iou[g][p], -g))
        assigned.append(best_g if iou[best_g][p] >= thr else -1)
    return [0 if g < 0 else labels[g] + 1 for g in assigned], assigned


@pytest.mark.parametrize("seed", range(5))
def test_box_iou_and_area_match_loops(seed):
    a, b = random_boxes(12, seed), random_boxes(9, seed + 100)
    b[:3] = a[:3]  # shared boxes, so IoU 1 and the degenerate pairs appear
    got = box_iou(a.float(), b.float())
    want = torch.tensor([[iou_one(x, y) for y in b.tolist()] for x in a.tolist()], dtype=torch.float64)
    assert got.shape == (12, 9) and got.dtype == torch.float32
    assert torch.allclose(got.double(), want, atol=1e-6)
    assert torch.isfinite(got).all()
    area = [max(x[2] - x[0], 0.0) * max(x[3] - x[1], 0.0) for x in a.tolist()]
    assert torch.allclose(box_area(a), torch.tensor(area, dtype=torch.float64))


def test_iou_of_empty_boxes_is_zero():
    point = torch.tensor([[0.2, 0.2, 0.2, 0.2]])
    assert box_iou(point, point).item() == 0.0
    assert box_iou(point, torch.tensor([[0.0, 0.0, 1.0, 1.0]])).item() == 0.0
    assert box_iou(torch.zeros(0, 4), point).shape == (0, 1)


def test_format_conversions_and_clip():
    b = random_boxes(10, 0)
    assert torch.allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b)
    assert torch.allclose(xyxy_to_cxcywh(torch.tensor([0.0, 2.0, 4.0, 10.0])), torch.tensor([2.0, 6.0, 4.0, 8.0]))
    clipped = clip_boxes(torch.tensor([[-5.0, 3.0, 120.0, 90.0]]), 100, 80)
    assert clipped.tolist() == [[0.0, 3.0, 100.0, 80.0]]


@pytest.mark.parametrize("seed", range(3))
def test_encode_decode_round_trip(seed):
    priors = make_priors().float()
    gt = random_boxes(len(priors), seed)
    gt[:, 2:] = torch.maximum(gt[:, 2:], gt[:, :2] + 0.01)  # non-empty: empty boxes are clamped by design
    gt = gt.float()
    loc = encode(gt, priors)
    assert loc.shape == gt.shape and torch.isfinite(loc).all()
    assert torch.allclose(decode(loc, priors), gt, atol=1e-6)
    # a batch of offsets decodes against the same priors
    batch = torch.stack([loc, torch.zeros_like(loc)])
    out = decode(batch, priors)
    assert out.shape == (2, len(priors), 4)
    assert torch.allclose(out[0], gt, atol=1e-6)
    assert torch.allclose(out[1], cxcywh_to_xyxy(priors), atol=1e-6)  # zero offsets give the priors


def test_encode_follows_the_ssd_formula():
    prior = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    gt = cxcywh_to_xyxy(torch.tensor([[0.52, 0.46, 0.3, 0.2]]))
    want = torch.tensor([[0.02 / (0.1 * 0.2), -0.04 / (0.1 * 0.4), math.log(1.5) / 0.2, math.log(0.5) / 0.2]])
    assert torch.allclose(encode(gt, prior), want, atol=1e-5)
    assert torch.allclose(encode(gt, prior, variances=(1.0, 1.0)),
                          torch.tensor([[0.1, -0.1, math.log(1.5), math.log(0.5)]]), atol=1e-5)
    # an empty box gives a finite target, not -inf
    assert torch.isfinite(encode(torch.tensor([[0.3, 0.3, 0.3, 0.5]]), prior)).all()


@pytest.mark.parametrize("seed", range(6))
def test_nms_and_batched_nms_match_loops(seed):
    g = torch.Generator().manual_seed(seed)
    n = 60
    boxes = random_boxes(n, seed, scale=50.0)
    # clusters of near-copies so suppression really happens, and scores with ties
    boxes[30:] = boxes[:30] + torch.randn(30, 4, generator=g, dtype=torch.float64) * 2
    scores = (torch.rand(n, generator=g) * 10).round() / 10
    labels = torch.randint(0, 3, (n,), generator=g)
    for thr in (0.3, 0.5, 0.7):
        kept = nms(boxes.float(), scores, thr)
        assert kept.tolist() == nms_loops(boxes, scores, torch.zeros(n), thr)
        assert kept.dtype == torch.long
        kept = batched_nms(boxes.float(), scores, labels, thr)
        assert kept.tolist() == nms_loops(boxes, scores, labels, thr)
        assert (scores[kept].diff() <= 0).all()


def test_nms_classes_never_suppress_each_other():
    box = torch.tensor([[10.0, 10.0, 20.0, 20.0]])
    boxes = box.repeat(4, 1)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [0]
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0, 2]), 0.5).tolist() == [0, 1, 3]
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)
    assert batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).shape == (0,)


@pytest.mark.parametrize("seed", range(6))
def test_match_matches_loops(seed):
    priors = make_priors()
    g = torch.Generator().manual_seed(seed)
    n_gt = 1 + seed % 5
    gt = random_boxes(max(n_gt, 6), seed)[torch.randperm(max(n_gt, 6), generator=g)[:n_gt]]
    gt_labels = torch.randint(0, 4, (n_gt,), generator=g)
    loc, labels = match(gt, gt_labels, priors, iou_threshold=0.5)
    want_labels, assigned = match_loops(gt, gt_labels, priors, 0.5)
    assert labels.dtype == torch.long and labels.tolist() == want_labels
    pos = labels > 0
    idx = torch.tensor(assigned)[pos]
    assert torch.allclose(loc[pos], encode(gt[idx], priors[pos]))
    assert (loc[~pos] == 0).all()
    assert set(assigned) - {-1} == set(range(n_gt))  # every ground truth has a prior


def test_match_without_ground_truth_is_all_background():
    priors = make_priors()
    loc, labels = match(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), priors)
    assert loc.shape == (len(priors), 4) and labels.shape == (len(priors),)
    assert (labels == 0).all() and (loc == 0).all()


def test_match_forces_small_boxes_and_resolves_shared_best_prior():
    priors = make_priors()
    pri_xyxy = cxcywh_to_xyxy(priors)
    # two tiny boxes inside the same prior cell: both overlap nothing at 0.5 and want the same prior
    tiny = torch.tensor([[0.10, 0.10, 0.13, 0.13], [0.11, 0.12, 0.14, 0.15]], dtype=torch.float64)
    best = box_iou(tiny, pri_xyxy).argmax(1)
    assert best[0] == best[1] and box_iou(tiny, pri_xyxy).max() < 0.5
    # and an empty box (IoU 0 with everything) between priors
    empty = torch.tensor([[0.61, 0.61, 0.61, 0.61]], dtype=torch.float64)
    gt = torch.cat([tiny, empty])
    loc, labels = match(gt, torch.tensor([0, 1, 2]), priors)
    assert sorted(labels[labels > 0].tolist()) == [1, 2, 3]  # each a prior of its own
    # the stronger tiny box keeps the shared best prior; the empty one took the prior nearest its centre
    assert labels[best[0]].item() == 1 + int(box_iou(tiny, pri_xyxy[best[0]][None])[:, 0].argmax())
    dist = ((priors[:, :2] - 0.61) ** 2).sum(1)
    assert labels[dist.argmin()].item() == 3
    assert torch.isfinite(loc).all()


def test_match_more_ground_truth_than_priors():
    priors = make_priors(sizes=((1, 0.5),), ratios=(1.0,))
    gt = torch.tensor([[0.2, 0.2, 0.7, 0.7], [0.3, 0.3, 0.8, 0.8]])
    loc, labels = match(gt, torch.tensor([0, 1]), priors)
    assert labels.tolist() == [1]  # the one prior goes to the better-overlapping ground truth


def test_postprocess_shapes_and_limits():
    priors = make_priors().float()
    g = torch.Generator().manual_seed(0)
    P, C = len(priors), 4
    loc = torch.randn(P, 4, generator=g) * 0.5
    conf = torch.randn(P, C + 1, generator=g) * 3
    boxes, scores, labels = postprocess(loc, conf, priors, score_threshold=0.05, max_detections=20)
    k = len(scores)
    assert 0 < k <= 20
    assert boxes.shape == (k, 4) and labels.shape == (k,) and labels.dtype == torch.long
    assert (scores.diff() <= 0).all() and (scores > 0.05).all()
    assert labels.min() >= 0 and labels.max() < C
    assert boxes.min() >= 0 and boxes.max() <= 1
    # no suppression at IoU threshold 1: each class is capped at pre_nms_top_k
    _, _, labels = postprocess(loc, conf, priors, iou_threshold=1.0, pre_nms_top_k=3, max_detections=1000)
    assert torch.bincount(labels, minlength=C).max() <= 3
    # nothing above the threshold: empty, well-shaped output
    boxes, scores, labels = postprocess(loc, conf, priors, score_threshold=1.0)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)


def test_postprocess_recovers_a_perfect_prediction():
    priors = make_priors().float()
    P, C = len(priors), 3
    gt = torch.tensor([[0.2, 0.3, 0.55, 0.8]])
    loc = encode(gt.expand(P, 4), priors)  # every prior points at the object
    conf = torch.zeros(P, C + 1)
    conf[:, 0] = 8.0  # background everywhere ...
    near = box_iou(gt, cxcywh_to_xyxy(priors))[0] > 0.3
    conf[near, 0] = 0.0
    conf[near, 2] = 6.0 + torch.arange(int(near.sum())) * 0.01  # ... except priors near it: class 1 (label column 2)
    boxes, scores, labels = postprocess(loc, conf, priors)
    assert labels.tolist() == [1]
    assert torch.allclose(boxes, gt, atol=1e-5)
    assert scores.item() > 0.9


def test_nms_max_keep_is_a_prefix_of_the_full_result():
    g = torch.Generator().manual_seed(11)
    xy = torch.rand(300, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(300, 2, generator=g) * 20], 1)
    scores = torch.rand(300, generator=g)
    full = nms(boxes, scores, 0.5)
    assert len(full) > 10
    assert torch.equal(nms(boxes, scores, 0.5, max_keep=10), full[:10])
    labels = torch.randint(0, 3, (300,), generator=g)
    assert torch.equal(batched_nms(boxes, scores, labels, 0.5, max_keep=7), batched_nms(boxes, scores, labels, 0.5)[:7])
