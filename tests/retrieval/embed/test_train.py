import json
import shutil
import warnings

import pytest
import torch

from modiste.data.images import BadImageWarning
from modiste.retrieval.embed.data import SHOP, STREET, read_embed_data, split_holdout
from modiste.retrieval.embed.evaluate import evaluate_embedding
from modiste.retrieval.embed.model import Embedder
from modiste.retrieval.embed.train import EmbedConfig, _batch_m, build_embedder, train_embedding

SIZE = 32


@pytest.fixture(scope="module")
def pairs(tiny_catalog, tmp_path_factory):
    """Two street snaps of each of the 48 tiny catalog items."""
    from modiste.data.synth import snaps

    return snaps(tiny_catalog.root, tmp_path_factory.mktemp("snaps"), per_item=2, workers=1, progress=False)


def config(out, data, **kw):
    settings = dict(data=str(data), out=str(out), backbone="vgg", width=8, dim=16, size=SIZE, epochs=2, batch=24, m=3,
                    lr=3e-3, holdout=0.25, workers=0, device="cpu")
    return EmbedConfig(**{**settings, **kw})


def test_pairs_csv_reads_street_and_shop_photos_labelled_by_item(pairs):
    data = read_embed_data(pairs.csv, size=SIZE, workers=0, progress=False)
    assert data.kind == "pairs"
    assert int((data.domain == STREET).sum()) == 96 and int((data.domain == SHOP).sum()) == 48
    assert data.num_classes == 48
    # every item has its shop photo and its two snaps under one label
    assert torch.bincount(data.labels).tolist() == [3] * 48
    train, held = split_holdout(data, 0.25, seed=0)
    assert not set(train.labels.tolist()) & set(held.labels.tolist())  # pairs hold out whole items
    assert len(train) + len(held) == len(data)


def test_class_split_by_image_keeps_every_class_in_training(tiny_catalog, tmp_path):
    root = tmp_path / "classes"
    for i, path in enumerate(sorted((tiny_catalog.root / "images").glob("*.png"))):
        (root / f"c{i % 4}").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / f"c{i % 4}" / path.name)
    data = read_embed_data(root, size=SIZE, workers=0, progress=False)
    train, held = split_holdout(data, 0.25, seed=0)
    assert data.kind == "classes" and len(held) == 12
    assert set(train.labels.tolist()) == set(held.labels.tolist()) == {0, 1, 2, 3}


def test_unlabelled_folder_is_refused_with_the_reason(tmp_path, tiny_catalog):
    with pytest.raises(ValueError, match="needs labels"):
        read_embed_data(tiny_catalog.root / "images", size=SIZE, workers=0, progress=False)


def test_batch_and_m_adapt_to_few_classes():
    assert _batch_m(4, 64, 1000) == (4, 64)
    m, batch = _batch_m(4, 64, 10)
    assert batch % m == 0 and batch // m <= 10
    with pytest.raises(ValueError, match="at least 2 classes"):
        _batch_m(4, 64, 1)


@pytest.mark.parametrize("id_weight", [0.0, pytest.param(1.0, marks=pytest.mark.slow)], ids=["triplet-only", "with-class-loss"])
def test_training_lowers_the_loss_and_raises_recall(pairs, tmp_path, id_weight):
    cfg = config(tmp_path / "run", pairs.csv, epochs=15, augment={"strength": 0.0}, id_weight=id_weight)
    best = train_embedding(cfg, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["epoch"] == 0 and "loss" not in rows[0]  # the untrained baseline
    assert rows[-1]["loss"] < rows[1]["loss"]
    assert all(r["id_loss"] == 0 for r in rows[1:]) == (id_weight == 0)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best"]["map@r"] == max(r["map@r"] for r in rows)
    assert best.exists() and (tmp_path / "run" / "curves.png").exists()
    assert (tmp_path / "run" / "samples" / "latest.png").exists()

    # street -> shop over all 48 items: the untrained network (same seed) against the trained one
    data = read_embed_data(pairs.csv, size=SIZE, workers=0, progress=False)
    torch.manual_seed(cfg.seed)
    untrained = Embedder(build_embedder(cfg), image_size=SIZE)
    before = evaluate_embedding(untrained, data, progress=False).metrics["recall@1"]
    after = evaluate_embedding(Embedder.load(best.parent / "latest.safetensors"), data,
                               progress=False).metrics["recall@1"]
    assert after > 2 * before and after - before > 0.1


def test_resume_continues_exactly(pairs, tmp_path):
    whole = train_embedding(config(tmp_path / "a", pairs.csv, epochs=2), progress=False)
    cfg = config(tmp_path / "b", pairs.csv, epochs=1)
    train_embedding(cfg, progress=False)
    train_embedding(config(tmp_path / "b", pairs.csv, epochs=2), resume=True, progress=False)
    a = Embedder.load(whole.parent / "latest.safetensors").net.state_dict()
    b = Embedder.load(tmp_path / "b" / "checkpoints" / "latest.safetensors").net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]


def test_a_minutes_cap_stops_mid_epoch_and_resume_finishes(pairs, tmp_path):
    train_embedding(config(tmp_path / "r", pairs.csv, epochs=2, minutes=0.0), progress=False)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["stop_reason"] == "minutes" and summary["steps"] == 1
    train_embedding(config(tmp_path / "r", pairs.csv, epochs=2), resume=True, progress=False)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["stop_reason"] == "budget" and summary["epochs"] == 2


