"""Product photo shoots: every shot type drawn and filed, determinism, gallery plans, galleries, one garment per product."""
from __future__ import annotations

import csv
import hashlib
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from modiste.data.synth import SHOT_TYPES, Shots, galleries, render_shot, shots
from modiste.data.synth.shots import GALLERY_COLUMNS, SHOT_COLUMNS, plan, product

N_PRODUCTS, SIZE = 3, 64


@pytest.fixture(scope="module")
def shoot(tmp_path_factory) -> Shots:
    """Every type of every product, so coverage does not hang on the random plan."""
    return shots(tmp_path_factory.mktemp("shots"), N_PRODUCTS, size=SIZE, seed=0, workers=1, progress=False,
                 missing_rate=0.0, extra_rate=0.0)


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shot_types_are_the_regulation():
    assert len(SHOT_TYPES) == 17 == len(set(SHOT_TYPES))
    assert SHOT_TYPES[0] == "brand_tag" and SHOT_TYPES[-1] == "near_zoom"


def test_every_type_is_drawn_and_labelled(shoot):
    assert shoot.counts() == {t: N_PRODUCTS for t in SHOT_TYPES}
    rows = _rows(shoot.csv)
    assert tuple(rows[0]) == SHOT_COLUMNS
    assert rows == shoot.records
    for r in rows:
        product_index = int(r["product"])
        assert r["path"] == f"images/{r['shot']}/p{product_index:05d}_{r['shot']}_0.png"
        with Image.open(shoot.csv.parent / r["path"]) as im:
            assert (im.mode, im.size) == ("RGB", (SIZE, SIZE))
            assert np.asarray(im).std() > 3  # something was drawn, not a blank frame
    for i in range(N_PRODUCTS):  # and each type drew its own picture
        assert len({_digest(shoot.root / r["path"]) for r in rows if r["product"] == str(i)}) == len(SHOT_TYPES)


def test_class_folders_match_the_csv(shoot):
    on_disk = {p.relative_to(shoot.root).as_posix() for p in (shoot.root / "images").glob("*/*.png")}
    assert on_disk == {r["path"] for r in shoot.records}
    assert {p.name for p in (shoot.root / "images").iterdir()} == set(SHOT_TYPES)
    for r in shoot.records:
        assert r["path"].split("/")[1] == r["shot"]
    for i in range(N_PRODUCTS):  # index_in_product counts the product's photos in regulation order
        mine = [r for r in shoot.records if r["product"] == str(i)]
        assert [int(r["index_in_product"]) for r in mine] == list(range(len(mine)))
        assert [r["shot"] for r in mine] == list(SHOT_TYPES)


def test_same_seed_same_bytes_whatever_the_workers(shoot, tmp_path):
    again = shots(tmp_path / "again", N_PRODUCTS, size=SIZE, seed=0, workers=2, progress=False,
                  missing_rate=0.0, extra_rate=0.0)
    assert again.records == shoot.records
    for r in shoot.records:
        assert (again.root / r["path"]).read_bytes() == (shoot.root / r["path"]).read_bytes()
    other = render_shot(1, 0, "far_front", SIZE)
    with Image.open(shoot.root / "images/far_front/p00000_far_front_0.png") as im:
        assert np.abs(np.asarray(im, np.int16) - np.asarray(other, np.int16)).mean() > 1
    second = render_shot(0, 0, "far_front", SIZE, k=1)  # a second photo of a type is another take
    assert not np.array_equal(np.asarray(second), np.asarray(render_shot(0, 0, "far_front", SIZE)))


def test_plans_skip_and_repeat_types_so_galleries_differ():
    plans = [plan(0, i) for i in range(400)]
    firsts = sum(1 for p in plans for _, k in p if k == 0)
    missing = 1 - firsts / (400 * len(SHOT_TYPES))
    extras = sum(1 for p in plans if any(k == 1 for _, k in p)) / 400
    assert 0.1 < missing < 0.2 and 0.05 < extras < 0.16
    assert len({tuple(p) for p in plans}) > 200  # a full gallery is 0.85 ** 17 = 6% of them
    for p in plans:
        assert p == sorted(p, key=lambda tk: (SHOT_TYPES.index(tk[0]), tk[1]))
    assert plan(0, 7) == plan(0, 7)
    assert all(plan(0, i, missing_rate=0.999) for i in range(50))  # never an empty gallery
    assert len(plan(0, 0, per_product=20)) == 20 and len({t for t, _ in plan(0, 0, per_product=5)}) == 5
    assert {t for t, _ in plan(0, 0, ["hem", "sleeve"], missing_rate=0.0)} == {"hem", "sleeve"}


