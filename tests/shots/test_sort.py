import csv
import json
import os
import random

import pytest

from modiste.io import file_sha1
from modiste.shots.regulation import SHOT_TYPES, Regulation
from modiste.shots.sort import (Photo, evaluate_order, kendall_tau, read_galleries, sort_gallery,
                                true_order)

REG = Regulation.from_dict({
    "name": "test",
    "order": ["near_front", ["far_front", "far_side"], "other", "brand_tag"],
    "categories": {"bottoms": {"order": ["hem", "other"]}},
})


def photos(*specs):
    """specs: (shot, confidence) in original order."""
    return [Photo(f"g/{i:02d}.jpg", s, c, i) for i, (s, c) in enumerate(specs)]


def shots(gallery):
    return [(it.shot, it.index) for it in gallery.items]


def test_sorts_by_rank_and_keeps_original_order_within_a_rank():
    ps = photos(("brand_tag", .9), ("far_side", .9), ("collar", .9), ("near_front", .9),
                ("far_front", .9), ("hem", .9), ("far_side", .3))
    g = sort_gallery(ps, REG)
    assert shots(g) == [("near_front", 3), ("far_side", 1), ("far_front", 4), ("far_side", 6),
                        ("collar", 2), ("hem", 5), ("brand_tag", 0)]
    assert [it.position for it in g.items] == list(range(1, 8))
    assert [it.rank for it in g.items] == [0, 1, 1, 1, 2, 2, 3]
    assert g.product == "g"
    # the input list's order does not matter, only each photo's index
    for seed in range(5):
        shuffled = ps[:]
        random.Random(seed).shuffle(shuffled)
        assert sort_gallery(shuffled, REG).items == g.items


def test_confidence_tie_break_puts_surer_photos_first_then_index():
    reg = Regulation.from_dict({"order": [["far_front", "far_side"], "other"], "tie_break": "confidence"})
    ps = photos(("far_side", .6), ("far_front", .9), ("collar", .99), ("far_side", .9), ("far_front", .7))
    assert shots(sort_gallery(ps, reg)) == [("far_front", 1), ("far_side", 3), ("far_front", 4),
                                            ("far_side", 0), ("collar", 2)]


def test_category_chooses_its_order_and_unknown_category_falls_back():
    ps = photos(("near_front", .9), ("hem", .9))
    assert shots(sort_gallery(ps, REG, category="bottoms")) == [("hem", 1), ("near_front", 0)]
    assert shots(sort_gallery(ps, REG, category="shoes")) == [("near_front", 0), ("hem", 1)]
    assert shots(sort_gallery(ps, REG)) == [("near_front", 0), ("hem", 1)]


def limited(overflow, tie_break="original"):
    return Regulation.from_dict({"order": ["near_zoom", "other"], "limits": {"near_zoom": 2},
                                 "overflow": overflow, "tie_break": tie_break})


ZOOMS = photos(("near_zoom", .5), ("back", .9), ("near_zoom", .9), ("near_zoom", .8), ("near_zoom", .95))


def test_limit_with_overflow_end_puts_extras_last_and_marks_them():
    g = sort_gallery(ZOOMS, limited("end"))
    assert shots(g) == [("near_zoom", 0), ("near_zoom", 2), ("back", 1), ("near_zoom", 3), ("near_zoom", 4)]
    assert [it.overflow for it in g.items] == [False, False, False, True, True]
    assert [it.position for it in g.items] == [1, 2, 3, 4, 5] and not any(it.dropped for it in g.items)
    # with the confidence tie-break the surest photos are the ones kept
    g = sort_gallery(ZOOMS, limited("end", "confidence"))
    assert shots(g)[:2] == [("near_zoom", 4), ("near_zoom", 2)]


def test_limit_with_overflow_drop_lists_but_does_not_publish():
    g = sort_gallery(ZOOMS, limited("drop"))
    assert [(it.index, it.position, it.dropped, it.overflow) for it in g.items] == [
        (0, 1, False, False), (2, 2, False, False), (1, 3, False, False), (3, None, True, True), (4, None, True, True)]
    assert [it.index for it in g.published] == [0, 2, 1]
    rows = g.to_rows()
    assert [r["new_name"] for r in rows] == ["01_00.jpg", "02_02.jpg", "03_01.jpg", None, None]


def test_limit_of_zero_sends_every_photo_of_that_type_to_overflow():
    reg = Regulation.from_dict({"order": ["other"], "limits": {"wash_tag": 0}})
    g = sort_gallery(photos(("wash_tag", .9), ("back", .9)), reg)
    assert shots(g) == [("back", 1), ("wash_tag", 0)] and g.items[1].overflow


