"""A trained embedding model as a function: uint8 images -> L2-normalised vectors, plus what the index needs."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from modiste.data.images import ImagePolicy
from modiste.io import file_sha1
from modiste.nn import checkpoint
from modiste.train.dist import default_device

KIND = "embedding"


class Embedder:
    """A trained embedding: ``train``, ``load``, ``embedder(images)``, ``evaluate``.

    Wraps a registered embedding network with its input size and resize mode.

    ``model(images_uint8)`` returns (N, dim) float32 unit vectors on the CPU, computed in
    eval mode without gradients, ``batch`` images at a time.
    """

    def __init__(self, net: torch.nn.Module, *, image_size: int, resize: str = "letterbox",
                 meta: dict[str, Any] | None = None, path: Path | None = None, batch: int = 256):
        self.net = net.eval()
        self.image_size, self.resize = int(image_size), resize
        self.meta = meta or {}
        self.path = path
        self.batch = batch
        self.device = next(net.parameters()).device

    @classmethod
    def train(cls, data: str | os.PathLike | None = None, *, out: str | os.PathLike, resume: bool = False,
              progress: bool = True, **settings: Any) -> Embedder:
        """Train on class folders, a labelled CSV or a pairs CSV (see ``EmbedConfig`` for ``settings``)
        and load the best checkpoint."""
        from modiste.retrieval.embed.train import EmbedConfig, train_embedding

        cfg, given = EmbedConfig.from_call(data, out, settings)
        return cls.load(train_embedding(cfg, resume=resume, progress=progress, given=given))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> Embedder:
        """From an ``embed train`` run folder (its best checkpoint) or a checkpoint file."""
        path, meta = checkpoint.resolve_trained(path, KIND, "modiste embed train")
        device = default_device(device)
        net = checkpoint.load_model(path, "model", device=device)
        return cls(net, image_size=meta["image_size"], resize=meta.get("resize", "letterbox"), meta=meta, path=path)

    @property
    def dim(self) -> int:
        return int(self.net.dim)

    @property
    def policy(self) -> ImagePolicy:
        return ImagePolicy(size=(self.image_size, self.image_size), resize=self.resize)

    @property
    def query_box(self) -> tuple[float, float, float, float] | None:
        """The region of a street photo the model was trained to read (None: the whole photo)."""
        box = self.meta.get("query_box")
        return tuple(box) if box else None

    @property
    def query_policy(self) -> ImagePolicy:
        """How a street photo searched with this model is read: ``policy`` plus the query box."""
        return ImagePolicy(size=(self.image_size, self.image_size), resize=self.resize, box=self.query_box)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected uint8 images (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        out = [self.net(chunk.to(self.device).float().div(127.5).sub(1)).float().cpu()
               for chunk in images.split(self.batch)]
        return torch.cat(out) if out else torch.empty(0, self.dim)

    def evaluate(self, data: str | os.PathLike, **options: Any):
        """Recall@k and mAP@R of search on ``data`` (see ``evaluate_embedding`` for ``options``)."""
        from modiste.retrieval.embed.evaluate import evaluate_embedding

        return evaluate_embedding(self, data, **options)

    def model_info(self) -> dict[str, Any]:
        """What an index records about the model that filled it; a different model is refused."""
        spec = (self.meta.get("models") or {}).get("model", {})
        return {"kind": KIND, "checkpoint": str(self.path) if self.path else None,
                "sha1": file_sha1(self.path) if self.path else None, "arch": spec.get("arch"),
                "dim": self.dim, "image_size": [self.image_size, self.image_size], "resize": self.resize}

    def __repr__(self) -> str:
        return f"Embedder({self.path}, dim={self.dim}, size={self.image_size})"

