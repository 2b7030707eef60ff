"""Directions in latent space found without labels: PCA of the codes, and GANSpace.

A ``Directions`` holds k unit vectors in the latent space of one generator, with how much variance
each explains and the spread of the codes along it, so edits can be given in standard deviations
("+2 sigma along direction 0") rather than in raw latent units.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from modiste.nn.prior import sample_prior
from modiste.io import atomic_write_json, read_format_json

_FORMAT = "modiste.directions"
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
                nn.Softplus, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardswish)
_PROJECTIONS = (nn.Linear, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Conv1d, nn.Conv2d,
                nn.Conv3d)


def move_along(z: np.ndarray | torch.Tensor, direction: np.ndarray,
               amounts: float | Sequence[float] | np.ndarray) -> np.ndarray | torch.Tensor:
    """``z + t * direction`` for each ``t`` in ``amounts``: (T, D) for one code (D,), (N, T, D) for (N, D).

    Returns the type of ``z`` (numpy or torch, same dtype and device).
    """
    t = np.atleast_1d(np.asarray(amounts, dtype=np.float64))
    if t.ndim != 1:
        raise ValueError(f"amounts must be a number or a 1-D sequence, got shape {t.shape}")
    d = np.asarray(direction, dtype=np.float64)
    if z.shape[-1] != d.shape[0] or z.ndim not in (1, 2):
        raise ValueError(f"codes of shape {tuple(z.shape)} do not fit a direction of dimension {d.shape[0]}")
    if isinstance(z, torch.Tensor):
        step = torch.as_tensor(t[:, None] * d[None, :], dtype=z.dtype, device=z.device)  # (T, D)
        return z.unsqueeze(-2) + step
    z = np.asarray(z)
    out_dtype = z.dtype if np.issubdtype(z.dtype, np.floating) else np.float64
    return (z[..., None, :] + t[:, None] * d[None, :]).astype(out_dtype, copy=False)


@dataclass
class Directions:
    vectors: np.ndarray  # (k, D), unit rows
    explained_variance_ratio: np.ndarray  # (k,), of the space the PCA ran in (latent or activations)
    scale: np.ndarray  # (k,), std of the codes projected on each direction: one "sigma" for edits
    method: str  # "latent-pca" or "ganspace"
    layer: str | None = None  # the generator module whose activations GANSpace used
    extra: dict[str, Any] = field(default_factory=dict)  # prior, n, seed, ...

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float64)
        self.explained_variance_ratio = np.asarray(self.explained_variance_ratio, dtype=np.float64)
        self.scale = np.asarray(self.scale, dtype=np.float64)
        if self.vectors.ndim != 2:
            raise ValueError(f"direction vectors must be (k, D), got shape {self.vectors.shape}")
        k = self.vectors.shape[0]
        if self.explained_variance_ratio.shape != (k,) or self.scale.shape != (k,):
            raise ValueError(f"{k} directions need {k} explained-variance ratios and {k} scales")

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def move(self, z: np.ndarray | torch.Tensor, index: int, amounts: float | Sequence[float], *,
             sigmas: bool = True) -> np.ndarray | torch.Tensor:
        """Codes moved along direction ``index`` by each amount, in sigmas (``scale``) or raw units."""
        t = np.atleast_1d(np.asarray(amounts, dtype=np.float64))
        return move_along(z, self.vectors[index], t * self.scale[index] if sigmas else t)

    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, "version": 1, "method": self.method, "layer": self.layer,
                "explained_variance_ratio": self.explained_variance_ratio.tolist(), "scale": self.scale.tolist(),
                "vectors": self.vectors.tolist(), "extra": self.extra}

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Directions":
        d = read_format_json(path, _FORMAT, "directions")
        return cls(np.asarray(d["vectors"]), np.asarray(d["explained_variance_ratio"]), np.asarray(d["scale"]),
                   d["method"], d.get("layer"), d.get("extra", {}))

    def __repr__(self) -> str:
        evr = ", ".join(f"{v:.3f}" for v in self.explained_variance_ratio[:4])
        more = ", ..." if len(self) > 4 else ""
        layer = f", layer={self.layer}" if self.layer else ""
        return f"Directions(k={len(self)}, dim={self.dim}, method={self.method}{layer}, explained=[{evr}{more}])"


def _pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k principal axes of the rows of ``x``: (coordinates (n, k), axes' variances (k,), total variance).

    Works on the smaller of the Gram (n x n) and covariance (F x F) matrices, so a wide activation
    layer costs one matrix product and a small eigendecomposition. Each axis's sign is fixed so that
    its largest coordinate over the samples is positive, for results that do not flip between machines.
    """
    x = x - x.mean(0, keepdims=True)
    n, f = x.shape
    if n <= f:
        evals, evecs = np.linalg.eigh(x @ x.T)
        order = np.argsort(evals)[::-1][:k]
        lam = np.clip(evals[order], 0.0, None)
        coords = evecs[:, order] * np.sqrt(lam)[None, :]  # = x @ V_k
    else:
        evals, evecs = np.linalg.eigh(x.T @ x)
        order = np.argsort(evals)[::-1][:k]
        lam = np.clip(evals[order], 0.0, None)
        coords = x @ evecs[:, order]
    flip = np.sign(coords[np.abs(coords).argmax(0), np.arange(coords.shape[1])])
    coords = coords * np.where(flip == 0, 1.0, flip)[None, :]
    total = float((x * x).sum())
    return coords, lam / max(n - 1, 1), total / max(n - 1, 1)


