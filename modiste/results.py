"""Results objects returned by modiste's verbs: ``.save()``, ``.plot()``, ``.to_json()``."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from modiste.io import atomic_path, atomic_write_json


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Model output in [-1, 1] -> uint8 in [0, 255]."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, pad_value: int = 255) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> one uint8 (3, H', W') sheet, ``nrow`` images per row."""
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y : y + h, x : x + w] = images[i]
    return grid


def to_pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())


def save_png(image: torch.Tensor, path: str | Path, scale: int = 1) -> Path:
    """Write a uint8 (3, H, W) image atomically; ``scale`` enlarges small images (nearest) for viewing."""
    pil = to_pil(image)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    path = Path(path)
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG")
    return path


@dataclass
class ImageSet:
    """Generated images with the codes that made them."""

    images: torch.Tensor  # uint8 (N, 3, H, W)
    z: torch.Tensor | None = None  # (N, latent_dim)
    names: list[str] = field(default_factory=list)
    nrow: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.images.shape[0]

    def grid(self) -> torch.Tensor:
        return make_grid(self.images, self.nrow)

    def plot(self, path: str | Path, scale: int = 1) -> Path:
        """Write the grid (or strip) as one PNG."""
        return save_png(self.grid(), path, scale=scale)

    def save(self, out: str | Path, *, singles: bool = True) -> Path:
        """``out/grid.png``, ``out/NAME.png`` per image, ``out/z.npy`` and ``out/images.json``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.plot(out / "grid.png")
        names = self.names or [f"{i:04d}" for i in range(len(self))]
        if singles:
            for name, img in zip(names, self.images):
                save_png(img, out / f"{name}.png")
        if self.z is not None:
            with atomic_path(out / "z.npy") as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, self.z.cpu().numpy())
        atomic_write_json(out / "images.json", self.to_json())
        return out

    def to_json(self) -> dict[str, Any]:
        return {"n": len(self), "size": list(self.images.shape[-2:]), "names": self.names, **self.info}

    def __repr__(self) -> str:
        return f"ImageSet(n={len(self)}, size={tuple(self.images.shape[-2:])}, {json.dumps(self.info)})"


def blank_tile(size: int) -> torch.Tensor:
    """A grey square: where a query image is not given or a file has gone missing."""
    return torch.full((3, size, size), 200, dtype=torch.uint8)


def fit_tile(image: torch.Tensor, size: int) -> torch.Tensor:
    """A uint8 (3, H, W) image letterboxed on white into a size x size tile."""
    from PIL import ImageOps

    if tuple(image.shape[-2:]) == (size, size):
        return image
    pil = ImageOps.pad(to_pil(image), (size, size), color=(255, 255, 255))
    return torch.from_numpy(np.asarray(pil).transpose(2, 0, 1).copy())


def file_tile(path: str | Path, size: int) -> torch.Tensor:
    """An image file as a size x size tile, grey when it can no longer be read."""
    from modiste.data.images import BadImageError, load_image

    try:
        return load_image(path, size=size)
    except BadImageError:
        return blank_tile(size)


def ranked_grid(queries: list[torch.Tensor | None], results: list[list[str]], size: int, k: int) -> torch.Tensor:
    """One row per query: the query image (grey when None), then the files of its results, best first;
    rows shorter than k are padded with grey tiles."""
    tiles = []
    for query, paths in zip(queries, results):
        tiles.append(fit_tile(query, size) if query is not None else blank_tile(size))
        tiles += [file_tile(p, size) for p in paths]
        tiles += [blank_tile(size) for _ in range(k - len(paths))]
    return make_grid(torch.stack(tiles) if tiles else blank_tile(size)[None], nrow=k + 1)