def test_review_flag_below_threshold():
    ps = photos(("back", .2), ("back", .5), ("back", .49), ("back", 1.0))
    assert [it.review for it in sort_gallery(ps, REG).items] == [True, False, True, False]
    assert [it.review for it in sort_gallery(ps, REG, review_threshold=0.3).items] == [True, False, False, False]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="confidence"):
        sort_gallery([Photo("a.jpg", "back", float("nan"), 0)], REG)
    with pytest.raises(ValueError, match="confidence"):
        sort_gallery([Photo("a.jpg", "back", 1.5, 0)], REG)
    with pytest.raises(ValueError, match="index"):
        sort_gallery([Photo("a.jpg", "back", .5, 0), Photo("b.jpg", "back", .5, 0)], REG)
    with pytest.raises(ValueError, match="path"):
        sort_gallery([Photo("a.jpg", "back", .5, 0), Photo("a.jpg", "back", .5, 1)], REG)


@pytest.mark.parametrize("seed", range(20))
def test_no_photo_is_lost_or_repeated(seed):
    rng = random.Random(seed)
    types = rng.sample(SHOT_TYPES, 8)
    order = [types[0], types[1:3], "other", types[3]] if seed % 2 else [types[0], types[1:3], types[3]]
    reg = Regulation.from_dict({"order": order, "limits": {types[4]: rng.randint(0, 2), types[0]: 1},
                                "overflow": rng.choice(["end", "drop"]),
                                "tie_break": rng.choice(["original", "confidence"])})
    ps = [Photo(f"p/{i}.jpg", rng.choice(SHOT_TYPES), rng.choice([.1, .5, .9]), i) for i in range(rng.randint(0, 30))]
    g = sort_gallery(ps, reg)
    assert sorted(g.order) == sorted(p.path for p in ps)
    published = [it.position for it in g.items if not it.dropped]
    assert published == list(range(1, len(published) + 1))
    ranks = [it.rank for it in g.items if not it.overflow]
    assert ranks == sorted(ranks)


# --- saving ------------------------------------------------------------------------------------------

@pytest.fixture
def gallery(tmp_path):
    folder = tmp_path / "shirt"
    folder.mkdir()
    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    for i, n in enumerate(names):
        p = folder / n
        p.write_bytes(os.urandom(100) + n.encode())
        os.utime(p, ns=(1_000_000_000 * (i + 1), 1_000_000_000 * (i + 1)))
    return folder


def snapshot(folder):
    return {p.name: (file_sha1(p), p.stat().st_mtime_ns) for p in folder.iterdir()}


def predicted(folder, specs):
    return [Photo(folder / n, s, c, i) for i, (n, s, c) in enumerate(specs)]


SPECS = [("a.jpg", "brand_tag", .9), ("b.jpg", "near_front", .4), ("c.jpg", "collar", .9), ("d.jpg", "far_side", .8)]


def test_save_with_copies_leaves_originals_untouched(tmp_path, gallery):
    before = snapshot(gallery)
    g = sort_gallery(predicted(gallery, SPECS), REG)
    folder = g.save(tmp_path / "out", copy=True)
    assert folder == tmp_path / "out" / "shirt"
    assert snapshot(gallery) == before
    assert sorted(p.name for p in folder.iterdir()) == ["01_b.jpg", "02_d.jpg", "03_c.jpg", "04_a.jpg",
                                                         "order.csv", "order.json"]
    for name in ("01_b.jpg", "02_d.jpg", "03_c.jpg", "04_a.jpg"):
        assert file_sha1(folder / name) == before[name[3:]][0]
    with open(folder / "order.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["position"], r["shot"], r["review"]) for r in rows] == [
        ("1", "near_front", "true"), ("2", "far_side", "false"), ("3", "collar", "false"), ("4", "brand_tag", "false")]
    d = json.loads((folder / "order.json").read_text())
    assert d["format"] == "modiste-shot-order" and d["regulation"] == "test" and len(d["photos"]) == 4
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_save_without_copies_writes_only_the_order(tmp_path, gallery):
    g = sort_gallery(predicted(gallery, SPECS), REG)
    folder = g.save(tmp_path / "out", prefix_width=3)
    assert sorted(p.name for p in folder.iterdir()) == ["order.csv", "order.json"]
    assert json.loads((folder / "order.json").read_text())["photos"][0]["new_name"] == "001_b.jpg"


def test_save_refuses_the_gallery_itself(tmp_path, gallery):
    before = snapshot(gallery)
    g = sort_gallery(predicted(gallery, SPECS), REG)
    with pytest.raises(ValueError, match="gallery"):
        g.save(gallery, copy=True)
    with pytest.raises(ValueError, match="gallery"):
        g.save(tmp_path, copy=True)  # tmp_path / "shirt" is the gallery
    assert snapshot(gallery) == before


