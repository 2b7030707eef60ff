import json

import numpy as np
import pytest
import torch

from modiste.latent.directions import Directions, activations, default_layer, ganspace, latent_pca
from modiste.nn.registry import create_model

LATENT = 16


def tiny_g(seed=0):
    torch.manual_seed(seed)
    return create_model("dcgan_g", size=32, latent_dim=LATENT, width=8)


def anisotropic_g(seed=0):
    """A tiny generator whose first layer varies most along an arbitrary (rotated) latent direction.

    At initialisation every latent direction moves the first layer about equally, so nothing could tell
    a good direction from a random one; a trained generator is not like that.
    """
    G = tiny_g(seed)
    gen = torch.Generator().manual_seed(100 + seed)
    q, _ = torch.linalg.qr(torch.randn(LATENT, LATENT, generator=gen))
    a = q @ torch.diag(torch.cat([torch.tensor([4.0]), torch.linspace(2.0, 0.5, LATENT - 1)])) @ q.T
    with torch.no_grad():
        G.net[0].weight.copy_(torch.einsum("ij,jkhw->ikhw", a, G.net[0].weight))
    return G, q[:, 0]


@pytest.fixture(scope="module")
def g_and_dirs():
    G, top = anisotropic_g()
    return G, top, ganspace(G, latent_dim=LATENT, n=256, k=5, batch=128)


def test_latent_pca():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 8)) * np.array([5, 3, 1, 1, 1, 1, 1, 1])
    d = latent_pca(torch.from_numpy(z), k=3)
    assert d.vectors.shape == (3, 8) and d.method == "latent-pca"
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1, atol=1e-9)
    assert abs(d.vectors[0, 0]) > 0.99 and abs(d.vectors[1, 1]) > 0.99
    assert np.all(np.diff(d.explained_variance_ratio) <= 0)
    np.testing.assert_allclose(d.scale[:2], [5, 3], rtol=0.15)


def test_ganspace_shapes_and_determinism(g_and_dirs):
    G, _, d = g_and_dirs
    assert default_layer(G) == "net.2" and d.layer == "net.2" and d.method == "ganspace"
    assert d.vectors.shape == (5, LATENT) and d.scale.shape == (5,)
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1, atol=1e-9)
    assert np.all(np.diff(d.explained_variance_ratio) <= 0) and d.explained_variance_ratio.sum() <= 1
    assert G.training  # its mode is restored
    again = ganspace(G, latent_dim=LATENT, n=256, k=5, batch=100)
    np.testing.assert_allclose(again.vectors, d.vectors, atol=1e-6)
    other = ganspace(G, latent_dim=LATENT, n=256, k=5, seed=1)
    assert not np.allclose(other.vectors, d.vectors)


def test_first_direction_moves_the_layer_most(g_and_dirs):
    G, top, d = g_and_dirs
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(32, LATENT, generator=gen)
    randoms = torch.randn(16, LATENT, generator=gen)
    steps = torch.cat([torch.as_tensor(d.vectors, dtype=torch.float32), randoms / randoms.norm(dim=1, keepdim=True)])
    moved = torch.cat([z] + [z + 2.0 * s for s in steps])
    a = activations(G, moved, layer=d.layer).view(len(steps) + 1, len(z), -1)
    change = (a[1:] - a[0]).norm(dim=2).mean(1)  # mean change of the layer per direction
    assert change[0] > 1.5 * change[5:].mean()
    assert change[0] > change[4]
    assert abs(float(torch.as_tensor(d.vectors[0], dtype=torch.float32) @ top)) > 0.9


def test_ganspace_finds_a_planted_direction():
    G = tiny_g(1)
    with torch.no_grad():
        G.net[0].weight[3] *= 5  # latent axis 3 now dominates the first layer
    d = ganspace(G, latent_dim=LATENT, prior="uniform", n=256, k=3, layer="net.2")
    assert abs(d.vectors[0, 3]) > 0.9
    assert abs(d.scale[0] - np.sqrt(1 / 3)) < 0.1  # U(-1, 1) has std 1/sqrt(3)


def test_ganspace_errors():
    G = tiny_g()
    with pytest.raises(ValueError, match="no module 'nope'"):
        ganspace(G, latent_dim=LATENT, n=10, layer="nope")
    with pytest.raises(ValueError, match="prior"):
        ganspace(G, latent_dim=LATENT, n=10, prior="cauchy")


def test_upconv_default_layer():
    G = create_model("upconv_g", size=32, latent_dim=LATENT, width=4)
    assert default_layer(G) == "dense.2"


def test_save_load_and_move(tmp_path, g_and_dirs):
    _, _, d = g_and_dirs
    back = Directions.load(d.save(tmp_path / "dirs.json"))
    assert back.to_json() == d.to_json()
    z = np.zeros(LATENT, dtype=np.float32)
    moved = back.move(z, 0, [-1, 1])
    assert moved.shape == (2, LATENT) and moved.dtype == np.float32
    np.testing.assert_allclose(moved[1] @ back.vectors[0], back.scale[0], rtol=1e-5)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "modiste.boundary"}))
    with pytest.raises(ValueError, match="bad.json.*not a modiste directions"):
        Directions.load(bad)
