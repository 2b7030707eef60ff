"""COCO-style detection metrics: AP per class at IoU 0.50:0.05:0.95, mAP@0.5 and mAP@0.5:0.95.

Matches pycocotools' ``COCOeval`` for boxes with one area range covering everything, no crowd
boxes and ``maxDets = [max_detections]``:

* per image and class, predictions are taken highest score first (equal scores keep their input
  order) and only the first ``max_detections`` count; like pycocotools, that limit applies per
  image *and class*;
* at each IoU threshold a prediction matches the not yet matched ground truth with the highest
  IoU, if that IoU is >= the threshold (equal IoUs: the later ground truth, as in pycocotools);
  unmatched predictions are false positives;
* per class, the predictions of all images are ranked by score; precision is made monotone
  (each value raised to the best precision at any higher recall) and read at the 101 recall
  points 0, 0.01, ..., 1 (0 past the highest recall reached); AP is their mean.

mAP averages over the classes that have ground truth; a class without any is left out (its AP
is None), even if it has predictions. IoU is plain area ratio, no +1 pixel.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modiste.io import atomic_path, atomic_write_json

# written the way pycocotools writes them, so the floats (0.55, 0.6000000000000001, ...) are the same
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


def _np(x: Any, dtype: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of xyxy boxes in float64, empty boxes giving 0."""
    wh = np.clip(np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_image(pred_boxes: np.ndarray, pred_scores: np.ndarray, gt_boxes: np.ndarray,
                iou_thresholds: np.ndarray, max_detections: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy COCO matching of one image's predictions of one class.

    Returns the scores of the predictions that count, highest first (at most ``max_detections``),
    and a (T, D) bool array: whether each is a true positive at each IoU threshold.
    """
    order = np.argsort(-pred_scores, kind="mergesort")[:max_detections]
    scores = pred_scores[order]
    t, d, g = len(iou_thresholds), len(order), len(gt_boxes)
    tp = np.zeros((t, d), dtype=bool)
    if d == 0 or g == 0:
        return scores, tp
    ious = _box_iou(pred_boxes[order], gt_boxes)
    # pycocotools caps the threshold just below 1 so that IoU 1.0 still matches at threshold 1.0
    thr = np.minimum(iou_thresholds, 1 - 1e-10)
    taken = np.zeros((t, g), dtype=bool)
    rows = np.arange(t)
    for j in range(d):
        cand = np.where(taken, -1.0, ious[j][None, :])  # (T, G); taken ground truth is out
        best = g - 1 - np.argmax(cand[:, ::-1], axis=1)  # the last index among equal IoUs
        hit = cand[rows, best] >= thr
        tp[hit, j] = True
        taken[rows[hit], best[hit]] = True
    return scores, tp


def accumulate(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> dict[str, np.ndarray]:
    """Precision/recall of one class from all its counted predictions.

    ``scores`` (D,) and ``tp`` (T, D) concatenated over images in image order. Returns
    ``precision`` (T, 101) interpolated at the recall points, ``recall`` (T,) reached, and the
    raw ``curve_recall`` / ``curve_precision`` (T, D) along the ranking.
    """
    order = np.argsort(-scores, kind="mergesort")
    tp = tp[:, order]
    tp_sum = np.cumsum(tp, axis=1).astype(float)
    fp_sum = np.cumsum(~tp, axis=1).astype(float)
    rc = tp_sum / n_gt
    pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))  # the same float arithmetic as pycocotools
    d = tp.shape[1]
    # the precision envelope: best precision at this recall or any higher one
    envelope = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    precision = np.zeros((tp.shape[0], len(RECALL_POINTS)))
    for i in range(tp.shape[0]):
        idx = np.searchsorted(rc[i], RECALL_POINTS, side="left")
        ok = idx < d  # recall points never reached get precision 0
        precision[i, ok] = envelope[i, idx[ok]]
    recall = rc[:, -1] if d else np.zeros(tp.shape[0])
    return {"precision": precision, "recall": recall, "curve_recall": rc, "curve_precision": pr}


@dataclass
class DetectionMetrics:
    """Evaluation of a detector on a set of images; numbers follow pycocotools (see the module)."""

    class_names: list[str]
    iou_thresholds: np.ndarray   # (T,)
    precision: np.ndarray        # (T, 101, K) interpolated precision at the recall points; -1 for classes without ground truth
    recall: np.ndarray           # (T, K) highest recall reached; -1 for classes without ground truth
    n_gt: np.ndarray             # (K,) ground-truth boxes per class
    n_pred: np.ndarray           # (K,) predictions per class that counted (after the max_detections cut)
    curves: list[tuple[np.ndarray, np.ndarray] | None]  # per class, raw (recall, precision) at IoU 0.5
    max_detections: int = 100
    skipped: Any = None          # the SkipLog of photos that could not be read, when known

    def _t50(self) -> int | None:
        hits = np.flatnonzero(np.isclose(self.iou_thresholds, 0.5))
        return int(hits[0]) if len(hits) else None

    @property
    def ap_per_threshold(self) -> np.ndarray:
        """(T, K) AP of each class at each threshold; NaN for classes without ground truth."""
        ap = self.precision.mean(axis=1)
        ap[:, self.n_gt == 0] = np.nan
        return ap

    def _ap(self, t: int | None) -> list[float | None]:
        ap = self.ap_per_threshold
        vals = ap.mean(axis=0) if t is None else ap[t]
        return [None if n == 0 else float(v) for v, n in zip(vals, self.n_gt)]

    @staticmethod
    def _mean(vals: list[float | None]) -> float | None:
        present = [v for v in vals if v is not None]
        return float(np.mean(present)) if present else None

    @property
    def map50(self) -> float | None:
        """Mean AP at IoU 0.5 over classes with ground truth (None if no class has any, or 0.5 is not evaluated)."""
        t = self._t50()
        return None if t is None else self._mean(self._ap(t))

    @property
    def map(self) -> float | None:
        """Mean over classes with ground truth of the AP averaged over all IoU thresholds."""
        return self._mean(self._ap(None))

    @property
    def per_class(self) -> dict[str, dict[str, Any]]:
        t = self._t50()
        ap50 = self._ap(t) if t is not None else [None] * len(self.class_names)
        ap = self._ap(None)
        return {name: {"ap50": ap50[k], "ap": ap[k], "n_gt": int(self.n_gt[k]), "n_pred": int(self.n_pred[k])}
                for k, name in enumerate(self.class_names)}

    def to_json(self) -> dict[str, Any]:
        t = self._t50()
        pr50 = {}
        if t is not None:
            pr50 = {name: (self.precision[t, :, k].round(6).tolist() if self.n_gt[k] else None)
                    for k, name in enumerate(self.class_names)}
        return {
            "map50": self.map50,
            "map": self.map,
            "per_class": self.per_class,
            "iou_thresholds": [round(float(x), 4) for x in self.iou_thresholds],
            "max_detections": self.max_detections,
            "recall_points": [round(float(x), 2) for x in RECALL_POINTS],
            "precision50": pr50,  # per class, the 101-point interpolated precision at IoU 0.5
        }

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())

    def plot(self, path: str | Path) -> Path:
        """Precision against recall at IoU 0.5, one line per class with ground truth (the monotone envelope)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        t = self._t50()
        if t is None:
            raise ValueError("IoU 0.5 is not among the evaluated thresholds")
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        for k, name in enumerate(self.class_names):
            if self.n_gt[k] == 0:
                continue
            ap50 = float(self.precision[t, :, k].mean())
            ax.plot(RECALL_POINTS, self.precision[t, :, k], lw=1.4, label=f"{name} ({ap50:.3f})")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"IoU 0.5, mAP@0.5 = {self.map50:.3f}" if self.map50 is not None else "IoU 0.5")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8, title="class (AP@0.5)")
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format=path.suffix.lstrip(".") or "png")
        plt.close(fig)
        return path

    def __str__(self) -> str:
        def f(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        width = max([5] + [len(n) for n in self.class_names])
        lines = [f"{'class':<{width}} {'AP50':>6} {'AP':>6} {'n_gt':>6} {'n_pred':>7}"]
        for name, row in self.per_class.items():
            lines.append(f"{name:<{width}} {f(row['ap50']):>6} {f(row['ap']):>6} {row['n_gt']:>6} {row['n_pred']:>7}")
        lines.append(f"{'mean':<{width}} {f(self.map50):>6} {f(self.map):>6} {int(self.n_gt.sum()):>6} {int(self.n_pred.sum()):>7}")
        return "\n".join(lines)


def evaluate_detections(predictions: Sequence[Mapping[str, Any]], ground_truth: Sequence[Mapping[str, Any]],
                        class_names: Sequence[str], iou_thresholds: Sequence[float] | None = None,
                        max_detections: int = 100) -> DetectionMetrics:
    """COCO-style AP of ``predictions`` against ``ground_truth``, both one entry per image, same order.

    A prediction is ``{"boxes": (N, 4) xyxy, "scores": (N,), "labels": (N,)}``, a ground truth
    ``{"boxes": (G, 4), "labels": (G,)}``; tensors or arrays; labels index ``class_names``.
    Boxes of both in the same units (pixels, usually).
    """
    if len(predictions) != len(ground_truth):
        raise ValueError(f"{len(predictions)} predictions for {len(ground_truth)} ground-truth images")
    thresholds = IOU_THRESHOLDS if iou_thresholds is None else np.asarray(iou_thresholds, dtype=float)
    k_classes = len(class_names)
    t = len(thresholds)
    scores_by_class: list[list[np.ndarray]] = [[] for _ in range(k_classes)]
    tp_by_class: list[list[np.ndarray]] = [[] for _ in range(k_classes)]
    n_gt = np.zeros(k_classes, dtype=int)

    for i, (pred, gt) in enumerate(zip(predictions, ground_truth)):
        pb = _np(pred["boxes"], np.float64).reshape(-1, 4)
        ps = _np(pred["scores"], np.float64).reshape(-1)
        pl = _np(pred["labels"], np.int64).reshape(-1)
        gb = _np(gt["boxes"], np.float64).reshape(-1, 4)
        gl = _np(gt["labels"], np.int64).reshape(-1)
        if not (len(pb) == len(ps) == len(pl)) or len(gb) != len(gl):
            raise ValueError(f"image {i}: boxes, scores and labels differ in length")
        for name, lab in (("predicted", pl), ("ground-truth", gl)):
            if len(lab) and (lab.min() < 0 or lab.max() >= k_classes):
                raise ValueError(f"image {i}: {name} label outside 0..{k_classes - 1}")
        n_gt += np.bincount(gl, minlength=k_classes)
        for k in set(pl.tolist()) | set(gl.tolist()):
            p_mask, g_mask = pl == k, gl == k
            s, tp = match_image(pb[p_mask], ps[p_mask], gb[g_mask], thresholds, max_detections)
            scores_by_class[k].append(s)
            tp_by_class[k].append(tp)

    precision = -np.ones((t, len(RECALL_POINTS), k_classes))
    recall = -np.ones((t, k_classes))
    n_pred = np.zeros(k_classes, dtype=int)
    curves: list[tuple[np.ndarray, np.ndarray] | None] = [None] * k_classes
    t50 = np.flatnonzero(np.isclose(thresholds, 0.5))
    for k in range(k_classes):
        scores = np.concatenate(scores_by_class[k]) if scores_by_class[k] else np.zeros(0)
        tp = np.concatenate(tp_by_class[k], axis=1) if tp_by_class[k] else np.zeros((t, 0), dtype=bool)
        n_pred[k] = len(scores)
        if n_gt[k] == 0:
            continue
        acc = accumulate(scores, tp, int(n_gt[k]))
        precision[:, :, k] = acc["precision"]
        recall[:, k] = acc["recall"]
        if len(t50):
            curves[k] = (acc["curve_recall"][t50[0]], acc["curve_precision"][t50[0]])
    return DetectionMetrics(class_names=list(class_names), iou_thresholds=thresholds, precision=precision,
                            recall=recall, n_gt=n_gt, n_pred=n_pred, curves=curves, max_detections=max_detections)
