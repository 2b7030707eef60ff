"""ConvNeXt: public weight layout, head replacement, stage outputs, stochastic depth."""
import pytest
import torch
from safetensors.torch import save_file

from modiste.nn.convnext import ConvNeXt, drop_path, load_convnext_weights
from modiste.nn.registry import create_model

PUBLIC_KEYS = ["stem.0.weight", "stem.1.weight", "stages.0.blocks.0.conv_dw.weight", "stages.0.blocks.0.norm.bias",
               "stages.0.blocks.0.mlp.fc1.weight", "stages.0.blocks.0.mlp.fc2.bias", "stages.0.blocks.0.gamma",
               "stages.1.downsample.0.weight", "stages.1.downsample.1.weight", "head.norm.weight", "head.fc.weight"]


def public_file(tmp_path, num_classes=7, seed=0, fmt="safetensors"):
    """A weights file in the common public layout, written the way other tools write it."""
    torch.manual_seed(seed)
    src = create_model("convnext_micro", num_classes=num_classes)
    state = {k: v.clone() for k, v in src.state_dict().items()}
    if fmt == "safetensors":
        path = tmp_path / "convnext.safetensors"
        save_file(state, str(path))
    else:
        path = tmp_path / "convnext.pth"
        torch.save({"model": state, "epoch": 3}, path)
    return src.eval(), path


def test_parameter_names_follow_the_public_layout():
    keys = set(create_model("convnext_micro", num_classes=3).state_dict())
    assert set(PUBLIC_KEYS) <= keys


@pytest.mark.parametrize("fmt", ["safetensors", "pth"])
def test_weights_in_the_public_layout_load_exactly(tmp_path, fmt):
    src, path = public_file(tmp_path, num_classes=7, fmt=fmt)
    dst = create_model("convnext_micro", num_classes=7, weights=None)
    load_convnext_weights(dst, path)
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(src(x), dst.eval()(x))


def test_a_head_for_another_class_count_is_replaced_and_the_rest_loaded(tmp_path):
    src, path = public_file(tmp_path, num_classes=1000)
    torch.manual_seed(5)
    dst = create_model("convnext_micro", num_classes=4)
    fresh_head = dst.head.fc.weight.clone()
    with pytest.warns(UserWarning, match="1000 classes"):
        load_convnext_weights(dst, path)
    assert torch.equal(dst.stages[2].blocks[1].conv_dw.weight, src.stages[2].blocks[1].conv_dw.weight)
    assert torch.equal(dst.head.fc.weight, fresh_head)
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(dst.eval().features(x), src.features(x))
    assert dst(x).shape == (2, 4)


def test_weights_of_another_size_are_a_clear_error(tmp_path):
    _, path = public_file(tmp_path)
    with pytest.raises(ValueError, match="wrong shape"):
        load_convnext_weights(create_model("convnext_atto", num_classes=7), path)
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pth"):
        load_convnext_weights(create_model("convnext_micro", num_classes=7), tmp_path / "junk.pth")


def test_stage_outputs_have_strides_4_to_32():
    model = ConvNeXt((8, 16, 24, 32), (1, 1, 1, 1), num_classes=2)
    maps = model.feature_maps(torch.rand(1, 3, 128, 96))
    assert [tuple(m.shape[1:]) for m in maps] == [(8, 32, 24), (16, 16, 12), (24, 8, 6), (32, 4, 3)]


def test_stochastic_depth_drops_whole_samples_in_training_only():
    x = torch.ones(1000, 2, 3, 3)
    assert torch.equal(drop_path(x, 0.3, training=False), x)
    y = drop_path(x, 0.3, training=True)
    kept = y.flatten(1).amax(1) > 0
    assert torch.all((y[kept] - 1 / 0.7).abs() < 1e-6) and torch.all(y[~kept] == 0)
    assert 0.6 < kept.float().mean() < 0.8
    model = create_model("convnext_micro", num_classes=3, drop_path_rate=0.5).train()
    x = torch.rand(4, 3, 32, 32)
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    assert not torch.equal(a, model(x))  # a different set of branches dropped
    model.eval()
    assert torch.equal(model(x), model(x))


def test_embedding_backbone_starts_from_a_public_weights_file(tmp_path):
    src, path = public_file(tmp_path, num_classes=1000)
    with pytest.warns(UserWarning, match="head left as initialised"):
        emb = create_model("embed_convnext", dim=32, size="micro", backbone_weights=str(path)).eval()
    x = torch.rand(3, 3, 64, 64)
    assert torch.allclose(emb.backbone.features(x), src.features(x))
    out = emb(x)
    assert out.shape == (3, 32) and torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
