"""Classification metrics: accuracy, macro-F1, per-class precision and recall, the confusion matrix."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from modiste.io import atomic_path


def confusion_matrix(pred: Any, true: Any, num_classes: int) -> np.ndarray:
    """``cm[t, p]``: images of true class t predicted as p."""
    pred = np.asarray(pred.cpu() if isinstance(pred, torch.Tensor) else pred, dtype=np.int64).reshape(-1)
    true = np.asarray(true.cpu() if isinstance(true, torch.Tensor) else true, dtype=np.int64).reshape(-1)
    if pred.shape != true.shape:
        raise ValueError(f"{len(pred)} predictions for {len(true)} labels")
    return np.bincount(true * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def classification_report(pred: Any, true: Any, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 (mean over classes present in ``true``), per-class precision/recall/F1/support."""
    cm = confusion_matrix(pred, true, len(classes))
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1), cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    present = support > 0
    return {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {name: {"precision": float(precision[k]), "recall": float(recall[k]), "f1": float(f1[k]),
                             "support": int(support[k])} for k, name in enumerate(classes)},
        "confusion": cm.tolist(),
        "classes": list(classes),
    }


def plot_confusion(report: dict[str, Any], path: str | Path) -> Path:
    """The confusion matrix, rows normalised to the true class, counts written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(report["confusion"], dtype=float)
    classes = report["classes"]
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    side = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for t in range(len(classes)):
        for p in range(len(classes)):
            if cm[t, p]:
                ax.text(p, t, int(cm[t, p]), ha="center", va="center", fontsize=7,
                        color="white" if share[t, p] > 0.5 else "black")
    ax.set_title(f"accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
