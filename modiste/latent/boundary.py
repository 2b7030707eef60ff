"""Hyperplanes that separate two groups of vectors, for editing codes across them (InterFaceGAN-style).

A linear SVM is fitted on the two groups (Shen et al. 2020, InterFaceGAN); its unit normal n and
offset b give the signed distance d(z) = n . z + b of any code, positive on the ``pos`` side. Moving a
code along n by t changes its distance by exactly t, so edits are given in distance units. A
boundary can be made orthogonal to one or two others (``condition``) so that moving along it leaves
those attributes alone, as InterFaceGAN's conditional manipulation does.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from modiste.io import atomic_write_json, read_format_json
from modiste.latent.directions import move_along
from modiste.data.vectors import Vectors

_FORMAT = "modiste.boundary"
_DEGENERATE = 1e-6  # a residual normal shorter than this after projection counts as parallel


@dataclass
class Boundary:
    normal: np.ndarray  # (D,), unit length, points to the positive side
    offset: float  # d(z) = normal . z + offset
    pos: str = "pos"
    neg: str = "neg"
    accuracy: float = float("nan")  # cross-validated, of the unconditioned fit
    accuracy_std: float = float("nan")  # across the folds
    n_pos: int = 0
    n_neg: int = 0
    space: str = ""  # what the vectors are: the Vectors' meta kind ("gan-latent", "embedding")
    conditioned_on: list[str] = field(default_factory=list)  # names of the boundaries made orthogonal to
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.normal = np.asarray(self.normal, dtype=np.float64).reshape(-1)
        norm = float(np.linalg.norm(self.normal))
        if not np.isfinite(norm) or norm < _DEGENERATE:
            raise ValueError("a boundary needs a finite, non-zero normal")
        if abs(norm - 1.0) > 1e-9:  # keep d(z) a true distance whatever normal was passed in
            self.normal, self.offset = self.normal / norm, self.offset / norm
        self.offset = float(self.offset)

    @property
    def dim(self) -> int:
        return self.normal.shape[0]

    @property
    def name(self) -> str:
        return f"{self.pos} vs {self.neg}"

    # ---- geometry -----------------------------------------------------------------------------------
    def _check(self, z: np.ndarray | torch.Tensor) -> None:
        if z.ndim not in (1, 2) or z.shape[-1] != self.dim:
            raise ValueError(f"codes of shape {tuple(z.shape)} do not fit a boundary in {self.dim} dimensions")

    def distance(self, z: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Signed distance to the hyperplane, positive on the ``pos`` side: () for (D,), (N,) for (N, D)."""
        self._check(z)
        if isinstance(z, torch.Tensor):
            n = torch.as_tensor(self.normal, dtype=z.dtype, device=z.device)
            return z @ n + self.offset
        return np.asarray(z, dtype=np.float64) @ self.normal + self.offset

    def to_hyperplane(self, z: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """The closest point of the hyperplane to each code: z - d(z) n."""
        d = self.distance(z)
        if isinstance(z, torch.Tensor):
            return z - d[..., None] * torch.as_tensor(self.normal, dtype=z.dtype, device=z.device)
        z = np.asarray(z)
        out_dtype = z.dtype if np.issubdtype(z.dtype, np.floating) else np.float64
        return (z - np.asarray(d)[..., None] * self.normal).astype(out_dtype, copy=False)

    def move(self, z: np.ndarray | torch.Tensor, amounts: float | Sequence[float]) -> np.ndarray | torch.Tensor:
        """``z + t n`` for each t: (T, D) for one code, (N, T, D) for (N, D); the distance grows by t."""
        self._check(z)
        return move_along(z, self.normal, amounts)

    def condition(self, *others: "Boundary") -> "Boundary":
        """This boundary with its normal made orthogonal to the normals of one or two others.

        Moving along the new normal leaves the distances to ``others`` unchanged. The offset is
        carried along with the normal: each boundary is the affine function f(z) = n . z + b, the
        same combination that removes the others' normals from n is applied to the functions, and the
        result is rescaled to a unit normal. So the new hyperplane still contains the intersection of
        this hyperplane with the others', and a code on all the other boundaries keeps the sign of its
        distance. Offsets of 0 stay 0. ``accuracy`` still describes the unconditioned fit; the cosine
        between the old and new normals goes into ``extra["cosine_to_unconditioned"]``.
        """
        if not 1 <= len(others) <= 2:
            raise ValueError(f"condition on one or two boundaries, not {len(others)}")
        for o in others:
            if o.dim != self.dim:
                raise ValueError(f"cannot condition a {self.dim}-D boundary on a {o.dim}-D one ({o.name})")
        basis: list[tuple[np.ndarray, float]] = []  # orthonormal (normal, offset) pairs spanning the others
        for o in others:
            v, c = _project_out(o.normal, o.offset, basis)
            norm = float(np.linalg.norm(v))
            if norm < _DEGENERATE:
                raise ValueError(f"the boundaries to condition on are parallel ({', '.join(x.name for x in others)})")
            basis.append((v / norm, c / norm))
        n, b = _project_out(self.normal, self.offset, basis)
        norm = float(np.linalg.norm(n))
        if norm < _DEGENERATE:
            raise ValueError(f"{self.name} is parallel to the span of the boundaries it is conditioned on; "
                             "nothing is left after removing them")
        extra = dict(self.extra, cosine_to_unconditioned=float(n @ self.normal / norm))
        return Boundary(n / norm, b / norm, self.pos, self.neg, self.accuracy, self.accuracy_std, self.n_pos,
                        self.n_neg, self.space, self.conditioned_on + [o.name for o in others], extra)

    # ---- files --------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, "version": 1, "pos": self.pos, "neg": self.neg, "space": self.space,
                "accuracy": _num(self.accuracy), "accuracy_std": _num(self.accuracy_std),
                "n_pos": self.n_pos, "n_neg": self.n_neg, "conditioned_on": list(self.conditioned_on),
                "offset": self.offset, "normal": self.normal.tolist(), "extra": self.extra}

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def fit(cls, vectors: Any, column: str, pos: str, neg: str | None = None, **options: Any) -> "Boundary":
        """The boundary between the items whose ``column`` is ``pos`` and those whose it is ``neg``
        (None: every other labelled item), in ``vectors`` (``Vectors``, or an ``Inversion``'s codes);
        ``options`` as ``fit_boundary``."""
        if not isinstance(vectors, Vectors) and callable(getattr(vectors, "vectors", None)):
            vectors = vectors.vectors()
        return boundary_from_column(vectors, column, pos, neg, **options)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Boundary":
        d = read_format_json(path, _FORMAT, "boundary")
        try:
            return cls(np.asarray(d["normal"], dtype=np.float64), float(d["offset"]), d.get("pos", "pos"),
                       d.get("neg", "neg"), _float(d.get("accuracy")), _float(d.get("accuracy_std")),
                       int(d.get("n_pos", 0)), int(d.get("n_neg", 0)), d.get("space", ""),
                       list(d.get("conditioned_on", [])), dict(d.get("extra", {})))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: broken boundary file ({e})") from e

    def __repr__(self) -> str:
        cond = f", conditioned on {', '.join(self.conditioned_on)}" if self.conditioned_on else ""
        return (f"Boundary({self.name}, dim={self.dim}, accuracy={self.accuracy:.3f}±{self.accuracy_std:.3f}, "
                f"n={self.n_pos}+{self.n_neg}, space={self.space or '?'}{cond})")


