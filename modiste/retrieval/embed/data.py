"""Training data for embeddings: class folders or a street-to-shop pairs CSV, decoded once into memory.

* Class folders (or a labelled CSV manifest): each class is an item or a category.
* A pairs CSV with ``query`` (street photo), ``catalog`` (its shop photo) and ``item`` columns, as
  ``modiste synth snaps`` writes: every query photo and every distinct catalog photo becomes one
  image labelled by its item, so a batch holds snaps and shop photos of the same items.

``domain`` marks shop photos 0 and street photos 1; evaluation queries with the street photos
against the shop photos, as the search will be used.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from modiste.data.datasets import ImageDataset, ImageRecord, open_dataset, read_manifest
from modiste.data.images import ImagePolicy
from modiste.data.loading import SkipLog, scan

SHOP, STREET = 0, 1
PAIRS_COLUMNS = ("query", "catalog")


@dataclass
class EmbedData:
    images: torch.Tensor  # uint8 (N, 3, H, W)
    labels: torch.Tensor  # long (N,): index into ``classes``
    domain: torch.Tensor  # long (N,): SHOP or STREET
    paths: list[str]
    classes: list[str]
    kind: str  # "classes" or "pairs"
    skips: SkipLog

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: torch.Tensor | np.ndarray | list[int]) -> EmbedData:
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return EmbedData(self.images[index], self.labels[index], self.domain[index],
                         [self.paths[i] for i in index.tolist()], self.classes, self.kind, self.skips)

    @property
    def num_classes(self) -> int:
        return int(self.labels.unique().numel())

    def __repr__(self) -> str:
        street = int((self.domain == STREET).sum())
        return (f"EmbedData({self.kind}, images={len(self)}, classes={self.num_classes}, street={street}, "
                f"size={tuple(self.images.shape[2:])})")


def is_pairs_csv(path: str | os.PathLike) -> bool:
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    return all(c in [h.strip() for h in header] for c in PAIRS_COLUMNS)


def read_embed_data(source: str | os.PathLike, *, size: int, resize: str = "letterbox", item_column: str = "item",
                    query_box: tuple[float, float, float, float] | None = None, workers: int | None = None,
                    progress: bool = True) -> EmbedData:
    """Decode ``source`` (class folders, a labelled CSV manifest, or a pairs CSV) at ``size`` px.

    ``query_box``: the region of each street photo that shows the item, as shares of its width
    and height (see ``ImagePolicy.box``); shop photos are always whole. Unreadable files are
    skipped with a warning naming them (listed in ``.skips``); a pairs row whose files cannot be
    read loses only those files.
    """
    policy = ImagePolicy(size=(size, size), resize=resize)
    if is_pairs_csv(source):
        dataset, domain, kind = _pairs_dataset(Path(source), policy, item_column)
        if query_box is not None:
            return _scan_pairs(dataset, domain, replace(policy, box=query_box), workers, progress)
    else:
        dataset = open_dataset(source, policy)
        if dataset.classes is None:
            raise ValueError(f"{source}: embedding training needs labels: class subfolders, a CSV with a "
                             f"'label' column, or a pairs CSV with {' and '.join(PAIRS_COLUMNS)} columns")
        domain, kind = [SHOP] * len(dataset), "classes"
    images, kept, skips = scan(dataset, num_workers=workers, progress=progress)
    labels = torch.tensor([dataset.records[i].label for i in kept.tolist()], dtype=torch.long)
    return EmbedData(images, labels, torch.tensor(domain, dtype=torch.long)[kept],
                     [str(dataset.records[i].path) for i in kept.tolist()], list(dataset.classes), kind, skips)


def _scan_pairs(dataset: ImageDataset, domain: list[int], street_policy: ImagePolicy, workers: int | None,
                progress: bool) -> EmbedData:
    """Street photos through their own policy (a box), shop photos whole, in the dataset's order."""
    domain_t = torch.tensor(domain, dtype=torch.long)
    parts, skips = [], SkipLog()
    for d, policy in ((STREET, street_policy), (SHOP, dataset.policy)):
        where = torch.nonzero(domain_t == d).flatten()
        part = ImageDataset([dataset.records[i] for i in where.tolist()], policy, dataset.classes)
        images, kept, part_skips = scan(part, num_workers=workers, progress=progress)
        skips.merge(part_skips)
        parts.append((images, where[kept]))
    images = torch.cat([p[0] for p in parts])
    order = torch.cat([p[1] for p in parts])
    sort = order.argsort()
    images, kept = images[sort], order[sort]
    labels = torch.tensor([dataset.records[i].label for i in kept.tolist()], dtype=torch.long)
    return EmbedData(images, labels, domain_t[kept], [str(dataset.records[i].path) for i in kept.tolist()],
                     list(dataset.classes), "pairs", skips)