def test_save_refuses_to_overwrite_foreign_files(tmp_path, gallery):
    g = sort_gallery(predicted(gallery, SPECS), REG)
    out = tmp_path / "out" / "shirt"
    out.mkdir(parents=True)
    (out / "01_b.jpg").write_bytes(b"someone else's")
    with pytest.raises(FileExistsError, match="01_b.jpg"):
        g.save(tmp_path / "out", copy=True)
    assert (out / "01_b.jpg").read_bytes() == b"someone else's"
    assert sorted(p.name for p in out.iterdir()) == ["01_b.jpg"]  # refused before writing anything
    (out / "01_b.jpg").unlink()
    (out / "order.csv").write_text("mine\n")
    with pytest.raises(FileExistsError, match="order.csv"):
        g.save(tmp_path / "out")
    assert (out / "order.csv").read_text() == "mine\n"


def test_save_again_replaces_its_own_outputs_only(tmp_path, gallery):
    out = tmp_path / "out"
    sort_gallery(predicted(gallery, SPECS), REG).save(out, copy=True)
    (out / "shirt" / "notes.txt").write_text("keep me")
    # a new prediction changes the order: the old copies give way to the new ones
    specs = [("a.jpg", "near_front", .9)] + SPECS[1:]
    folder = sort_gallery(predicted(gallery, specs), REG).save(out, copy=True)
    assert sorted(p.name for p in folder.iterdir()) == ["01_a.jpg", "02_b.jpg", "03_d.jpg", "04_c.jpg",
                                                         "notes.txt", "order.csv", "order.json"]
    assert file_sha1(folder / "01_a.jpg") == file_sha1(gallery / "a.jpg")
    # a copy someone edited is not overwritten
    (folder / "02_b.jpg").write_bytes(b"retouched")
    with pytest.raises(FileExistsError, match="changed"):
        sort_gallery(predicted(gallery, specs), REG).save(out, copy=True)
    assert (folder / "02_b.jpg").read_bytes() == b"retouched"


def test_dropped_photos_are_listed_not_copied_and_not_deleted(tmp_path, gallery):
    before = snapshot(gallery)
    reg = Regulation.from_dict({"order": ["near_zoom", "other"], "limits": {"near_zoom": 1}, "overflow": "drop"})
    specs = [(n, "near_zoom", .9) for n in ("a.jpg", "b.jpg", "c.jpg")] + [("d.jpg", "back", .9)]
    folder = sort_gallery(predicted(gallery, specs), reg).save(tmp_path / "out", copy=True)
    assert sorted(p.name for p in folder.glob("*.jpg")) == ["01_a.jpg", "02_d.jpg"]
    with open(folder / "order.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["path"].split(os.sep)[-1], r["position"], r["dropped"]) for r in rows] == [
        ("a.jpg", "1", "false"), ("d.jpg", "2", "false"), ("b.jpg", "", "true"), ("c.jpg", "", "true")]
    assert snapshot(gallery) == before


# --- reading galleries ------------------------------------------------------------------------------

def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_read_one_folder_in_natural_name_order(tmp_path):
    for n in ("10.jpg", "2.JPG", "1.png", "notes.txt", ".hidden.jpg", "img_b.jpeg"):
        touch(tmp_path / "dress" / n)
    (tmp_path / "dress" / "sub").mkdir()
    got = read_galleries(tmp_path / "dress")
    assert list(got) == ["dress"]
    assert [p.name for p in got["dress"]] == ["1.png", "2.JPG", "10.jpg", "img_b.jpeg"]


def test_read_folder_of_product_folders(tmp_path):
    touch(tmp_path / "p2" / "b.jpg"), touch(tmp_path / "p2" / "a.jpg"), touch(tmp_path / "p10" / "x.png")
    (tmp_path / "empty").mkdir()
    got = read_galleries(tmp_path)
    assert list(got) == ["p2", "p10"]
    assert [p.name for p in got["p2"]] == ["a.jpg", "b.jpg"]


def test_read_csv_with_paths_relative_to_it(tmp_path):
    touch(tmp_path / "img" / "s1_b.jpg"), touch(tmp_path / "img" / "s1_a.jpg"), touch(tmp_path / "img" / "s2.jpg")
    (tmp_path / "list.csv").write_text("path,product,shot\nimg/s1_b.jpg,shirt,back\nimg/s2.jpg,skirt,hem\n"
                                       "img/s1_a.jpg,shirt,collar\n")
    got = read_galleries(tmp_path / "list.csv")
    assert got == {"shirt": [tmp_path / "img" / "s1_a.jpg", tmp_path / "img" / "s1_b.jpg"],
                   "skirt": [tmp_path / "img" / "s2.jpg"]}
    (tmp_path / "bad.csv").write_text("file,product\nimg/s2.jpg,skirt\n")
    with pytest.raises(ValueError, match="path"):
        read_galleries(tmp_path / "bad.csv")
    (tmp_path / "twice.csv").write_text("path,product\nimg/s2.jpg,skirt\nimg/s2.jpg,shirt\n")
    with pytest.raises(ValueError, match="twice"):
        read_galleries(tmp_path / "twice.csv")


