"""The image classifier behind ``modiste shots``: learning, resume, local weights, eval and predict."""
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file

from modiste.shots.model import ShotClassifier, write_predictions
from modiste.shots.train import ClassifyConfig, train_classifier
from modiste.data.images import BadImageWarning
from modiste.metrics.classification import classification_report, confusion_matrix
from modiste.nn import checkpoint
from modiste.nn.registry import create_model

CLASSES = ["circle", "columns", "stripes"]


def shapes(root, per_class=20, seed=0):
    """Three easy classes at 32 px: a disc, vertical bars, horizontal stripes; colours and places vary."""
    rng = np.random.default_rng(seed)
    for c in CLASSES:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            im = Image.new("RGB", (32, 32), tuple(int(v) for v in rng.integers(180, 256, 3)))
            d = ImageDraw.Draw(im)
            colour = tuple(int(v) for v in rng.integers(0, 120, 3))
            x, y, s = int(rng.integers(2, 12)), int(rng.integers(2, 12)), int(rng.integers(12, 18))
            if c == "circle":
                d.ellipse([x, y, x + s, y + s], fill=colour)
            elif c == "columns":
                for col in range(x % 6, 32, 6):
                    d.rectangle([col, 0, col + 2, 31], fill=colour)
            else:
                for row in range(y % 6, 32, 6):
                    d.rectangle([0, row, 31, row + 2], fill=colour)
            im.save(root / c / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return shapes(tmp_path_factory.mktemp("shapes"))


def config(out, data, **kw):
    return ClassifyConfig(**{**dict(data=str(data), out=str(out), backbone="micro", size=32, epochs=12, batch=12, lr=3e-3,
                                    val_fraction=0.25, workers=0, device="cpu"), **kw})


def test_metrics_against_a_hand_count():
    pred, true = [0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 0]
    assert confusion_matrix(pred, true, 3).tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]
    r = classification_report(pred, true, CLASSES)
    assert r["accuracy"] == pytest.approx(4 / 6)
    # circle: P 1/1 R 1/2; columns: P 1/2 R 1/1; stripes: P 2/3 R 2/3
    f1 = [2 * 0.5 / 1.5, 2 * 0.5 / 1.5, 2 / 3]
    assert r["macro_f1"] == pytest.approx(sum(f1) / 3)
    assert r["per_class"]["columns"]["precision"] == pytest.approx(0.5)


