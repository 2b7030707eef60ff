"""Detector training, prediction and shop-the-look on an easy synthetic set."""
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modiste.data.images import BadImageWarning
from modiste.detect.loss import match_batch, multibox_loss
from modiste.detect.model import Detections, Detector
from modiste.detect.train import DetectConfig, train_detector
from modiste.nn.registry import create_model

SIDE = 64
CLASSES = ["tall", "wide"]


def easy_set(root, n=64, seed=0):
    """White images with one or two shapes: red tall rectangles and blue wide ellipses, as COCO JSON."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(n):
        im = Image.new("RGB", (SIDE, SIDE), (255, 255, 255))
        draw = ImageDraw.Draw(im)
        for _ in range(rng.integers(1, 3)):
            c = int(rng.integers(2))
            w, h = (rng.integers(10, 18), rng.integers(24, 40)) if c == 0 else (rng.integers(24, 40), rng.integers(10, 18))
            x, y = rng.integers(0, SIDE - w), rng.integers(0, SIDE - h)
            box = [int(x), int(y), int(x + w), int(y + h)]
            if c == 0:
                draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=(220, 30, 30))
            else:
                draw.ellipse([box[0], box[1], box[2] - 1, box[3] - 1], fill=(30, 60, 220))
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": c + 1, "iscrowd": 0,
                         "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]], "area": float(w * h)})
        im.save(root / "images" / f"{i:03d}.png")
        images.append({"id": i + 1, "file_name": f"{i:03d}.png", "width": SIDE, "height": SIDE})
    cats = [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)]
    (root / "annotations.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return root / "annotations.json"


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    return easy_set(tmp_path_factory.mktemp("easy"))


@pytest.fixture(scope="module")
def trained(easy, tmp_path_factory):
    out = tmp_path_factory.mktemp("det") / "run"
    cfg = DetectConfig(data=str(easy), out=str(out), backbone="micro", weights="none", size=SIDE, epochs=25, batch=8, lr=3e-3, augment=False,
                       val_fraction=0.25, workers=0, device="cpu")
    train_detector(cfg, progress=False)
    return out


def test_loss_falls_over_a_few_steps():
    torch.manual_seed(0)
    net = create_model("ssd_convnext", num_classes=2, image_size=SIDE, extra_width=16)
    x = torch.rand(4, 3, SIDE, SIDE) * 2 - 1
    boxes = [torch.tensor([[0.1, 0.1, 0.4, 0.8]]), torch.tensor([[0.5, 0.5, 0.9, 0.7]]),
             torch.zeros(0, 4), torch.tensor([[0.2, 0.2, 0.3, 0.6], [0.6, 0.1, 0.9, 0.3]])]
    labels = [torch.tensor([0]), torch.tensor([1]), torch.zeros(0, dtype=torch.long), torch.tensor([0, 1])]
    loc_t, lab_t = match_batch(boxes, labels, net.priors)
    assert all(int((lab_t[i] > 0).sum()) >= len(b) for i, b in enumerate(boxes))  # every ground truth matched
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(8):
        loss, parts = multibox_loss(*net(x), loc_t, lab_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.slow
def test_short_training_reaches_a_clearly_nontrivial_map(trained):
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["best"]["map50"] > 0.5
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["loss"] < rows[0]["loss"]
    for name in ("curves.png", "pr_curve.png", "val_metrics.json", "checkpoints/best.safetensors"):
        assert (trained / name).exists(), name


@pytest.mark.slow
def test_predict_round_trips_through_json(trained, easy, tmp_path):
    det = Detector.load(trained, score_threshold=0.3)
    files = sorted((easy.parent / "images").glob("*.png"))[:3]
    results = det.predict(files, tmp_path / "pred")
    assert len(results) == 3 and sum(len(r) for r in results) > 0
    for r in results:
        back = Detections.from_json(json.loads((tmp_path / "pred" / f"{r.path.split('/')[-1][:-4]}.json").read_text()),
                                    CLASSES)
        assert torch.allclose(back.boxes, r.boxes, atol=0.01) and torch.equal(back.labels, r.labels)
        assert (tmp_path / "pred" / f"{r.path.split('/')[-1][:-4]}.jpg").exists()
        assert ((r.boxes >= 0) & (r.boxes <= SIDE)).all()


@pytest.mark.slow
def test_a_corrupt_image_is_skipped_with_a_warning_naming_it(trained, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    good = tmp_path / "gray.png"
    Image.new("L", (80, 50), 200).save(good)  # greyscale and another size also work
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = Detector.load(trained).predict([bad, good])
    assert [r.path for r in results] == [str(good)]
    assert any("broken.jpg" in str(w.message) for w in caught if issubclass(w.category, BadImageWarning))


def test_resume_continues_to_the_same_weights(easy, tmp_path):
    def cfg(out, epochs):
        return DetectConfig(data=str(easy), out=str(out), backbone="micro", weights="none", size=SIDE, epochs=epochs, batch=16, augment=True,
                            workers=0, device="cpu")

    train_detector(cfg(tmp_path / "a", 2), progress=False)
    train_detector(cfg(tmp_path / "b", 1), progress=False)
    train_detector(cfg(tmp_path / "b", 2), resume=True, progress=False)
    from modiste.nn import checkpoint

    a, _ = checkpoint.read(tmp_path / "a" / "checkpoints" / "latest.safetensors")
    b, _ = checkpoint.read(tmp_path / "b" / "checkpoints" / "latest.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))


def test_the_default_detector_is_ssdlite_on_imagenet_efficientnet(easy, tmp_path, monkeypatch):
    from modiste.nn.pretrained import imagenet_state

    monkeypatch.setenv("MODISTE_CACHE", str(tmp_path / "cache"))
    cfg = DetectConfig(data=str(easy), out=str(tmp_path / "run"), size=SIDE, epochs=1, batch=16, lr=1e-9,
                       augment=False, workers=0, device="cpu")
    assert (cfg.backbone, cfg.weights) == ("efficientnet_lite0", "imagenet")
    train_detector(cfg, progress=False)
    det = Detector.load(tmp_path / "run")
    assert type(det.net.backbone).__name__ == "EfficientNetLite"
    # started from the released weights (a learning rate of 1e-9 leaves them where they were)
    reference = imagenet_state("efficientnet_lite0")
    for key in ("stem.0.weight", "blocks.10.depthwise.0.weight"):
        assert torch.allclose(det.net.backbone.state_dict()[key], reference[key], atol=1e-6), key
    with pytest.raises(ValueError, match="not resnet_r18"):
        DetectConfig(data=str(easy), backbone="r18")
