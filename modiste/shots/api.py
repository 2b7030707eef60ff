"""Classify every photo of one or many product galleries and put each gallery in a regulation's order."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from modiste.shots.model import ShotClassifier
from modiste.io import atomic_write_json
from modiste.progress import progress_bar
from modiste.shots.regulation import OTHER, Regulation
from modiste.shots.sort import Photo, SortedGallery, evaluate_order, read_galleries, sort_gallery, true_order


def classify_galleries(galleries: dict[str, list[Path]], model: ShotClassifier | str | os.PathLike,
                       progress: bool = True) -> dict[str, list[Photo]]:
    """Each gallery's photos with the model's shot type and confidence; unreadable photos are
    skipped with a warning naming them (they are not sorted, and stay where they are)."""
    model = model if isinstance(model, ShotClassifier) else ShotClassifier.load(model)
    out: dict[str, list[Photo]] = {}
    for product, paths in progress_bar(galleries.items(), desc="classifying", unit="gallery", disable=not progress):
        preds = {p.path: p for p in model.predict(paths)}
        out[product] = [Photo(path, preds[str(path)].label, preds[str(path)].confidence, i)
                        for i, path in enumerate(paths) if str(path) in preds]
    return out


def _regulation_for(regulation: Regulation | str | os.PathLike, model: ShotClassifier) -> Regulation:
    """The regulation, checked against the classes the model predicts (shot types, or categories)."""
    classes = [c for c in model.classes if c not in (OTHER, "*")]
    if not isinstance(regulation, Regulation):
        return Regulation.load(regulation, known_types=classes)  # refused with file, line and column
    regulation.check_classes(classes, f"the model {model.path}")
    return regulation


def sort(source: str | os.PathLike, model: ShotClassifier | str | os.PathLike,
         regulation: Regulation | str | os.PathLike, out: str | os.PathLike | None = None, *, copy: bool = False,
         review_threshold: float = 0.5, categories: dict[str, str] | None = None,
         progress: bool = True) -> list[SortedGallery]:
    """Sort every gallery of ``source`` (a product folder, a folder of them, or a CSV with a product
    column) and write ``out/<product>/order.csv`` and ``order.json`` (and numbered copies with
    ``copy``), plus ``out/summary.json``; without ``out`` nothing is written. ``categories`` maps
    product -> category for per-category regulations."""
    model = model if isinstance(model, ShotClassifier) else ShotClassifier.load(model)
    regulation = _regulation_for(regulation, model)
    galleries = read_galleries(source)
    photos = classify_galleries(galleries, model, progress)
    skipped = sum(len(paths) for paths in galleries.values()) - sum(len(items) for items in photos.values())
    results = []
    for product, items in photos.items():
        if not items:
            continue
        g = sort_gallery(items, regulation, category=(categories or {}).get(product),
                         review_threshold=review_threshold, product=product)
        results.append(g)
    if out is None:
        return results
    out = Path(out)
    for g in results:
        g.save(out, copy=copy)
    atomic_write_json(out / "summary.json", {
        "galleries": len(results), "photos": sum(len(g.items) for g in results),
        "review": sum(p.review for g in results for p in g.items), "regulation": repr(regulation),
        "skipped_photos": skipped, "copied": copy})
    return results


def evaluate_sorting(source: str | os.PathLike, truth_csv: str | os.PathLike,
                     model: ShotClassifier | str | os.PathLike, regulation: Regulation | str | os.PathLike, *,
                     progress: bool = True) -> dict[str, Any]:
    """Score the model's order against the order the true shot types give (``truth_csv``: product,
    file, shot): exact-order rate, Kendall's tau, position accuracy, and shot accuracy."""
    model = model if isinstance(model, ShotClassifier) else ShotClassifier.load(model)
    regulation = _regulation_for(regulation, model)
    galleries = read_galleries(source)
    truth_shots: dict[tuple[str, str], str] = {}
    with open(truth_csv, newline="") as f:
        for row in csv.DictReader(f):
            file = Path(row["file"])  # "p00001/img_03.png": the gallery folder names the product
            truth_shots[(file.parent.name or row["product"], file.name)] = row["shot"]
    photos = classify_galleries(galleries, model, progress)
    predicted, truth, right, total = {}, {}, 0, 0
    for product, items in photos.items():
        shots = [truth_shots.get((product, Path(p.path).name)) for p in items]
        if not items or None in shots:
            missing = [Path(p.path).name for p, s in zip(items, shots) if s is None]
            raise ValueError(f"{truth_csv}: no true shot for {product}/{missing[:3]}")
        predicted[product] = sort_gallery(items, regulation, product=product).order
        truth[product] = true_order([p.path for p in items], shots, regulation)
        right += sum(p.shot == s for p, s in zip(items, shots))
        total += len(items)
    report = evaluate_order(predicted, truth)
    report["shot_accuracy"] = right / max(total, 1)
    return report
