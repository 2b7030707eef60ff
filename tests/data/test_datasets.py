"""Datasets, loaders and the skip log: bad files are reported once and never end a run."""
from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modiste.data import (
    BadImageWarning,
    BadSample,
    CSVManifest,
    ImageDataset,
    ImageFolder,
    ImagePolicy,
    Sample,
    SkipLog,
    collate,
    make_loader,
    open_dataset,
    scan,
)

SIZE = 16


def write_image(path: Path, color=(200, 0, 0), size=(20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def write_bad_files(folder: Path) -> dict[str, str]:
    """One file per kind of damage -> the reason it must be reported with."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, "JPEG")
    (folder / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (folder / "notes.jpg").write_text("not a photo")
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    bomb = bytearray(buf.getvalue())
    bomb[16:24] = struct.pack(">II", 30000, 30000)  # IHDR width, height
    bomb[29:33] = struct.pack(">I", zlib.crc32(bytes(bomb[12:29])))
    (folder / "bomb.png").write_bytes(bytes(bomb))
    return {
        "empty.jpg": "empty file (0 bytes)",
        "cut.jpg": "truncated or corrupt image data",
        "notes.jpg": "not an image Pillow can read",
        "dot.png": "too small: 1x1 px (min_side 8)",
        "bomb.png": "30000x30000 = 900.0 Mpx exceeds the 89.5 Mpx limit (max_pixels)",
    }


def run_epochs(dataset, epochs: int, num_workers: int) -> tuple[SkipLog, list[str], list[int]]:
    """Iterate like a training loop; returns the skip log, warning messages, good indices seen."""
    skips = SkipLog()
    loader = make_loader(dataset, batch_size=4, num_workers=num_workers)
    seen = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so Python's own once-per-location filter hides nothing
        for _ in range(epochs):
            for batch in loader:
                skips.record(batch.bad)
                assert batch.images.shape[1:] == (3, SIZE, SIZE)
                seen.extend(batch.indices.tolist())
    messages = [str(w.message) for w in caught if issubclass(w.category, BadImageWarning)]
    return skips, messages, seen


@pytest.mark.parametrize("num_workers", [0, 2])
def test_each_bad_file_warned_and_counted_once(tmp_path, num_workers):
    bad = write_bad_files(tmp_path / "photos")
    good = [write_image(tmp_path / "photos" / f"good{i}.png") for i in range(3)]
    rows = ["path,group"] + [f"photos/{name},g" for name in [*bad, *(p.name for p in good)]]
    rows.append("photos/gone.jpg,g")  # listed but missing: a bad sample, not a crash
    (tmp_path / "catalog.csv").write_text("\n".join(rows) + "\n")
    bad["gone.jpg"] = "file not found"
    dataset = open_dataset(tmp_path / "catalog.csv", size=SIZE)

    skips, messages, seen = run_epochs(dataset, epochs=2, num_workers=num_workers)

    assert skips.count == len(bad) == len(messages)
    for name, reason in bad.items():
        (msg,) = [m for m in messages if name in m]
        assert reason in msg
        assert reason in skips.items[str(tmp_path / "photos" / name)]
    good_indices = [i for i, r in enumerate(dataset.records) if r.path in good]
    assert seen == good_indices * 2


def test_image_folder_with_bad_files(tmp_path):
    bad = write_bad_files(tmp_path / "shop")
    write_image(tmp_path / "shop" / "ok.png")
    skips, messages, seen = run_epochs(ImageFolder(tmp_path / "shop", ImagePolicy(size=SIZE)), 2, 0)
    assert skips.count == len(bad) == len(messages) and len(seen) == 2
    assert str(skips).startswith(f"{len(bad)} files skipped: ")
    assert skips.summary()["skipped"] == len(bad)


def test_image_folder_classes(tmp_path):
    write_image(tmp_path / "skirts" / "a.png")
    write_image(tmp_path / "dresses" / "summer" / "b.JPG")  # nested, upper-case extension
    write_image(tmp_path / "dresses" / "c.png")
    write_image(tmp_path / "dresses" / ".hidden.png")
    write_image(tmp_path / ".cache" / "x.png")
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "readme.txt").write_text("no images here: not a class")
    ds = ImageFolder(tmp_path, ImagePolicy(size=SIZE))
    assert ds.classes == ["dresses", "skirts"]
    assert [(r.path.relative_to(tmp_path).as_posix(), r.label) for r in ds.records] == [
        ("dresses/c.png", 0),
        ("dresses/summer/b.JPG", 0),
        ("skirts/a.png", 1),
    ]
    sample = ds[2]
    assert isinstance(sample, Sample) and sample.label == 1 and sample.image.shape == (3, SIZE, SIZE)
    assert ImageFolder(tmp_path, classes=["skirts", "dresses"]).labels == [1, 1, 0]


def test_flat_folder_has_no_labels(tmp_path):
    write_image(tmp_path / "b.png")
    write_image(tmp_path / "a.webp")
    write_image(tmp_path / "more" / "c.jpeg")
    (tmp_path / "notes.txt").write_text("x")
    ds = ImageFolder(tmp_path)
    assert ds.classes is None
    assert [r.path.name for r in ds.records] == ["a.webp", "b.png", "c.jpeg"]
    assert ds.labels == [None] * 3 and ds[0].label == -1


def test_csv_manifest(tmp_path):
    write_image(tmp_path / "img" / "a.png")
    write_image(tmp_path / "img" / "b.png", color=(0, 0, 255))
    absolute = write_image(tmp_path / "elsewhere" / "c.png")
    (tmp_path / "m.csv").write_text(
        "path,label,tags,group\n"
        "img/a.png,skirt,red;summer,1\n"
        f"{absolute},dress,,2\n"
        "\n"
        "img/b.png,dress,blue,1\n"
    )
    ds = CSVManifest(tmp_path / "m.csv", ImagePolicy(size=SIZE))
    assert ds.classes == ["dress", "skirt"]
    assert ds.labels == [1, 0, 0]
    assert ds.paths == [tmp_path / "img" / "a.png", absolute, tmp_path / "img" / "b.png"]
    assert ds.column("tags") == ["red;summer", "", "blue"]
    assert ds.column("group") == ["1", "2", "1"]
    assert ds.column("colour") == ["", "", ""]
    assert ds.records[0].meta == {"tags": "red;summer", "group": "1"}
    assert ds[2].image[2, 8, 8] == 255


def test_csv_numeric_labels_sort_numerically(tmp_path):
    write_image(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text("path,label\n" + "".join(f"a.png,{n}\n" for n in (10, 2, 1)))
    ds = CSVManifest(tmp_path / "m.csv")
    assert ds.classes == ["1", "2", "10"] and ds.labels == [2, 1, 0]


@pytest.mark.parametrize(
    "text, message",
    [("file,label\na.png,x\n", r"m\.csv, line 1: no 'path' column \(columns: file, label\)"),
     ("", r"m\.csv: empty file"),
     ("path,label\n,x\n", r"m\.csv, line 2: empty 'path'"),
     ("path\na.png,extra\n", r"m\.csv, line 2: 2 fields but the header has 1")],
    ids=["no-path-column", "empty", "empty-path", "too-many-fields"],
)
def test_csv_errors_name_file_and_line(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        CSVManifest(tmp_path / "m.csv")


def test_missing_row_file_is_a_bad_sample(tmp_path):
    (tmp_path / "m.csv").write_text("path\nnope.jpg\n")
    item = CSVManifest(tmp_path / "m.csv")[0]
    assert item == BadSample(0, str(tmp_path / "nope.jpg"), "file not found")


def test_open_dataset_sources(tmp_path):
    one = write_image(tmp_path / "shirts" / "one.png")
    ds = open_dataset(one, size=SIZE, resize="center-crop")
    assert len(ds) == 1 and ds.policy == ImagePolicy(size=(SIZE, SIZE), resize="center-crop")
    assert isinstance(ds[0], Sample)
    assert isinstance(open_dataset(tmp_path), ImageFolder)
    assert len(open_dataset([one, tmp_path / "missing.png"])) == 2
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        open_dataset(tmp_path / "nothing-here")
    (tmp_path / "void").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        open_dataset(tmp_path / "void")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a folder, a .csv manifest or an image file"):
        open_dataset(tmp_path / "notes.txt")


def test_collate_all_bad_and_mixed_sizes():
    bad = [BadSample(0, "a.jpg", "file not found")]
    batch = collate(bad, size=(8, 6))
    assert batch.images.shape == (0, 3, 8, 6) and len(batch) == 0 and batch.bad == bad
    assert collate(bad).images.shape == (0, 3, 0, 0)
    items = [Sample(i, torch.zeros(3, h, 4, dtype=torch.uint8)) for i, h in enumerate((4, 5))]
    with pytest.raises(ValueError, match="give the ImagePolicy a size"):
        collate(items)


def test_scan_returns_good_images_in_order(tmp_path):
    write_bad_files(tmp_path)
    colors = [(10, 0, 0), (20, 0, 0), (30, 0, 0)]
    for i, c in enumerate(colors):
        write_image(tmp_path / f"good{i}.png", color=c)
    ds = ImageFolder(tmp_path, ImagePolicy(size=SIZE))
    with pytest.warns(BadImageWarning):
        images, indices, skips = scan(ds, batch_size=3, progress=False)
    assert images.shape == (3, 3, SIZE, SIZE) and images.dtype == torch.uint8
    assert [ds.records[i].path.name for i in indices] == ["good0.png", "good1.png", "good2.png"]
    assert images[:, 0, 8, 8].tolist() == [10, 20, 30]
    assert skips.count == 5


def test_make_loader_defaults(tmp_path):
    ds = ImageDataset([], ImagePolicy(size=SIZE))
    assert make_loader(ds, 4).num_workers == 0  # tiny: no worker start-up cost


def test_skiplog_accepts_errors_and_formats():
    from modiste.data import BadImageError

    log = SkipLog()
    with pytest.warns(BadImageWarning, match="a.jpg: empty file"):
        log.record([BadImageError("a.jpg", "empty file (0 bytes)")])
    log.record([BadSample(3, "a.jpg", "empty file (0 bytes)")])  # same file: silent
    assert str(log) == "1 file skipped: a.jpg (empty file (0 bytes))"
    assert log.summary() == {"skipped": 1, "files": {"a.jpg": "empty file (0 bytes)"}}
