"""Datasets of image files (folders, CSV manifests, lists) that never crash on a bad file."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch.utils.data import Dataset

from modiste.data.images import IMAGE_EXTENSIONS, BadImageError, ImagePolicy, load_image, resolve_policy


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
        rows = read_manifest(self.csv_path, path_column)
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


def checked_rows(reader: Any, csv_path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """(line, row) from a ``csv.reader``/``DictReader`` made with ``strict=True``: malformed CSV (a
    quote opened and never closed, which would swallow the rest of the file as one field) raises
    a ValueError naming the file and the line where the bad row starts."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            hint = "; a quote opened here is never closed" if "end of data" in str(e) else ""
            raise ValueError(f"{csv_path}, line {start}: not valid CSV ({e}){hint}") from None
        yield start, row


def read_manifest(csv_path: Path, path_column: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs with stripped string values; errors name the file and line."""
    try:
        f = open(csv_path, newline="", encoding="utf-8-sig")  # -sig: spreadsheets write a BOM
    except FileNotFoundError:
        raise FileNotFoundError(f"{csv_path}: no such CSV file") from None
    with f:
        lines = checked_rows(csv.reader(f, strict=True), csv_path)
        header = next(lines, (1, None))[1]
        if header is None or not any(h.strip() for h in header):
            raise ValueError(f"{csv_path}: empty file (expected a header row with a {path_column!r} column)")
        header = [h.strip() for h in header]
        if path_column not in header:
            raise ValueError(
                f"{csv_path}, line 1: no {path_column!r} column (columns: {', '.join(header)})"
            )
        rows = []
        for line, cells in lines:
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


def image_paths(sources: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Image files named directly, or found in folders (recursively) and CSV manifests, in that order."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir() or path.suffix.lower() == ".csv":
            out += [r.path for r in open_dataset(path).records]
        else:
            out.append(path)
    return out


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
