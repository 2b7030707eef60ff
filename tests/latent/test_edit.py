"""Edits along a boundary's normal, onto its hyperplane, between two designs and along directions."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from modiste.gan import GAN
from modiste.latent.boundary import Boundary
from modiste.latent.directions import latent_pca
from modiste.latent.edit import (between, direction_sheet, edit, edit_codes, hyperplane_designs, signed_distance,
                                 to_hyperplane)
from modiste.results import to_uint8

D = 100


@pytest.fixture(scope="module")
def boundary():
    rng = np.random.default_rng(0)
    return Boundary(rng.normal(size=D), 0.7, pos="collection", neg="everyday")


@pytest.fixture(scope="module")
def z(tiny_gan):
    return tiny_gan.latents(3, seed=11)


def _images_of(gan, z):
    return to_uint8(gan.generate(z))


def _close_images(a, b):
    return (a.int() - b.int()).abs().max() <= 1  # another batch size may round a pixel the other way


def test_relative_edits_move_by_the_amounts(boundary, z):
    amounts = [-2.0, 0.0, 0.5, 3.0]
    codes = edit_codes(z, boundary, amounts)
    assert codes.shape == (3, 4, D)
    assert torch.allclose(codes[:, 1], z)
    d0 = signed_distance(z, boundary)
    for j, t in enumerate(amounts):
        assert torch.allclose(signed_distance(codes[:, j], boundary), d0 + t, atol=1e-4)
        step = codes[:, j] - z  # along the normal only
        assert torch.allclose(step, t * torch.as_tensor(boundary.normal, dtype=torch.float32).expand_as(step), atol=1e-5)


def test_absolute_edits_land_at_the_signed_distances(boundary, z):
    amounts = [-1.5, 0.0, 2.0]
    codes = edit_codes(z, boundary, amounts, absolute=True)
    for j, t in enumerate(amounts):
        assert torch.allclose(signed_distance(codes[:, j], boundary), torch.full((3,), t), atol=1e-4)
    # the component orthogonal to the normal is each code's own
    n = torch.as_tensor(boundary.normal, dtype=torch.float32)
    ortho = lambda c: c - (c @ n)[:, None] * n  # noqa: E731
    assert torch.allclose(ortho(codes[:, 0]), ortho(z), atol=1e-5)


def test_to_hyperplane_gives_signed_distance_zero_at_the_closest_point(boundary, z):
    on = to_hyperplane(z, boundary)
    assert torch.allclose(signed_distance(on, boundary), torch.zeros(3), atol=1e-5)
    n = torch.as_tensor(boundary.normal, dtype=torch.float32)
    moved = z - on  # a multiple of the normal: nothing else about the design changes
    assert torch.allclose(moved, (moved @ n)[:, None] * n, atol=1e-5)
    assert torch.allclose(moved.norm(dim=1), signed_distance(z, boundary).abs(), atol=1e-4)


def test_any_object_with_a_unit_normal_and_an_offset_is_a_boundary():
    plane = SimpleNamespace(normal=np.array([0.0, 1.0]), offset=-2.0)  # the line y = 2
    z = torch.tensor([[5.0, 7.0], [-1.0, 0.0]])
    assert torch.allclose(signed_distance(z, plane), torch.tensor([5.0, -2.0]))
    assert torch.allclose(to_hyperplane(z, plane), torch.tensor([[5.0, 2.0], [-1.0, 2.0]]))


def test_edit_strip_rows_are_codes_columns_are_amounts(tiny_gan, boundary, z):
    amounts = [-3.0, 0.0, 3.0]
    strip = edit(tiny_gan, z[:2], boundary, amounts=amounts, names=["a.png", "b.png"])
    assert strip.images.shape == (6, 3, 32, 32) and strip.nrow == 3
    assert strip.names[:3] == ["code000_step00", "code000_step01", "code000_step02"]
    assert torch.allclose(strip.z.view(2, 3, D)[:, 1], z[:2])
    assert _close_images(strip.images.view(2, 3, 3, 32, 32)[:, 1], _images_of(tiny_gan, z[:2]))
    d = np.array(strip.info["distances"])
    d0 = signed_distance(z[:2], boundary).numpy()
    assert np.allclose(d - d0[:, None], [amounts, amounts], atol=1e-4)
    assert strip.info["boundary"] == {"pos": "collection", "neg": "everyday"}
    assert strip.info["sources"] == ["a.png", "b.png"]
    assert not torch.equal(strip.images[0], strip.images[2])  # a move of 6 changes the design


def test_edits_stay_in_a_uniform_priors_box(tiny_gan, boundary, z):
    box = GAN(tiny_gan.G, None, {**tiny_gan.meta, "latent": {"dim": D, "prior": "uniform"}}, tiny_gan.path)
    start = z.clamp(-1, 1)
    strip = edit(box, start, boundary, amounts=[-20.0, 20.0])
    assert strip.z.abs().max() <= 1
    pair = hyperplane_designs(box, start, boundary)
    assert pair.z.abs().max() <= 1
    mid = between(box, start[0] * 5, start[1] * 5, steps=3)
    assert mid.z.abs().max() <= 1


def test_hyperplane_designs_pair_each_design_with_its_twin_between_the_groups(tiny_gan, boundary, z):
    pairs = hyperplane_designs(tiny_gan, z, boundary, names=["x", "y", "w"])
    assert pairs.images.shape == (6, 3, 32, 32) and pairs.nrow == 2
    assert pairs.names[:2] == ["code000_original", "code000_between"]
    assert np.allclose(pairs.info["distance_after"], 0, atol=1e-4)
    assert np.allclose(pairs.info["distance_before"], signed_distance(z, boundary).numpy(), atol=1e-5)
    assert torch.allclose(pairs.z[0::2], z)
    assert _close_images(pairs.images[0::2], _images_of(tiny_gan, z))


def test_between_runs_from_a_to_b_through_the_midpoint(tiny_gan, z):
    a, b = z[0], z[1]
    strip = between(tiny_gan, a, b, steps=5)
    assert strip.images.shape == (5, 3, 32, 32) and strip.nrow == 5 and strip.info["midpoint_index"] == 2
    assert torch.allclose(strip.z[0], a, atol=1e-5) and torch.allclose(strip.z[-1], b, atol=1e-5)
    assert _close_images(strip.images[[0, 4]], _images_of(tiny_gan, torch.stack([a, b])))
    lerp = between(tiny_gan, a, b, steps=3, method="lerp")
    assert torch.allclose(lerp.z[1], (a + b) / 2, atol=1e-6)
    # slerp keeps to the shell between codes of one norm, where the straight line cuts inside it
    b_same_norm = b / b.norm() * a.norm()
    arc = between(tiny_gan, a, b_same_norm, steps=3)
    assert torch.allclose(arc.z[1].norm(), a.norm(), rtol=1e-4)
    assert ((a + b_same_norm) / 2).norm() < a.norm() - 1e-3


def test_between_refuses_even_steps_and_unknown_methods(tiny_gan, z):
    with pytest.raises(ValueError, match="odd"):
        between(tiny_gan, z[0], z[1], steps=4)
    with pytest.raises(ValueError, match="odd and at least 3"):
        between(tiny_gan, z[0], z[1], steps=1)
    with pytest.raises(ValueError, match="'slerp' or 'lerp'"):
        between(tiny_gan, z[0], z[1], method="cubic")


def test_direction_sheet_has_one_row_per_direction_centred_on_the_design(tiny_gan):
    dirs = latent_pca(tiny_gan.latents(64, seed=0), k=4)
    z0 = tiny_gan.latents(1, seed=5)[0]
    sheet = direction_sheet(tiny_gan, dirs, z0, sigmas=2.0, steps=5, count=3)
    assert sheet.images.shape == (15, 3, 32, 32) and sheet.nrow == 5
    assert sheet.names[5] == "dir01_step00"
    rows = sheet.z.view(3, 5, D)
    assert torch.allclose(rows[:, 2], z0.expand(3, D), atol=1e-5)
    for i in range(3):  # each row moves along its own direction by -2..2 of that direction's spread
        step = (rows[i, -1] - rows[i, 0]).double().numpy()
        assert np.allclose(step, 4.0 * dirs.scale[i] * dirs.vectors[i], atol=1e-4)
    assert sheet.info["sigmas"] == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert len(sheet.info["explained_variance_ratio"]) == 3
    assert len(direction_sheet(tiny_gan, dirs, z0, steps=3)) == 4 * 3  # count defaults to every direction
