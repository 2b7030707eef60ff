"""Inversion (image -> z), its scores and files, and the API that reads images and codes for it."""
import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from modiste.data import BadImageWarning
from modiste.latent.api import codes, invert_images, read_boundary, save_strip, write_tags
from modiste.latent.boundary import Boundary
from modiste.latent.encoder import load_encoder
from modiste.latent.inputs import read_images
from modiste.latent.invert import (DiscriminatorFeatures, InversionSettings, invert, prior_penalty, random_code_baseline,
                                   reconstruction_scores)
from modiste.data.vectors import Vectors
from modiste.results import ImageSet, to_uint8


def _float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1


@pytest.fixture(scope="module")
def inverted(tiny_gan, catalog_images):
    """Eight photos inverted with the feature loss, from random codes."""
    return invert(tiny_gan.G, catalog_images[:8], D=tiny_gan.D, steps=25, seed=0, progress=False)


@pytest.fixture(scope="module")
def small_csv(tiny_catalog, tmp_path_factory):
    """The first six rows of the catalog CSV, with absolute paths, in a folder of its own."""
    rows = list(csv.DictReader(open(tiny_catalog.csv, newline="")))[:6]
    for r in rows:
        r["path"] = str(tiny_catalog.root / r["path"])
    out = tmp_path_factory.mktemp("small") / "six.csv"
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def test_inversion_lowers_reconstruction_error_against_random_codes(tiny_gan, catalog_images, inverted):
    x = catalog_images[:8]
    base_mse, base_ssim = random_code_baseline(tiny_gan.G, x, seed=0)
    start = invert(tiny_gan.G, x, steps=0, seed=0, progress=False)  # the codes the optimisation started from
    assert float(start.mse.mean()) == pytest.approx(base_mse)
    assert float(inverted.mse.mean()) < base_mse
    assert (inverted.mse < start.mse).float().mean() >= 0.75
    assert inverted.info["steps"] == 25 and inverted.info["feature_loss"] and not inverted.info["encoder"]


def test_scores_have_one_value_per_image_and_match_the_reconstructions(catalog_images, inverted):
    n = 8
    assert inverted.z.shape == (n, 100) and inverted.mse.shape == (n,) and inverted.ssim.shape == (n,)
    assert inverted.reconstructions.dtype == torch.uint8 and inverted.reconstructions.shape == (n, 3, 32, 32)
    assert torch.equal(inverted.images, catalog_images[:n])
    # the scores are of G(z) before rounding to 8 bits: the rounded images give nearly the same numbers
    direct = (inverted.reconstructions.float() / 255 - inverted.images.float() / 255).pow(2).mean(dim=(1, 2, 3))
    assert torch.allclose(inverted.mse, direct, atol=2e-3)
    assert ((inverted.ssim > -1) & (inverted.ssim < 1)).all()
    s = inverted.summary()
    assert s["n"] == n and s["mse"] == pytest.approx(float(inverted.mse.mean()))


def test_reconstruction_scores_of_identical_and_of_opposite_images(catalog_images):
    x = _float(catalog_images[:3])
    mse, ss = reconstruction_scores(x, x)
    assert mse.shape == (3,) and ss.shape == (3,)
    assert torch.allclose(mse, torch.zeros(3)) and torch.allclose(ss, torch.ones(3), atol=1e-5)
    mse_neg, ss_neg = reconstruction_scores(x, -x)
    assert torch.allclose(mse_neg, x.pow(2).mean(dim=(1, 2, 3)), atol=1e-6)  # ((x+1)/2 - (1-x)/2)^2 = x^2
    assert (ss_neg < 0.5).all()


def test_same_seed_same_codes(tiny_gan, catalog_images):
    x = catalog_images[:3]
    a = invert(tiny_gan.G, x, D=tiny_gan.D, steps=3, seed=1, progress=False)
    b = invert(tiny_gan.G, x, D=tiny_gan.D, steps=3, seed=1, progress=False)
    c = invert(tiny_gan.G, x, D=tiny_gan.D, steps=3, seed=2, progress=False)
    assert torch.equal(a.z, b.z) and torch.equal(a.reconstructions, b.reconstructions)
    assert not torch.allclose(a.z, c.z)


