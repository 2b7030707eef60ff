"""The detection dataset: records (``records.py``, read by ``formats.py``) decoded, letterboxed and
augmented into batches; unreadable photos become skipped samples, counted, never a crash."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from modiste.data.datasets import BadSample
from modiste.data.images import BadImageError, ImagePolicy, load_image, to_size
from modiste.detect.records import DetectionRecord

YOLO_FILL = 114  # the grey YOLO letterboxes with



@dataclass
class DetectionSample:
    index: int
    image: torch.Tensor  # uint8 (3, H, W) as decoded, unless a transform changed it
    boxes: torch.Tensor  # float32 (N, 4) xyxy
    labels: torch.Tensor  # int64 (N,)
    path: str


@dataclass
class DetectionBatch:
    images: torch.Tensor | list[torch.Tensor]  # stacked when all the same size, else a list
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    paths: list[str]
    indices: torch.Tensor  # long (N,): dataset index of each image
    bad: list[BadSample]  # items of this batch that could not be read

    def __len__(self) -> int:
        return len(self.indices)

    def pin_memory(self) -> DetectionBatch:
        images = self.images
        images = images.pin_memory() if isinstance(images, torch.Tensor) else [i.pin_memory() for i in images]
        return DetectionBatch(images, [b.pin_memory() for b in self.boxes], [lab.pin_memory() for lab in self.labels],
                              self.paths, self.indices.pin_memory(), self.bad)


Triple = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
Transform = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, np.random.Generator], Triple]


class DetectionDataset(Dataset):
    """``DetectionRecord``s read as ``DetectionSample``s, or ``BadSample`` when the file cannot be read.

    Images come as decoded (upright RGB, original size); this class never resizes. ``size`` is the
    network's input side, kept for the transform to agree with. ``transform(image, boxes, labels,
    rng)`` (e.g. ``modiste.detect.augment.DetectionAugment``) gets a numpy generator seeded from
    torch's, so DataLoader workers (seeded per worker and epoch by torch) draw differently.
    """

    def __init__(
        self,
        records: Sequence[DetectionRecord],
        size: int = 320,
        transform: Transform | None = None,
        *,
        policy: ImagePolicy | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.records = list(records)
        self.size = int(size)
        self.transform = transform
        self.policy = policy if policy is not None else ImagePolicy()
        if self.policy.size is not None:
            raise ValueError("the policy must keep the image size (size=None): boxes are in original pixels")
        self.classes = list(classes) if classes is not None else None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> DetectionSample | BadSample:
        rec = self.records[index]
        try:
            image = load_image(rec.path, self.policy)
        except BadImageError as e:
            return BadSample(index, str(rec.path), e.reason)
        h, w = image.shape[1:]
        if (w, h) != (rec.width, rec.height):
            why = f"image is {w}x{h} px but its boxes are for {rec.width}x{rec.height}"
            return BadSample(index, str(rec.path), why)
        boxes, labels = rec.boxes.clone(), rec.labels.clone()
        if self.transform is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
            image, boxes, labels = self.transform(image, boxes, labels, rng)
        return DetectionSample(index, image, boxes, labels, str(rec.path))

    def __repr__(self) -> str:
        n = sum(len(r.labels) for r in self.records)
        return f"{type(self).__name__}({len(self)} images, {n} boxes, size={self.size})"


def detection_collate(items: Sequence[DetectionSample | BadSample]) -> DetectionBatch:
    """Batch the good items; the bad ones go to ``batch.bad`` for a ``SkipLog`` to warn about (see loading.py)."""
    good = [s for s in items if isinstance(s, DetectionSample)]
    bad = [s for s in items if isinstance(s, BadSample)]
    images: torch.Tensor | list[torch.Tensor]
    if not good:
        images = torch.empty((0, 3, 0, 0), dtype=torch.uint8)
    elif len({tuple(s.image.shape) for s in good}) == 1:
        images = torch.stack([s.image for s in good])
    else:
        images = [s.image for s in good]
    return DetectionBatch(
        images, [s.boxes for s in good], [s.labels for s in good], [s.path for s in good],
        torch.tensor([s.index for s in good], dtype=torch.long), bad,
    )


class Letterbox(NamedTuple):
    """How ``letterbox`` mapped the image: ``out = in * scale + pad`` per axis."""

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def invert(self, boxes: torch.Tensor) -> torch.Tensor:
        """Boxes xyxy on the letterboxed image -> pixels of the original."""
        pad = boxes.new_tensor([self.pad_x, self.pad_y, self.pad_x, self.pad_y])
        scale = boxes.new_tensor([self.scale_x, self.scale_y, self.scale_x, self.scale_y])
        return (boxes - pad) / scale


def letterbox(
    image: torch.Tensor, boxes: torch.Tensor, size: int | tuple[int, int], *, fill: int = YOLO_FILL
) -> tuple[torch.Tensor, torch.Tensor, Letterbox]:
    """Fit ``image`` uint8 (3, H, W) whole into ``size`` (side, or (height, width)), centred, padded with ``fill``.

    Returns (image uint8 (3, h, w), boxes xyxy mapped onto it, the ``Letterbox`` to map predictions back).
    """
    th, tw = to_size(size)
    _, h, w = image.shape
    s = min(tw / w, th / h)
    nw, nh = min(tw, max(1, round(w * s))), min(th, max(1, round(h * s)))
    px, py = (tw - nw) // 2, (th - nh) // 2
    out = torch.full((3, th, tw), fill, dtype=torch.uint8)
    if (nw, nh) == (w, h):
        out[:, py : py + nh, px : px + nw] = image
    else:
        small = F.interpolate(image[None].float(), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        out[:, py : py + nh, px : px + nw] = small[0].round_().clamp_(0, 255).to(torch.uint8)
    box = Letterbox(nw / w, nh / h, px, py)
    scale = torch.tensor([box.scale_x, box.scale_y, box.scale_x, box.scale_y], dtype=torch.float32)
    shift = torch.tensor([px, py, px, py], dtype=torch.float32)
    return out, boxes.float() * scale + shift, box
