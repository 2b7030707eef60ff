"""Reading pairs: CSV and folder layouts, bad rows skipped with a warning naming them, flips that keep pairs consistent."""
import csv
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from modiste.data.images import BadImageWarning
from modiste.tryon.data import TryonDataset, fixed_targets, load_pairs, read_pairs

SIZE = (32, 24)


def write_csv(path, rows, header=("person", "article", "article_mask", "person_parse", "split")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def rows_of(pairs):
    return [[r[c] for c in ("person", "article", "article_mask", "person_parse", "split")] for r in pairs.records]


def test_reads_the_synthetic_csv_with_masks_parses_and_splits(tiny_pairs):
    data = load_pairs(tiny_pairs.csv, SIZE, progress=False)
    assert len(data) == 24 and data.size == SIZE
    assert data.persons.dtype == torch.uint8 and data.persons.shape == (24, 3, 32, 24)
    assert data.article_masks.shape == (24, 1, 32, 24) and set(data.article_masks.unique().tolist()) <= {0, 1}
    assert set(data.parses.unique().tolist()) <= set(range(5)) and (data.parses == 3).any()
    assert len(data.indices("val")) == 6 and len(data.indices("train")) == 18


def test_a_missing_or_broken_file_skips_its_row_with_a_warning_naming_row_and_file(tiny_pairs, tmp_path):
    rows = rows_of(tiny_pairs)
    rows[2][1] = "article/nowhere.png"
    (tmp_path / "broken.png").write_bytes(b"not a png")
    rows[5][3] = str(tmp_path / "broken.png")
    bad = write_csv(tiny_pairs.root / "bad.csv", rows)
    with pytest.warns(BadImageWarning) as caught:
        data = load_pairs(bad, SIZE, progress=False)
    messages = [str(w.message) for w in caught]
    assert any("line 4" in m and "nowhere.png" in m and "not found" in m for m in messages), messages
    assert any("line 7" in m and "broken.png" in m for m in messages), messages
    assert len(data) == 22 and len(data.skipped) == 2
    assert "nowhere.png" not in " ".join(str(r.article) for r in data.records)


def test_an_empty_optional_cell_drops_that_column_with_a_warning(tiny_pairs):
    rows = rows_of(tiny_pairs)
    rows[1][3] = ""
    path = write_csv(tiny_pairs.root / "noparse.csv", rows)
    with pytest.warns(UserWarning, match="line 3.*person_parse"):
        data = load_pairs(path, SIZE, progress=False)
    assert data.parses is None and data.article_masks is not None and len(data) == 24


def test_rows_without_a_split_are_split_by_the_seed(tiny_pairs, tmp_path):
    path = write_csv(tiny_pairs.root / "nosplit.csv", [r[:2] for r in rows_of(tiny_pairs)], header=("person", "article"))
    a = load_pairs(path, SIZE, val_fraction=0.25, seed=3, progress=False)
    b = load_pairs(path, SIZE, val_fraction=0.25, seed=3, progress=False)
    assert a.splits == b.splits and a.splits.count("val") == 6
    assert a.article_masks is None and a.parses is None


def test_the_common_folder_layout_with_a_pairs_file(tmp_path):
    for folder in ("image", "cloth", "cloth-mask"):
        (tmp_path / "train" / folder).mkdir(parents=True)
    lines = []
    for i in range(4):
        Image.new("RGB", (48, 64), (40 * i, 80, 120)).save(tmp_path / "train" / "image" / f"{i:05d}_0.jpg")
        Image.new("RGB", (48, 64), (200, 40 * i, 30)).save(tmp_path / "train" / "cloth" / f"{i:05d}_1.jpg")
        Image.new("L", (48, 64), 255).save(tmp_path / "train" / "cloth-mask" / f"{i:05d}_1.jpg")
        lines.append(f"{i:05d}_0.jpg {i:05d}_1.jpg")
    (tmp_path / "train_pairs.txt").write_text("\n".join(lines) + "\n")
    records = read_pairs(tmp_path)
    assert [r.person.name for r in records] == [f"{i:05d}_0.jpg" for i in range(4)]
    assert all(r.article_mask is not None and r.article_mask.exists() for r in records)
    data = load_pairs(tmp_path / "train_pairs.txt", SIZE, val_fraction=0.25, progress=False)
    assert len(data) == 4 and data.article_masks is not None and data.article_masks.all()


def asymmetric_pairs(root, n=4):
    """Persons and articles with a red patch on the left only; masks and parses marked on the left too."""
    rows = []
    for i in range(n):
        for folder, mode, fill, mark in (("person", "RGB", (230, 230, 230), (220, 0, 0)),
                                         ("article", "RGB", (250, 250, 250), (220, 0, 0)),
                                         ("mask", "L", 0, 255), ("parse", "L", 0, 3)):
            (root / folder).mkdir(exist_ok=True)
            im = np.full((64, 48, 3) if mode == "RGB" else (64, 48), fill, np.uint8)
            im[20:40, 2:14] = mark
            Image.fromarray(im, mode).save(root / folder / f"{i}.png")
        rows.append([f"person/{i}.png", f"article/{i}.png", f"mask/{i}.png", f"parse/{i}.png", "train"])
    return write_csv(root / "pairs.csv", rows)


def left_heavy(image):
    """Whether the marked (red or non-zero) patch sits in the left half."""
    x = image.float()
    signal = x[0] - x[1] if x.shape[0] == 3 else x[0]
    half = signal.shape[-1] // 2
    return bool(signal[:, :half].sum() > signal[:, half:].sum())


def test_flips_keep_person_article_and_masks_on_the_same_side(tmp_path):
    data = load_pairs(asymmetric_pairs(tmp_path), SIZE, progress=False)
    ds = TryonDataset(data, data.indices("train"), seed=0, flip=True)
    flipped = 0
    for key in range(len(ds) * 8):  # eight epochs of items
        item = ds[key]
        side = left_heavy(item["person"])
        flipped += not side
        assert left_heavy(item["article"]) == side
        assert left_heavy(item["article_mask"]) == side
        assert left_heavy(item["person_parse"]) == side
    assert 0 < flipped < len(ds) * 8  # both orientations were drawn


def test_targets_come_from_other_rows_of_the_same_split_and_repeat_with_the_seed(tiny_pairs):
    data = load_pairs(tiny_pairs.csv, SIZE, progress=False)
    train = data.indices("train")
    ds = TryonDataset(data, train, seed=1)
    items = [ds[k] for k in range(len(ds) * 3)]
    assert all(int(it["target_row"]) != int(it["row"]) for it in items)
    assert {int(it["target_row"]) for it in items} <= set(train.tolist())
    again = TryonDataset(data, train, seed=1)
    assert all(torch.equal(again[k]["target"], items[k]["target"]) for k in range(len(items)))
    other = TryonDataset(data, train, seed=2)
    assert any(int(other[k]["target_row"]) != int(items[k]["target_row"]) for k in range(len(ds)))


def test_fixed_targets_never_pick_the_row_itself():
    for n in (2, 3, 10):
        t = fixed_targets(n, seed=5)
        assert sorted(t.tolist()) == list(range(n)) and all(t[i] != i for i in range(n))


def test_every_pair_unreadable_is_a_clear_error(tmp_path):
    path = write_csv(tmp_path / "p.csv", [["a.png", "b.png"]], header=("person", "article"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="none of the 1 pairs"):
            load_pairs(path, SIZE, progress=False)