def test_steps_zero_without_encoder_gives_the_seeds_random_codes(tiny_gan, catalog_images):
    inv = invert(tiny_gan.G, catalog_images[:5], steps=0, seed=7, progress=False)
    assert torch.equal(inv.z, tiny_gan.latents(5, seed=7))
    assert (inv.reconstructions.int() - tiny_gan.sample(5, seed=7).images.int()).abs().max() <= 1


def test_steps_zero_with_encoder_is_the_encoders_guess(tiny_gan, tiny_encoder_run, catalog_images):
    E, _ = load_encoder(tiny_encoder_run)
    x = catalog_images[:6]
    with torch.no_grad():
        guess = E(_float(x))
    inv = invert(tiny_gan.G, x, encoder=E, steps=0, progress=False)
    assert torch.allclose(inv.z, guess, atol=1e-6) and inv.info["encoder"]
    refined = invert(tiny_gan.G, x, encoder=E, D=tiny_gan.D, steps=4, progress=False)
    assert not torch.allclose(refined.z, guess, atol=1e-3)


@pytest.mark.parametrize("with_encoder", [False, True], ids=["random-start", "encoder-start"])
def test_each_code_is_optimised_independently_of_its_batch(tiny_gan, tiny_encoder_run, catalog_images, with_encoder):
    E = load_encoder(tiny_encoder_run)[0] if with_encoder else None
    x = catalog_images[8:12]
    one = invert(tiny_gan.G, x, D=tiny_gan.D, encoder=E, steps=6, batch=1, seed=3, progress=False)
    four = invert(tiny_gan.G, x, D=tiny_gan.D, encoder=E, steps=6, batch=4, seed=3, progress=False)
    assert torch.allclose(one.z, four.z, atol=1e-4)  # random starts differ by O(1): this is the same code
    assert torch.allclose(one.mse, four.mse, atol=1e-5)


class _FarGuess(nn.Module):
    """An encoder that always guesses 3 in every coordinate: outside the uniform prior's box."""

    def forward(self, x):
        return torch.full((x.shape[0], 100), 3.0)


def test_uniform_prior_keeps_codes_in_the_box(tiny_gan, catalog_images):
    x = catalog_images[:4]
    pushed = invert(tiny_gan.G, x, prior="uniform", steps=4, lr=2.0, prior_weight=0, progress=False)
    assert pushed.z.abs().max() <= 1
    assert (pushed.z.abs() == 1).any()  # the steps were large enough to reach the box's walls
    guessed = invert(tiny_gan.G, x, encoder=_FarGuess(), prior="uniform", steps=0, progress=False)
    assert torch.equal(guessed.z, torch.ones(4, 100))
    normal = invert(tiny_gan.G, x, encoder=_FarGuess(), prior="normal", steps=0, progress=False)
    assert torch.equal(normal.z, torch.full((4, 100), 3.0))  # a normal prior has no walls


def test_prior_penalty_per_code():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 50, generator=g)
    on_shell = z / z.pow(2).mean(dim=1, keepdim=True).sqrt()
    assert prior_penalty(on_shell, "normal").shape == (4,)
    assert torch.allclose(prior_penalty(on_shell, "normal"), torch.zeros(4), atol=1e-10)
    assert torch.allclose(prior_penalty(torch.zeros(2, 50), "normal"), torch.ones(2))
    inside = torch.rand(3, 50, generator=g) * 2 - 1
    assert torch.equal(prior_penalty(inside, "uniform"), torch.zeros(3))
    out = inside.clone()
    out[1, 0] = 3.0  # 2 past the wall in one of 50 coordinates
    assert torch.allclose(prior_penalty(out, "uniform"), torch.tensor([0.0, 4 / 50, 0.0]))


def test_discriminator_features_are_the_activations_of_d(tiny_gan, catalog_images):
    D = tiny_gan.D
    n_act = sum(isinstance(m, (nn.LeakyReLU, nn.ReLU)) for m in D.features)
    x = _float(catalog_images[:2])
    with torch.no_grad():
        feats = DiscriminatorFeatures(D.eval())(x)
        last = D.features(x.clone())
    assert len(feats) == n_act >= 2
    assert all(f.shape[0] == 2 for f in feats)
    assert torch.equal(feats[-1], last)
    with pytest.raises(ValueError, match="Linear has no .features"):
        DiscriminatorFeatures(nn.Linear(3, 3))


