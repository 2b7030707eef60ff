"""The latent tools as the CLI and the Python API call them: paths in, result objects out."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modiste.latent.invert import Inversion, invert
from modiste.data.vectors import Vectors

PathLike = str | os.PathLike


def _gan(gan):
    from modiste.gan import GAN

    return gan if isinstance(gan, GAN) else GAN.load(gan)


def _encoder(encoder, gan) -> torch.nn.Module | None:
    if encoder is None or isinstance(encoder, torch.nn.Module):
        return encoder.to(gan.device) if encoder is not None else None
    from modiste.latent.encoder import load_encoder

    E, meta = load_encoder(encoder, device=gan.device)
    if meta["latent"]["dim"] != gan.latent_dim or meta["image_size"][0] != gan.size:
        raise ValueError(f"{encoder}: encoder is for {meta['latent']['dim']}-d codes at {meta['image_size'][0]} px, "
                         f"the generator has {gan.latent_dim}-d codes at {gan.size} px")
    return E


def invert_images(gan, source: PathLike, *, encoder=None, workers: int | None = None, progress: bool = True,
                  **settings: Any) -> Inversion:
    """Invert every usable image of a folder, CSV manifest or single file; bad files are skipped and
    listed in ``result.info['skipped']``. ``settings``: InversionSettings fields (steps, lr, weights)."""
    from modiste.latent.inputs import read_images

    gan = _gan(gan)
    resize = gan.meta.get("config", {}).get("resize", "letterbox")
    batch = read_images(source, size=gan.size, resize=resize, workers=workers, progress=progress)
    inv = invert(gan.G, batch.images, D=gan.D, encoder=_encoder(encoder, gan), prior=gan.prior,
                 progress=progress, **settings)
    inv.paths, inv.columns = batch.paths, batch.columns
    inv.info.update({"checkpoint": str(gan.path), "source": str(source), "skipped": batch.skips.summary(),
                     "encoder_path": str(encoder) if isinstance(encoder, (str, os.PathLike)) else None})
    return inv


def codes(gan, *, image: PathLike | None = None, seed: int | None = None, latents: PathLike | None = None,
          where: str | None = None, limit: int | None = None, encoder=None, progress: bool = False,
          **settings: Any) -> tuple[torch.Tensor, list[str]]:
    """Codes to edit, from exactly one source: an image (inverted), a seed (sampled) or a latents file
    (optionally ``where='column=value'`` and the first ``limit`` items)."""
    given = [name for name, v in (("image", image), ("seed", seed), ("latents", latents)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of image, seed or latents (got {given or 'none'})")
    gan = _gan(gan)
    if image is not None:
        inv = invert_images(gan, image, encoder=encoder, progress=progress, **settings)
        if not len(inv):
            raise ValueError(f"{image}: no usable image ({inv.info['skipped']})")
        return inv.z, inv.paths
    if seed is not None:
        return gan.latents(1, seed), [f"seed{seed}"]
    vec = Vectors.load(latents)
    if vec.dim != gan.latent_dim:
        raise ValueError(f"{latents}: {vec.dim}-d vectors, but the generator takes {gan.latent_dim}-d codes")
    if where:
        column, eq, value = where.partition("=")
        if not eq:
            raise ValueError(f"where must read COLUMN=VALUE, not {where!r}")
        vec = vec.where(column, value)
        if not len(vec):
            raise ValueError(f"{latents}: no item has {column}={value}")
    if limit is not None:
        vec = vec.subset(np.arange(min(limit, len(vec))))
    return torch.from_numpy(vec.vectors), vec.paths


def read_boundary(path: PathLike, condition: list[PathLike] | None = None):
    from modiste.latent.boundary import Boundary

    b = Boundary.load(path)
    if condition:
        b = b.condition(*[Boundary.load(c) for c in condition])
    return b


def save_strip(images, out: PathLike, scale: int = 2) -> Path:
    """An ImageSet as ``out`` (.png) plus ``out``.json with its description."""
    from modiste.io import atomic_write_json

    out = Path(out)
    if out.suffix.lower() != ".png":
        out = out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    images.plot(out, scale=scale)
    atomic_write_json(out.with_suffix(".json"), images.to_json())
    return out


def write_tags(out: PathLike, paths: list[str], rows: list[dict[str, str]]) -> Path:
    """Predicted tags as a CSV: path, then one column per attribute."""
    import csv
    import io

    from modiste.io import atomic_write_text

    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", *keys])
    for p, r in zip(paths, rows):
        w.writerow([p, *(r.get(k, "") for k in keys)])
    return atomic_write_text(out, buf.getvalue())
