"""Nearest catalog items to query vectors, and the Matches result."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from modiste.latent.similar import Matches, nearest, similar
from modiste.data.vectors import Vectors


def _catalog(tiny_catalog, n=10, d=6, seed=0) -> Vectors:
    rng = np.random.default_rng(seed)
    records = tiny_catalog.records[:n]
    return Vectors(rng.normal(size=(n, d)), [str(tiny_catalog.root / r["path"]) for r in records],
                   {"label": [r["label"] for r in records], "mse": ["0.1"] * n}, {"kind": "embedding"})


def _brute_force(q, v, metric):
    if metric == "cosine":
        s = np.array([[a @ b / np.linalg.norm(a) / np.linalg.norm(b) for b in v] for a in q])
        return s, np.argsort(-s, axis=1, kind="stable")
    s = np.array([[np.linalg.norm(a - b) for b in v] for a in q])
    return s, np.argsort(s, axis=1, kind="stable")


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_nearest_agrees_with_brute_force(metric):
    rng = np.random.default_rng(1)
    v, q = rng.normal(size=(20, 5)), rng.normal(size=(3, 5))
    idx, scores = nearest(q, v, k=4, metric=metric)
    s, order = _brute_force(q, v, metric)
    assert idx.shape == scores.shape == (3, 4)
    assert np.array_equal(idx, order[:, :4])
    assert np.allclose(scores, np.take_along_axis(s, order[:, :4], axis=1), atol=1e-4)


def test_cosine_ignores_length_and_euclidean_does_not():
    v = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0]])
    q = np.array([20.0, 0.0])
    assert nearest(q, v, 1, "cosine")[0][0, 0] == 0
    assert nearest(q, v, 1, "euclidean")[0][0, 0] == 1


def test_nearest_caps_k_and_checks_its_inputs():
    v = np.eye(3)
    idx, _ = nearest(v[0], v, k=10)
    assert idx.shape == (1, 3) and idx[0, 0] == 0
    with pytest.raises(ValueError, match="query vectors have 2 dimensions, the catalog 3"):
        nearest(np.ones(2), v, 1)
    with pytest.raises(ValueError, match="metric must be one of"):
        nearest(v[0], v, 1, metric="manhattan")


def test_an_item_of_the_catalog_finds_itself_first(tiny_catalog):
    cat = _catalog(tiny_catalog)
    for metric in ("cosine", "euclidean"):
        m = similar(torch.from_numpy(cat.vectors[[4, 7]]), cat, k=3, metric=metric, query_paths=["q4", "q7"])
        assert m.indices[:, 0].tolist() == [4, 7]
        assert m.metric == metric


def test_matches_to_json_lists_k_matches_per_query_with_their_attributes(tiny_catalog):
    cat = _catalog(tiny_catalog)
    m = similar(cat.vectors[:2] + 0.01, cat, k=3)
    data = m.to_json()
    assert data["metric"] == "cosine" and data["k"] == 3
    assert [q["query"] for q in data["queries"]] == ["query0", "query1"]
    first = data["queries"][0]["matches"]
    assert [x["rank"] for x in first] == [1, 2, 3]
    assert [x["score"] for x in first] == sorted((x["score"] for x in first), reverse=True)
    assert first[0]["path"] == cat.paths[0] and first[0]["label"] == cat.columns["label"][0]
    assert "mse" not in first[0]  # inversion scores are not attributes of the item
    assert json.loads(json.dumps(data)) == data
    assert "query query1" in m.table() and cat.paths[1] in m.table()


def test_save_writes_json_and_a_grid_of_query_then_matches(tiny_catalog, tmp_path):
    cat = _catalog(tiny_catalog)
    queries = torch.full((2, 3, 32, 32), 0, dtype=torch.uint8)
    m = similar(cat.vectors[:2], cat, k=4, query_paths=["a.png", "b.png"], query_images=queries)
    out = m.save(tmp_path / "sim")
    assert json.loads((out / "matches.json").read_text())["k"] == 4
    with Image.open(out / "matches.png") as png:
        assert png.size == (5 * 66 + 2, 2 * 66 + 2)  # k + 1 tiles of 64 px + 2 px padding, one row per query
        pixels = np.asarray(png)
    assert (pixels[2:66, 2:66] == 0).all()  # the query image comes first, scaled up to the tile size
    assert not (pixels[2:66, 68:132] == 0).all()


def test_a_missing_catalog_file_becomes_a_grey_tile(tmp_path):
    cat = Vectors(np.eye(2), [str(tmp_path / "gone.png"), str(tmp_path / "gone2.png")])
    m = Matches(["q"], np.array([[0]]), np.array([[1.0]]), cat)
    grid = m.grid(size=16)
    assert grid.shape == (3, 16 + 4, 2 * 18 + 2)
    assert (grid[:, 2:18, 20:36] == 200).all()
