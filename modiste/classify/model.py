"""A trained classifier as a callable (images -> class, confidence), with evaluation and prediction to files."""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from modiste.classify.train import KIND, predict_tensor, read_labelled
from modiste.data.images import ImagePolicy, load_readable
from modiste.io import atomic_write_json, atomic_write_text
from modiste.metrics.classification import classification_report, plot_confusion
from modiste.nn import checkpoint
from modiste.train.dist import default_device


@dataclass
class Prediction:
    path: str
    label: str
    confidence: float
    probabilities: list[float]


class Classifier:
    def __init__(self, net: torch.nn.Module, classes: Sequence[str], *, image_size: int, resize: str = "letterbox",
                 meta: dict[str, Any] | None = None, path: Path | None = None):
        self.net = net.eval()
        self.classes = list(classes)
        self.image_size, self.resize = int(image_size), resize
        self.meta, self.path = meta or {}, path
        self.device = next(net.parameters()).device
        # A model trained with mirrored images predicts on the image and its mirror, averaged.
        self.flip_average = bool(self.meta.get("config", {}).get("flip", False))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> Classifier:
        """From a training run folder (its best checkpoint) or a checkpoint file."""
        path, meta = checkpoint.resolve_trained(path, KIND, "modiste shots train")
        device = default_device(device)
        net = checkpoint.load_model(path, "model", device=device)
        return cls(net, meta["classes"], image_size=meta["image_size"], resize=meta.get("resize", "letterbox"),
                   meta=meta, path=path)

    @property
    def policy(self) -> ImagePolicy:
        return ImagePolicy(size=(self.image_size, self.image_size), resize=self.resize)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return predict_tensor(self.net, images, self.device, flip_average=self.flip_average)

    def predict(self, sources: Sequence[str | os.PathLike]) -> list[Prediction]:
        """Class and confidence per image file; unreadable files are skipped with a warning naming them."""
        images, names = load_readable(sources, self.policy)
        if not images:
            return []
        probs = self.probabilities(torch.stack(images))
        conf, idx = probs.max(1)
        return [Prediction(n, self.classes[int(i)], float(c), [round(float(v), 5) for v in row])
                for n, i, c, row in zip(names, idx, conf, probs)]

    def evaluate(self, source: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 workers: int | None = None, progress: bool = True) -> dict[str, Any]:
        """Accuracy, macro-F1, per-class precision/recall on labelled images; with ``out``,
        ``eval.json`` and ``confusion.png``."""
        data = read_labelled(str(source), size=self.image_size, resize=self.resize, classes=self.classes,
                             workers=workers, progress=progress)
        pred = self.probabilities(data.images).argmax(1)
        report = {**classification_report(pred, data.labels, self.classes), "images": len(data.labels),
                  "skipped_files": data.skips.count, "model": str(self.path)}
        if out is not None:
            out = Path(out)
            atomic_write_json(out / "eval.json", report)
            plot_confusion(report, out / "confusion.png")
        return report

    def __repr__(self) -> str:
        return f"Classifier({self.path}, classes={len(self.classes)}, size={self.image_size})"


def write_predictions(predictions: Sequence[Prediction], out: str | os.PathLike) -> Path:
    """``.csv`` (path, label, confidence) or ``.json`` (also the probabilities), by the file's suffix."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        return atomic_write_json(out, [vars(p) for p in predictions])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "label", "confidence"])
    for p in predictions:
        w.writerow([p.path, p.label, f"{p.confidence:.5f}"])
    return atomic_write_text(out, buf.getvalue())
