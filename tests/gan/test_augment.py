import pytest
import torch

from modiste.gan.augment import DiffAugment, cutout, translation


def test_policy_shapes_gradients_and_seeded_repeatability():
    aug = DiffAugment("color,translation,cutout")
    x = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_()
    torch.manual_seed(0)
    y = aug(x)
    torch.manual_seed(0)
    assert torch.equal(y, aug(x))
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_empty_policy_is_identity_and_unknown_is_an_error():
    x = torch.rand(2, 3, 8, 8)
    assert not DiffAugment("")
    assert torch.equal(DiffAugment("")(x), x)
    with pytest.raises(ValueError, match="rotate"):
        DiffAugment("rotate")


def test_translation_moves_content_and_fills_with_zero():
    x = torch.ones(64, 1, 16, 16)
    y = translation(x, ratio=0.25)
    zero_share = (y == 0).float().mean(dim=(1, 2, 3))
    assert (zero_share > 0).any()  # some images moved, uncovered border is zero (mid grey)
    assert (zero_share <= 1 - (12 / 16) ** 2 + 1e-6).all()  # never more than a 4-px shift on each axis


def test_cutout_removes_a_quarter_of_the_image_at_most():
    x = torch.ones(32, 3, 16, 16)
    y = cutout(x, ratio=0.5)
    removed = 1 - y.mean(dim=(1, 2, 3))
    assert (removed > 0).all() and (removed <= 0.25 + 1e-6).all()


def test_channels_last_layout_is_kept():
    x = torch.rand(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    assert translation(x).is_contiguous(memory_format=torch.channels_last)
