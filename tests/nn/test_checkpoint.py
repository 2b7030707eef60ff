"""Checkpoint files: self-describing, atomic, clear errors."""
import json

import pytest
import torch

from modiste.nn import checkpoint
from modiste.nn.registry import create_model


def test_description_lives_in_the_tensor_file_and_the_sidecar(tmp_path):
    model = create_model("dcgan_g", size=32, latent_dim=8, width=4)
    path = checkpoint.save_model(tmp_path / "g", model, image_size=[32, 32], class_names=None)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["models"]["model"] == {"arch": "dcgan_g", "kwargs": {"size": 32, "latent_dim": 8, "width": 4}}
    assert sidecar["format"] == checkpoint.FORMAT and "modiste_version" in sidecar
    path.with_suffix(".json").unlink()  # the tensor file alone must still rebuild the model
    assert checkpoint.load_model(path).model_spec == model.model_spec


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model = create_model("dcgan_d", size=32, width=4)
    path = checkpoint.save_model(tmp_path / "d", model)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", boom)
    with torch.no_grad():
        next(model.parameters()).add_(1)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_model(tmp_path / "d", model)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_several_models_in_one_file_need_a_name(tmp_path):
    g = create_model("dcgan_g", size=32, latent_dim=8, width=4)
    d = create_model("dcgan_d", size=32, width=4)
    path = checkpoint.save_models(tmp_path / "gan", {"G": g, "D": d})
    with pytest.raises(ValueError, match="say which one"):
        checkpoint.load_model(path)
    assert checkpoint.load_model(path, "D").model_spec["arch"] == "dcgan_d"
    with pytest.raises(KeyError, match="no model 'E'"):
        checkpoint.load_model(path, "E")


def test_resolve_accepts_run_folders_files_and_sidecars(tmp_path):
    model = create_model("dcgan_d", size=32, width=4)
    path = checkpoint.save_model(tmp_path / "run" / "checkpoints" / "latest", model)
    assert checkpoint.resolve(tmp_path / "run") == path
    assert checkpoint.resolve(path.with_suffix(".json")) == path
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint.resolve(tmp_path)


def test_damaged_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="bad.safetensors: not a readable safetensors checkpoint"):
        checkpoint.load_model(bad)
