"""Reading detection datasets: COCO and YOLO agree, bad boxes and bad files are dropped with a warning naming them."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from modiste.data.datasets import BadSample
from modiste.data.images import BadImageWarning
from modiste.data.loading import SkipLog
from modiste.data.synth import SCENE_CATEGORIES, scenes
from modiste.detect.data import DetectionDataset, DetectionSample, detection_collate, letterbox
from modiste.detect.formats import label_path, read_coco, read_detection, read_yolo
from modiste.detect.records import BadBoxWarning, DetectionRecord

W, H = 40, 30


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return scenes(tmp_path_factory.mktemp("scenes"), n=8, size=(120, 160), workers=1, progress=False)


def _image(path, size=(W, H)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 150)).save(path)
    return path


def _yolo(root, lines: dict[str, str], names="[a, b]"):
    """A YOLO folder: images/<name>.jpg with labels/<name>.txt holding ``lines[name]``."""
    for name, text in lines.items():
        _image(root / "images" / f"{name}.jpg")
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / f"{name}.txt").write_text(text)
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images\nval: images\nnames: {names}\n")
    return root / "data.yaml"


def _coco(root, annotations, images=None):
    _image(root / "a.jpg")
    data = {
        "images": images or [{"id": 1, "file_name": "a.jpg", "width": W, "height": H}],
        "annotations": [{"id": i + 1, "image_id": 1, "iscrowd": 0, **a} for i, a in enumerate(annotations)],
        "categories": [{"id": 3, "name": "b"}, {"id": 1, "name": "a"}],
    }
    path = root / "ann.json"
    path.write_text(json.dumps(data))  # json writes NaN as the bare literal, which json.loads reads back
    return path


def _messages(record, kind):
    return [str(w.message) for w in record if issubclass(w.category, kind)]


def test_coco_and_yolo_give_the_same_boxes_for_the_scenes(made):
    coco, coco_names = read_coco(made.coco)
    train, yolo_names = read_yolo(made.yaml, "train")
    val, _ = read_yolo(made.yaml, "val")
    assert coco_names == yolo_names == list(SCENE_CATEGORIES)
    assert len(coco) == len(train) + len(val) == 8
    by_name = {r.path.name: r for r in coco}
    for r in train + val:
        c = by_name[r.path.name]
        assert (r.width, r.height) == (c.width, c.height) == (120, 160)
        assert torch.equal(r.labels, c.labels)
        assert r.boxes.shape == c.boxes.shape and torch.allclose(r.boxes, c.boxes, atol=1.0)
        assert r.boxes.dtype == torch.float32 and r.labels.dtype == torch.long
    assert sum(len(r.labels) for r in coco) == sum(map(len, made.images))
    assert [r.path.name for r in read_detection(made.root, split="val")[0]] == [r.path.name for r in val]
    assert len(read_detection(made.coco)[0]) == 8


def test_out_of_range_boxes_are_clipped_with_a_warning_naming_the_file(tmp_path):
    data = _yolo(tmp_path, {"a": "0 0.5 0.5 0.4 0.4\n1 0.9 0.5 0.6 0.2\n"})
    with pytest.warns(BadBoxWarning) as record:
        records, names = read_yolo(data)
    assert names == ["a", "b"]
    (rec,) = records
    assert torch.allclose(rec.boxes, torch.tensor([[12.0, 9.0, 28.0, 21.0], [24.0, 12.0, 40.0, 18.0]]))
    assert rec.labels.tolist() == [0, 1]
    (msg,) = _messages(record, BadBoxWarning)
    assert str(tmp_path / "labels" / "a.txt") in msg and "line 2" in msg and "clipped" in msg


def test_empty_nan_malformed_and_unknown_boxes_are_dropped_with_a_warning(tmp_path):
    lines = "\n".join([
        "0 0.5 0.5 0.5 0.5",  # kept
        "1 0.5 0.5 0.0 0.3",  # no width
        "0 1.5 0.5 0.2 0.2",  # wholly outside: empty once clipped
        "0 nan 0.5 0.2 0.2",
        "0 0.5 0.5",  # too few fields
        "x 0.5 0.5 0.2 0.2",  # not a number
        "7 0.5 0.5 0.2 0.2",  # no class 7
        "1 0.1 0.1 0.3 0.1 0.2 0.4",  # a polygon: kept as its box
    ]) + "\n"
    data = _yolo(tmp_path, {"a": lines})
    with pytest.warns(BadBoxWarning) as record:
        (rec,), _ = read_yolo(data)
    assert rec.labels.tolist() == [0, 1]
    assert torch.allclose(rec.boxes, torch.tensor([[10.0, 7.5, 30.0, 22.5], [4.0, 3.0, 12.0, 12.0]]))
    (msg,) = _messages(record, BadBoxWarning)
    assert str(tmp_path / "labels" / "a.txt") in msg
    for n in (2, 3, 4, 5, 6):
        assert f"line {n}:" in msg
    assert "line 4: box (nan, 12, nan, 18) is not finite" in msg
    assert msg.endswith("; and 1 more")  # line 7, past the first five problems


def test_coco_bad_boxes_and_unknown_category(tmp_path):
    path = _coco(tmp_path, [
        {"category_id": 3, "bbox": [10, 5, 10, 10]},  # kept: class "b" is label 1 (ids sorted)
        {"category_id": 1, "bbox": [30, 20, 20, 20]},  # clipped
        {"category_id": 1, "bbox": [5, 5, 0, 4]},  # empty
        {"category_id": 1, "bbox": [float("nan"), 1, 2, 2]},
        {"category_id": 9, "bbox": [1, 1, 5, 5]},  # unknown category
        {"category_id": 1, "bbox": "wide"},
        {"category_id": 1, "bbox": [0, 0, 40, 30], "iscrowd": 1},  # a crowd region: left out quietly
    ])
    with pytest.warns(BadBoxWarning) as record:
        (rec,), names = read_coco(path)
    assert names == ["a", "b"]
    assert rec.labels.tolist() == [1, 0]
    assert torch.allclose(rec.boxes, torch.tensor([[10.0, 5.0, 20.0, 15.0], [30.0, 20.0, 40.0, 30.0]]))
    (msg,) = _messages(record, BadBoxWarning)
    assert str(path) in msg and "a.jpg" in msg
    assert "annotation 2: box (30, 20, 50, 40) clipped" in msg and "unknown category_id 9" in msg
    assert "annotation 3" in msg and "annotation 4" in msg and "annotation 6" in msg


def test_no_warning_for_clean_files(made):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_coco(made.coco)
        read_yolo(made.yaml, "val")


def test_missing_and_unreadable_images_are_skipped_with_a_warning(tmp_path):
    path = _coco(tmp_path, [], images=[
        {"id": 1, "file_name": "a.jpg", "width": W, "height": H},
        {"id": 2, "file_name": "gone.jpg", "width": W, "height": H},
    ])
    with pytest.warns(BadImageWarning, match="gone.jpg: file not found"):
        records, _ = read_coco(path)
    assert [r.path.name for r in records] == ["a.jpg"]

    data = _yolo(tmp_path / "y", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "0 0.5 0.5 0.2 0.2\n"})
    (tmp_path / "y" / "images" / "b.jpg").write_bytes(b"not an image at all")
    (tmp_path / "y" / "list.txt").write_text("./images/a.jpg\n./images/b.jpg\n./images/c.jpg\n")
    (tmp_path / "y" / "data.yaml").write_text(data.read_text().replace("train: images", "train: list.txt"))
    with pytest.warns(BadImageWarning) as record:
        records, _ = read_yolo(data, "train")
    assert [r.path.name for r in records] == ["a.jpg"]
    msgs = _messages(record, BadImageWarning)
    assert any("b.jpg" in m and "header" in m for m in msgs) and any("c.jpg: file not found" in m for m in msgs)


def test_a_corrupt_image_is_a_bad_sample_that_the_loop_skips_with_a_warning(tmp_path):
    good = _image(tmp_path / "good.jpg")
    full = _image(tmp_path / "cut.jpg", (64, 48)).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(full[: len(full) // 2])  # a valid header, half the data
    records = [
        DetectionRecord(good, [[1.0, 2.0, 10.0, 12.0]], [1], W, H),
        DetectionRecord(tmp_path / "cut.jpg", [[1.0, 2.0, 10.0, 12.0]], [0], 64, 48),
        DetectionRecord(good, [[1.0, 2.0, 10.0, 12.0]], [0], 50, 50),  # boxes made for another size
    ]
    ds = DetectionDataset(records)
    assert isinstance(ds[0], DetectionSample) and ds[0].image.shape == (3, H, W) and ds[0].image.dtype == torch.uint8
    assert isinstance(ds[1], BadSample) and isinstance(ds[2], BadSample)
    batch = detection_collate([ds[i] for i in range(3)])
    assert len(batch) == 1 and batch.images.shape == (1, 3, H, W) and batch.indices.tolist() == [0]
    assert [b.path for b in batch.bad] == [str(tmp_path / "cut.jpg"), str(good)]
    with pytest.warns(BadImageWarning) as record:
        SkipLog().record(batch.bad)
    cut, size = _messages(record, BadImageWarning)
    assert f"{tmp_path / 'cut.jpg'}: truncated or corrupt" in cut and "boxes are for 50x50" in size


def test_malformed_json_and_yaml_raise_naming_the_file(tmp_path):
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"images": [')
    with pytest.raises(ValueError, match="broken.json"):
        read_coco(bad_json)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="list.json"):
        read_detection(tmp_path / "list.json")
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("train: [images\nnames: {0: a\n")
    with pytest.raises(ValueError, match="broken.yaml"):
        read_yolo(bad_yaml)
    (tmp_path / "nonames.yaml").write_text("train: images\n")
    with pytest.raises(ValueError, match="nonames.yaml"):
        read_yolo(tmp_path / "nonames.yaml")


def test_yolo_names_as_dict_and_label_paths(tmp_path):
    data = _yolo(tmp_path, {"a": "1 0.5 0.5 0.5 0.5\n"}, names="{0: shirt, 1: shoe}")
    (rec,), names = read_yolo(data, "val")
    assert names == ["shirt", "shoe"] and rec.labels.tolist() == [1]
    assert str(label_path("/d/images/train/images/x.png")) == "/d/images/train/labels/x.txt"  # the last 'images'
    assert str(label_path("/d/images/train/x.jpg")) == "/d/labels/train/x.txt"
    assert str(label_path("/d/pics/x.jpg")) == "/d/pics/x.txt"


def test_transform_gets_a_generator_and_collate_keeps_mixed_sizes_as_a_list(tmp_path):
    a, b = _image(tmp_path / "a.jpg"), _image(tmp_path / "b.jpg", (20, 20))
    seen = []

    def flip(image, boxes, labels, rng):
        seen.append(isinstance(rng, np.random.Generator))
        return image.flip(-1), boxes, labels

    ds = DetectionDataset([DetectionRecord(a, [], [], W, H), DetectionRecord(b, [], [], 20, 20)], transform=flip)
    batch = detection_collate([ds[0], ds[1]])
    assert seen == [True, True] and isinstance(batch.images, list) and [len(b) for b in batch.boxes] == [0, 0]


def test_letterbox_maps_boxes_and_back():
    image = torch.randint(0, 255, (3, 30, 60), dtype=torch.uint8)
    boxes = torch.tensor([[0.0, 0.0, 60.0, 30.0], [10.0, 5.0, 20.0, 25.0]])
    out, mapped, how = letterbox(image, boxes, 32)
    assert out.shape == (3, 32, 32) and out.dtype == torch.uint8
    assert torch.allclose(mapped[0], torch.tensor([0.0, 8.0, 32.0, 24.0]))
    assert (out[:, :8] == 114).all() and (out[:, 24:] == 114).all()
    assert torch.allclose(how.invert(mapped), boxes, atol=1e-4)
    same, kept, _ = letterbox(image, boxes, (30, 60))
    assert torch.equal(same, image) and torch.equal(kept, boxes)
