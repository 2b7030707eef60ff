"""GAN inversion, image -> z: the encoder's guess, then a short per-image optimisation of z.

The loss is pixel MSE + a perceptual feature loss + a prior term that keeps z where the generator
was trained. The perceptual space is the discriminator's intermediate layers (it knows what matters
in these images), or with ``perceptual="imagenet"`` EfficientNet-Lite0's ImageNet stride 4, 8 and
16 maps of the images enlarged to 128 px (LPIPS' idea with the backbone modiste ships). The generator runs in eval
mode, so every image's code is optimised independently of the rest of its batch.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from modiste.nn.prior import sample_prior
from modiste.io import atomic_write_json, atomic_write_text
from modiste.data.vectors import Vectors
from modiste.metrics.ssim import ssim
from modiste.progress import progress_bar
from modiste.results import make_grid, save_png, to_uint8


@dataclass
class InversionSettings:
    steps: int = 100  # per-image optimisation steps after the encoder; 0 = encoder only
    lr: float = 0.05  # Adam on z; codes have unit scale, so a few hundredths moves them in tens of steps
    pixel_weight: float = 1.0  # MSE in [-1, 1] pixel space
    feature_weight: float = 0.5  # perceptual feature distance, each layer normalised by its energy
    perceptual: str = "discriminator"  # the feature space: discriminator, or imagenet (slower: a real backbone)
    prior_weight: float = 0.05  # keeps |z|^2 / dim near 1 (normal prior) or z inside [-1, 1] (uniform)
    batch: int = 64
    seed: int = 0  # start codes when there is no encoder: those of GAN.latents(n, seed)


class DiscriminatorFeatures(nn.Module):
    """The outputs of every activation inside ``D.features``, or a projected discriminator's mixed
    maps: a perceptual space learnt on this data."""

    def __init__(self, D: nn.Module):
        super().__init__()
        if not hasattr(D, "features") and not hasattr(D, "mixed_maps"):
            raise ValueError(f"{type(D).__name__} has no .features block to take feature-loss layers from")
        self.D = D

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if hasattr(self.D, "mixed_maps"):
            return self.D.mixed_maps(x)
        out = []
        for layer in self.D.features:
            x = layer(x)
            if isinstance(layer, (nn.LeakyReLU, nn.ReLU, nn.GELU, nn.SiLU)):
                out.append(x)
        return out


class ImagenetMaps(nn.Module):
    """EfficientNet-Lite0's ImageNet stride 4, 8 and 16 maps of images enlarged to ``size`` px."""

    def __init__(self, size: int = 128):
        super().__init__()
        from modiste.nn.pretrained import frozen_imagenet

        self.size = size
        self.net = frozen_imagenet()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] < self.size:
            x = F.interpolate(x, size=(self.size, self.size * x.shape[-1] // x.shape[-2]), mode="bilinear",
                              align_corners=False)
        return self.net.feature_maps(x)[:3]


def feature_distance(fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
    """Per-image distance between two feature lists, each layer divided by the target's mean energy."""
    total = 0
    for a, b in zip(fa, fb):
        energy = b.detach().pow(2).mean(dim=(1, 2, 3)) + 1e-6
        total = total + (a - b).pow(2).mean(dim=(1, 2, 3)) / energy
    return total / max(len(fa), 1)


def prior_penalty(z: torch.Tensor, prior: str) -> torch.Tensor:
    """Per-code distance from where the prior puts its mass."""
    if prior == "uniform":
        return F.relu(z.abs() - 1).pow(2).mean(dim=1)
    return (z.pow(2).mean(dim=1) - 1).pow(2)


def reconstruction_scores(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(MSE, SSIM) per image, both on [0, 1] pixels; x and y in [-1, 1]."""
    a, b = (x.float().clamp(-1, 1) + 1) / 2, (y.float().clamp(-1, 1) + 1) / 2
    return (a - b).pow(2).mean(dim=(1, 2, 3)), ssim(a, b)


@dataclass
class Inversion:
    """Codes for a set of images, their reconstructions and how close those are."""

    z: torch.Tensor  # (N, latent_dim)
    images: torch.Tensor  # uint8 originals at the generator's size
    reconstructions: torch.Tensor  # uint8 G(z)
    mse: torch.Tensor  # (N,) on [0, 1] pixels
    ssim: torch.Tensor  # (N,)
    paths: list[str] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.z.shape[0]

    def summary(self) -> dict[str, Any]:
        n = len(self)
        return {"n": n, "mse": float(self.mse.mean()) if n else None, "ssim": float(self.ssim.mean()) if n else None,
                **self.info}

    def vectors(self) -> Vectors:
        cols = {**self.columns, "mse": [f"{v:.5f}" for v in self.mse.tolist()],
                "ssim": [f"{v:.4f}" for v in self.ssim.tolist()]}
        return Vectors(self.z.numpy(), self.paths or [f"item{i}" for i in range(len(self))], cols,
                       {"kind": "gan-latent", **self.summary()})

    def grid(self, n: int | None = 32, pairs_per_row: int = 4) -> torch.Tensor:
        """original | reconstruction, side by side, ``pairs_per_row`` pairs per row."""
        n = len(self) if n is None else min(n, len(self))
        both = torch.stack([self.images[:n], self.reconstructions[:n]], dim=1).flatten(0, 1)
        return make_grid(both, nrow=2 * pairs_per_row)

    def plot(self, path: str | os.PathLike, n: int | None = 32, scale: int = 2) -> Path:
        return save_png(self.grid(n), path, scale=scale)

    def save(self, out: str | os.PathLike) -> Path:
        """``out`` is the .npz of codes; beside it: ``NAME.csv`` (per-image scores), ``NAME.json``
        (totals) and ``NAME.png`` (original | reconstruction grid)."""
        out = Path(out)
        if out.suffix != ".npz":
            out = out.with_suffix(".npz")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.vectors().save(out)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["path", "mse", "ssim"])
        for p, m, s in zip(self.vectors().paths, self.mse.tolist(), self.ssim.tolist()):
            w.writerow([p, f"{m:.6f}", f"{s:.5f}"])
        atomic_write_text(out.with_suffix(".csv"), buf.getvalue())
        atomic_write_json(out.with_suffix(".json"), self.summary())
        if len(self):
            self.plot(out.with_suffix(".png"))
        return out

    def to_json(self) -> dict[str, Any]:
        return self.summary()

    def __repr__(self) -> str:
        s = self.summary()
        if not s["n"]:
            return "Inversion(n=0)"
        return f"Inversion(n={s['n']}, mse={s['mse']:.4f}, ssim={s['ssim']:.3f})"


def invert(G: nn.Module, images: torch.Tensor, *, D: nn.Module | None = None, encoder: nn.Module | None = None,
           prior: str = "normal", settings: InversionSettings | None = None, progress: bool = True,
           on_batch: Callable[[int], None] | None = None, **overrides: Any) -> Inversion:
    """Find z with G(z) close to each image. ``images``: uint8 (N, 3, H, W) at G's size, or floats in [-1, 1].

    Keyword overrides are InversionSettings fields (``steps=50``, ``feature_weight=0``...). Without
    ``D`` the feature term is dropped; without ``encoder`` the optimisation starts from random codes.
    """
    s = dataclasses.replace(settings) if settings is not None else InversionSettings()  # the caller's stays as given
    for k, v in overrides.items():
        if not hasattr(s, k):
            raise TypeError(f"unknown inversion setting {k!r}")
        setattr(s, k, v)
    device = next(G.parameters()).device
    latent_dim = G.latent_dim
    G.eval().requires_grad_(False)
    feats = None
    if s.perceptual not in ("discriminator", "imagenet"):
        raise ValueError(f"perceptual must be 'discriminator' or 'imagenet', got {s.perceptual!r}")
    if s.perceptual == "imagenet" and s.feature_weight > 0:
        feats = ImagenetMaps().to(device)
    elif D is not None and s.feature_weight > 0:
        feats = DiscriminatorFeatures(D.eval().requires_grad_(False))
    if encoder is not None:
        encoder.eval().requires_grad_(False)
    n = images.shape[0]
    zs, recs, mses, ssims = [], [], [], []
    starts = None
    if encoder is None:
        # row by row, as GAN.latents draws them: image i starts from the same code whatever the batch size
        # (torch's vectorised sampler gives other numbers for another tensor size)
        gen = torch.Generator().manual_seed(s.seed)
        rows = [sample_prior(1, latent_dim, prior, generator=gen) for _ in range(n)]
        starts = torch.cat(rows) if rows else torch.empty(0, latent_dim)
    with progress_bar(total=n, desc="inverting", unit="img", disable=not progress) as bar:
        for i in range(0, n, s.batch):
            x = images[i : i + s.batch].to(device)
            x = x.float().div(127.5).sub(1) if x.dtype == torch.uint8 else x.float()
            with torch.no_grad():
                z0 = encoder(x) if starts is None else starts[i : i + s.batch].to(device)
                z0 = z0.clamp(-1, 1) if prior == "uniform" else z0  # an encoder may guess outside the support
                target_feats = feats(x) if feats is not None and s.steps > 0 else None
            z = z0.clone().requires_grad_(True)
            opt = torch.optim.Adam([z], lr=s.lr, betas=(0.9, 0.999))
            for _ in range(s.steps):
                y = G(z)
                loss = s.pixel_weight * (y - x).pow(2).mean(dim=(1, 2, 3))
                if feats is not None:
                    loss = loss + s.feature_weight * feature_distance(feats(y), target_feats)
                if s.prior_weight > 0:
                    loss = loss + s.prior_weight * prior_penalty(z, prior)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()  # sum: each code gets its own image's gradient, unscaled by batch size
                opt.step()
                if prior == "uniform":
                    with torch.no_grad():
                        z.clamp_(-1, 1)
            with torch.no_grad():
                z = z.detach()
                y = G(z)
                mse, ss = reconstruction_scores(y, x)
            zs.append(z.cpu()), recs.append(to_uint8(y)), mses.append(mse.cpu()), ssims.append(ss.cpu())
            bar.update(x.shape[0])
            if on_batch is not None:
                on_batch(i + x.shape[0])
    z = torch.cat(zs) if zs else torch.empty(0, latent_dim)
    originals = images if images.dtype == torch.uint8 else to_uint8(images)
    rec = torch.cat(recs) if recs else torch.empty_like(originals)
    info = {"steps": s.steps, "encoder": encoder is not None, "feature_loss": s.perceptual if feats is not None else None,
            "settings": vars(s).copy()}
    return Inversion(z, originals.cpu(), rec, torch.cat(mses) if mses else torch.empty(0),
                     torch.cat(ssims) if ssims else torch.empty(0), info=info)


def random_code_baseline(G: nn.Module, images: torch.Tensor, *, prior: str = "normal", seed: int = 0) -> tuple[float, float]:
    """(MSE, SSIM) of G(z) for random z against the images: the floor any inversion has to beat."""
    inv = invert(G, images, prior=prior, steps=0, seed=seed, progress=False)
    return float(inv.mse.mean()), float(inv.ssim.mean())
