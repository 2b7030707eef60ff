"""Try-on pairs: pairs.csv and files, determinism, article masks and person parses that match the pixels."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from modiste.data.synth import tryon_pairs
from modiste.data.synth.tryon import BACKGROUND, FOLDERS, HAIR, SKIN, TRYON_COLUMNS, WORN, pair_split

SIZE = (48, 64)  # width, height
N = 6


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return tryon_pairs(tmp_path_factory.mktemp("tryon"), n=N, size=SIZE, workers=1, progress=False, val_fraction=0.25)


def _load(pairs, rec, folder) -> np.ndarray:
    with Image.open(pairs.root / rec[folder]) as im:
        return np.asarray(im, np.float32 if im.mode == "RGB" else np.uint8)


def test_csv_lists_existing_files_of_the_right_sizes(pairs):
    with open(pairs.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == TRYON_COLUMNS
    assert rows == pairs.records and len(rows) == N
    modes = {"person": "RGB", "article": "RGB", "article_mask": "L", "person_parse": "L"}
    for i, row in enumerate(rows):
        for folder in FOLDERS:
            assert row[folder] == f"{folder}/{i:06d}.png"
            with Image.open(pairs.csv.parent / row[folder]) as im:
                assert (im.mode, im.size) == (modes[folder], SIZE)
        assert set(np.unique(_load(pairs, row, "article_mask"))) <= {0, 255}
        assert set(np.unique(_load(pairs, row, "person_parse"))) <= set(range(5))


def test_same_seed_same_bytes_whatever_the_workers(pairs, tmp_path):
    again = tryon_pairs(tmp_path / "again", n=N, size=SIZE, workers=2, progress=False, val_fraction=0.25)
    assert again.records == pairs.records
    for rec in pairs.records:
        for folder in FOLDERS:
            assert (again.root / rec[folder]).read_bytes() == (pairs.root / rec[folder]).read_bytes()
    other = tryon_pairs(tmp_path / "other", n=1, size=SIZE, seed=1, workers=1, progress=False)
    first = other.records[0]["person"]
    assert (other.root / first).read_bytes() != (pairs.root / first).read_bytes()


def test_article_mask_holds_the_garment_worn_in_the_person_photo(pairs):
    shop, worn = [], []
    for rec in pairs.records:
        article, mask = _load(pairs, rec, "article"), _load(pairs, rec, "article_mask") > 0
        person, parse = _load(pairs, rec, "person"), _load(pairs, rec, "person_parse")
        assert 0.1 < mask.mean() < 0.8
        assert article[~mask].mean() > 200  # the product photo's light backdrop is outside the mask
        shop.append(article[mask].mean(axis=0))
        worn.append(person[parse == WORN].mean(axis=0))
    # Distance between each article's mean colour and each worn garment's: its own should be close,
    # and closer than most others (two plain grey items may still be near each other).
    d = np.linalg.norm(np.array(shop)[:, None] - np.array(worn)[None], axis=-1)
    own, others = np.diag(d), d[~np.eye(N, dtype=bool)].reshape(N, N - 1)
    assert own.max() < 25, own
    assert (own < np.median(others, axis=1)).all(), d
    assert others.mean() > 3 * own.mean(), d


def test_person_parse_labels_the_worn_garment_where_it_is_drawn(pairs):
    for rec in pairs.records:
        person, parse = _load(pairs, rec, "person"), _load(pairs, rec, "person_parse")
        share = np.bincount(parse.ravel(), minlength=5) / parse.size
        assert share[WORN] > 0.05 and share[SKIN] > 0.01 and share[HAIR] > 0
        rows = np.nonzero(parse == WORN)[0].mean(), np.nonzero(parse == HAIR)[0].mean()
        assert rows[1] < rows[0]  # hair above the garment: the parse is not flipped
        # Background labels sit on backdrop pixels: close to the backdrop colour of their own row.
        bg = parse == BACKGROUND
        backdrop = np.array([np.median(person[y][bg[y]], axis=0) if bg[y].any() else np.zeros(3) for y in range(SIZE[1])])
        off = np.abs(person - backdrop[:, None]).max(axis=-1)
        assert (off[bg] > 30).mean() < 0.03  # a parse one pixel off exceeds 4%
        assert (off[parse != BACKGROUND] > 30).mean() > 0.5


def test_val_split_is_present_and_fixed_per_pair(pairs):
    splits = [r["split"] for r in pairs.records]
    assert set(splits) <= {"train", "val"}
    assert 1 <= splits.count("val") <= 2  # 6 pairs x 0.25
    assert splits == [pair_split(0, i, 0.25) for i in range(N)]
    assert sum(pair_split(0, i, 0.1) == "val" for i in range(1000)) == 100
    assert all(pair_split(3, i, 0.0) == "train" for i in range(100))


def test_plot_and_json(pairs, tmp_path):
    path = pairs.plot(tmp_path / "sheet.png", n=3)
    with Image.open(path) as im:
        assert im.size[1] > 3 * SIZE[1]
    summary = json.loads(json.dumps(pairs.to_json()))
    assert summary["n"] == N and summary["size"] == list(SIZE)
    assert sum(summary["splits"].values()) == N


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="between"):
        tryon_pairs(tmp_path, n=1, size=(16, 64), progress=False)
    with pytest.raises(ValueError, match="val_fraction"):
        tryon_pairs(tmp_path, n=1, val_fraction=1.0, progress=False)