def _project_out(v: np.ndarray, c: float, basis: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, float]:
    """Remove from the affine function (v, c) its components along each orthonormal (q, qc) of ``basis``."""
    for q, qc in basis:
        a = float(v @ q)
        v, c = v - a * q, c - a * qc
    return v, c


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)  # JSON has no NaN


def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _as_matrix(x: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{what} must be (N, D) vectors, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} holds NaN or infinite values")
    return x.astype(np.float64)


def fit_boundary(pos: np.ndarray | torch.Tensor, neg: np.ndarray | torch.Tensor, *, pos_name: str = "pos",
                 neg_name: str = "neg", C: float = 1.0, folds: int = 5, seed: int = 0,
                 max_per_class: int | None = None, balance: bool = True, space: str = "") -> Boundary:
    """Fit a linear SVM between ``pos`` and ``neg`` and return its hyperplane in the raw vector space.

    The vectors are centred and divided by one overall scale before fitting: centring keeps
    liblinear's penalised intercept from biasing the plane, and a single scale (not one per
    dimension) keeps the margin's geometry, so the normal is the max-margin direction of the raw
    space that edits move in. ``balance`` weights the classes inversely to their sizes and then
    reports balanced accuracy (mean recall of the two groups), so 0.5 is chance whatever the sizes.
    ``max_per_class`` draws at most that many vectors per group (seeded) to bound the fitting time.
    Accuracy is from stratified ``folds``-fold cross-validation; the final fit uses all the data.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import LinearSVC

    p, q = _as_matrix(pos, f"{pos_name!r} vectors"), _as_matrix(neg, f"{neg_name!r} vectors")
    if p.shape[1] != q.shape[1]:
        raise ValueError(f"{pos_name!r} vectors have {p.shape[1]} dimensions but {neg_name!r} have {q.shape[1]}")
    for x, name in ((p, pos_name), (q, neg_name)):
        if len(x) < 2:
            raise ValueError(f"group {name!r} has {len(x)} vector(s); a boundary needs at least 2 per group")
    if folds < 2:
        raise ValueError(f"folds must be at least 2 for a cross-validated accuracy, got {folds}")
    rng = np.random.default_rng(seed)
    if max_per_class is not None:
        p = p[np.sort(rng.permutation(len(p))[:max_per_class])] if len(p) > max_per_class else p
        q = q[np.sort(rng.permutation(len(q))[:max_per_class])] if len(q) > max_per_class else q
    x = np.concatenate([p, q])
    y = np.concatenate([np.ones(len(p), dtype=int), np.zeros(len(q), dtype=int)])
    mean = x.mean(0)
    unit = float(np.sqrt(((x - mean) ** 2).mean())) or 1.0
    xs = (x - mean) / unit

    def svm() -> LinearSVC:
        return LinearSVC(C=C, dual="auto", class_weight="balanced" if balance else None, max_iter=20000,
                         random_state=seed)

    n_splits = min(folds, len(p), len(q))
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*converge.*")  # the CV score says how well it fits
        scores = cross_val_score(svm(), xs, y, cv=cv, scoring="balanced_accuracy" if balance else "accuracy")
        clf = svm().fit(xs, y)
    # Back to raw space: w' . (x - mean) / unit + b' = (w'/unit) . x + b' - (w'/unit) . mean
    w = clf.coef_[0] / unit
    b = float(clf.intercept_[0]) - float(w @ mean)
    norm = float(np.linalg.norm(w))
    if norm < 1e-12:
        raise ValueError(f"the SVM found no direction between {pos_name!r} and {neg_name!r} (zero normal)")
    return Boundary(w / norm, b / norm, pos_name, neg_name, float(scores.mean()), float(scores.std()),
                    len(p), len(q), space, [],
                    {"C": C, "folds": n_splits, "seed": seed, "balance": balance,
                     "metric": "balanced_accuracy" if balance else "accuracy"})


def boundary_from_column(vectors: Vectors, column: str, pos: str, neg: str | None = None, **kw: Any) -> Boundary:
    """The boundary between items whose ``column`` is ``pos`` and those whose it is ``neg``.

    ``neg=None`` takes every other labelled item; items with an empty value are unlabelled and left out.
    Keyword options go to ``fit_boundary``; the space defaults to the Vectors' meta kind.
    """
    values = vectors.column(column)
    have = sorted({v for v in values if v})
    if pos not in have:
        raise ValueError(f"no item has {column}={pos!r} (values: {', '.join(have) or 'none'})")
    if neg is not None and neg not in have:
        raise ValueError(f"no item has {column}={neg!r} (values: {', '.join(have) or 'none'})")
    is_pos = np.array([v == pos for v in values])
    is_neg = np.array([v == neg if neg is not None else (v != pos and v != "") for v in values])
    kw.setdefault("pos_name", pos)
    kw.setdefault("neg_name", neg if neg is not None else f"not {pos}")
    kw.setdefault("space", str(vectors.meta.get("kind", "")))
    b = fit_boundary(vectors.vectors[is_pos], vectors.vectors[is_neg], **kw)
    b.extra["column"] = column
    return b