def test_read_nothing_found(tmp_path):
    with pytest.raises(ValueError, match="no photos"):
        read_galleries(tmp_path)


# --- evaluation ---------------------------------------------------------------------------------------

def test_kendall_tau_known_cases():
    assert kendall_tau([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / (3 * 2) ** 0.5)  # tau-b with a tie
    assert kendall_tau([1], [1]) != kendall_tau([1], [1])  # NaN
    assert kendall_tau([1, 1], [1, 2]) != kendall_tau([1, 1], [1, 2])


@pytest.mark.parametrize("seed", range(30))
def test_kendall_tau_matches_scipy(seed):
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(seed)
    n = rng.randint(2, 40)
    x = list(range(n))
    y = x[:]
    rng.shuffle(y)
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y)[0], abs=1e-12)
    a, b = [rng.randint(0, 4) for _ in range(n)], [rng.randint(0, 4) for _ in range(n)]  # with ties
    want = stats.kendalltau(a, b)[0]
    got = kendall_tau(a, b)
    assert (got != got and want != want) or got == pytest.approx(want, abs=1e-12)


def test_evaluate_order_hand_cases():
    truth = {"a": ["1", "2", "3", "4"], "b": ["x", "y"], "c": ["only"]}
    pred = {"a": ["1", "2", "4", "3"], "b": ["x", "y"], "c": ["only"]}
    r = evaluate_order(pred, truth)
    assert r["galleries"] == 3 and r["photos"] == 7
    assert r["exact_order"] == pytest.approx(2 / 3)
    assert r["position_accuracy"] == pytest.approx(5 / 7)
    assert r["per_gallery"]["a"]["kendall_tau"] == pytest.approx(4 / 6)
    assert r["tau_galleries"] == 2 and r["kendall_tau"] == pytest.approx((4 / 6 + 1) / 2)  # "c" has no pairs
    assert r["per_gallery"]["c"] == {"photos": 1, "exact": True, "kendall_tau": None, "position_accuracy": 1.0}
    r = evaluate_order({"a": ["4", "3", "2", "1"]}, {"a": ["1", "2", "3", "4"]})
    assert (r["exact_order"], r["kendall_tau"], r["position_accuracy"]) == (0.0, pytest.approx(-1.0), 0.0)
    assert evaluate_order({"c": ["only"]}, {"c": ["only"]})["kendall_tau"] is None


def test_evaluate_order_paths_and_strings_compare_equal_and_mismatches_fail(tmp_path):
    assert evaluate_order({"a": [tmp_path / "1.jpg"]}, {"a": [str(tmp_path / "1.jpg")]})["exact_order"] == 1.0
    with pytest.raises(ValueError, match="same photos"):
        evaluate_order({"a": ["1", "2"]}, {"a": ["1", "3"]})
    with pytest.raises(ValueError, match="products"):
        evaluate_order({"a": ["1"]}, {"b": ["1"]})


def test_true_order_applies_the_regulation_to_true_labels():
    paths = ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "4.jpg"]
    labels = ["brand_tag", "far_side", "near_front", "far_front", "far_side"]
    assert true_order(paths, labels, REG) == ["2.jpg", "1.jpg", "3.jpg", "4.jpg", "0.jpg"]
    reg = Regulation.from_dict({"order": ["near_zoom", "other"], "limits": {"near_zoom": 1}, "overflow": "drop"})
    assert true_order(paths[:3], ["near_zoom", "back", "near_zoom"], reg) == ["0.jpg", "1.jpg", "2.jpg"]
    # perfect predictions score perfectly; a wrong label moves photos
    good = sort_gallery([Photo(p, s, .7, i) for i, (p, s) in enumerate(zip(paths, labels))], REG).order
    bad = sort_gallery([Photo(p, s, .7, i) for i, (p, s) in
                        enumerate(zip(paths, ["near_front"] + labels[1:]))], REG).order
    truth = {"g": true_order(paths, labels, REG)}
    assert evaluate_order({"g": good}, truth)["exact_order"] == 1.0
    assert evaluate_order({"g": bad}, truth)["exact_order"] == 0.0
