"""Try-on results: the person wearing the target article and the alpha mask, as files, a sheet and JSON."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from modiste.io import atomic_path, atomic_write_json
from modiste.results import make_grid, save_png

COLUMNS = ("person", "article", "target", "result", "alpha")


def alpha_to_uint8(alpha: torch.Tensor) -> torch.Tensor:
    """alpha in [0, 1] (N, 1, H, W) -> uint8 (N, 1, H, W)."""
    return (alpha.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def tryon_sheet(person: torch.Tensor, article: torch.Tensor, target: torch.Tensor, result: torch.Tensor,
                alpha: torch.Tensor) -> torch.Tensor:
    """One row per pair: person | article worn | target article | result | alpha (white = repainted).

    Images are uint8 (N, 3, H, W), alpha uint8 (N, 1, H, W)."""
    columns = [person, article, target, result, alpha.expand(-1, 3, -1, -1)]
    return make_grid(torch.stack(columns, 1).flatten(0, 1), nrow=len(columns))


def sheet_scale(height: int) -> int:
    """Whole-number zoom so a small image reads in a sheet (pixels stay honest)."""
    return max(1, 128 // height)


@dataclass
class TryOnResult:
    """Try-on outputs, uint8 (N, 3, H, W) images and (N, 1, H, W) alpha masks, with their inputs."""

    result: torch.Tensor
    alpha: torch.Tensor
    person: torch.Tensor
    article: torch.Tensor
    target: torch.Tensor
    names: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.result.shape[0]

    def sheet(self) -> torch.Tensor:
        return tryon_sheet(self.person, self.article, self.target, self.result, self.alpha)

    def plot(self, path: str | os.PathLike, scale: int | None = None) -> Path:
        """A sheet, one row per pair: person | article | target | result | alpha."""
        return save_png(self.sheet(), path, scale=scale or sheet_scale(self.result.shape[-2]))

    def save(self, out: str | os.PathLike) -> Path:
        """One result to ``out`` (a .png file) and its alpha mask to ``<out stem>_alpha.png``; several
        to the folder ``out`` as ``NAME.png`` + ``NAME_alpha.png``, with ``sheet.png`` and ``results.json``."""
        out = Path(out)
        if len(self) == 1 and out.suffix.lower() == ".png":
            save_png(self.result[0], out)
            _save_mask(self.alpha[0], out.with_name(f"{out.stem}_alpha.png"))
            return out
        out.mkdir(parents=True, exist_ok=True)
        names = self.names or [f"{i:06d}" for i in range(len(self))]
        for name, image, alpha in zip(names, self.result, self.alpha):
            save_png(image, out / f"{name}.png")
            _save_mask(alpha, out / f"{name}_alpha.png")
        self.plot(out / "sheet.png")
        atomic_write_json(out / "results.json", self.to_json())
        return out

    def to_json(self) -> dict[str, Any]:
        area = self.alpha.float().div(255).mean((1, 2, 3)).tolist()
        return {"n": len(self), "size": list(self.result.shape[-2:]), "names": self.names,
                "alpha_area": [round(a, 5) for a in area], **self.info}

    def __repr__(self) -> str:
        return f"TryOnResult(n={len(self)}, size={tuple(self.result.shape[-2:])})"


def _save_mask(alpha: torch.Tensor, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(alpha[0].numpy(), "L").save(tmp, format="PNG")
