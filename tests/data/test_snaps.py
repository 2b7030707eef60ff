"""Street snaps of catalog items: pairs.csv, files, determinism, colours kept, catalog checks."""
from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from modiste.data.synth import COLOURS, snaps
from modiste.data.synth.snaps import SNAP_COLUMNS

PER_ITEM = 2


@pytest.fixture(scope="module")
def snapped(tiny_catalog, tmp_path_factory):
    return snaps(tiny_catalog, tmp_path_factory.mktemp("snaps"), per_item=PER_ITEM, workers=1, progress=False)


def _rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB"
        return np.asarray(im, np.float32)


def test_pairs_csv_lists_every_snap_and_its_shop_image(tiny_catalog, snapped):
    assert len(snapped) == len(tiny_catalog) * PER_ITEM
    with open(snapped.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == SNAP_COLUMNS
    assert rows == snapped.pairs
    base = snapped.csv.parent
    for row in rows:
        assert _rgb(base / row["query"]).shape == (32, 32, 3)
        shop = (base / row["catalog"]).resolve()
        assert shop == (tiny_catalog.root / tiny_catalog.records[int(row["item"])]["path"]).resolve()
        _rgb(shop)


def test_items_labels_and_groups_match_the_catalog(tiny_catalog, snapped):
    items = [int(r["item"]) for r in snapped.pairs]
    assert items == [i for i in range(len(tiny_catalog)) for _ in range(PER_ITEM)]
    for r in snapped.pairs:
        rec = tiny_catalog.records[int(r["item"])]
        assert (r["label"], r["group"]) == (rec["label"], rec["group"])


def test_same_seed_same_bytes_whatever_the_workers(tiny_catalog, snapped, tmp_path):
    again = snaps(tiny_catalog.root, tmp_path / "again", per_item=PER_ITEM, workers=2, progress=False)
    def keys(pairs):  # ``catalog`` is relative to each output folder, so it differs between the two
        return [{k: v for k, v in p.items() if k != "catalog"} for p in pairs]

    assert keys(again.pairs) == keys(snapped.pairs)
    for a, b in zip(snapped.pairs, again.pairs):
        assert (snapped.root / a["query"]).read_bytes() == (again.root / b["query"]).read_bytes()
    other = snaps(tiny_catalog, tmp_path / "other", per_item=1, seed=1, workers=1, progress=False)
    first = other.pairs[0]["query"]
    assert (other.root / first).read_bytes() != (snapped.root / first).read_bytes()


def test_snaps_differ_from_the_shop_image_but_keep_its_main_colour(tiny_catalog, snapped):
    palette = {name: np.asarray(rgb, np.float32) for name, rgb in COLOURS.items()}

    def present(pixels: np.ndarray, colour: str) -> bool:
        # At least 3% of the snap within 60 of the named colour: a garment patch survives the light change.
        return float((np.linalg.norm(pixels - palette[colour], axis=-1) < 60).mean()) >= 0.03

    own, far = [], []
    for r in snapped.pairs:
        snap = _rgb(snapped.root / r["query"])
        shop = _rgb(snapped.root / r["catalog"])
        assert np.abs(snap - shop).mean() > 15
        main = tiny_catalog.records[int(r["item"])]["colour"]
        own.append(present(snap, main))
        far += [present(snap, c) for c in COLOURS if np.linalg.norm(palette[c] - palette[main]) > 120]
    # Measured 0.91 against 0.36: the garment's colour is there, and the check is not met by any colour.
    assert np.mean(own) >= 0.85
    assert np.mean(far) <= 0.5


def test_plot_writes_one_row_per_item(snapped, tmp_path):
    path = snapped.plot(tmp_path / "sheet.png", n=4)
    with Image.open(path) as im:
        assert im.width > im.height / 4 * (1 + PER_ITEM) * 0.9 and im.height > 4 * 32


def test_folder_without_catalog_csv_is_named_in_the_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="catalog.csv") as err:
        snaps(tmp_path, tmp_path / "out", progress=False)
    assert str(tmp_path) in str(err.value)


def test_a_catalog_row_that_is_not_its_seeds_item_is_refused(tiny_catalog, tmp_path):
    records = [dict(r) for r in tiny_catalog.records]
    records[3]["colour"] = "purple" if records[3]["colour"] != "purple" else "red"
    edited = replace(tiny_catalog, records=records)
    with pytest.raises(ValueError, match="row 4"):
        snaps(edited, tmp_path / "out", progress=False)
