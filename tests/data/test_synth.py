"""The synthetic catalog: files and columns, determinism, coverage of attributes, group separation."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from modiste.data.synth import (
    CATEGORIES,
    COLOURS,
    COLUMNS,
    FIGURES,
    GROUPS,
    PATTERNS,
    Body,
    Catalog,
    Frame,
    catalog,
    draw_figure,
    draw_garment,
    fill_pattern,
    render_item,
    sample_figure,
    sample_spec,
)

N = 40


@pytest.fixture(scope="module")
def cat(tmp_path_factory) -> Catalog:
    return catalog(tmp_path_factory.mktemp("synth"), n=N, size=32, seed=0, workers=1, progress=False)


def _bytes(c: Catalog) -> list[bytes]:
    return [(c.root / r["path"]).read_bytes() for r in c.records]


def test_catalog_writes_images_csv_and_summary(cat):
    assert len(cat) == N
    for i, rec in enumerate(cat.records):
        assert rec["path"] == f"images/{i:06d}.png"
        with Image.open(cat.root / rec["path"]) as im:
            assert im.mode == "RGB" and im.size == (32, 32)
    with open(cat.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == COLUMNS
    assert rows == cat.records
    summary = json.loads((cat.root / "SUMMARY.json").read_text())
    assert (summary["n"], summary["size"], summary["seed"]) == (N, 32, 0)
    assert sum(summary["counts"]["label"].values()) == N


def test_catalog_values_are_in_documented_sets(cat):
    for r in cat.records:
        assert r["label"] in CATEGORIES
        assert r["colour"] in COLOURS and r["colour2"] in COLOURS and r["colour"] != r["colour2"]
        assert r["pattern"] in PATTERNS
        assert r["figure"] in FIGURES
        assert r["group"] in GROUPS
        tags = r["tags"].split(";")
        assert tags[0] == r["label"] and tags[-2:] == [r["figure"], r["group"]]
        assert {r["colour"], r["pattern"]} <= set(tags)


def test_same_seed_same_bytes_and_workers_do_not_matter(cat, tmp_path):
    again = catalog(tmp_path / "two", n=N, size=32, seed=0, workers=2, progress=False)
    assert _bytes(again) == _bytes(cat)
    assert again.csv.read_bytes() == cat.csv.read_bytes()


def test_different_seed_differs(cat, tmp_path):
    other = catalog(tmp_path / "s1", n=10, size=32, seed=1, workers=1, progress=False)
    assert _bytes(other) != _bytes(cat)[:10]


def test_item_does_not_depend_on_n(cat, tmp_path):
    short = catalog(tmp_path / "short", n=10, size=32, seed=0, workers=1, progress=False)
    assert _bytes(short) == _bytes(cat)[:10]
    assert short.records == cat.records[:10]


def test_no_two_images_identical(cat):
    assert len(set(_bytes(cat))) == N


@pytest.mark.parametrize("size", [64, 128])
def test_other_sizes(size):
    image, row = render_item(3, 7, size)
    assert image.mode == "RGB" and image.size == (size, size)
    assert np.asarray(image).std() > 5  # something was drawn on the backdrop


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        catalog(tmp_path, n=2, size=16, progress=False)
    with pytest.raises(ValueError):
        sample_spec(np.random.default_rng(0), category="kimono")


def test_sampled_specs_cover_every_attribute():
    rng = np.random.default_rng(0)
    specs = [sample_spec(rng) for _ in range(300)]
    figures = {sample_figure(rng).kind for _ in range(300)}
    assert {s.category for s in specs} == set(CATEGORIES)
    assert len({s.colour for s in specs}) >= 8
    assert {s.pattern for s in specs} == set(PATTERNS) and len(PATTERNS) >= 5
    assert figures == set(FIGURES)
    collection = sum(s.group == "collection" for s in specs) / len(specs)
    assert 0.3 < collection < 0.5


def test_plot_writes_a_grid(cat, tmp_path):
    path = cat.plot(tmp_path / "grid.png", n=16)
    with Image.open(path) as im:
        assert im.width > 4 * 32 and im.height > 2 * 32
    assert Catalog.load(cat.root).records == cat.records
    assert cat.to_json()["n"] == N


# A fixed frame so sizes compare across specs: one head is 10 px, the centre line mid-canvas.
_FRAME = Frame(scale=10.0, x0=64.0, y0=4.0)


@pytest.mark.parametrize("category", CATEGORIES)
def test_masks_are_non_empty_and_inside(category):
    rng = np.random.default_rng(1)
    for group in GROUPS:
        spec = sample_spec(rng, category=category, group=group)
        rgba, mask = draw_garment(spec, 48, rng)
        assert rgba.shape == (48, 48, 4) and mask.shape == (48, 48)
        assert mask.sum() > 0.1 * mask.size
        # Fitted with a margin: nothing on the border, and alpha agrees with the mask.
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        assert (rgba[..., 3][mask] > 100).all()


@pytest.mark.parametrize("category", CATEGORIES)
def test_collection_garments_are_bigger_than_everyday(category):
    """Collection cuts exaggerate volume, shoulders or length; the style groups must stay apart.

    Within a category the widest everyday garment is narrower than the narrowest collection one
    (a later step separates the groups linearly in a GAN's latent space), and larger on average.
    """
    rng = np.random.default_rng(2)

    def measure(group: str) -> tuple[np.ndarray, np.ndarray]:
        specs = [sample_spec(rng, category=category, group=group) for _ in range(12)]
        masks = [draw_garment(spec, 128, frame=_FRAME, ss=1)[1] for spec in specs]
        cols = [np.flatnonzero(m.any(axis=0)) for m in masks]
        return np.array([m.sum() for m in masks]), np.array([c[-1] - c[0] for c in cols])

    area_e, width_e = measure("everyday")
    area_c, width_c = measure("collection")
    assert width_c.min() > width_e.max()
    assert area_c.mean() > 1.1 * area_e.mean()


def test_worn_garment_leaves_the_neckline_open():
    spec = sample_spec(np.random.default_rng(0), category="dress", group="everyday")
    flat = draw_garment(spec, 128, frame=_FRAME, body=Body(), ss=1)[1]
    worn = draw_garment(spec, 128, frame=_FRAME, body=Body(arm_angle=0.2), worn=True, ss=1)[1]
    neck = (slice(int(4 + 10 * 1.33), int(4 + 10 * 1.6)), slice(62, 66))
    assert flat[neck].all() and not worn[neck].any()


@pytest.mark.parametrize("kind", ["mannequin", "model"])
def test_draw_figure(kind):
    fig = sample_figure(np.random.default_rng(0), kind)
    rgba = draw_figure(fig, 64)
    assert rgba.shape == (64, 64, 4)
    assert 0.05 < (rgba[..., 3] > 0).mean() < 0.6


@pytest.mark.parametrize("name", PATTERNS)
def test_fill_pattern_shapes_and_range(name):
    colours = [(200, 30, 40), (240, 240, 240), (20, 20, 20)]
    a = fill_pattern(name, 40, 30, colours, 8.0, np.random.default_rng(0), angle=0.3)
    b = fill_pattern(name, 40, 30, colours, 8.0, np.random.default_rng(0), angle=0.3)
    assert a.shape == (40, 30, 3) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 255
    np.testing.assert_array_equal(a, b)
    if name != "plain":
        assert a.std() > 10  # two colours actually appear