def test_settings_overrides_are_checked_and_do_not_change_the_callers_settings(tiny_gan, catalog_images):
    settings = InversionSettings(steps=3, lr=0.01)
    inv = invert(tiny_gan.G, catalog_images[:1], settings=settings, steps=0, progress=False)
    assert inv.info["settings"]["steps"] == 0 and inv.info["settings"]["lr"] == 0.01
    assert settings.steps == 3
    with pytest.raises(TypeError, match="unknown inversion setting 'stpes'"):
        invert(tiny_gan.G, catalog_images[:1], stpes=2, progress=False)


def test_invert_images_skips_a_bad_file_and_inverts_the_rest(tiny_gan, tiny_catalog, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for r in tiny_catalog.records[:3]:
        shutil.copy(tiny_catalog.root / r["path"], folder / f"good-{r['path'].split('/')[-1]}")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.warns(BadImageWarning, match="broken.png"):
        inv = invert_images(tiny_gan, folder, workers=0, steps=1, progress=False)
    assert len(inv) == 3 and inv.z.shape == (3, 100)
    assert sorted(p.split("/")[-1] for p in inv.paths) == sorted(f"good-{r['path'].split('/')[-1]}"
                                                                  for r in tiny_catalog.records[:3])
    assert inv.info["skipped"]["skipped"] == 1
    assert [p.split("/")[-1] for p in inv.info["skipped"]["files"]] == ["broken.png"]


def test_save_writes_codes_scores_summary_and_grid(tiny_gan, small_csv, tmp_path):
    inv = invert_images(tiny_gan, small_csv, workers=0, steps=1, progress=False)
    out = inv.save(tmp_path / "out" / "codes")  # the .npz suffix is added
    assert out.name == "codes.npz"
    for suffix in (".npz", ".csv", ".json", ".png"):
        assert out.with_suffix(suffix).exists()

    vec = Vectors.load(out)
    assert len(vec) == 6 and np.allclose(vec.vectors, inv.z.numpy())
    assert vec.paths == inv.paths and vec.paths[0].endswith("000000.png")
    rows = list(csv.DictReader(open(small_csv, newline="")))
    for col in ("label", "colour", "group", "tags"):
        assert vec.columns[col] == [r[col] for r in rows]
    assert np.allclose([float(v) for v in vec.columns["mse"]], inv.mse.numpy(), atol=1e-5)
    assert vec.meta["kind"] == "gan-latent" and vec.meta["n"] == 6 and vec.meta["source"] == str(small_csv)

    table = list(csv.DictReader(open(out.with_suffix(".csv"), newline="")))
    assert [r["path"] for r in table] == inv.paths
    assert np.allclose([float(r["ssim"]) for r in table], inv.ssim.numpy(), atol=1e-4)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["n"] == 6 and summary["mse"] == pytest.approx(float(inv.mse.mean()))
    # six (original | reconstruction) pairs, four pairs a row: 8 tiles of 32 + 2 px padding, 2 rows, scale 2
    with Image.open(out.with_suffix(".png")) as png:
        assert png.size == (2 * (8 * 34 + 2), 2 * (2 * 34 + 2))


def test_read_images_keeps_paths_and_columns(small_csv, tiny_catalog, tmp_path):
    batch = read_images(small_csv, size=32, workers=0, progress=False)
    assert batch.images.shape == (6, 3, 32, 32) and len(batch) == 6 and batch.skips.count == 0
    rows = list(csv.DictReader(open(small_csv, newline="")))
    assert batch.columns["colour"] == [r["colour"] for r in rows]
    assert batch.columns["label"] == [r["label"] for r in rows]
    # class folders: the folder's name is the label
    for r in tiny_catalog.records[:4]:
        (tmp_path / r["label"]).mkdir(exist_ok=True)
        shutil.copy(tiny_catalog.root / r["path"], tmp_path / r["label"])
    folder = read_images(tmp_path, size=32, workers=0, progress=False)
    assert {(p.split("/")[-2], lab) for p, lab in zip(folder.paths, folder.columns["label"])} == \
        {(r["label"], r["label"]) for r in tiny_catalog.records[:4]}


def test_codes_from_a_seed_or_a_latents_file(tiny_gan, tmp_path):
    z, names = codes(tiny_gan, seed=3)
    assert torch.equal(z, tiny_gan.latents(1, 3)) and names == ["seed3"]
    rng = np.random.default_rng(0)
    vec = Vectors(rng.normal(size=(6, 100)), [f"{i}.png" for i in range(6)],
                  {"group": ["a", "b", "a", "a", "b", "a"]})
    path = vec.save(tmp_path / "v.npz")
    z, names = codes(tiny_gan, latents=path, where="group=a", limit=3)
    assert names == ["0.png", "2.png", "3.png"] and np.allclose(z.numpy(), vec.vectors[[0, 2, 3]])
    z, names = codes(tiny_gan, latents=path)
    assert z.shape == (6, 100)


def test_codes_refuses_ambiguous_or_empty_selections(tiny_gan, tmp_path):
    path = Vectors(np.zeros((2, 100)), ["a", "b"], {"group": ["x", "y"]}).save(tmp_path / "v.npz")
    with pytest.raises(ValueError, match="exactly one of image, seed or latents"):
        codes(tiny_gan)
    with pytest.raises(ValueError, match=r"exactly one.*\['seed', 'latents'\]"):
        codes(tiny_gan, seed=1, latents=path)
    with pytest.raises(ValueError, match="COLUMN=VALUE"):
        codes(tiny_gan, latents=path, where="group")
    with pytest.raises(ValueError, match="no item has group=z"):
        codes(tiny_gan, latents=path, where="group=z")
    small = Vectors(np.zeros((2, 7)), ["a", "b"]).save(tmp_path / "small.npz")
    with pytest.raises(ValueError, match="7-d vectors, but the generator takes 100-d codes"):
        codes(tiny_gan, latents=small)


def test_read_boundary_conditioned_on_another_is_orthogonal_to_it(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=8), rng.normal(size=8)
    Boundary(a, 0.5, "x", "y").save(tmp_path / "a.json")
    Boundary(b, 0.0, "p", "q").save(tmp_path / "b.json")
    plain = read_boundary(tmp_path / "a.json")
    assert np.allclose(plain.normal, a / np.linalg.norm(a))
    cond = read_boundary(tmp_path / "a.json", [tmp_path / "b.json"])
    assert abs(cond.normal @ (b / np.linalg.norm(b))) < 1e-9 and abs(np.linalg.norm(cond.normal) - 1) < 1e-9


def test_save_strip_writes_png_and_description(tmp_path):
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    strip = ImageSet(images, nrow=3, names=[f"n{i}" for i in range(6)], info={"amounts": [1, 2, 3]})
    out = save_strip(strip, tmp_path / "sub" / "strip.jpeg", scale=1)
    assert out == tmp_path / "sub" / "strip.png"
    with Image.open(out) as png:
        assert png.size == (3 * 10 + 2, 2 * 10 + 2)
        assert np.array_equal(np.asarray(png)[2:10, 2:10].transpose(2, 0, 1), images[0].numpy())
    desc = json.loads(out.with_suffix(".json").read_text())
    assert desc["n"] == 6 and desc["names"][5] == "n5" and desc["amounts"] == [1, 2, 3]


def test_write_tags_has_one_row_per_image_and_every_column(tmp_path):
    out = write_tags(tmp_path / "tags.csv", ["a.png", "b.png"],
                     [{"colour": "red"}, {"pattern": "floral", "colour": "blue"}])
    rows = list(csv.reader(open(out, newline="")))
    assert rows == [["path", "colour", "pattern"], ["a.png", "red", ""], ["b.png", "blue", "floral"]]


def test_reconstructions_are_g_of_the_codes(tiny_gan, inverted):
    with torch.no_grad():
        again = to_uint8(tiny_gan.G(inverted.z))
    assert (again.int() - inverted.reconstructions.int()).abs().max() <= 1


def test_an_imagenet_perceptual_term_also_lowers_the_error(tiny_gan, catalog_images, tmp_path, monkeypatch):
    monkeypatch.setenv("MODISTE_CACHE", str(tmp_path / "cache"))
    x = catalog_images[:4]
    start = invert(tiny_gan.G, x, steps=0, seed=0, progress=False)
    out = invert(tiny_gan.G, x, steps=10, seed=0, perceptual="imagenet", progress=False)
    assert out.info["feature_loss"] == "imagenet"
    assert float(out.mse.mean()) < float(start.mse.mean())
    with pytest.raises(ValueError, match="perceptual must be"):
        invert(tiny_gan.G, x, steps=1, perceptual="vgg", progress=False)
