"""Linear probes: how well each attribute column (colour, pattern, tags, ...) can be read off the vectors.

One logistic regression per column, on standardised vectors, with a cross-validated accuracy next
to the majority-class baseline: a probe well above its baseline means the attribute is linearly
encoded in the space (and a ``Boundary`` for it will edit cleanly); one at its baseline means it is not.
The fitted probes then tag new vectors. Everything is saved as JSON (coefficients as lists).

Column handling:

* An empty value is "unknown": the item is left out of that column's probe, never counted as a negative.
* Single-valued columns get one multinomial probe. Values seen on fewer than ``min_count`` items are
  folded into one class "other" (merged with an existing "other"); if "other" itself stays under
  ``min_count`` those items are dropped. A column left with fewer than two classes is skipped.
* A column whose values contain ``multi_sep`` (a tags column, "floral;bold") gets one yes/no probe per
  tag, named "column:tag". Tags on fewer than ``min_count`` items, or missing from fewer than
  ``min_count``, are skipped.
* By default every column is probed except path-like ones (by name, or values that look like file
  paths) and near-identifiers (more distinct values than half the labelled items). Every skipped
  column or tag is listed with the reason in ``TagProbes.skipped``.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modiste.io import atomic_write_json, read_format_json
from modiste.data.images import IMAGE_EXTENSIONS
from modiste.data.vectors import Vectors

_FORMAT = "modiste.tag-probes"
OTHER = "other"
YES, NO = "yes", "no"
_PATH_NAMES = {"path", "paths", "file", "filename", "file_name", "image", "img", "url", "uri", "id", "sku"}
_PATH_ENDINGS = (*IMAGE_EXTENSIONS, ".npz", ".json")


@dataclass
class Probe:
    """One logistic regression on standardised vectors."""

    name: str  # the column, or "column:tag" for one tag of a multi-valued column
    column: str
    classes: list[str]  # for a tag probe: ["no", "yes"]
    coef: np.ndarray  # (K, D); (1, D) for two classes, whose logit favours classes[1]
    intercept: np.ndarray  # (K,) or (1,)
    accuracy: float  # cross-validated
    accuracy_std: float
    baseline: float  # share of the most common class: what always guessing it scores
    n: int  # items the probe was fitted on
    counts: dict[str, int] = field(default_factory=dict)
    folded: list[str] = field(default_factory=list)  # rare values merged into "other" (or dropped with it)
    tag: str | None = None  # for a tag probe, the tag

    def proba(self, xs: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K) for standardised vectors."""
        logits = xs @ self.coef.T + self.intercept
        if len(self.classes) == 2:
            p1 = 1.0 / (1.0 + np.exp(-np.clip(logits[:, 0], -500, 500)))
            return np.stack([1.0 - p1, p1], axis=1)
        logits = logits - logits.max(1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(1, keepdims=True)

    def row(self) -> dict[str, Any]:
        """The probe's line of the report."""
        return {"probe": self.name, "column": self.column, "kind": "tag" if self.tag is not None else "class",
                "n": self.n, "classes": list(self.classes), "accuracy": self.accuracy,
                "accuracy_std": self.accuracy_std, "baseline": self.baseline, "counts": dict(self.counts),
                "folded": list(self.folded)}


@dataclass
class TagProbes:
    mean: np.ndarray  # (D,) of the vectors the probes were fitted on
    std: np.ndarray  # (D,)
    probes: list[Probe]
    skipped: dict[str, str] = field(default_factory=dict)  # column or "column:tag" -> why
    multi_sep: str = ";"
    space: str = ""  # the Vectors' meta kind
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    @property
    def report(self) -> list[dict[str, Any]]:
        """One row per probe: accuracy, its std across folds, baseline, n, classes and counts."""
        return [p.row() for p in self.probes]

    def _standardise(self, x: np.ndarray | torch.Tensor | Vectors) -> np.ndarray:
        if isinstance(x, Vectors):
            x = x.vectors
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        x = np.atleast_2d(x).astype(np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"vectors of shape {x.shape} do not fit probes fitted on {self.dim} dimensions")
        return (x - self.mean) / self.std

    def probabilities(self, x: np.ndarray | torch.Tensor | Vectors) -> dict[str, np.ndarray]:
        """Probe name -> class probabilities (N, K), columns in the order of ``probe.classes``."""
        xs = self._standardise(x)
        return {p.name: p.proba(xs) for p in self.probes}

    def predict(self, x: np.ndarray | torch.Tensor | Vectors) -> list[dict[str, tuple[str, float]]]:
        """Per item, probe name -> (most likely class, its probability); tag probes answer "yes" or "no"."""
        probs = self.probabilities(x)
        n = next(iter(probs.values())).shape[0] if probs else len(self._standardise(x))
        out: list[dict[str, tuple[str, float]]] = [{} for _ in range(n)]
        for p in self.probes:
            pr = probs[p.name]
            best = pr.argmax(1)
            for i in range(n):
                out[i][p.name] = (p.classes[best[i]], float(pr[i, best[i]]))
        return out

    def predict_columns(self, x: np.ndarray | torch.Tensor | Vectors, *, threshold: float = 0.5
                        ) -> list[dict[str, str]]:
        """Per item, column -> predicted value, shaped like the input columns (a CSV row).

        A multi-valued column gets the tags whose probability is at least ``threshold``, most likely
        first, joined with ``multi_sep``.
        """
        probs = self.probabilities(x)
        n = len(self._standardise(x))
        out: list[dict[str, str]] = [{} for _ in range(n)]
        tags: dict[str, list[tuple[str, np.ndarray]]] = {}
        for p in self.probes:
            if p.tag is None:
                best = probs[p.name].argmax(1)
                for i in range(n):
                    out[i][p.column] = p.classes[best[i]]
            else:
                tags.setdefault(p.column, []).append((p.tag, probs[p.name][:, p.classes.index(YES)]))
        for column, per_tag in tags.items():
            for i in range(n):
                chosen = sorted(((pv[i], t) for t, pv in per_tag if pv[i] >= threshold), reverse=True)
                out[i][column] = self.multi_sep.join(t for _, t in chosen)
        return out

    def table(self) -> str:
        """The report as aligned text."""
        head = ("probe", "kind", "n", "classes", "accuracy", "baseline", "lift")
        rows = [(r["probe"], r["kind"], str(r["n"]), str(len(r["classes"])),
                 f"{r['accuracy']:.3f} ± {r['accuracy_std']:.3f}", f"{r['baseline']:.3f}",
                 f"{r['accuracy'] - r['baseline']:+.3f}") for r in self.report]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                 for r in [head, *rows]]
        if not rows:
            lines.append("(no probes)")
        if self.skipped:
            lines.append("skipped:")
            lines += [f"  {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)

    # ---- files --------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        probes = [dict(p.row(), tag=p.tag, coef=p.coef.tolist(), intercept=p.intercept.tolist())
                  for p in self.probes]
        return {"format": _FORMAT, "version": 1, "space": self.space, "dim": self.dim, "multi_sep": self.multi_sep,
                "mean": self.mean.tolist(), "std": self.std.tolist(), "probes": probes, "skipped": self.skipped,
                "extra": self.extra}

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TagProbes":
        d = read_format_json(path, _FORMAT, "tag probes")
        try:
            probes = [Probe(p["probe"], p["column"], list(p["classes"]), np.asarray(p["coef"], dtype=np.float64),
                            np.asarray(p["intercept"], dtype=np.float64), float(p["accuracy"]),
                            float(p["accuracy_std"]), float(p["baseline"]), int(p["n"]), dict(p.get("counts", {})),
                            list(p.get("folded", [])), p.get("tag")) for p in d["probes"]]
            return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64), probes,
                       dict(d.get("skipped", {})), d.get("multi_sep", ";"), d.get("space", ""),
                       dict(d.get("extra", {})))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: broken tag probes file ({e})") from e

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.probes) or "none"
        return f"TagProbes(dim={self.dim}, space={self.space or '?'}, probes: {names}; {len(self.skipped)} skipped)"


