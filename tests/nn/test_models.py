"""Every registered model: shapes, gradients, seeded determinism, learning, save/load round trip."""
import pytest
import torch
import torch.nn.functional as F

from modiste.nn import checkpoint
from modiste.nn.pretrained import memory_format
from modiste.nn.registry import create_model, list_models

SMALL = {  # tiny widths keep the whole parametrized suite to a few seconds
    "dcgan_g": dict(size=32, latent_dim=16, width=8),
    "dcgan_d": dict(size=32, width=8),
    "upconv_g": dict(size=32, latent_dim=16, width=8),
    "upconv_d": dict(size=32, width=8),
    "projected_g": dict(size=32, latent_dim=16, width=8),
    "projected_d": dict(size=32, width=8),
    "feature_net": dict(num_classes=5, width=8, feature_dim=16),
    "latent_encoder": dict(size=32, latent_dim=16, width=8),
    "embed_vgg": dict(dim=16, width=8),
    "embed_convnext": dict(dim=16, size="micro"),
    "embed_efficientnet": dict(dim=16),
    **{f"convnext_{size}": dict(num_classes=5) for size in ("micro", "atto", "femto", "pico", "nano", "tiny")},
    **{f"resnet_{size}": dict(num_classes=5) for size in ("r10", "r18", "r18w")},
    **{f"efficientnet_{v}": dict(num_classes=5) for v in ("lite0", "lite1", "lite2")},
    "ssd_convnext": dict(num_classes=3, image_size=64, extra_width=16),
    "ssd_efficientnet": dict(num_classes=3, image_size=64, extra_width=16),
    "cagan_g": dict(width=8, depth=3),
    "cagan_d": dict(width=8),
}


