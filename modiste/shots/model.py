"""A trained classifier as a callable (images -> class, confidence), with evaluation and prediction to files."""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from modiste.shots.train import KIND, predict_tensor, read_labelled
from modiste.data.datasets import image_paths
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


class Predictions(list):
    """``ShotClassifier.predict``'s answer: a list of ``Prediction`` that saves itself."""

    def to_json(self) -> list[dict[str, Any]]:
        return [vars(p) for p in self]

    def save(self, path: str | os.PathLike) -> Path:
        """``.csv`` (path, label, confidence) or ``.json`` (also the probabilities), by the file's suffix."""
        return write_predictions(self, path)


class ClassificationReport(dict):
    """``ShotClassifier.evaluate``'s answer: accuracy, macro-F1 and per-class precision/recall, as a dict."""

    def to_json(self) -> dict[str, Any]:
        return dict(self)

    def save(self, out: str | os.PathLike) -> Path:
        """``out/eval.json`` and ``out/confusion.png``."""
        out = Path(out)
        atomic_write_json(out / "eval.json", self.to_json())
        self.plot(out / "confusion.png")
        return out / "eval.json"

    def plot(self, path: str | os.PathLike) -> Path:
        """The confusion matrix."""
        plot_confusion(self, path)
        return Path(path)


class ShotClassifier:
    """A trained image classifier (shot types or categories): ``train``, ``load``, ``predict``, ``evaluate``."""

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
    def train(cls, data: str | os.PathLike | None = None, *, out: str | os.PathLike, resume: bool = False,
              progress: bool = True, **settings: Any) -> ShotClassifier:
        """Train on class folders or a labelled CSV (see ``ClassifyConfig`` for ``settings``) and load the best checkpoint."""
        from modiste.shots.train import ClassifyConfig, train_classifier

        cfg, given = ClassifyConfig.from_call(data, out, settings)
        return cls.load(train_classifier(cfg, resume=resume, progress=progress, given=given))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> ShotClassifier:
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

    def predict(self, sources: str | os.PathLike | Sequence[str | os.PathLike]) -> Predictions:
        """Class and confidence per image file; unreadable files are skipped with a warning naming them."""
        images, names = load_readable(image_paths(sources), self.policy)
        if not images:
            return Predictions()
        probs = self.probabilities(torch.stack(images))
        conf, idx = probs.max(1)
        return Predictions(Prediction(n, self.classes[int(i)], float(c), [round(float(v), 5) for v in row])
                           for n, i, c, row in zip(names, idx, conf, probs))

    def evaluate(self, source: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 workers: int | None = None, progress: bool = True) -> ClassificationReport:
        """Accuracy, macro-F1, per-class precision/recall on labelled images; with ``out``,
        ``eval.json`` and ``confusion.png``."""
        data = read_labelled(str(source), size=self.image_size, resize=self.resize, classes=self.classes,
                             workers=workers, progress=progress)
        pred = self.probabilities(data.images).argmax(1)
        report = ClassificationReport({**classification_report(pred, data.labels, self.classes), "images": len(data.labels),
                                       "skipped_files": data.skips.count, "model": str(self.path)})
        if out is not None:
            report.save(out)
        return report

    def __repr__(self) -> str:
        return f"ShotClassifier({self.path}, classes={len(self.classes)}, size={self.image_size})"


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