def test_galleries_copy_shuffled_and_leave_the_originals(shoot, tmp_path):
    before = {r["path"]: ((shoot.root / r["path"]).stat().st_mtime_ns, _digest(shoot.root / r["path"])) for r in shoot.records}
    root = galleries(tmp_path, shoot, seed=0)
    assert root == tmp_path.resolve() / "galleries"
    after = {r["path"]: ((shoot.root / r["path"]).stat().st_mtime_ns, _digest(shoot.root / r["path"])) for r in shoot.records}
    assert after == before

    truth = _rows(root / "truth.csv")
    assert tuple(truth[0]) == GALLERY_COLUMNS
    copies = sorted(p.relative_to(root).as_posix() for p in root.glob("p*/*.png"))
    assert sorted(t["file"] for t in truth) == copies
    originals = {_digest(shoot.root / r["path"]): r for r in shoot.records}
    shuffled = False
    for i in range(N_PRODUCTS):
        mine = [t for t in truth if t["product"] == str(i)]
        assert [t["file"] for t in sorted(mine, key=lambda t: t["file"])] == [
            f"p{i:05d}/img_{n:02d}.png" for n in range(1, len(mine) + 1)
        ]
        for t in mine:
            source = originals[_digest(root / t["file"])]  # the copy is byte for byte one original...
            assert (source["product"], source["shot"]) == (t["product"], t["shot"])  # ...of that product and shot
        shots_in_file_order = [t["shot"] for t in sorted(mine, key=lambda t: t["file"])]
        assert Counter(shots_in_file_order) == Counter(SHOT_TYPES)
        shuffled |= shots_in_file_order != list(SHOT_TYPES)
    assert shuffled
    assert galleries(tmp_path, shoot.root, seed=0) == root  # from the folder too, and again over the old one
    assert _rows(root / "truth.csv") == truth


def _median_colour(image: Image.Image) -> np.ndarray:
    return np.median(np.asarray(image, np.float32).reshape(-1, 3), axis=0)


def test_a_products_photos_share_its_garment():
    assert product(0, 3) == product(0, 3)
    # Median colours: a print crop is closer to a near zoom of the same product than to other products'.
    # Products may share a colour by chance, so compare averages, not each product's nearest neighbour.
    n = 8
    prints = np.array([_median_colour(render_shot(0, i, "print", SIZE)) for i in range(n)])
    zooms = np.array([_median_colour(render_shot(0, i, "near_zoom", SIZE)) for i in range(n)])
    d = np.linalg.norm(prints[:, None] - zooms[None], axis=-1)
    same, other = np.diag(d).mean(), d[~np.eye(n, dtype=bool)].mean()
    assert same < 0.5 * other


def test_plot_and_json(shoot, tmp_path):
    path = shoot.plot(tmp_path / "sheet.png", n_products=2)
    with Image.open(path) as im:
        cell = SIZE * (96 // SIZE)
        assert im.size == (len(SHOT_TYPES) * (cell + 4) + 4, 2 * (cell + 12 + 4) + 4)
    info = shoot.to_json()
    assert info["n"] == len(shoot) == N_PRODUCTS * len(SHOT_TYPES)
    assert info["products"] == N_PRODUCTS and info["counts"] == shoot.counts()
    assert Shots.load(shoot.root).records == shoot.records


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown shot type"):
        render_shot(0, 0, "selfie")
    with pytest.raises(ValueError, match="shot types"):
        shots(tmp_path, 1, types=["selfie"], progress=False)
    with pytest.raises(ValueError, match="size"):
        shots(tmp_path, 1, size=8, progress=False)
