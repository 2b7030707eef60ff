"""The image -> code encoder: training lowers its loss, resumes exactly, and rebuilds from its checkpoint."""
import json
import math

import numpy as np
import pytest
import torch

from modiste.latent.api import invert_images
from modiste.latent.encoder import EncoderConfig, load_encoder, train_encoder
from modiste.nn import checkpoint
from modiste.nn.registry import create_model


def _train(gan, out, *, data=None, resume=False, **kw):
    cfg = EncoderConfig(gan=str(gan.path), data=None if data is None else str(data), out=str(out), width=8,
                        batch=kw.pop("batch", 8), tick_steps=kw.pop("tick_steps", 100), workers=0, **kw)
    return train_encoder(cfg, resume=resume, progress=False)


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_short_run_lowers_the_latent_loss(tiny_gan, tmp_path):
    # generated pairs only: the true code of every image is known, so the latent loss is a clean signal
    _train(tiny_gan, tmp_path / "e", steps=30, batch=16, tick_steps=10)
    m = _metrics(tmp_path / "e")
    assert [r["step"] for r in m] == [10, 20, 30]
    assert m[-1]["latent_mse"] < m[0]["latent_mse"] - 0.05
    assert m[-1]["loss"] < m[0]["loss"]
    assert "holdout_mse" not in m[-1]  # no real images, nothing held out


def test_resume_is_exact_and_the_seed_decides_the_weights(tiny_gan, tiny_catalog, tmp_path):
    one_go = _train(tiny_gan, tmp_path / "a", data=tiny_catalog.csv, steps=6)
    _train(tiny_gan, tmp_path / "b", data=tiny_catalog.csv, steps=3)
    resumed = _train(tiny_gan, tmp_path / "b", data=tiny_catalog.csv, steps=6, resume=True)
    other_seed = _train(tiny_gan, tmp_path / "c", data=tiny_catalog.csv, steps=6, seed=1)
    ta, ma = checkpoint.read(one_go)
    tb, mb = checkpoint.read(resumed)
    assert ma["step"] == mb["step"] == 6
    assert ta.keys() == tb.keys() and any(k.startswith("optim.E") for k in ta)
    for key in ta:  # the encoder's weights, BatchNorm statistics and Adam's moments
        assert torch.equal(ta[key], tb[key]), key
    tc, _ = checkpoint.read(other_seed)
    assert not torch.equal(ta["E.head.weight"], tc["E.head.weight"])
    assert [r["step"] for r in _metrics(tmp_path / "b")] == [3, 6]
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["steps"] == 6


def test_the_checkpoint_rebuilds_the_encoder(tiny_encoder_run, tiny_gan, catalog_images):
    E, meta = load_encoder(tiny_encoder_run)
    assert meta["kind"] == "latent-encoder" and meta["step"] == 12
    assert meta["latent"] == {"dim": tiny_gan.latent_dim, "prior": tiny_gan.prior}
    assert meta["image_size"] == [32, 32] and meta["config"]["width"] == 8
    assert not E.training and E.features[0].out_channels == 8
    x = catalog_images[:5].float() / 127.5 - 1
    with torch.no_grad():
        z = E(x)
    assert z.shape == (5, tiny_gan.latent_dim)
    tensors, _ = checkpoint.read(tiny_encoder_run / "checkpoints" / "latest.safetensors", prefix="E")
    assert all(torch.equal(v, tensors[k]) for k, v in E.state_dict().items())
    for path in (tiny_encoder_run / "checkpoints" / "latest.safetensors", tiny_encoder_run / "checkpoints" / "latest.json"):
        again, _ = load_encoder(path)
        with torch.no_grad():
            assert torch.equal(again(x), z)
    # eval mode: an image's code does not depend on the batch it is encoded with
    with torch.no_grad():
        assert torch.allclose(E(x[2:3]), z[2:3], atol=1e-5)


def test_the_run_folder_records_config_and_summary(tiny_encoder_run):
    cfg = json.loads((tiny_encoder_run / "config.json").read_text())
    assert EncoderConfig(**cfg).to_dict() == cfg
    assert cfg["width"] == 8 and cfg["steps"] == 12 and cfg["workers"] == 0
    summary = json.loads((tiny_encoder_run / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["stop_reason"] == "budget"
    assert summary["real_images"] == 48 and summary["holdout"] == 48 // 5
    assert 0 < summary["holdout_mse"] < 1 and -1 < summary["holdout_ssim"] <= 1
    assert (tiny_encoder_run / "samples" / "latest.png").exists() and (tiny_encoder_run / "loss.png").exists()


def test_a_checkpoint_that_is_not_an_encoder_is_refused(tiny_gan, tmp_path):
    with pytest.raises(ValueError, match=r"not a latent encoder checkpoint \(kind='gan'\)"):
        load_encoder(tiny_gan.path)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.safetensors"):
        load_encoder(junk)


def test_an_encoder_for_another_generator_is_refused(tiny_gan, tiny_catalog, tmp_path):
    E = create_model("latent_encoder", size=32, latent_dim=7, width=8)
    path = checkpoint.save_models(tmp_path / "other", {"E": E}, {"kind": "latent-encoder", "image_size": [32, 32],
                                                                   "latent": {"dim": 7, "prior": "normal"}})
    image = tiny_catalog.root / tiny_catalog.records[0]["path"]
    with pytest.raises(ValueError, match="encoder is for 7-d codes at 32 px, the generator has 100-d codes"):
        invert_images(tiny_gan, image, encoder=path, steps=0, workers=0, progress=False)


def test_real_images_only_and_the_time_cap(tiny_gan, tiny_catalog, tmp_path):
    _train(tiny_gan, tmp_path / "real", data=tiny_catalog.csv, steps=2, real_fraction=1.0)
    last = _metrics(tmp_path / "real")[-1]
    assert math.isfinite(last["loss"]) and last["latent_mse"] == 0  # no generated pairs, no latent term
    _train(tiny_gan, tmp_path / "capped", steps=50, minutes=0.0)
    summary = json.loads((tmp_path / "capped" / "summary.json").read_text())
    assert summary["stop_reason"] == "minutes" and summary["steps"] == 1
    assert checkpoint.read_meta(tmp_path / "capped")["step"] == 1


def test_invert_images_starts_from_the_encoder_run(tiny_gan, tiny_encoder_run, tiny_catalog):
    image = tiny_catalog.root / tiny_catalog.records[0]["path"]
    inv = invert_images(tiny_gan, image, encoder=tiny_encoder_run, steps=0, workers=0, progress=False)
    E, _ = load_encoder(tiny_encoder_run)
    with torch.no_grad():
        guess = E(inv.images.float() / 127.5 - 1)
    assert np.allclose(inv.z.numpy(), guess.numpy(), atol=1e-6)
    assert inv.info["encoder_path"] == str(tiny_encoder_run)