def _pairs_dataset(csv_path: Path, policy: ImagePolicy, item_column: str) -> tuple[ImageDataset, list[int], str]:
    records: list[ImageRecord] = []
    domain: list[int] = []
    items: list[str] = []
    seen_catalog: set[Path] = set()
    base = csv_path.parent

    def resolve(cell: str) -> Path:
        p = Path(cell).expanduser()
        return p if p.is_absolute() else base / p

    for line, row in read_manifest(csv_path, "query"):
        if not row.get("catalog"):
            raise ValueError(f"{csv_path}, line {line}: empty 'catalog' cell")
        item = row.get(item_column) or row["catalog"]  # no item column: the shop photo names the item
        records.append(ImageRecord(resolve(row["query"]))), domain.append(STREET), items.append(item)
        catalog = resolve(row["catalog"])
        if catalog not in seen_catalog:
            seen_catalog.add(catalog)
            records.append(ImageRecord(catalog)), domain.append(SHOP), items.append(item)
    classes = sorted(set(items))
    code = {c: i for i, c in enumerate(classes)}
    records = [ImageRecord(rec.path, code[it], rec.meta) for rec, it in zip(records, items)]
    return ImageDataset(records, policy, classes), domain, "pairs"


def split_holdout(data: EmbedData, fraction: float, *, by: str = "auto", seed: int = 0) -> tuple[EmbedData, EmbedData]:
    """(train, held-out). ``by="class"`` holds out whole classes (unseen items, the usual protocol
    for item retrieval); ``by="image"`` holds out a share of each class's images (for a few
    categories). ``auto``: by class for pairs data or 50+ classes, else by image."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    if by == "auto":
        by = "class" if data.kind == "pairs" or data.num_classes >= 50 else "image"
    g = torch.Generator().manual_seed(seed)
    if by == "class":
        classes = data.labels.unique()
        classes = classes[torch.randperm(len(classes), generator=g)]
        n_hold = max(2, round(len(classes) * fraction))
        if n_hold >= len(classes):
            raise ValueError(f"{len(classes)} classes are too few to hold out {fraction:.0%} of them")
        held = torch.isin(data.labels, classes[:n_hold])
    elif by == "image":
        held = torch.zeros(len(data), dtype=torch.bool)
        for c in data.labels.unique():
            idx = torch.nonzero(data.labels == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=g)]
            held[idx[: int(len(idx) * fraction)]] = True  # a class of one image stays in training
    else:
        raise ValueError(f"by must be 'auto', 'class' or 'image', got {by!r}")
    return data.subset(torch.nonzero(~held).flatten()), data.subset(torch.nonzero(held).flatten())


def query_reference(data: EmbedData) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Indices of the queries and of the references (None: the queries are searched among themselves).

    Pairs data: street photos are the queries, shop photos the references. Class data: every
    image queries all the others."""
    if data.kind == "pairs" and bool((data.domain == STREET).any()) and bool((data.domain == SHOP).any()):
        return torch.nonzero(data.domain == STREET).flatten(), torch.nonzero(data.domain == SHOP).flatten()
    return torch.arange(len(data)), None