# ---- fitting ----------------------------------------------------------------------------------------
def _tokens(value: str, sep: str) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in value.split(sep) if t.strip()))


def _is_multi(values: list[str], sep: str | None) -> bool:
    return bool(sep) and any(sep in v for v in values)


def default_columns(vectors: Vectors, multi_sep: str | None = ";") -> tuple[list[str], dict[str, str]]:
    """The columns worth probing, and the others with why they are left out."""
    keep, skipped = [], {}
    for name, values in vectors.columns.items():
        labelled = [v for v in values if v]
        if name.lower() in _PATH_NAMES:
            skipped[name] = "a path or identifier column (by name)"
            continue
        if not labelled:
            skipped[name] = "no values"
            continue
        looks_like_path = sum(("/" in v or "\\" in v or v.lower().endswith(_PATH_ENDINGS)) for v in labelled)
        if looks_like_path > len(labelled) / 2:
            skipped[name] = "values look like file paths"
            continue
        if _is_multi(values, multi_sep):
            distinct = len({t for v in labelled for t in _tokens(v, multi_sep)})
        else:
            distinct = len(set(labelled))
        if distinct > len(labelled) / 2:
            skipped[name] = f"{distinct} distinct values for {len(labelled)} items (an identifier)"
            continue
        keep.append(name)
    return keep, skipped


