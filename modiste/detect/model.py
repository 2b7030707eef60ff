"""A trained detector as a callable: images in, boxes, categories and scores out."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image, ImageDraw

from modiste.data.datasets import image_paths
from modiste.data.loading import SkipLog
from modiste.data.images import ImagePolicy, load_image, load_readable
from modiste.detect.augment import DetectionTransform, to_pixels
from modiste.detect.boxes import postprocess
from modiste.detect.metrics import DetectionMetrics
from modiste.io import atomic_path, atomic_write_json, output_names
from modiste.nn import checkpoint
from modiste.train.dist import default_device

KIND = "detector"


@dataclass
class Detections:
    """One image's detections, boxes in that image's pixels (xyxy)."""

    path: str
    width: int
    height: int
    boxes: torch.Tensor  # float (K, 4)
    scores: torch.Tensor  # float (K,)
    labels: torch.Tensor  # long (K,), index into ``classes``
    classes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scores)

    def to_json(self) -> dict[str, Any]:
        return {"image": self.path, "width": self.width, "height": self.height,
                "detections": [{"box": [round(float(v), 2) for v in b], "category": self.classes[int(lab)],
                                "category_id": int(lab), "score": round(float(s), 5)}
                               for b, s, lab in zip(self.boxes, self.scores, self.labels)]}

    @classmethod
    def from_json(cls, d: dict[str, Any], classes: Sequence[str]) -> Detections:
        dets = d["detections"]
        return cls(d["image"], int(d["width"]), int(d["height"]),
                   torch.tensor([x["box"] for x in dets], dtype=torch.float32).reshape(-1, 4),
                   torch.tensor([x["score"] for x in dets], dtype=torch.float32),
                   torch.tensor([x["category_id"] for x in dets], dtype=torch.long), list(classes))

    def save(self, path: str | os.PathLike) -> Path:
        """The detections as JSON."""
        return atomic_write_json(path, self.to_json())

    def plot(self, path: str | os.PathLike, image: torch.Tensor | None = None) -> Path:
        """The photo with the boxes drawn (JPEG or PNG by the suffix)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            self.draw(image).save(tmp, format="PNG" if path.suffix.lower() == ".png" else "JPEG", quality=90)
        return path

    def draw(self, image: torch.Tensor | None = None) -> Image.Image:
        """The image with each box outlined and labelled (colour per category)."""
        if image is None:
            image = load_image(self.path, ImagePolicy())
        im = Image.fromarray(image.permute(1, 2, 0).numpy()).convert("RGB")
        draw = ImageDraw.Draw(im)
        line = max(1, round(min(self.width, self.height) / 160))
        for b, s, lab in zip(self.boxes.tolist(), self.scores.tolist(), self.labels.tolist()):
            colour = PALETTE[lab % len(PALETTE)]
            draw.rectangle(b, outline=colour, width=line)
            text = f"{self.classes[lab]} {s:.2f}"
            tw = draw.textlength(text)
            y = max(0, b[1] - 11)
            draw.rectangle([b[0], y, b[0] + tw + 4, y + 11], fill=colour)
            draw.text((b[0] + 2, y), text, fill=(255, 255, 255))
        return im


PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 190, 190),
           (240, 50, 230), (128, 128, 0), (0, 0, 128), (170, 110, 40), (128, 0, 0), (0, 128, 128)]


