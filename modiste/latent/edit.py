"""Edits in latent space: walk along a boundary's normal, land on its hyperplane, meet in the middle.

All are plain functions of a generator's codes; the boundary is anything with a unit ``normal`` and
an ``offset`` (signed distance d(z) = normal . z + offset), e.g. :class:`modiste.latent.Boundary`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from modiste.nn.prior import slerp
from modiste.latent.directions import move_along
from modiste.results import ImageSet, to_uint8


def _normal(boundary) -> tuple[torch.Tensor, float]:
    return torch.as_tensor(np.asarray(boundary.normal), dtype=torch.float32), float(boundary.offset)


def signed_distance(z: torch.Tensor, boundary) -> torch.Tensor:
    n, b = _normal(boundary)
    return z.float() @ n + b


def _fit_prior(z: torch.Tensor, prior: str) -> torch.Tensor:
    return z.clamp(-1, 1) if prior == "uniform" else z


def edit_codes(z: torch.Tensor, boundary, amounts: Sequence[float], *, absolute: bool = False) -> torch.Tensor:
    """(N, D) codes -> (N, len(amounts), D). Relative (default): z + t * normal, so each row starts
    from its own design. ``absolute``: codes at signed distance exactly t from the hyperplane."""
    base = to_hyperplane(z, boundary) if absolute else z.float()
    return move_along(base, _normal(boundary)[0].numpy(), list(amounts))


def to_hyperplane(z: torch.Tensor, boundary) -> torch.Tensor:
    """The closest code on the hyperplane: the design exactly between the two groups (distance 0)."""
    n, _ = _normal(boundary)
    return z.float() - signed_distance(z, boundary)[:, None] * n


def edit(gan, z: torch.Tensor, boundary, *, amounts: Sequence[float] = tuple(np.linspace(-3, 3, 7)),
         absolute: bool = False, names: Sequence[str] | None = None) -> ImageSet:
    """A strip per code moving along the normal: rows are codes, columns the amounts."""
    codes = edit_codes(z, boundary, amounts, absolute=absolute)
    flat = _fit_prior(codes.flatten(0, 1), gan.prior)
    d = signed_distance(flat, boundary).view(codes.shape[:2])
    info = {"amounts": [float(a) for a in amounts], "absolute": absolute, "distances": d.tolist(),
            "boundary": {"pos": getattr(boundary, "pos", "pos"), "neg": getattr(boundary, "neg", "neg")},
            "sources": list(names) if names else None}
    return ImageSet(to_uint8(gan.generate(flat)), z=flat, nrow=len(amounts),
                    names=[f"code{i:03d}_step{j:02d}" for i in range(codes.shape[0]) for j in range(codes.shape[1])],
                    info=info)


def hyperplane_designs(gan, z: torch.Tensor, boundary, *, names: Sequence[str] | None = None) -> ImageSet:
    """Pairs (the design | the same design moved onto the hyperplane), one pair per row."""
    on = _fit_prior(to_hyperplane(z, boundary), gan.prior)
    both = torch.stack([z.float(), on], 1).flatten(0, 1)
    d = signed_distance(both, boundary).view(-1, 2)
    return ImageSet(to_uint8(gan.generate(both)), z=both, nrow=2,
                    names=[f"code{i:03d}_{k}" for i in range(z.shape[0]) for k in ("original", "between")],
                    info={"distance_before": d[:, 0].tolist(), "distance_after": d[:, 1].tolist(),
                          "sources": list(names) if names else None})


def between(gan, z_a: torch.Tensor, z_b: torch.Tensor, *, steps: int = 5, method: str = "slerp") -> ImageSet:
    """From design a to design b in ``steps`` (odd, so the middle one is the midpoint of the two)."""
    if steps < 3 or steps % 2 == 0:
        raise ValueError(f"steps must be odd and at least 3 (the middle is the midpoint), not {steps}")
    if method not in ("slerp", "lerp"):
        raise ValueError(f"method must be 'slerp' or 'lerp', not {method!r}")
    t = torch.linspace(0, 1, steps)
    a, b = z_a.flatten().float(), z_b.flatten().float()
    z = slerp(a, b, t) if method == "slerp" else torch.lerp(a[None], b[None], t[:, None])
    z = _fit_prior(z, gan.prior)
    return ImageSet(to_uint8(gan.generate(z)), z=z, nrow=steps, names=[f"t{x:.2f}" for x in t.tolist()],
                    info={"method": method, "midpoint_index": steps // 2})


def direction_sheet(gan, directions, z: torch.Tensor, *, sigmas: float = 3.0, steps: int = 7,
                    count: int | None = None) -> ImageSet:
    """One row per direction: the design of ``z`` (one code) moved from -sigmas to +sigmas along it."""
    amounts = np.linspace(-sigmas, sigmas, steps)
    k = len(directions) if count is None else min(count, len(directions))
    rows = [torch.as_tensor(directions.move(z.flatten().float(), i, amounts), dtype=torch.float32) for i in range(k)]
    flat = _fit_prior(torch.cat(rows), gan.prior)
    return ImageSet(to_uint8(gan.generate(flat)), z=flat, nrow=steps,
                    names=[f"dir{i:02d}_step{j:02d}" for i in range(k) for j in range(steps)],
                    info={"sigmas": amounts.tolist(), "method": directions.method,
                          "explained_variance_ratio": directions.explained_variance_ratio[:k].tolist()})