def test_checkpoint_round_trip_gives_identical_embeddings(pairs, tmp_path):
    best = train_embedding(config(tmp_path / "run", pairs.csv, epochs=1), progress=False)
    model = Embedder.load(tmp_path / "run")  # the run folder means its best checkpoint
    assert model.path == best
    images = read_embed_data(pairs.csv, size=SIZE, workers=0, progress=False).images[:10]
    again = Embedder.load(best)
    v = model(images)
    assert v.shape == (10, 16) and torch.allclose(v.norm(dim=1), torch.ones(10), atol=1e-5)
    assert torch.equal(v, again(images))
    assert model.model_info()["sha1"] == again.model_info()["sha1"]


def test_corrupt_training_image_is_skipped_and_counted(pairs, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(pairs.root, root)
    bad = sorted((root / "images").glob("*.png"))[0]
    bad.write_bytes(b"not an image")
    csv_text = (root / "pairs.csv").read_text()
    (root / "pairs.csv").write_text(csv_text.replace("../", str(pairs.root.parent) + "/"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_embedding(config(tmp_path / "run", root / "pairs.csv", epochs=1), progress=False)
    assert any(bad.name in str(w.message) for w in caught if issubclass(w.category, BadImageWarning))
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["skipped_files"] == 1


def test_eval_reports_street_to_shop_and_writes_its_files(pairs, tmp_path):
    best = train_embedding(config(tmp_path / "run", pairs.csv, epochs=1), progress=False)
    result = evaluate_embedding(best, pairs.csv, out=tmp_path / "eval", map_method="pca", workers=0, progress=False)
    assert result.setup["queries"] == 96 and result.setup["references"] == 48
    assert 0 <= result.metrics["recall@1"] <= result.metrics["recall@5"] <= result.metrics["recall@10"] <= 1
    for name in ("report", "results", "embeddings", "map", "map_html"):
        assert result.files[name].exists(), name
    assert "recall@1" in str(result)


def test_a_query_box_crops_street_photos_only_and_travels_with_the_model(pairs, tmp_path):
    from modiste.data.images import ImagePolicy, fit_image, load_image
    from modiste.retrieval.index.api import search  # noqa: F401 - reads queries through model.query_policy

    box = (0.1, 0.2, 0.9, 0.8)
    whole = read_embed_data(pairs.csv, size=SIZE, workers=0, progress=False)
    cut = read_embed_data(pairs.csv, size=SIZE, query_box=box, workers=0, progress=False)
    assert cut.paths == whole.paths and torch.equal(cut.labels, whole.labels) and torch.equal(cut.domain, whole.domain)
    shop, street = (whole.domain == SHOP), (whole.domain == STREET)
    assert torch.equal(cut.images[shop], whole.images[shop])  # shop photos stay whole
    first = int(torch.nonzero(street)[0])
    full = load_image(cut.paths[first], ImagePolicy())
    h, w = full.shape[1:]
    manual = fit_image(full[:, int(0.2 * h):round(0.8 * h), int(0.1 * w):round(0.9 * w)], ImagePolicy(size=(SIZE, SIZE)))
    assert torch.equal(cut.images[first], manual)

    train_embedding(config(tmp_path / "run", pairs.csv, epochs=1, query_box=list(box)), progress=False)
    model = Embedder.load(tmp_path / "run")
    assert model.query_box == box and model.query_policy.box == box and model.policy.box is None


def test_the_default_embedding_starts_from_imagenet_and_keeps_its_frozen_stages(pairs, tmp_path, monkeypatch):
    from modiste.nn.pretrained import imagenet_state

    monkeypatch.setenv("MODISTE_CACHE", str(tmp_path / "cache"))
    cfg = EmbedConfig(data=str(pairs.csv), out=str(tmp_path / "run"), size=SIZE, epochs=1, batch=24, m=3, loss="supcon",
                      holdout=0.25, workers=0, device="cpu")
    assert (cfg.backbone, cfg.weights, cfg.freeze) == ("efficientnet_lite0", "imagenet", 3)
    train_embedding(cfg, progress=False)
    net = Embedder.load(tmp_path / "run" / "checkpoints" / "latest.safetensors").net
    state, reference = net.backbone.state_dict(), imagenet_state("efficientnet_lite0")
    # stem and the stride 2-8 stages (blocks 0-4), BatchNorm statistics included, are the released ones
    for key in ("stem.0.weight", "stem.1.running_mean", "blocks.4.project.1.running_var", "blocks.4.depthwise.0.weight"):
        assert torch.equal(state[key], reference[key]), key
    assert not torch.equal(state["blocks.5.depthwise.0.weight"], reference["blocks.5.depthwise.0.weight"])


def test_old_run_settings_read_as_backbones():
    old = {"data": "d", "arch": "convnext", "convnext_size": "atto", "backbone_weights": None, "size": 64}
    assert (EmbedConfig.from_dict(old).backbone, EmbedConfig.from_dict(old).weights) == ("convnext_atto", "none")
    assert EmbedConfig.from_dict({**old, "arch": "vgg"}).backbone == "vgg"
    with pytest.raises(ValueError, match="box must be"):
        EmbedConfig(data="d", backbone="vgg", query_box=[0.5, 0.2, 0.4, 0.9])
