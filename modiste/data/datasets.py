"""Datasets of image files (folders, CSV manifests, lists) that never crash on a bad file."""
from __future__ import annotations

import csv
import functools
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from modiste.progress import progress_bar

from modiste.data.images import (
    IMAGE_EXTENSIONS,
    BadImageError,
    BadImageWarning,
    ImagePolicy,
    load_image,
    resolve_policy,
)

# Below this many items, starting worker processes costs more than decoding in the main one.
_MIN_ITEMS_FOR_WORKERS = 64
_MAX_DEFAULT_WORKERS = 4
_SKIPLOG_SHOWN = 10  # files named in str(SkipLog); the summary() has them all


@dataclass
class ImageRecord:
    """One item of a dataset."""

    path: Path
    label: int | None = None
    meta: dict[str, str] = field(default_factory=dict)  # other CSV columns, as strings


@dataclass
class Sample:
    index: int
    image: torch.Tensor  # uint8 (3, H, W)
    label: int = -1  # -1 when the dataset has no labels


@dataclass
class BadSample:
    index: int
    path: str
    reason: str


class ImageDataset(Dataset):
    """A list of ImageRecord read through an ImagePolicy.

    ``dataset[i]`` is a Sample, or a BadSample when the file cannot be read: one bad photo in
    a catalogue skips that photo, it does not end the run.
    """

    def __init__(
        self,
        records: Sequence[ImageRecord],
        policy: ImagePolicy | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.records: list[ImageRecord] = list(records)
        self.policy: ImagePolicy = policy if policy is not None else ImagePolicy()
        self.classes: list[str] | None = list(classes) if classes is not None else None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Sample | BadSample:
        record = self.records[index]
        try:
            image = load_image(record.path, self.policy)
        except BadImageError as e:
            return BadSample(index, str(record.path), e.reason)
        return Sample(index, image, -1 if record.label is None else record.label)

    @property
    def paths(self) -> list[Path]:
        return [r.path for r in self.records]

    @property
    def labels(self) -> list[int | None]:
        return [r.label for r in self.records]

    def column(self, name: str) -> list[str]:
        """The meta column ``name`` per record ("" where a record has none)."""
        return [r.meta.get(name, "") for r in self.records]

    def __repr__(self) -> str:
        classes = f", classes={len(self.classes)}" if self.classes is not None else ""
        return f"{type(self).__name__}({len(self)} images{classes}, policy={self.policy})"


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _find_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, hidden files and folders left out, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # prune: never descend
        found.extend(Path(dirpath, f) for f in filenames if _is_image(f))
    return sorted(found)


class ImageFolder(ImageDataset):
    """Images under a folder.

    If the folder holds no images itself but its subfolders do, each top-level subfolder is a
    class (sorted by name; images found recursively inside). Otherwise every image under the
    folder is one unlabelled item. Pass ``classes`` to fix the class order, e.g. so that a
    validation folder gets the same labels as the training one.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        policy: ImagePolicy | None = None,
        *,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such folder")
        entries = sorted(e for e in self.root.iterdir() if not e.name.startswith("."))
        flat = any(e.is_file() and _is_image(e.name) for e in entries)
        by_class = {} if flat else {e.name: _find_images(e) for e in entries if e.is_dir()}
        by_class = {name: files for name, files in by_class.items() if files}
        if by_class:
            names = list(classes) if classes is not None else sorted(by_class)
            unknown = sorted(set(by_class) - set(names))
            if unknown:
                raise ValueError(f"{self.root}: subfolders {unknown} are not in the given classes {names}")
            records = [ImageRecord(p, names.index(n)) for n in sorted(by_class) for p in by_class[n]]
        else:
            names = None
            records = [ImageRecord(p) for p in _find_images(self.root)]
        if not records:
            raise ValueError(f"{self.root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
        super().__init__(records, policy, names)


class CSVManifest(ImageDataset):
    """Images listed in a CSV file, one row each.

    ``path_column`` holds the file (relative paths are relative to the CSV's folder);
    ``label_column``, when present, holds class names (sorted, numerically when they are all
    integers, then numbered 0..); every other column is kept as strings in ``record.meta``.
    A listed file that is missing is not an error here: it reads as a BadSample.
    """

    def __init__(
        self,
        csv_path: str | os.PathLike,
        policy: ImagePolicy | None = None,
        *,
        path_column: str = "path",
        label_column: str = "label",
        classes: Sequence[str] | None = None,
    ) -> None:
        self.csv_path = Path(csv_path).expanduser()
        rows = _read_manifest(self.csv_path, path_column)
        base = self.csv_path.parent
        has_labels = any(row.get(label_column) for _, row in rows)
        names: list[str] | None = None
        if has_labels:
            present = {row[label_column] for _, row in rows if row.get(label_column)}
            names = list(classes) if classes is not None else _sort_class_names(present)
        records = []
        for line, row in rows:
            path = Path(row.pop(path_column)).expanduser()
            label_name = row.pop(label_column, "")
            if names is not None and label_name and label_name not in names:
                raise ValueError(
                    f"{self.csv_path}, line {line}: label {label_name!r} is not in the given classes"
                )
            label = names.index(label_name) if names is not None and label_name else None
            records.append(ImageRecord(path if path.is_absolute() else base / path, label, row))
        super().__init__(records, policy, names)


def _read_manifest(csv_path: Path, path_column: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs with stripped string values; errors name the file and line."""
    try:
        f = open(csv_path, newline="", encoding="utf-8-sig")  # -sig: spreadsheets write a BOM
    except FileNotFoundError:
        raise FileNotFoundError(f"{csv_path}: no such CSV file") from None
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise ValueError(f"{csv_path}: empty file (expected a header row with a {path_column!r} column)")
        header = [h.strip() for h in header]
        if path_column not in header:
            raise ValueError(
                f"{csv_path}, line 1: no {path_column!r} column (columns: {', '.join(header)})"
            )
        rows = []
        for cells in reader:
            line = reader.line_num
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue  # blank lines are common at the end of hand-edited files
            if len(cells) > len(header):
                raise ValueError(
                    f"{csv_path}, line {line}: {len(cells)} fields but the header has {len(header)}"
                )
            row = dict(zip(header, cells + [""] * (len(header) - len(cells))))
            if not row[path_column]:
                raise ValueError(f"{csv_path}, line {line}: empty {path_column!r}")
            rows.append((line, row))
    if not rows:
        raise ValueError(f"{csv_path}: no rows after the header")
    return rows


def _sort_class_names(names: Iterable[str]) -> list[str]:
    # "2" before "10": numeric labels keep their numeric order.
    names = set(names)
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def open_dataset(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    policy: ImagePolicy | None = None,
    **policy_kwargs,
) -> ImageDataset:
    """A dataset from a folder, a .csv manifest, one image file, or a list of image paths.

    ``policy_kwargs`` (size=, resize=, ...) override fields of ``policy``.
    """
    policy = resolve_policy(policy, **policy_kwargs)
    if isinstance(source, (list, tuple)):
        if not source:
            raise ValueError("open_dataset: the list of image paths is empty")
        return ImageDataset([ImageRecord(Path(p).expanduser()) for p in source], policy)
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        return ImageFolder(path, policy)
    if path.suffix.lower() == ".csv":
        return CSVManifest(path, policy)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageDataset([ImageRecord(path)], policy)
    raise ValueError(
        f"{path}: not a folder, a .csv manifest or an image file ({', '.join(IMAGE_EXTENSIONS)})"
    )


@dataclass
class Batch:
    images: torch.Tensor  # uint8 (N, 3, H, W)
    indices: torch.Tensor  # long (N,): dataset index of each image
    labels: torch.Tensor  # long (N,): -1 where unlabelled
    bad: list[BadSample]  # items of this batch that could not be read

    def __len__(self) -> int:
        return len(self.indices)

    def pin_memory(self) -> Batch:
        # DataLoader(pin_memory=True) calls this on custom batch types.
        return Batch(self.images.pin_memory(), self.indices.pin_memory(), self.labels.pin_memory(), self.bad)


def collate(items: Sequence[Sample | BadSample], *, size: tuple[int, int] | None = None) -> Batch:
    """Stack the good items; the bad ones go to ``batch.bad``.

    ``size`` (height, width) only shapes the empty batch when every item is bad:
    (0, 3, H, W), or (0, 3, 0, 0) when unknown. make_loader passes the policy's size.
    """
    good = [s for s in items if isinstance(s, Sample)]
    bad = [s for s in items if isinstance(s, BadSample)]
    if good:
        shapes = {tuple(s.image.shape) for s in good}
        if len(shapes) > 1:
            raise ValueError(
                f"images of different sizes {sorted(shapes)} cannot be batched; "
                "give the ImagePolicy a size (e.g. open_dataset(..., size=64))"
            )
        images = torch.stack([s.image for s in good])
    else:
        h, w = size if size is not None else (0, 0)
        images = torch.empty((0, 3, h, w), dtype=torch.uint8)
    indices = torch.tensor([s.index for s in good], dtype=torch.long)
    labels = torch.tensor([s.label for s in good], dtype=torch.long)
    return Batch(images, indices, labels, bad)


class SkipLog:
    """Counts and reports the bad files of a run.

    Each bad file gives exactly one BadImageWarning naming it and the reason, and is counted
    once, however many epochs it is seen.
    """

    def __init__(self) -> None:
        self._items: dict[str, str] = {}

    def record(self, bad: Iterable[BadSample | BadImageError]) -> None:
        for item in bad:
            if item.path in self._items:
                continue
            self._items[item.path] = item.reason
            warnings.warn(f"skipping {item.path}: {item.reason}", BadImageWarning, stacklevel=2)

    @property
    def count(self) -> int:
        return len(self._items)

    @property
    def items(self) -> dict[str, str]:
        """path -> reason, in the order they were first seen (a copy)."""
        return dict(self._items)

    def summary(self) -> dict:
        """For the run's JSON summary."""
        return {"skipped": self.count, "files": dict(self._items)}

    def __str__(self) -> str:
        n = self.count
        head = f"{n} file{'' if n == 1 else 's'} skipped"
        if not n:
            return head
        shown = [f"{p} ({r})" for p, r in list(self._items.items())[:_SKIPLOG_SHOWN]]
        more = f", ... and {n - len(shown)} more" if n > len(shown) else ""
        return f"{head}: {', '.join(shown)}{more}"

    def __repr__(self) -> str:
        return f"SkipLog(count={self.count})"


def default_num_workers(dataset: Dataset) -> int:
    """min(4, usable CPUs), or 0 for a tiny dataset where worker start-up would dominate."""
    if len(dataset) < _MIN_ITEMS_FOR_WORKERS:  # type: ignore[arg-type]
        return 0
    # sched_getaffinity counts the CPUs this process may use (containers, taskset), not the host's.
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(_MAX_DEFAULT_WORKERS, cpus)


def _policy_size(dataset: Dataset) -> tuple[int, int] | None:
    # getattr: a torch Subset of an ImageDataset has no policy of its own.
    policy = getattr(dataset, "policy", None)
    return policy.size if policy is not None else None


def make_loader(
    dataset: ImageDataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    num_workers: int | None = None,
    sampler: Sampler | Iterable | None = None,
    drop_last: bool = False,
    generator: torch.Generator | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of Batch: files are decoded in the worker processes, bad ones in ``batch.bad``."""
    if num_workers is None:
        num_workers = default_num_workers(dataset)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=functools.partial(collate, size=_policy_size(dataset)),
        drop_last=drop_last,
        generator=generator,
        pin_memory=pin_memory,
        # Workers fork a copy of the dataset; restarting them every epoch costs seconds.
        persistent_workers=num_workers > 0,
    )


def scan(
    dataset: ImageDataset,
    *,
    batch_size: int = 64,
    num_workers: int | None = None,
    progress: bool = True,
    desc: str = "reading images",
) -> tuple[torch.Tensor, torch.Tensor, SkipLog]:
    """Decode every image once: (uint8 images (N, 3, H, W) of the good items in dataset order,
    their dataset indices (long), the SkipLog). For caching a small catalogue in memory."""
    loader = make_loader(dataset, batch_size, num_workers=num_workers)
    skips = SkipLog()
    out: torch.Tensor | None = None  # allocated once the image size is known: no 2x peak from cat
    indices: list[torch.Tensor] = []
    n = 0
    with progress_bar(total=len(dataset), desc=desc, unit="img", disable=not progress) as bar:
        for batch in loader:
            skips.record(batch.bad)
            if len(batch):
                if out is None:
                    out = torch.empty((len(dataset), *batch.images.shape[1:]), dtype=torch.uint8)
                elif batch.images.shape[1:] != out.shape[1:]:
                    raise ValueError(
                        f"scan needs images of one size, got {tuple(out.shape[2:])} and "
                        f"{tuple(batch.images.shape[2:])}; give the ImagePolicy a size"
                    )
                out[n : n + len(batch)] = batch.images
                n += len(batch)
                indices.append(batch.indices)
            bar.update(len(batch) + len(batch.bad))
    if out is None:
        size = _policy_size(dataset) or (0, 0)
        return torch.empty((0, 3, *size), dtype=torch.uint8), torch.empty(0, dtype=torch.long), skips
    images = out[:n] if n == len(dataset) else out[:n].clone()  # clone frees the unused rows
    return images, torch.cat(indices), skips
