import json

import pytest
import torch

from modiste.data.augment import SnapAugment, _about_grey_axis, gaussian_blur, homography, warp

# every operation off and the crop the whole image; tests switch on what they check
OFF = dict(scale=(1.0, 1.0), p_perspective=0.0, p_flip=0.0, rotate=0.0, p_color=0.0, p_gray=0.0, p_blur=0.0)


def batch(n=8, h=32, w=32, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, h, w, generator=g, dtype=dtype) * 2 - 1)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def total_variation(x):
    return (x.diff(dim=-1).abs().sum(dim=(1, 2, 3)) + x.diff(dim=-2).abs().sum(dim=(1, 2, 3)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_range(dtype):
    x = batch(dtype=dtype)
    y = SnapAugment()(x, generator=gen(0))
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert y.min() >= -1 and y.max() <= 1
    assert not torch.allclose(y, x, atol=1e-2)


def test_same_seed_same_output_other_seed_differs():
    x, aug = batch(), SnapAugment()
    a = aug(x, generator=gen(3))
    assert torch.equal(a, aug(x, generator=gen(3)))
    assert not torch.allclose(a, aug(x, generator=gen(4)), atol=1e-3)
    g = gen(3)
    aug(x, generator=g)
    assert not torch.allclose(a, aug(x, generator=g), atol=1e-3)  # the generator moves on


def test_strength_zero_is_exact_identity():
    x = batch()
    assert torch.equal(SnapAugment(strength=0.0)(x, generator=gen(0)), x)
    assert not torch.allclose(SnapAugment(strength=0.2)(x, generator=gen(0)), x, atol=1e-3)


@pytest.mark.parametrize("size", [(32, 32), (24, 40)])
def test_everything_off_warps_to_identity(size):
    x = batch(h=size[0], w=size[1])
    torch.testing.assert_close(SnapAugment(**OFF)(x, generator=gen(0)), x, atol=1e-5, rtol=0)


def test_flip_only_equals_torch_flip():
    x = batch(h=24, w=40)
    y = SnapAugment(**{**OFF, "p_flip": 1.0})(x, generator=gen(0))
    torch.testing.assert_close(y, torch.flip(x, dims=[3]), atol=1e-5, rtol=0)


def test_homography_maps_source_corners_to_destination_corners():
    g = gen(0)
    square = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    src = square + 0.3 * (torch.rand(64, 4, 2, generator=g, dtype=torch.float64) * 2 - 1)
    dst = 2 * square + 0.8 * (torch.rand(64, 4, 2, generator=g, dtype=torch.float64) * 2 - 1)
    m = homography(src, dst)
    assert m.shape == (64, 3, 3)
    mapped = torch.cat([src, torch.ones(64, 4, 1, dtype=torch.float64)], dim=-1) @ m.mT
    torch.testing.assert_close(mapped[..., :2] / mapped[..., 2:], dst, atol=1e-9, rtol=0)


def test_warp_uses_pixel_centre_coordinates():
    # output x maps to input x + 3 pixels: a shift of 3 * 2 / W in normalised units
    x = batch(n=2, h=16, w=20, dtype=torch.float64)
    m = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1)
    m[:, 0, 2] = 3 * 2 / 20
    torch.testing.assert_close(warp(x, m)[..., :17], x[..., 3:], atol=1e-9, rtol=0)
    torch.testing.assert_close(warp(x, m, fill=1.0)[..., 17:], torch.ones(2, 3, 16, 3, dtype=torch.float64))


def test_blur_lowers_total_variation():
    x = batch()
    y = SnapAugment(**{**OFF, "p_blur": 1.0, "blur_sigma": (0.8, 1.5)})(x, generator=gen(0))
    assert (total_variation(y) < 0.6 * total_variation(x)).all()
    # per-image sigma: more blur, less variation; a flat image stays flat (kernel sums to 1)
    two = batch(n=1).repeat(2, 1, 1, 1)
    tv = total_variation(gaussian_blur(two, torch.tensor([0.5, 1.5]), radius=5))
    assert tv[1] < tv[0]
    flat = torch.full((1, 3, 16, 16), 0.25)
    torch.testing.assert_close(gaussian_blur(flat, torch.tensor([1.5]), radius=5), flat)


def test_grayscale_gives_equal_channels():
    x = batch()
    y = SnapAugment(p_gray=1.0)(x, generator=gen(0))
    torch.testing.assert_close(y[:, 1], y[:, 0], atol=1e-6, rtol=0)
    torch.testing.assert_close(y[:, 2], y[:, 0], atol=1e-6, rtol=0)
    assert not torch.allclose(x[:, 1], x[:, 0], atol=1e-2)


def test_hue_and_saturation_keep_grey_grey():
    aug = SnapAugment(**{**OFF, "p_color": 1.0, "brightness": 0.0, "contrast": 0.0})
    grey = torch.linspace(-0.9, 0.9, 8)[:, None, None, None].expand(8, 3, 16, 16).contiguous()
    torch.testing.assert_close(aug(grey, generator=gen(0)), grey, atol=1e-6, rtol=0)
    x = batch()
    assert not torch.allclose(aug(x, generator=gen(0)), x, atol=1e-2)
    # the hue turn is a rotation: it keeps distances, not only the grey axis
    r = _about_grey_axis(torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(r @ r.mT, torch.eye(3, dtype=torch.float64).expand(3, 3, 3))


def test_settings_round_trip_through_json():
    aug = SnapAugment(scale=(0.5, 0.9), fill=1.0, strength=0.5)
    back = SnapAugment.from_dict(json.loads(json.dumps(aug.to_dict())))
    assert back == aug and back.scale == (0.5, 0.9)
    assert repr(back).startswith("SnapAugment(") and "strength=0.5" in repr(back)
    with pytest.raises(ValueError, match="unknown"):
        SnapAugment.from_dict({"stength": 0.5})
    with pytest.raises(ValueError):
        SnapAugment(p_flip=1.5)
