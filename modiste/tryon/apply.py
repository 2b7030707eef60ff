"""``modiste.tryon.TryOn``: a trained CAGAN generator as a function from (person, article worn, target article) to a try-on."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch
from PIL import Image

from modiste.data.datasets import read_manifest
from modiste.data.images import BadImageError, BadImageWarning, ImagePolicy, load_image, load_image_bytes
from modiste.nn import checkpoint
from modiste.results import to_uint8
from modiste.io import unique_names
from modiste.tryon.data import load_pairs, to_float
from modiste.tryon.results import TryOnResult, alpha_to_uint8
from modiste.tryon.train import KIND
from modiste.train.dist import default_device

ImageLike = Union[str, os.PathLike, Image.Image, torch.Tensor]


def as_image(image: ImageLike, size: tuple[int, int], name: str = "<image>") -> torch.Tensor:
    """A path, a Pillow image or a tensor -> uint8 (3, H, W) letterboxed on white to ``size``.

    Every mode becomes RGB the way files are read (grayscale repeated, RGBA and LA composited on
    white, 16-bit scaled). Tensors are uint8, or float in [0, 1], shaped (H, W) or (C, H, W) with
    C = 1, 3 or 4. Raises BadImageError for a file that cannot be read."""
    policy = ImagePolicy(size=size)
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, policy)
    if isinstance(image, torch.Tensor):
        image = _tensor_to_pil(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"{name}: expected a path, a PIL image or a tensor, got {type(image).__name__}")
    buf = io.BytesIO()
    image.save(buf, format="TIFF")  # lossless for every mode, so the file reader's conversions apply unchanged
    return load_image_bytes(buf.getvalue(), name, policy)


def _tensor_to_pil(t: torch.Tensor) -> Image.Image:
    t = t.detach().cpu()
    if t.is_floating_point():
        t = (t.clamp(0, 1) * 255).round().to(torch.uint8)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
        raise ValueError(f"expected an image tensor (H, W) or (C, H, W) with C in 1, 3, 4, got {tuple(t.shape)}")
    a = np.ascontiguousarray(t.permute(1, 2, 0).numpy())
    return Image.fromarray(a[..., 0], "L") if a.shape[-1] == 1 else Image.fromarray(a, "RGB" if a.shape[-1] == 3 else "RGBA")


class TryOn:
    """A CAGAN generator with its input size: ``tryon(person, article, target)`` puts ``target`` on the person.

    ``article`` is the product photo of what the person wears now (CAGAN needs it to know what to
    replace), ``target`` the product photo of the article to put on."""

    def __init__(self, G: torch.nn.Module, meta: dict[str, Any], path: Path | None = None, *, batch: int = 32):
        self.G = G.eval()
        self.meta, self.path, self.batch = meta, path, batch
        self.device = next(G.parameters()).device

    @classmethod
    def train(cls, data: str | os.PathLike | None = None, *, out: str | os.PathLike, resume: bool = False,
              progress: bool = True, **settings: Any) -> "TryOn":
        """Train on pairs (see ``TryonConfig`` for ``settings``) and load the best checkpoint."""
        from modiste.tryon.train import TryonConfig, train_tryon

        cfg, given = TryonConfig.from_call(data, out, settings)
        return cls.load(train_tryon(cfg, resume=resume, progress=progress, given=given))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> "TryOn":
        """From a ``tryon train`` run folder (its best checkpoint) or a checkpoint file."""
        path, meta = checkpoint.resolve_trained(path, KIND, "modiste tryon train")
        device = default_device(device)
        return cls(checkpoint.load_model(path, "G", device=device), meta, path)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the images the generator was trained at."""
        h, w = self.meta["image_size"]
        return int(h), int(w)

    @property
    def run_dir(self) -> Path:
        assert self.path is not None
        return self.path.parent.parent if self.path.parent.name == "checkpoints" else self.path.parent

    @torch.no_grad()
    def generate(self, person: torch.Tensor, article: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 batches (N, 3, H, W) at ``size`` -> (result uint8 (N, 3, H, W), alpha uint8 (N, 1, H, W))."""
        results, alphas = [], []
        for i in range(0, len(person), self.batch):
            x, y, yj = (to_float(t[i:i + self.batch]).to(self.device) for t in (person, article, target))
            result, alpha, _ = self.G(x, y, yj)
            results.append(to_uint8(result))
            alphas.append(alpha_to_uint8(alpha))
        return torch.cat(results), torch.cat(alphas)

    def __call__(self, person: ImageLike | Sequence[ImageLike], article: ImageLike | Sequence[ImageLike],
                 target: ImageLike | Sequence[ImageLike]) -> TryOnResult:
        """One try-on, or one per item when given equal-length lists."""
        many = isinstance(person, (list, tuple))
        persons, articles, targets = ((list(v) if many else [v]) for v in (person, article, target))
        if not len(persons) == len(articles) == len(targets):
            raise ValueError(f"{len(persons)} persons, {len(articles)} articles and {len(targets)} targets: give one of each per try-on")
        x, y, yj = (torch.stack([as_image(im, self.size, name) for im in items])
                    for items, name in ((persons, "person"), (articles, "article"), (targets, "target")))
        result, alpha = self.generate(x, y, yj)
        names = [_name(p, t, i) for i, (p, t) in enumerate(zip(persons, targets))]
        return TryOnResult(result, alpha, x, y, yj, names, {"checkpoint": str(self.path)})

    def apply_csv(self, csv_path: str | os.PathLike) -> TryOnResult:
        """Try-ons for each row of a CSV with ``person``, ``article`` (worn) and ``target`` columns, paths
        relative to the CSV's folder. A row with a file that cannot be read is skipped with a warning
        naming the row and the file."""
        csv_path = Path(csv_path)
        rows = read_manifest(csv_path, "person")
        missing = [c for c in ("article", "target") if c not in rows[0][1]]
        if missing:
            raise ValueError(f"{csv_path}, line 1: no {' or '.join(repr(c) for c in missing)} column "
                             f"(columns: {', '.join(rows[0][1])}); 'article' is what the person wears, 'target' what to put on")
        images, kept = [], []
        for line, row in rows:
            paths = [_resolve(csv_path.parent, row[c]) for c in ("person", "article", "target")]
            try:
                images.append([load_image(p, ImagePolicy(size=self.size)) for p in paths])
            except BadImageError as e:
                warnings.warn(f"{csv_path}, line {line}: skipping the row: {e.path}: {e.reason}", BadImageWarning,
                              stacklevel=2)
                continue
            kept.append((line, paths))
        if not kept:
            raise ValueError(f"{csv_path}: none of the {len(rows)} rows could be read")
        x, y, yj = (torch.stack(col) for col in zip(*images))
        result, alpha = self.generate(x, y, yj)
        names = unique_names([f"{p.stem}-{t.stem}" for _, (p, _, t) in kept])
        info = {"checkpoint": str(self.path), "csv": str(csv_path), "skipped_rows": len(rows) - len(kept),
                "rows": [{"line": line, "person": str(p), "article": str(a), "target": str(t), "result": n}
                         for (line, (p, a, t)), n in zip(kept, names)]}
        return TryOnResult(result, alpha, x, y, yj, names, info)

    def evaluate(self, pairs: str | os.PathLike, *, split: str = "val", embed_model: str | os.PathLike | None = None,
                 fd: bool = True, features: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                 workers: int = 2, progress: bool = True):
        """``modiste.tryon.evaluate.evaluate_tryon`` on ``pairs`` read at this model's size (rows without a
        split are split as in training). ``out`` defaults to ``RUN/eval``."""
        from modiste.tryon.evaluate import evaluate_tryon

        cfg = self.meta.get("config", {})
        seed = int(cfg.get("seed", 0))
        data = load_pairs(pairs, self.size, val_fraction=float(cfg.get("val_fraction", 0.1)), seed=seed,
                          workers=workers, progress=progress)
        embedder = None
        if embed_model is not None:
            from modiste.retrieval import Embedder

            embedder = Embedder.load(embed_model, device=self.device)
        out = Path(out) if out is not None else self.run_dir / "eval"
        report = evaluate_tryon(self.G, data, split=split, seed=seed, embed_model=embedder, fd=fd, features=features, out=out,
                                batch=self.batch, device=self.device, progress=progress)
        report.checkpoint = str(self.path)
        report.save(out / "eval.json")
        return report

    def __repr__(self) -> str:
        return f"TryOn({self.path}, size={self.size}, epoch={self.meta.get('epoch')})"


def _resolve(base: Path, cell: str) -> Path:
    p = Path(cell).expanduser()
    return p if p.is_absolute() else base / p


def _name(person: ImageLike, target: ImageLike, i: int) -> str:
    if isinstance(person, (str, os.PathLike)) and isinstance(target, (str, os.PathLike)):
        return f"{Path(person).stem}-{Path(target).stem}"
    return f"{i:06d}"