def make_input(name: str, n: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if name.startswith("cagan_"):  # try-on: (person, worn, target) stacked for G, (person, article) for D
        return torch.rand(n, 9 if name == "cagan_g" else 6, 32, 24, generator=g) * 2 - 1
    if name.endswith("_g"):
        return torch.randn(n, SMALL[name]["latent_dim"], generator=g)
    side = SMALL[name].get("image_size", 32)
    return torch.rand(n, 3, side, side, generator=g) * 2 - 1


def forward(model, x):
    """One tensor per model: a detector's (box offsets, class logits) flattened side by side."""
    out = model(x)
    return torch.cat([o.flatten(1) for o in out], 1) if isinstance(out, tuple) else out


def loss_of(name: str, out: torch.Tensor) -> torch.Tensor:
    """A fixed task per family: G regresses a target image, D separates two batches, the classifier classifies."""
    if name.endswith("_g"):
        target = torch.linspace(-0.8, 0.8, out[0].numel()).view_as(out[0])
        return F.mse_loss(out, target.expand_as(out))
    if name.endswith("_d"):  # a patch discriminator's map is averaged per image
        return F.binary_cross_entropy_with_logits(out.reshape(len(out), -1).mean(1), torch.tensor([1.0, 1.0, 0.0, 0.0]))
    if name == "latent_encoder":
        return F.mse_loss(out, torch.linspace(-1, 1, out.shape[1]).expand_as(out))
    if name.startswith("ssd_"):  # fixed box offsets, and class 1 for every default box
        return F.mse_loss(out, torch.linspace(-1, 1, out.shape[1]).expand_as(out))
    return F.cross_entropy(out, torch.tensor([0, 1, 2, 3]))


def test_every_registered_model_is_covered():
    assert sorted(SMALL) == list_models()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_shapes_and_range(name):
    model = create_model(name, **SMALL[name])
    out = forward(model, make_input(name))
    if name == "cagan_g":
        x = make_input(name)
        result, alpha, rgb = model(x)
        assert result.shape == rgb.shape == (4, 3, 32, 24) and alpha.shape == (4, 1, 32, 24)
        assert result.min() >= -1 and result.max() <= 1 and alpha.min() >= 0 and alpha.max() <= 1
    elif name == "cagan_d":
        assert out.shape[:2] == (4, 1) and out.shape[2] * out.shape[3] > 1  # one logit per patch
    elif name.endswith("_g"):
        assert out.shape == (4, 3, 32, 32)
        assert out.min() >= -1 and out.max() <= 1
    elif name == "projected_d":  # patch logits of every scale
        assert out.ndim == 2 and out.shape[0] == 4 and out.shape[1] > 4
    elif name.endswith("_d"):
        assert out.shape == (4,)
    elif name == "latent_encoder":
        assert out.shape == (4, 16)
    elif name.startswith("ssd_"):
        loc, conf = model(make_input(name))
        assert loc.shape == (4, len(model.priors), 4) and conf.shape == (4, len(model.priors), 4)
    elif name.startswith("embed_"):
        assert out.shape == (4, 16)
        assert torch.allclose(out.norm(dim=1), torch.ones(4), atol=1e-5)
    else:
        assert out.shape == (4, 5)
        assert model.features(make_input(name)).shape == (4, getattr(model, "feature_dim", 16))


@pytest.mark.parametrize("arch", ["dcgan", "upconv", "projected"])
@pytest.mark.parametrize("size", [32, 64, 96, 128])
def test_gan_pairs_at_every_size(arch, size):
    G = create_model(f"{arch}_g", size=size, latent_dim=8, width=4)
    D = create_model(f"{arch}_d", size=size, width=4)
    x = G(torch.randn(2, 8))
    assert x.shape == (2, 3, size, size)
    assert D(x).shape[0] == 2 and D(x).ndim == (2 if arch == "projected" else 1)
    E = create_model("latent_encoder", size=size, latent_dim=8, width=4)
    assert E(x).shape == (2, 8)


def test_unsupported_size_is_a_clear_error():
    with pytest.raises(ValueError, match="size 80"):
        create_model("dcgan_g", size=80)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_gradients_reach_every_parameter(name):
    model = create_model(name, **SMALL[name])
    loss_of(name, forward(model, make_input(name))).backward()
    for pname, p in model.named_parameters():
        if not p.requires_grad:  # frozen by design (a projected discriminator's ImageNet network)
            assert p.grad is None, pname
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_same_model(name):
    torch.manual_seed(3)
    a = create_model(name, **SMALL[name]).eval()
    torch.manual_seed(3)
    b = create_model(name, **SMALL[name]).eval()
    torch.manual_seed(4)
    c = create_model(name, **SMALL[name]).eval()
    x = make_input(name)
    assert torch.equal(forward(a, x), forward(b, x))
    assert not torch.equal(forward(a, x), forward(c, x))


# the slowest to train a few steps: their smaller siblings cover the same code by default
HEAVY = {"convnext_nano", "resnet_r18w", "ssd_efficientnet", "ssd_convnext"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in sorted(SMALL)])
def test_a_few_steps_lower_the_loss(name):
    torch.manual_seed(0)
    model = create_model(name, **SMALL[name])
    if name.startswith("upconv_d"):
        model.eval()  # dropout noise would blur a 6-step comparison
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = make_input(name)
    first = None
    for _ in range(6):
        loss = loss_of(name, forward(model, x))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_of(name, forward(model, x)).item() < first


@pytest.mark.parametrize("name", sorted(SMALL))
def test_save_load_round_trip_gives_identical_outputs(name, tmp_path):
    model = create_model(name, **SMALL[name])
    model.train()
    forward(model, make_input(name, seed=5))  # move BatchNorm statistics off their initial values
    model.eval()
    path = checkpoint.save_model(tmp_path / "m", model, image_size=[32, 32])
    loaded = checkpoint.load_model(path).eval()
    model.to(memory_format=memory_format(model))  # a loaded model runs in its fastest layout; compare in it
    x = make_input(name, seed=1)
    assert torch.equal(forward(model, x), forward(loaded, x))
    assert loaded.model_spec == model.model_spec


def test_weights_come_only_from_an_explicit_local_file(tmp_path):
    src = create_model("dcgan_d", size=32, width=8)
    path = checkpoint.save_model(tmp_path / "d", src)
    dst = create_model("dcgan_d", size=32, width=8, weights=str(path))
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(FileNotFoundError):
        create_model("dcgan_d", size=32, width=8, weights=str(tmp_path / "missing.safetensors"))


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(KeyError, match="dcgan_g"):
        create_model("stylegan9")
