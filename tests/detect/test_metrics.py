import contextlib
import io
import json

import numpy as np
import pytest
import torch

from modiste.detect.metrics import DetectionMetrics, evaluate_detections


def pred(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(scores, dtype=torch.float32), "labels": torch.tensor(labels, dtype=torch.long)}


def truth(boxes, labels):
    return {"boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 4), "labels": np.asarray(labels, dtype=np.int64)}


def test_hand_computed_two_images_two_classes():
    # ground truth: image 0 has A [0,0,10,10] and B [20,20,30,30]; image 1 has A [0,0,10,10],
    # A [50,50,60,60] and B [70,70,80,80]. So n_gt: A = 3, B = 2.
    gt = [truth([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1]),
          truth([[0, 0, 10, 10], [50, 50, 60, 60], [70, 70, 80, 80]], [0, 0, 1])]
    preds = [
        pred([[0, 0, 10, 10],      # A .90  exact:                     TP
              [0, 0, 10, 10],      # A .80  duplicate of the one above: FP
              [20, 20, 30, 30],    # A .85  on B's box, wrong class:    FP
              [20, 20, 30, 30],    # B .70  exact:                     TP
              [40, 40, 50, 50]],   # B .95  on nothing:                FP
             [0.90, 0.80, 0.85, 0.70, 0.95], [0, 0, 0, 1, 1]),
        pred([[50, 50, 60, 61],    # A .60  IoU 100/110 = 0.909: TP at IoU <= 0.9, FP at 0.95
              [70, 70, 80, 80]],   # B .40  exact:                     TP
             [0.60, 0.40], [0, 1]),
    ]
    m = evaluate_detections(preds, gt, ["A", "B"])

    # Class A at IoU 0.5, ranked by score: .90 TP, .85 FP, .80 FP, .60 TP
    #   recall    1/3, 1/3, 1/3, 2/3      precision 1, 1/2, 1/3, 1/2
    #   envelope (max precision at this or any later rank): 1, 1/2, 1/2, 1/2
    #   101 recall points r = 0, .01, ..., 1; each takes the envelope at the first rank with recall >= r:
    #     r = 0 .. 0.33  (34 points): rank 1 (recall 1/3)  -> 1
    #     r = .34 .. .66 (33 points): rank 4 (recall 2/3)  -> 1/2
    #     r = .67 .. 1   (34 points): never reached         -> 0
    #   AP50(A) = (34 * 1 + 33 * 0.5) / 101 = 50.5 / 101 = 0.5
    # Class B at IoU 0.5: .95 FP, .70 TP, .40 TP
    #   recall 0, 1/2, 1   precision 0, 1/2, 2/3   envelope 2/3, 2/3, 2/3
    #   every recall point 0 .. 1 is reached -> 2/3 everywhere: AP50(B) = 2/3
    ap50_a, ap50_b = 50.5 / 101, 2 / 3
    # At IoU 0.95 A's .60 box is an FP, so A has one TP: recall 1/3 at precision 1, and then no more:
    #   AP(A @ .95) = 34 / 101. All other boxes are exact, so every other AP is as at 0.5.
    ap_a = (9 * ap50_a + 34 / 101) / 10
    assert m.per_class["A"]["ap50"] == pytest.approx(ap50_a)
    assert m.per_class["B"]["ap50"] == pytest.approx(ap50_b)
    assert m.map50 == pytest.approx((ap50_a + ap50_b) / 2)
    assert m.per_class["A"]["ap"] == pytest.approx(ap_a)
    assert m.per_class["B"]["ap"] == pytest.approx(ap50_b)
    assert m.map == pytest.approx((ap_a + ap50_b) / 2)
    assert m.per_class["A"]["n_gt"] == 3 and m.per_class["A"]["n_pred"] == 4
    assert m.per_class["B"]["n_gt"] == 2 and m.per_class["B"]["n_pred"] == 3
    recall, precision = m.curves[0]
    assert recall == pytest.approx([1 / 3, 1 / 3, 1 / 3, 2 / 3])
    assert precision == pytest.approx([1, 1 / 2, 1 / 3, 1 / 2])


def test_perfect_predictions_score_one():
    gt = [truth([[0, 0, 10, 10], [5, 5, 30, 40]], [0, 1]), truth([[1, 2, 3, 4]], [1])]
    preds = [pred(g["boxes"], [0.9] * len(g["labels"]), g["labels"]) for g in gt]
    m = evaluate_detections(preds, gt, ["A", "B", "C"])
    # 1 up to rounding: pycocotools' precision tp / (tp + fp + eps) is a hair under 1
    assert m.map50 == pytest.approx(1.0) and m.map == pytest.approx(1.0)
    assert m.per_class["C"] == {"ap50": None, "ap": None, "n_gt": 0, "n_pred": 0}  # no ground truth: left out


def test_no_predictions_score_zero():
    gt = [truth([[0, 0, 10, 10]], [0]), truth(np.zeros((0, 4)), [])]
    preds = [pred([], [], []), pred([], [], [])]
    m = evaluate_detections(preds, gt, ["A"])
    assert m.map50 == 0.0 and m.map == 0.0
    assert m.per_class["A"]["n_pred"] == 0


def test_wrong_class_is_a_false_positive():
    gt = [truth([[0, 0, 10, 10]], [0])]
    m = evaluate_detections([pred([[0, 0, 10, 10]], [0.9], [1])], gt, ["A", "B"])
    assert m.per_class["A"]["ap50"] == 0.0
    assert m.per_class["B"]["ap50"] is None and m.per_class["B"]["n_pred"] == 1  # B has no ground truth
    assert m.map50 == 0.0


def test_duplicates_are_one_tp_and_one_fp():
    gt = [truth([[0, 0, 10, 10]], [0])]
    m = evaluate_detections([pred([[0, 0, 10, 10]] * 2, [0.9, 0.8], [0, 0])], gt, ["A"])
    recall, precision = m.curves[0]
    assert recall.tolist() == [1.0, 1.0]
    assert precision == pytest.approx([1.0, 0.5])
    assert m.map50 == pytest.approx(1.0)  # the TP ranks first, so AP is still 1
    # matching goes by score, not by IoU: a looser box (IoU 10/14 = 0.71) scoring higher takes the
    # ground truth at IoU 0.5, and the exact box after it is the duplicate
    m = evaluate_detections([pred([[0, 0, 10, 10], [0, 0, 10, 14]], [0.8, 0.9], [0, 0])], gt, ["A"])
    assert m.curves[0][1] == pytest.approx([1.0, 0.5])


def test_max_detections_cuts_lowest_scores_per_image_and_class():
    gt = [truth([[0, 0, 10, 10]], [0])]
    boxes = [[20, 20, 30, 30], [40, 40, 50, 50], [0, 0, 10, 10]]
    m = evaluate_detections([pred(boxes, [0.9, 0.8, 0.7], [0, 0, 0])], gt, ["A"], max_detections=2)
    assert m.map50 == 0.0 and m.per_class["A"]["n_pred"] == 2


def test_result_object(tmp_path):
    gt = [truth([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1])]
    m = evaluate_detections([pred([[0, 0, 10, 10], [40, 40, 50, 50]], [0.9, 0.5], [0, 1])], gt,
                            ["dress", "bag", "hat"])
    assert isinstance(m, DetectionMetrics)
    d = json.loads(json.dumps(m.to_json()))
    assert d["map50"] == pytest.approx(0.5) and d["per_class"]["hat"]["ap"] is None
    assert len(d["precision50"]["dress"]) == 101 and d["precision50"]["hat"] is None
    text = str(m)
    assert "dress" in text and "hat" in text and "0.500" in text
    out = m.plot(tmp_path / "pr.png")
    assert out.exists() and out.read_bytes()[:4] == b"\x89PNG"
    assert m.save(tmp_path / "m.json").exists()


def test_rejects_mismatched_inputs():
    gt = [truth([[0, 0, 10, 10]], [0])]
    with pytest.raises(ValueError, match="label outside"):
        evaluate_detections([pred([[0, 0, 1, 1]], [0.5], [3])], gt, ["A"])
    with pytest.raises(ValueError, match="ground-truth images"):
        evaluate_detections([], gt, ["A"])


def random_fixture(seed, n_images=6, n_classes=4, tie_scores=False):
    """Integer boxes (so xyxy and pycocotools' xywh give the same IoUs exactly): jittered copies of
    the ground truth, some relabelled, plus boxes on nothing. Class 3 never has ground truth."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for _ in range(n_images):
        g = int(rng.integers(0, 6))
        xy = rng.integers(0, 80, size=(g, 2))
        wh = rng.integers(2, 30, size=(g, 2))
        gb = np.concatenate([xy, xy + wh], 1).astype(float)
        gl = rng.integers(0, n_classes - 1, size=g)
        copies = rng.integers(0, 3, size=g)  # 0, 1 or 2 predictions per ground truth
        pb = np.repeat(gb, copies, axis=0) + rng.integers(-3, 4, size=(int(copies.sum()), 4))
        # x2 >= x1: pycocotools would drop a box of negative width * height (outside its area range)
        # but count one of negative width * negative height; both are plain misses here. Width 0 stays in.
        pb[:, 2:] = np.maximum(pb[:, 2:], pb[:, :2])
        pl = np.repeat(gl, copies)
        flip = rng.random(len(pl)) < 0.15
        pl[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
        k = int(rng.integers(0, 5))
        xy = rng.integers(0, 90, size=(k, 2))
        junk = np.concatenate([xy, xy + rng.integers(1, 20, size=(k, 2))], 1)
        pb = np.concatenate([pb, junk]).astype(float)
        pl = np.concatenate([pl, rng.integers(0, n_classes, size=k)])
        ps = rng.random(len(pl))
        if tie_scores:
            ps = np.round(ps, 1)
        gts.append({"boxes": gb, "labels": gl})
        preds.append({"boxes": pb, "scores": ps, "labels": pl})
    return preds, gts


def coco_map(preds, gts, n_classes, max_det):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    anns, dets = [], []
    for i, (p, g) in enumerate(zip(preds, gts)):
        for b, lab in zip(g["boxes"], g["labels"]):
            bb = xywh(b)
            # ids from 1: pycocotools stores the matched gt id and reads 0 as "unmatched"
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab) + 1, "bbox": bb,
                         "area": bb[2] * bb[3], "iscrowd": 0})
        for b, s, lab in zip(p["boxes"], p["scores"], p["labels"]):
            dets.append({"image_id": i + 1, "category_id": int(lab) + 1, "bbox": xywh(b), "score": float(s)})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": [{"id": i + 1} for i in range(len(gts))], "annotations": anns,
                           "categories": [{"id": k + 1, "name": str(k)} for k in range(n_classes)]}
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(dets), "bbox")
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.params.maxDets = [max_det]
        ev.evaluate()
        ev.accumulate()
    p = ev.eval["precision"][:, :, :, 0, 0]  # (T, R, K)
    return float(p[0][p[0] > -1].mean()), float(p[p > -1].mean())


@pytest.mark.parametrize("seed,tie_scores,max_det", [(0, False, 100), (1, False, 100), (2, True, 100),
                                                     (3, True, 100), (4, False, 2), (5, True, 1)])
def test_matches_pycocotools(seed, tie_scores, max_det):
    pytest.importorskip("pycocotools")
    preds, gts = random_fixture(seed, tie_scores=tie_scores)
    m = evaluate_detections(preds, gts, ["a", "b", "c", "d"], max_detections=max_det)
    map50, map_ = coco_map(preds, gts, 4, max_det)
    assert m.map50 == pytest.approx(map50, abs=1e-6)
    assert m.map == pytest.approx(map_, abs=1e-6)
    assert m.per_class["d"]["ap"] is None