def _fit_probe(xs: np.ndarray, y: list[str], *, name: str, column: str, tag: str | None, folded: list[str],
               folds: int, seed: int, C: float) -> Probe:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    counts = Counter(y)
    y_arr = np.asarray(y)
    # Folds bounded by the largest class: StratifiedKFold needs that; smaller classes just miss some folds.
    n_splits = max(2, min(folds, max(counts.values())))
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    model = LogisticRegression(C=C, max_iter=2000)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        warnings.filterwarnings("ignore", message=".*converge.*")
        scores = cross_val_score(model, xs, y_arr, cv=cv, scoring="accuracy")
        model.fit(xs, y_arr)
    return Probe(name, column, [str(c) for c in model.classes_], model.coef_.astype(np.float64),
                 model.intercept_.astype(np.float64), float(scores.mean()), float(scores.std()),
                 max(counts.values()) / len(y), len(y), dict(sorted(counts.items())), folded, tag)


def fit_tags(vectors: Vectors, columns: list[str] | None = None, *, folds: int = 5, seed: int = 0, C: float = 1.0,
             min_count: int = 2, multi_sep: str | None = ";") -> TagProbes:
    """Fit one linear probe per attribute column (one per tag for multi-valued columns); see the module doc.

    ``C`` is the inverse L2 strength of the logistic regressions; accuracies come from stratified
    ``folds``-fold cross-validation and the final probes are fitted on all the labelled items. The
    vectors are standardised with the mean and std of all items (labels unused, so the CV stays fair).
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2 for a cross-validated accuracy, got {folds}")
    min_count = max(int(min_count), 2)  # a class needs two items to be both trained on and tested
    if columns is None:
        columns, skipped = default_columns(vectors, multi_sep)
    else:
        for c in columns:
            vectors.column(c)  # a clear KeyError for a missing column
        skipped = {}
    x = vectors.vectors.astype(np.float64)
    mean = x.mean(0)
    std = x.std(0)
    std[std < 1e-12] = 1.0
    xs = (x - mean) / std

    probes: list[Probe] = []
    for column in columns:
        values = vectors.column(column)
        labelled = np.array([i for i, v in enumerate(values) if v])
        if len(labelled) == 0:
            skipped[column] = "no values"
            continue
        if _is_multi(values, multi_sep):
            sets = [set(_tokens(values[i], multi_sep)) for i in labelled]
            tag_counts = Counter(t for s in sets for t in s)
            for tag, c in sorted(tag_counts.items()):
                name = f"{column}:{tag}"
                if c < min_count:
                    skipped[name] = f"on {c} item(s), fewer than min_count={min_count}"
                elif len(sets) - c < min_count:
                    skipped[name] = f"missing from {len(sets) - c} item(s), fewer than min_count={min_count}"
                else:
                    y = [YES if tag in s else NO for s in sets]
                    probes.append(_fit_probe(xs[labelled], y, name=name, column=column, tag=tag, folded=[],
                                             folds=folds, seed=seed, C=C))
            continue
        y = [values[i] for i in labelled]
        counts = Counter(y)
        folded = sorted(v for v, c in counts.items() if c < min_count and v != OTHER)
        if folded:
            y = [OTHER if v in folded else v for v in y]
        if Counter(y).get(OTHER, min_count) < min_count:  # "other" too small to learn: drop its items
            keep = np.array([v != OTHER for v in y])
            labelled, y = labelled[keep], [v for v in y if v != OTHER]
        classes = sorted(set(y))
        if len(classes) < 2:
            only = repr(classes[0]) if classes else "none left"
            rare = f" after folding values on fewer than {min_count} items" if folded else ""
            skipped[column] = f"a single class ({only}{rare})"
            continue
        probes.append(_fit_probe(xs[labelled], y, name=column, column=column, tag=None, folded=folded,
                                 folds=folds, seed=seed, C=C))
    return TagProbes(mean, std, probes, skipped, multi_sep or "", str(vectors.meta.get("kind", "")),
                     {"folds": folds, "seed": seed, "C": C, "min_count": min_count, "n": len(vectors)})
