"""The catalog map: layout in the unit square, one thumbnail per item in PNG and HTML, bad files, colours."""
from __future__ import annotations

import base64
import io
import json
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from modiste.data.images import BadImageWarning
from modiste.latent import Vectors
from modiste.latent.map import CatalogMap, catalog_map, layout


def _two_clusters(n: int = 30, d: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    side = np.arange(n) % 2
    centre = np.where(side[:, None] == 1, 10.0, -10.0) * np.ones(d)
    return (centre + rng.normal(size=(n, d))).astype(np.float32), side


@pytest.fixture(scope="module")
def cat_vectors(tiny_catalog) -> Vectors:
    """The tiny catalog's pixels, 8x8, as vectors, with its CSV columns."""
    paths = [str(tiny_catalog.root / r["path"]) for r in tiny_catalog.records]
    pixels = [np.asarray(Image.open(p).convert("RGB").resize((8, 8))) for p in paths]
    vecs = np.stack(pixels).reshape(len(paths), -1) / 255.0
    return Vectors(vecs, paths, meta={"kind": "pixels"}).join_csv(tiny_catalog.csv)


def _page_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S).group(1))


def _sprite(html: str) -> np.ndarray:
    b64 = re.search(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', html).group(1)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_layout_is_in_unit_square_and_repeats_under_a_seed(method):
    x, _ = _two_clusters()
    a = layout(x, method=method, seed=3)
    assert a.shape == (30, 2) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1 and np.isclose(np.ptp(a, axis=0).max(), 1)
    np.testing.assert_array_equal(a, layout(x, method=method, seed=3))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_close_vectors_land_close(method):
    x, side = _two_clusters()
    pos = layout(x, method=method, perplexity=5)
    centres = np.stack([pos[side == k].mean(0) for k in (0, 1)])
    nearest = np.linalg.norm(pos[:, None] - centres[None], axis=2).argmin(1)
    assert (nearest == side).all()
    spread = max(np.linalg.norm(pos[side == k] - centres[k], axis=1).max() for k in (0, 1))
    assert np.linalg.norm(centres[0] - centres[1]) > 2 * spread


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_layout_handles_a_handful_of_items(n):
    pos = layout(np.random.default_rng(0).normal(size=(n, 4)), perplexity=30)
    assert pos.shape == (n, 2) and np.isfinite(pos).all() and pos.min() >= 0 and pos.max() <= 1


def test_map_writes_one_thumbnail_per_item(cat_vectors, tmp_path):
    n = len(cat_vectors)
    res = catalog_map(cat_vectors, tmp_path / "map", color_by="label", thumb=16, method="pca", progress=False)
    assert isinstance(res, CatalogMap) and len(res) == n and res.skipped == []
    assert {p.name for p in res.files.values()} == {"map.png", "map.html", "map.json"}
    assert "CatalogMap(n=48" in repr(res) and res.to_json()["n"] == n

    html = res.files["html"].read_text(encoding="utf-8")
    data = _page_data(html)
    assert len(data["paths"]) == len(data["x"]) == len(data["order"]) == n
    assert sorted(data["order"]) == list(range(n))
    sheet, t, cols = _sprite(html), data["thumb"], data["cols"]
    assert t == 16 and cols * ((n + cols - 1) // cols) >= n
    for i in range(n):  # every tile of the sprite sheet holds an image
        r, c = divmod(i, cols)
        assert sheet[r * t : (r + 1) * t, c * t : (c + 1) * t].min() < 200

    png = np.asarray(Image.open(res.files["png"]).convert("RGB"))
    side = res.info["canvas"]
    assert png.shape[1] == side and png.shape[0] > side  # the legend strip sits under the map
    t = data["tile"]
    for x, y in zip(data["x"], data["y"]):  # something is drawn where every item lands
        assert png[y : y + t, x : x + t].min() < 200

    saved = json.loads(res.files["json"].read_text())
    assert saved["n"] == n and len(saved["positions"]) == n and saved["paths"] == res.paths
    assert saved["columns"]["label"] == cat_vectors.columns["label"]


def test_html_is_self_contained_and_escapes_values(cat_vectors, tmp_path):
    cols = dict(cat_vectors.columns, note=["</script><b>"] * len(cat_vectors))
    vec = Vectors(cat_vectors.vectors, cat_vectors.paths, cols)
    res = catalog_map(vec, tmp_path, thumb=16, method="pca", progress=False)
    html = res.files["html"].read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert html.count("</script>") == 2
    assert _page_data(html)["columns"]["note"][0] == "</script><b>"


def test_unreadable_image_is_skipped_with_a_warning_and_the_rest_drawn(tmp_path):
    paths = []
    for i in range(6):
        p = tmp_path / f"item{i}.png"
        Image.new("RGB", (24, 24), (40 * i, 0, 200)).save(p)
        paths.append(str(p))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    paths.insert(3, str(bad))
    vec = Vectors(np.random.default_rng(0).normal(size=(7, 5)), paths)
    with pytest.warns(BadImageWarning, match="broken.png"):
        res = catalog_map(vec, tmp_path / "map", thumb=16, method="pca", progress=False)
    assert len(res) == 7 and [p for p, _ in res.skipped] == [str(bad)]
    data = _page_data(res.files["html"].read_text(encoding="utf-8"))
    assert list(data["missing"]) == ["3"]
    sheet = _sprite(res.files["html"].read_text(encoding="utf-8"))
    for i in (0, 1, 2, 4, 5, 6):  # the good images are drawn: strong blue
        r, c = divmod(i, data["cols"])
        assert sheet[r * 16 + 8, c * 16 + 8, 2] > 150


def test_color_by_unknown_column_names_the_columns(cat_vectors, tmp_path):
    with pytest.raises(KeyError, match="no column 'shade'.*colour.*label"):
        catalog_map(cat_vectors, tmp_path, color_by="shade", method="pca", progress=False)
    assert not (tmp_path / "map.png").exists()


def test_filter_keeps_matching_items_only(cat_vectors, tmp_path):
    res = catalog_map(cat_vectors, tmp_path / "a", filter_by="group=collection", thumb=16, method="pca", progress=False)
    assert len(res) == cat_vectors.columns["group"].count("collection") and set(res.columns["group"]) == {"collection"}
    tag = cat_vectors.columns["label"][0]
    res = catalog_map(cat_vectors, tmp_path / "b", filter_by=f"tags={tag.upper()}", thumb=16, method="pca",
                      progress=False)
    assert set(res.columns["label"]) == {tag}
    with pytest.raises(ValueError, match="no item has group='nowhere'"):
        catalog_map(cat_vectors, tmp_path / "c", filter_by="group=nowhere", method="pca", progress=False)
    with pytest.raises(ValueError, match="COLUMN=VALUE"):
        catalog_map(cat_vectors, tmp_path / "c", filter_by="collection", method="pca", progress=False)


def test_images_given_directly_are_used_without_reading_files(tmp_path):
    images = torch.zeros(5, 3, 20, 20, dtype=torch.uint8)
    images[:, 1] = 180  # green
    vec = Vectors(np.random.default_rng(1).normal(size=(5, 3)), [f"missing/{i}.png" for i in range(5)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = catalog_map(vec, tmp_path, images=images, thumb=16, canvas=200, method="pca", progress=False)
    assert res.skipped == [] and res.info["canvas"] == 200
    png = np.asarray(Image.open(res.files["png"]).convert("RGB"))
    assert png.shape == (200, 200, 3) and ((png[..., 1] == 180) & (png[..., 0] == 0)).sum() >= 5 * 16 * 16 // 4
