"""Sampling, interpolation and evaluation of a trained GAN."""
import numpy as np
import pytest
import torch

from modiste.gan import GAN
from modiste.nn.prior import slerp


@pytest.fixture(scope="module")
def gan(tiny_catalog, tmp_path_factory):
    out = tmp_path_factory.mktemp("gan") / "run"
    return GAN.train(tiny_catalog.csv, out=out, size=32, g_width=8, d_width=8, batch=8, kimg=0.08,
                     tick_kimg=0.04, workers=0, progress=False)


def test_same_seed_same_designs_and_files(gan, tmp_path):
    a, b, c = gan.sample(6, seed=3), gan.sample(6, seed=3), gan.sample(6, seed=4)
    assert a.images.dtype == torch.uint8 and a.images.shape == (6, 3, 32, 32)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    # a bigger set with the same seed starts with the same codes and designs (eval-mode BatchNorm);
    # convolution kernels may sum in another order for another batch size: allow a grey level
    bigger = gan.sample(10, seed=3)
    assert torch.equal(bigger.z[:6], a.z)
    assert (bigger.images[:6].int() - a.images.int()).abs().max() <= 1
    out = a.save(tmp_path / "s")
    assert (out / "grid.png").exists() and len(list(out.glob("seed3_*.png"))) == 6
    assert np.allclose(np.load(out / "z.npy"), a.z.numpy())


def test_loaded_from_folder_or_file_gives_the_same_designs(gan):
    again = GAN.load(gan.path.parent.parent)
    assert torch.equal(again.sample(4, seed=1).images, gan.sample(4, seed=1).images)


def test_interpolation_runs_from_one_seed_to_the_other(gan):
    strip = gan.interpolate(1, 2, steps=5)
    assert strip.images.shape == (5, 3, 32, 32)
    assert torch.allclose(strip.z[0], gan.latents(1, 1)[0], atol=1e-5)
    assert torch.allclose(strip.z[-1], gan.latents(1, 2)[0], atol=1e-5)
    assert torch.equal(strip.images[0], gan.sample(1, seed=1).images[0])
    lerp = gan.interpolate(1, 2, steps=5, method="lerp")
    assert not torch.allclose(lerp.z[2], strip.z[2])


def test_slerp_keeps_the_norm_between_equal_norm_codes():
    a = torch.tensor([3.0, 0.0])
    b = torch.tensor([0.0, 3.0])
    z = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(z.norm(dim=1), torch.full((5,), 3.0))


def test_evaluate_reports_metrics_and_reuses_its_feature_network(gan, tiny_catalog):
    report = gan.evaluate(tiny_catalog.csv, n=40, features="data", progress=False, workers=0)
    for value in (report.fd, report.kid, report.precision, report.recall):
        assert np.isfinite(value)
    assert 0 <= report.precision <= 1 and 0 <= report.recall <= 1
    assert report.feature_task == "classes"  # the catalog has category labels
    assert set(report.reference) == {"fd", "kid", "precision", "recall"}
    again = gan.evaluate(tiny_catalog.csv, n=40, features="data", progress=False, workers=0)
    assert again.features == report.features and again.fd == report.fd
    assert "Not comparable to Inception" in report.note and "FD" in str(report)


@pytest.mark.slow
def test_evaluate_defaults_to_imagenet_features_that_tell_real_from_noise(gan, tiny_catalog, tmp_path, monkeypatch):
    from modiste.data.images import load_image
    from modiste.gan.quality import evaluate_generator
    from modiste.metrics.imagenet_space import ImagenetFeatures

    monkeypatch.setenv("MODISTE_CACHE", str(tmp_path / "cache"))
    report = gan.evaluate(tiny_catalog.csv, n=24, progress=False, workers=0)
    assert report.features == "imagenet" and report.feature_task == "imagenet" and "ImageNet" in report.note
    assert np.isfinite(report.fd) and report.fd > 0
    # the same space scores noise far worse than the generator, and two real halves best
    real = torch.stack([load_image(tiny_catalog.root / r["path"]) for r in tiny_catalog.records])
    noise = evaluate_generator(lambda k, s: torch.rand(k, 3, 32, 32, generator=torch.Generator().manual_seed(s)) * 2 - 1,
                               real, ImagenetFeatures(), features_path="imagenet", n=24)
    assert noise.fd > report.fd > report.reference["fd"]
