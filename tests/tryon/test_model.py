"""The CAGAN networks: shapes, value ranges, the composite, any input size."""
import pytest
import torch

from modiste.nn.cagan import composite
from modiste.nn.registry import create_model


def images(n, h=32, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 3, h, w, generator=g) * 2 - 1 for _ in range(3)]


def test_generator_shapes_and_ranges():
    G = create_model("cagan_g", width=8, depth=3)
    x, y, yj = images(3)
    result, alpha, rgb = G(x, y, yj)
    assert result.shape == rgb.shape == (3, 3, 32, 24) and alpha.shape == (3, 1, 32, 24)
    assert -1 <= result.min() and result.max() <= 1
    assert 0 <= alpha.min() and alpha.max() <= 1
    assert torch.equal(G(torch.cat([x, y, yj], 1))[0], result)  # one 9-channel stack is the same input


@pytest.mark.parametrize("h,w", [(30, 22), (64, 48), (37, 29)])
def test_generator_takes_sizes_that_do_not_halve_evenly(h, w):
    G = create_model("cagan_g", width=8, depth=3)
    result, alpha, _ = G(*images(2, h, w))
    assert result.shape == (2, 3, h, w) and alpha.shape == (2, 1, h, w)


def test_discriminator_gives_a_map_of_patch_logits_and_adds_noise_only_in_training():
    D = create_model("cagan_d", width=8)
    x, y, _ = images(2, 64, 48)
    D.eval()
    out = D(x, y)
    assert out.shape[:2] == (2, 1) and out.shape[2] * out.shape[3] > 1
    assert torch.equal(D(torch.cat([x, y], 1)), out)
    D.noise_std = 0.5
    assert torch.equal(D(x, y), out)  # eval: no noise
    D.train()
    assert not torch.equal(D(x, y), D(x, y))  # training: fresh noise each call
    D.noise_std = 0.0
    assert torch.equal(D(x, y), D(x, y))


def test_composite_keeps_the_person_exactly_where_alpha_is_zero():
    x, rgb, _ = images(2)
    alpha = torch.zeros(2, 1, 32, 24)
    alpha[..., 10:20, 5:15] = 1.0
    out = composite(rgb, alpha, x)
    keep = alpha.expand_as(x) == 0
    assert torch.equal(out[keep], x[keep])
    assert torch.equal(out[~keep], rgb[~keep])


def test_generator_with_alpha_shut_returns_the_person_unchanged():
    G = create_model("cagan_g", width=8, depth=3)
    with torch.no_grad():
        G.head.bias[3] = -1e4  # alpha logits far below zero: sigmoid is exactly 0
    x, y, yj = images(2)
    result, alpha, _ = G(x, y, yj)
    assert torch.all(alpha == 0)
    assert torch.equal(result, x)