@pytest.mark.slow
def test_classifier_learns_a_tiny_set_and_evaluates(data, tmp_path):
    best = train_classifier(config(tmp_path / "run", data), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["loss"] < rows[0]["loss"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best"]["accuracy"] >= 0.8 and best.exists()
    clf = ShotClassifier.load(tmp_path / "run")
    r = clf.evaluate(data, tmp_path / "eval", workers=0, progress=False)
    assert r["images"] == 60 and r["accuracy"] >= 0.8
    assert (tmp_path / "eval" / "confusion.png").exists() and (tmp_path / "eval" / "eval.json").exists()


def test_predict_skips_a_corrupt_file_and_writes_csv_and_json(data, tmp_path):
    train_classifier(config(tmp_path / "run", data, epochs=1), progress=False)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    files = [data / "circle" / "00.png", bad, data / "stripes" / "03.png"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        preds = ShotClassifier.load(tmp_path / "run").predict(files)
    assert [p.path for p in preds] == [str(files[0]), str(files[2])]
    assert any("bad.png" in str(w.message) for w in caught if issubclass(w.category, BadImageWarning))
    assert all(p.label in CLASSES and 0 < p.confidence <= 1 for p in preds)
    assert all(abs(sum(p.probabilities) - 1) < 1e-3 for p in preds)
    text = write_predictions(preds, tmp_path / "p.csv").read_text().splitlines()
    assert text[0] == "path,label,confidence" and len(text) == 3
    assert len(json.loads(write_predictions(preds, tmp_path / "p.json").read_text())) == 2


def test_resume_is_exact(data, tmp_path):
    train_classifier(config(tmp_path / "a", data, epochs=2), progress=False)
    train_classifier(config(tmp_path / "b", data, epochs=1), progress=False)
    train_classifier(config(tmp_path / "b", data, epochs=2), resume=True, progress=False)
    a = ShotClassifier.load(tmp_path / "a" / "checkpoints" / "latest.safetensors").net.state_dict()
    b = ShotClassifier.load(tmp_path / "b" / "checkpoints" / "latest.safetensors").net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_local_weights_in_the_public_layout_start_training_with_a_new_head(data, tmp_path):
    torch.manual_seed(5)
    public = create_model("convnext_micro", num_classes=1000).state_dict()  # stem.0.weight, stages.0.blocks.0...
    assert "stem.0.weight" in public and "stages.0.blocks.0.conv_dw.weight" in public
    save_file({k: v.contiguous() for k, v in public.items()}, str(tmp_path / "public.safetensors"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the head is replaced: 1000 -> 3 classes, with a warning
        train_classifier(config(tmp_path / "run", data, epochs=1, lr=1e-12, weights=str(tmp_path / "public.safetensors")),
                         progress=False)
    net = ShotClassifier.load(tmp_path / "run" / "checkpoints" / "latest.safetensors").net
    assert net.head.fc.weight.shape == (3, net.head.fc.weight.shape[1])
    assert torch.allclose(net.stem[0].weight, public["stem.0.weight"], atol=1e-6)
    assert torch.allclose(net.stages[2].blocks[1].mlp.fc1.weight, public["stages.2.blocks.1.mlp.fc1.weight"], atol=1e-6)


def test_unlabelled_data_is_refused(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(ValueError, match="needs labels"):
        train_classifier(config(tmp_path / "run", tmp_path / "flat"), progress=False)


def test_resnet_baseline_trains_and_loads(data, tmp_path):
    best = train_classifier(config(tmp_path / "r", data, epochs=1, backbone="r10"), progress=False)
    clf = ShotClassifier.load(best)
    assert type(clf.net).__name__ == "ResNet" and clf.probabilities(torch.zeros(2, 3, 32, 32, dtype=torch.uint8)).shape == (2, 3)
    # a local file starts any backbone, strictly: its own layout loads, another network's is refused
    start = tmp_path / "r10.safetensors"
    save_file({k: v.contiguous() for k, v in clf.net.state_dict().items()}, str(start))
    again = train_classifier(config(tmp_path / "again", data, epochs=1, lr=1e-12, backbone="r10", weights=str(start)),
                             progress=False)
    assert torch.allclose(ShotClassifier.load(again).net.stem[0].weight, clf.net.stem[0].weight, atol=1e-6)
    with pytest.raises(ValueError, match="public.safetensors: does not fit resnet_r10: missing"):
        save_file({"stem.0.weight": torch.zeros(1)}, str(tmp_path / "public.safetensors"))
        train_classifier(config(tmp_path / "w", data, backbone="r10", weights=str(tmp_path / "public.safetensors")),
                         progress=False)


def test_pretrained_backbone_is_probed_then_fine_tuned(data, tmp_path, monkeypatch):
    """The default start: ImageNet EfficientNet-Lite0, its head fitted on frozen features first,
    then the whole network fine-tuned with the backbone at backbone_lr x the head's rate."""
    monkeypatch.setenv("MODISTE_CACHE", str(tmp_path / "cache"))
    cfg = config(tmp_path / "run", data, backbone=None, size=64, epochs=1, lr=1e-3, batch=8)
    assert (cfg.backbone, cfg.weights) == ("efficientnet_lite0", "imagenet")
    train_classifier(cfg, progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["linear_probe"]["decay"] > 0 and 0 <= summary["linear_probe"]["val_accuracy"] <= 1
    clf = ShotClassifier.load(tmp_path / "run")
    assert type(clf.net).__name__ == "EfficientNetLite" and clf.net.classifier.weight.shape == (3, 1280)
    records = list(map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()))
    assert records[0]["epoch"] == 0 and "val_accuracy" in records[0]  # the probed model, validated before fine-tuning
    lrs = [r["lr"] for r in records[1:]]
    assert lrs and all(lr > 0 for lr in lrs)
    tensors, meta = checkpoint.read(tmp_path / "run" / "checkpoints" / "latest.safetensors")
    scales = sorted({g["lr_scale"] for g in meta["optim"]["model"]["param_groups"]})
    assert scales == [cfg.backbone_lr, 1.0]


def test_flip_average_gives_a_mirror_image_the_same_prediction():
    from modiste.shots.train import predict_tensor

    torch.manual_seed(0)
    net = create_model("resnet_r10", num_classes=4)
    x = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8)
    both = predict_tensor(net, x, torch.device("cpu"), flip_average=True)
    torch.testing.assert_close(both, predict_tensor(net, x.flip(-1), torch.device("cpu"), flip_average=True))
    assert not torch.allclose(predict_tensor(net, x, torch.device("cpu")), predict_tensor(net, x.flip(-1), torch.device("cpu")))


def test_mixing_and_weight_average_train_resume_exactly_and_keep_the_average(data, tmp_path):
    kw = dict(backbone="r10", mix="both", ema_epochs=0.5)
    train_classifier(config(tmp_path / "a", data, epochs=2, **kw), progress=False)
    train_classifier(config(tmp_path / "b", data, epochs=1, **kw), progress=False)
    train_classifier(config(tmp_path / "b", data, epochs=2, **kw), resume=True, progress=False)
    from modiste.nn import checkpoint

    a, _ = checkpoint.read(tmp_path / "a" / "checkpoints" / "latest.safetensors")
    b, _ = checkpoint.read(tmp_path / "b" / "checkpoints" / "latest.safetensors")
    assert any(k.startswith("ema.") for k in a) and all(torch.equal(a[k], b[k]) for k in a)
    mixed = [r["mixed_share"] for r in map(json.loads, (tmp_path / "a" / "metrics.jsonl").read_text().splitlines())
             if "mixed_share" in r]
    assert mixed and all(m > 0.5 for m in mixed), mixed  # the batches really were mixed
    # the best checkpoint holds the average (re-estimated BatchNorm statistics aside), not the raw weights
    best, _ = checkpoint.read(tmp_path / "a" / "checkpoints" / "best.safetensors", prefix="model")
    w = "stages.3.0.conv1.0.weight"
    assert torch.equal(best[w], a["ema." + w]) and not torch.equal(best[w], a["model." + w])
    with pytest.raises(ValueError, match="mix must be one of"):
        config(tmp_path / "c", data, mix="blend")


def test_cutmix_pastes_a_box_and_weighs_the_labels_by_its_area():
    from modiste.train.mix import mix_batch

    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 10, 10).contiguous()
    y = torch.arange(4)
    m = mix_batch(x, y, "cutmix", alpha=1.0, generator=torch.Generator().manual_seed(3))
    pasted = (m.x != x).all(1)  # every image is mixed with another (a permutation), in one box
    assert torch.allclose(1 - pasted.float().mean((1, 2)), torch.full((4,), m.lam)) or m.lam == 1.0
    assert torch.equal(m.x[pasted.unsqueeze(1).expand_as(x)].view(-1), x[m.y_b.tolist()].masked_select(pasted.unsqueeze(1).expand_as(x)).view(-1))
    up = mix_batch(x, y, "mixup", generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(up.x, up.lam * x + (1 - up.lam) * x[up.y_b])
    logits = torch.randn(4, 4)
    torch.testing.assert_close(up.loss(logits), up.lam * torch.nn.functional.cross_entropy(logits, y)
                               + (1 - up.lam) * torch.nn.functional.cross_entropy(logits, up.y_b))
    again = mix_batch(x, y, "both", generator=torch.Generator().manual_seed(9))
    assert torch.equal(again.x, mix_batch(x, y, "both", generator=torch.Generator().manual_seed(9)).x)


def test_frozen_stages_keep_their_weights_and_statistics(data, tmp_path, monkeypatch):
    from modiste.nn.pretrained import imagenet_state

    monkeypatch.setenv("MODISTE_CACHE", str(tmp_path / "cache"))
    train_classifier(config(tmp_path / "run", data, backbone="efficientnet_lite0", weights="imagenet", size=48,
                            epochs=2, batch=8, freeze=2), progress=False)
    tensors, _ = checkpoint.read(tmp_path / "run" / "checkpoints" / "latest.safetensors", prefix="model")
    reference = imagenet_state("efficientnet_lite0")
    for key in ("stem.0.weight", "stem.1.running_mean", "blocks.2.project.1.running_var", "blocks.2.expand.0.weight"):
        assert torch.equal(tensors[key], reference[key]), key  # stages 1-2 are blocks 0-2
    for key in ("blocks.3.expand.0.weight", "blocks.3.expand.1.running_mean"):
        assert not torch.equal(tensors[key], reference[key]), key


def test_a_few_photos_a_class_are_all_trained_on(tmp_path):
    few, many = shapes(tmp_path / "few", per_class=12), shapes(tmp_path / "many", per_class=40)
    for root, held in ((few, 0), (many, 3 * 6)):  # 15% of 40 is 6 a class
        train_classifier(config(tmp_path / root.name / "run", root, epochs=1, val_fraction=None), progress=False)
        summary = json.loads((tmp_path / root.name / "run" / "summary.json").read_text())
        assert summary["val_images"] == held
