"""Street scenes for detection: files, determinism, boxes inside the image and tight on painted pixels."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from modiste.data.synth import SCENE_CATEGORIES, render_scene, scenes
from modiste.data.synth.canvas import Canvas
from modiste.data.synth.scenes import _figure

SIZE = (120, 160)  # width, height
N = 8


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return scenes(tmp_path_factory.mktemp("scenes"), n=N, size=SIZE, workers=1, progress=False)


def _files(root, pattern):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.glob(pattern))}


def test_files_and_layout(made):
    root = made.root
    assert len(made) == N and made.categories == SCENE_CATEGORIES
    for i in range(N):
        with Image.open(root / "images" / f"{i:06d}.jpg") as im:
            assert im.format == "JPEG" and im.mode == "RGB" and im.size == SIZE
        assert (root / "labels" / f"{i:06d}.txt").is_file()
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert data["path"] == str(root) and data["train"] == "train.txt" and data["val"] == "val.txt"
    assert data["names"] == dict(enumerate(SCENE_CATEGORIES))
    train = (root / "train.txt").read_text().split()
    val = (root / "val.txt").read_text().split()
    assert sorted(train + val) == [f"./images/{i:06d}.jpg" for i in range(N)]
    assert val == ["./images/000004.jpg"]  # every fifth image at val_fraction 0.2
    summary = made.to_json()
    assert summary["boxes"] == sum(summary["counts"].values()) > 0


def test_same_seed_same_files_whatever_the_workers(made, tmp_path):
    again = scenes(tmp_path / "again", n=N, size=SIZE, workers=2, progress=False)
    for pattern in ("images/*.jpg", "labels/*.txt"):
        assert _files(again.root, pattern) == _files(made.root, pattern)
    assert json.loads(again.coco.read_text()) == json.loads(made.coco.read_text())
    other = scenes(tmp_path / "other", n=2, size=SIZE, seed=1, workers=1, progress=False)
    assert (other.root / "images/000000.jpg").read_bytes() != (made.root / "images/000000.jpg").read_bytes()
    # An image depends on (seed, index) only, not on how many are drawn.
    assert render_scene(0, 5, SIZE)[1] == made.images[5]


def test_boxes_inside_the_image_and_not_empty(made):
    w, h = SIZE
    for items in made.images:
        for it in items:
            x0, y0, x1, y1 = it["box"]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
            assert it["label"] in SCENE_CATEGORIES
            assert 0 < it["area"] <= (x1 - x0) * (y1 - y0)


def test_coco_and_yolo_say_the_same(made):
    coco = json.loads(made.coco.read_text())
    assert [c["name"] for c in coco["categories"]] == list(SCENE_CATEGORIES)
    assert [c["id"] for c in coco["categories"]] == list(range(1, len(SCENE_CATEGORIES) + 1))
    assert [im["file_name"] for im in coco["images"]] == [f"{i:06d}.jpg" for i in range(N)]
    w, h = SIZE
    for image in coco["images"]:
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        lines = (made.root / "labels" / image["file_name"].replace(".jpg", ".txt")).read_text().splitlines()
        assert len(lines) == len(anns)
        for a, line in zip(anns, lines):
            cls, cx, cy, bw, bh = (float(v) for v in line.split())
            x, y, aw, ah = a["bbox"]
            assert cls == a["category_id"] - 1 and a["iscrowd"] == 0
            assert np.allclose([cx * w, cy * h, bw * w, bh * h], [x + aw / 2, y + ah / 2, aw, ah], atol=1e-3)
    assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])


@pytest.mark.parametrize("seed", range(6))
def test_boxes_are_tight_on_painted_pixels(seed):
    """One figure on a magenta canvas: every box edge touches paint, and paint holds every box."""
    magenta = (255, 0, 255)
    canvas = Canvas(160, 2, background=magenta)
    rng = np.random.default_rng(seed)
    items, cover = _figure(canvas, rng, 130.0, 80.0, 15.0, (4, 4), (160, 160))
    painted = np.any(np.asarray(canvas.result()).astype(int) != magenta, axis=-1)
    assert cover.any() and items
    for item in items:
        if not item.visible.any():
            continue
        rows, cols = np.flatnonzero(item.visible.any(1)), np.flatnonzero(item.visible.any(0))
        y0, y1, x0, x1 = rows[0], rows[-1], cols[0], cols[-1]
        assert painted[y0, x0 : x1 + 1].any() and painted[y1, x0 : x1 + 1].any()
        assert painted[y0 : y1 + 1, x0].any() and painted[y0 : y1 + 1, x1].any()
        assert not (item.visible & ~painted).any()
        assert item.visible.sum() <= 1.2 * item.total + 8  # ``total`` counts the same pixels, unclipped


def test_max_one_item_gives_forms_in_a_single_garment():
    for i in range(6):
        _, items = render_scene(0, i, SIZE, max_items=1)
        assert all(it["label"] not in ("shoe", "bag", "hat") for it in items)


def test_plot_and_arguments(made, tmp_path):
    path = made.plot(tmp_path / "sheet.png", n=6)
    with Image.open(path) as im:
        assert im.size[0] > SIZE[0] * 3
    for bad in ({"min_items": 0}, {"min_items": 3, "max_items": 2}, {"min_items": 6, "max_items": 6},
                {"size": (16, 160)}, {"val_fraction": 1.0}):
        with pytest.raises(ValueError):
            scenes(tmp_path / "bad", n=1, progress=False, **{"size": SIZE, **bad})