class Detector:
    """An SSD checkpoint with its class names and input size; ``detector(images)`` -> list of Detections."""

    def __init__(self, net: torch.nn.Module, classes: Sequence[str], *, meta: dict[str, Any] | None = None,
                 path: Path | None = None, score_threshold: float = 0.3, iou_threshold: float = 0.45,
                 max_detections: int = 100, batch: int = 16):
        self.net = net.eval()
        self.classes = list(classes)
        self.meta, self.path = meta or {}, path
        self.size = int(net.image_size)
        self.transform = DetectionTransform(self.size)
        self.score_threshold, self.iou_threshold, self.max_detections = score_threshold, iou_threshold, max_detections
        self.batch = batch
        self.device = next(net.parameters()).device

    @classmethod
    def train(cls, data: str | os.PathLike | None = None, *, out: str | os.PathLike, resume: bool = False,
              progress: bool = True, **settings: Any) -> Detector:
        """Train on COCO or YOLO boxes (see ``DetectConfig`` for ``settings``) and load the best checkpoint."""
        from modiste.detect.train import DetectConfig, train_detector

        cfg, given = DetectConfig.from_call(data, out, settings)
        return cls.load(train_detector(cfg, resume=resume, progress=progress, given=given))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None, **settings: Any) -> Detector:
        """From a ``detect train`` run folder (its best checkpoint) or a checkpoint file."""
        path, meta = checkpoint.resolve_trained(path, KIND, "modiste detect train")
        device = default_device(device)
        net = checkpoint.load_model(path, "model", device=device)
        return cls(net, meta["classes"], meta=meta, path=path, **settings)

    @torch.no_grad()
    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Network outputs for a normalised batch (B, 3, S, S)."""
        return self.net(x.to(self.device))

    def detect(self, images: Sequence[torch.Tensor], paths: Sequence[str] | None = None) -> list[Detections]:
        """Detections for uint8 images (3, H, W) of any sizes."""
        out: list[Detections] = []
        paths = list(paths) if paths is not None else [""] * len(images)
        for start in range(0, len(images), self.batch):
            chunk = images[start:start + self.batch]
            x = torch.stack([self.transform(im)[0] for im in chunk])
            loc, conf = self.raw(x)
            for i, im in enumerate(chunk):
                boxes, scores, labels = postprocess(loc[i].cpu(), conf[i].cpu(), self.net.priors.cpu(),
                                                    score_threshold=self.score_threshold,
                                                    iou_threshold=self.iou_threshold,
                                                    max_detections=self.max_detections)
                h, w = im.shape[1:]
                out.append(Detections(paths[start + i], w, h, to_pixels(boxes, w, h), scores, labels, self.classes))
        return out

    def __call__(self, images: Sequence[torch.Tensor]) -> list[Detections]:
        return self.detect(images)

    def predict(self, sources: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike | None = None,
                draw: bool = True) -> list[Detections]:
        """Detect in image files; unreadable ones are skipped with a warning naming them.

        With ``out``: ``out/<name>.json`` per image and ``out/<name>.jpg`` with the boxes drawn; ``<name>``
        mirrors the photo's path below the photos' common folder (the suffix kept where two would meet)."""
        images, names = load_readable(image_paths(sources))
        results = self.detect(images, names)
        if out is not None:
            out = Path(out)
            out.mkdir(parents=True, exist_ok=True)
            for det, im, name in zip(results, images, output_names([d.path for d in results])):
                det.save(out / f"{name}.json")  # sub/a.json, or a_png.json beside a_jpg.json: never two alike
                if draw:
                    det.plot(out / f"{name}.jpg", im)
        return results

    def evaluate(self, data: str | os.PathLike, *, split: str = "val", out: str | os.PathLike | None = None,
                 workers: int = 0) -> DetectionMetrics:
        """COCO-style mAP@0.5 and mAP@0.5:0.95 and per-class AP on boxed photos (COCO JSON, YOLO YAML
        or a folder holding one); with ``out``, ``metrics.json`` and ``pr_curve.png``. ``skipped``
        on the result counts the photos that could not be read."""
        from modiste.detect.formats import read_detection
        from modiste.detect.train import evaluate_model

        records, classes = read_detection(data, split=split)
        if classes != self.classes:
            raise ValueError(f"{data} has classes {classes}; the detector was trained on {self.classes}")
        metrics, skips = evaluate_model(self.net, records, classes, workers=workers, device=self.device)
        skips.merge(SkipLog.of(records.skipped))  # listed in the annotations, not readable
        metrics.skipped = skips
        if out is not None:
            metrics.save(Path(out) / "metrics.json")
            metrics.plot(Path(out) / "pr_curve.png")
        return metrics

    def __repr__(self) -> str:
        return f"Detector({self.path}, classes={len(self.classes)}, size={self.size})"


def read_predictions(folder: str | os.PathLike, classes: Sequence[str]) -> list[Detections]:
    """The JSON files ``predict`` wrote, back as Detections."""
    return [Detections.from_json(json.loads(p.read_text()), classes) for p in sorted(Path(folder).rglob("*.json"))]
