"""``modiste latent ...`` end to end on the tiny catalog: encoder, invert, map, boundary, edits, search, tags."""
import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from modiste.cli import app
from modiste.gan import GAN
from modiste.latent import Vectors

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, ["latent", *map(str, args)])
    assert result.exit_code == 0, f"{' '.join(map(str, args))}\n{result.output}\n{result.exception!r}"
    return result.output


def strip_size(rows, cols, tile=32, scale=2):
    """Pixel size of a saved strip: tiles with 2 px padding around each, enlarged ``scale`` times."""
    return (scale * (cols * (tile + 2) + 2), scale * (rows * (tile + 2) + 2))


@pytest.fixture(scope="module")
def gan_run(tiny_catalog, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-gan") / "run"
    GAN.train(tiny_catalog.csv, out=out, size=32, g_width=8, d_width=8, batch=8, kimg=0.08, tick_kimg=0.04,
              workers=0, progress=False)
    return out


def test_latent_commands_chain_on_the_tiny_catalog(gan_run, tiny_catalog, tmp_path):
    rows = list(csv.DictReader(open(tiny_catalog.csv, newline="")))
    images = [tiny_catalog.root / r["path"] for r in rows]
    enc = tmp_path / "enc"

    out = run("encoder", "train", gan_run, tiny_catalog.csv, "--out", enc, "--steps", "4", "--batch", "8",
              "--width", "8", "--workers", "0")
    assert (enc / "checkpoints" / "latest.safetensors").exists() and '"steps": 4' in out

    latents = tmp_path / "lat" / "latents.npz"
    out = run("invert", gan_run, tiny_catalog.csv, "--encoder", enc, "--steps", "2", "--out", latents,
              "--workers", "0")
    assert "skipped 0" in out
    for suffix in (".csv", ".json", ".png"):
        assert latents.with_suffix(suffix).exists()
    vec = Vectors.load(latents)
    assert (len(vec), vec.dim) == (48, 100) and vec.columns["group"] == [r["group"] for r in rows]
    assert json.loads(latents.with_suffix(".json").read_text())["encoder"] is True

    run("map", latents, "--method", "pca", "--thumb", "16", "--color-by", "group", "--out", tmp_path / "map")
    mapped = json.loads((tmp_path / "map" / "map.json").read_text())
    assert mapped["n"] == 48 and mapped["method"] == "pca" and len(mapped["positions"]) == 48
    assert (tmp_path / "map" / "map.png").exists() and (tmp_path / "map" / "map.html").exists()

    style = tmp_path / "style.json"
    run("boundary", latents, "--column", "group", "--pos", "collection", "--neg", "everyday", "--folds", "3",
        "--out", style)
    b = json.loads(style.read_text())
    assert abs(np.linalg.norm(b["normal"]) - 1) < 1e-9 and len(b["normal"]) == 100
    assert (b["pos"], b["neg"]) == ("collection", "everyday")
    groups = [r["group"] for r in rows]
    assert (b["n_pos"], b["n_neg"]) == (groups.count("collection"), groups.count("everyday"))
    assert 0 <= b["accuracy"] <= 1

    run("edit", gan_run, "--boundary", style, "--seed", "3", "--range", "-2", "2", "--steps", "5",
        "--out", tmp_path / "edit.png")
    with Image.open(tmp_path / "edit.png") as png:
        assert png.size == strip_size(1, 5)
    desc = json.loads((tmp_path / "edit.json").read_text())
    d = np.array(desc["distances"][0])
    assert np.allclose(np.diff(d), 1.0, atol=1e-4)  # -2..2 in 5 steps: one unit of distance apart
    assert desc["sources"] == ["seed3"]

    run("edit", gan_run, "--boundary", style, "--seed", "3", "--to-hyperplane", "--out", tmp_path / "hyper.png")
    desc = json.loads((tmp_path / "hyper.json").read_text())
    assert abs(desc["distance_after"][0]) < 1e-4 and desc["distance_before"][0] == pytest.approx(d[2], abs=1e-4)
    with Image.open(tmp_path / "hyper.png") as png:
        assert png.size == strip_size(1, 2)

    run("edit", gan_run, "--boundary", style, "--latents", latents, "--where", "group=collection", "--limit", "2",
        "--steps", "3", "--out", tmp_path / "coll.png")
    desc = json.loads((tmp_path / "coll.json").read_text())
    collection = [str(p) for p, r in zip(images, rows) if r["group"] == "collection"][:2]
    assert desc["sources"] == collection and desc["n"] == 6
    with Image.open(tmp_path / "coll.png") as png:
        assert png.size == strip_size(2, 3)

    run("between", gan_run, images[0], images[1], "--steps", "3", "--encoder", enc, "--invert-steps", "1",
        "--out", tmp_path / "mid.png")
    with Image.open(tmp_path / "mid.png") as png:
        assert png.size == strip_size(1, 3)
    with Image.open(tmp_path / "mid-mid.png") as png:
        assert png.size == (64, 64)

    queries = tmp_path / "queries.csv"
    queries.write_text("path\n" + "".join(f"{p}\n" for p in images[:2]))
    run("similar", gan_run, queries, "--latents", latents, "--k", "3", "--encoder", enc, "--invert-steps", "0",
        "--out", tmp_path / "sim")
    matches = json.loads((tmp_path / "sim" / "matches.json").read_text())
    assert [q["query"] for q in matches["queries"]] == [str(p) for p in images[:2]]
    assert all(len(q["matches"]) == 3 for q in matches["queries"])
    assert all(m["path"] in vec.paths for q in matches["queries"] for m in q["matches"])
    assert (tmp_path / "sim" / "matches.png").exists()

    run("directions", gan_run, "--k", "3", "--n", "64", "--steps", "3", "--out", tmp_path / "dirs")
    dirs = json.loads((tmp_path / "dirs" / "directions.json").read_text())
    assert np.allclose(np.linalg.norm(dirs["vectors"], axis=1), 1) and np.shape(dirs["vectors"]) == (3, 100)
    with Image.open(tmp_path / "dirs" / "sheet.png") as png:
        assert png.size == strip_size(3, 3)

    probes = tmp_path / "tags.json"
    run("tag", "fit", latents, "--folds", "3", "--out", probes)
    fitted = json.loads(probes.read_text())
    probed = {p["column"] for p in fitted["probes"]}
    assert "label" in probed and "group" in probed and not probed & {"mse", "ssim"}

    tags = tmp_path / "tags.csv"
    out = run("tag", "predict", gan_run, tiny_catalog.csv, "--probes", probes, "--encoder", enc,
              "--invert-steps", "0", "--out", tags)
    assert "wrote" in out and "(48 images)" in out
    predicted = list(csv.DictReader(open(tags, newline="")))
    assert [r["path"] for r in predicted] == [str(p) for p in images]
    known = {c: {r[c] for r in rows} for c in ("label", "group")}
    for r in predicted:
        assert r["label"] in known["label"] and r["group"] in known["group"]


def test_edit_needs_exactly_one_source_of_codes(gan_run, tmp_path):
    from modiste.latent.boundary import Boundary

    Boundary(np.ones(100), 0.0).save(tmp_path / "b.json")
    result = runner.invoke(app, ["latent", "edit", str(gan_run), "--boundary", str(tmp_path / "b.json")])
    assert result.exit_code != 0 and "exactly one of image, seed or latents" in str(result.exception)