def latent_pca(z: np.ndarray | torch.Tensor, k: int = 10) -> Directions:
    """Principal components of a set of latent codes (or embeddings).

    For codes drawn from an isotropic prior (normal or uniform z of a GAN) every direction has the
    same variance, so these components are arbitrary: sampled codes carry no structure of their own.
    That is why GANSpace (``ganspace``) runs the PCA on the generator's activations instead. On
    inverted codes of real images, or on embeddings, the components do describe the catalog.
    """
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    z = z.astype(np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"latent_pca needs (N >= 2, D) codes, got shape {z.shape}")
    k = min(k, *z.shape)
    coords, var, total = _pca(z, k)
    zc = z - z.mean(0, keepdims=True)
    # Principal axes from the coordinates: V = zc^T coords / lambda, which is already unit length.
    vectors = (zc.T @ coords).T
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return Directions(vectors, var / total if total > 0 else np.zeros(k), np.sqrt(var), "latent-pca",
                      extra={"n": len(z)})


def default_layer(G: nn.Module) -> str:
    """Name of the first activation module after the first Linear / (transposed) convolution of ``G``.

    That is the earliest layer whose activations are a non-linear function of z: before it, the
    generator is linear in z and PCA there gives back the latent PCA.
    """
    seen_projection = False
    for name, m in G.named_modules():
        if isinstance(m, _PROJECTIONS):
            seen_projection = True
        elif seen_projection and isinstance(m, _ACTIVATIONS):
            return name
    raise ValueError(f"{type(G).__name__}: no activation module after a Linear or convolution layer; "
                     "name the layer to use with layer=")


class _Stop(Exception):
    """Raised by the recording hook: nothing after the recorded layer needs computing."""


@torch.no_grad()
def activations(G: nn.Module, z: torch.Tensor, *, layer: str | None = None, batch: int = 256) -> torch.Tensor:
    """The flattened outputs (N, F) of module ``layer`` of ``G`` (default: ``default_layer``) for codes z.

    G runs in eval mode (its mode is restored after) and stops at the layer, so the rest of the
    generator is never computed. Returns a float32 CPU tensor.
    """
    modules = dict(G.named_modules())
    layer = layer if layer is not None else default_layer(G)
    if layer not in modules:
        names = ", ".join(name for name in modules if name) or "none"
        raise ValueError(f"{type(G).__name__} has no module {layer!r} (modules: {names})")
    device = next((p.device for p in G.parameters()), torch.device("cpu"))
    out: list[torch.Tensor] = []

    def record(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        out.append(output.detach().flatten(1).float().cpu())
        raise _Stop

    handle = modules[layer].register_forward_hook(record)
    was_training = G.training
    G.eval()
    try:
        for start in range(0, len(z), batch):
            try:
                G(z[start:start + batch].to(device))
            except _Stop:
                pass
            else:
                raise ValueError(f"module {layer!r} did not run in the forward pass of {type(G).__name__}")
    finally:
        handle.remove()
        G.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def ganspace(G: nn.Module, *, latent_dim: int, prior: str = "normal", n: int = 2000, k: int = 10,
             layer: str | None = None, seed: int = 0, batch: int = 256) -> Directions:
    """GANSpace (Härkönen et al. 2020) for generators that take z directly (no mapping network).

    Samples ``n`` codes from the prior, records the activations of ``layer`` (default: the first
    activation after the first projection, see ``default_layer``), runs PCA on them, and carries the
    top ``k`` components back to latent space by least squares: z ~= X U with X the PCA coordinates,
    so each row of U is the latent step that moves along one activation component. The rows are
    normalised to unit length; ``scale`` is the std of the sampled codes along each of them, and
    ``explained_variance_ratio`` the share of the layer's activation variance each component holds.
    """
    if n < 2:
        raise ValueError("ganspace needs n >= 2 samples")
    layer = layer if layer is not None else default_layer(G)
    z = sample_prior(n, latent_dim, prior, generator=torch.Generator().manual_seed(seed))
    x = activations(G, z, layer=layer, batch=batch).double().numpy()
    k = min(k, n - 1, x.shape[1])
    coords, var, total = _pca(x, k)

    zn = z.double().numpy()
    zc = zn - zn.mean(0, keepdims=True)
    u, *_ = np.linalg.lstsq(coords, zc, rcond=None)  # (k, D)
    norms = np.linalg.norm(u, axis=1, keepdims=True)
    if np.any(norms < 1e-12):
        raise ValueError(f"activations of {layer!r} do not depend on z along some components; try another layer")
    vectors = u / norms
    scale = (zc @ vectors.T).std(0, ddof=1)
    return Directions(vectors, var / total if total > 0 else np.zeros(k), scale, "ganspace", layer,
                      extra={"prior": prior, "n": n, "seed": seed, "latent_dim": latent_dim,
                             "activation_dim": int(x.shape[1])})
