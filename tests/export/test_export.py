import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from modiste.detect.model import Detector  # noqa: E402
from modiste.retrieval.embed.model import Embedder  # noqa: E402
from modiste.export import (FORMAT, ExportCheckError, OnnxDetector, export_onnx, priors_path,  # noqa: E402
                            read_sidecar, sidecar_path)
from modiste.nn import checkpoint  # noqa: E402
from modiste.nn.registry import create_model  # noqa: E402

CLASSES = ["top", "bag", "shoe"]


def _scramble(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Weights far from the near-identity init (layer scale 1e-6, zero class heads), so the check means something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return net


@pytest.fixture(scope="module")
def detector_ckpt(tmp_path_factory):
    net = _scramble(create_model("ssd_convnext", num_classes=3, image_size=64, extra_width=16), 0)
    path = tmp_path_factory.mktemp("det") / "checkpoints" / "best.safetensors"
    checkpoint.save_models(path, {"model": net}, {"kind": "detector", "classes": CLASSES, "image_size": 64})
    return path.parent.parent  # the run folder, as users pass it


@pytest.fixture(scope="module")
def embedding_ckpt(tmp_path_factory):
    net = _scramble(create_model("embed_convnext", dim=16), 1)
    path = tmp_path_factory.mktemp("emb") / "model.safetensors"
    checkpoint.save_models(path, {"model": net}, {"kind": "embedding", "image_size": 64, "resize": "letterbox",
                                                  "dim": 16})
    return path


@pytest.fixture(scope="module")
def detector_onnx(detector_ckpt, tmp_path_factory):
    return export_onnx(detector_ckpt, tmp_path_factory.mktemp("out") / "det.onnx")


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"images": x.numpy()})


@pytest.mark.parametrize("batch", [1, 3])
def test_detector_onnx_matches_torch(detector_ckpt, detector_onnx, batch):
    det = Detector.load(detector_ckpt, device="cpu")
    x = torch.rand(batch, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        loc, conf = det.net(x)
    got_loc, got_conf = _run(detector_onnx, x)
    assert got_loc.shape == tuple(loc.shape) and got_conf.shape == tuple(conf.shape)
    np.testing.assert_allclose(got_loc, loc.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(got_conf, conf.numpy(), rtol=1e-3, atol=1e-4)
    assert conf.std() > 0.1  # the scrambled heads do not all say "background"


@pytest.mark.parametrize("batch", [1, 3])
def test_embedding_onnx_matches_torch(embedding_ckpt, tmp_path, batch):
    path = export_onnx(embedding_ckpt, tmp_path / "emb.onnx")
    model = Embedder.load(embedding_ckpt, device="cpu")
    x = torch.rand(batch, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ref = model.net(x)
    (got,) = _run(path, x)
    assert got.shape == (batch, 16)
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-3, atol=1e-4)
    side = read_sidecar(path)
    assert side["kind"] == "embedding" and side["dim"] == 16 and side["resize"] == "letterbox"
    assert side["outputs"] == ["embedding"] and "priors" not in side and not priors_path(path).exists()


def test_onnx_detector_gives_the_same_detections(detector_ckpt, detector_onnx):
    g = torch.Generator().manual_seed(3)
    images = [torch.randint(0, 256, (3, 90, 70), dtype=torch.uint8, generator=g),
              torch.randint(0, 256, (3, 48, 120), dtype=torch.uint8, generator=g)]
    ref = Detector.load(detector_ckpt, device="cpu", score_threshold=0.2).detect(images)
    got = OnnxDetector.load(detector_onnx, score_threshold=0.2).detect(images)
    assert sum(len(d) for d in ref) > 0
    for r, o in zip(ref, got):
        assert (r.width, r.height) == (o.width, o.height) and r.classes == o.classes == CLASSES
        assert torch.equal(r.labels, o.labels)
        torch.testing.assert_close(o.boxes, r.boxes, rtol=0, atol=1e-3)  # pixels
        torch.testing.assert_close(o.scores, r.scores, rtol=0, atol=1e-4)


def test_sidecar_round_trips(detector_ckpt, detector_onnx):
    side = read_sidecar(detector_onnx)
    assert side == json.loads(json.dumps(side))
    assert side["format"] == FORMAT and side["kind"] == "detector" and side["classes"] == CLASSES
    assert side["image_size"] == 64 and side["normalisation"] == "x/127.5-1" and side["resize"] == "stretch"
    assert side["variances"] == [0.1, 0.2] and side["input"]["name"] == "images"
    assert side["input"]["shape"][0] == "batch" and side["outputs"] == ["loc", "conf"]
    assert side["check"]["max_abs_diff"] <= 1e-3
    det = Detector.load(detector_ckpt, device="cpu")
    assert side["postprocess"]["score_threshold"] == det.score_threshold
    priors = np.load(detector_onnx.parent / side["priors"])
    np.testing.assert_array_equal(priors, det.net.priors.numpy())
    assert sidecar_path(detector_onnx).name == "det.onnx.json"


def test_default_output_sits_beside_the_checkpoint(detector_ckpt):
    out = export_onnx(detector_ckpt, check=False)
    assert out == detector_ckpt / "checkpoints" / "best.onnx" and out.exists()
    # the checkpoint's own JSON sidecar is left alone
    assert checkpoint.read_meta(detector_ckpt / "checkpoints" / "best.json")["kind"] == "detector"
    assert read_sidecar(out)["check"] is None


def test_a_non_model_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.txt"):
        export_onnx(bad, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_a_checkpoint_of_another_kind_is_refused_by_name(tmp_path):
    net = create_model("dcgan_d", size=32, width=8)
    path = checkpoint.save_models(tmp_path / "gan.safetensors", {"D": net}, {"kind": "gan"})
    with pytest.raises(ValueError, match=r"gan\.safetensors.*'gan'"):
        export_onnx(path)


def test_a_failed_check_writes_nothing(detector_ckpt, tmp_path, monkeypatch):
    import modiste.export as export

    real = export._session

    class Off:
        def __init__(self, path):
            self.sess = real(path)

        def run(self, names, feeds):
            return [o + 1.0 for o in self.sess.run(names, feeds)]

    monkeypatch.setattr(export, "_session", lambda path, threads=None: Off(path))
    with pytest.raises(ExportCheckError, match="max abs diff"):
        export_onnx(detector_ckpt, tmp_path / "d.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_command(detector_ckpt, tmp_path):
    import typer
    from typer.testing import CliRunner

    from modiste.export.cli import export_command

    app = typer.Typer()
    app.command()(export_command)
    out = tmp_path / "d.onnx"
    result = CliRunner().invoke(app, [str(detector_ckpt), "--format", "onnx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "max abs diff" in result.output and out.exists()
    result = CliRunner().invoke(app, [str(detector_ckpt), "--format", "tflite"])
    assert result.exit_code != 0 and "onnx" in result.output
    assert "Example: modiste export" in (export_command.__doc__ or "")


def test_pretrained_backbones_export_and_match(tmp_path):
    """EfficientNet-Lite's size-dependent "SAME" padding survives export (fixed input size)."""
    net = create_model("embed_efficientnet", dim=16).eval()
    path = tmp_path / "model.safetensors"
    checkpoint.save_models(path, {"model": net}, {"kind": "embedding", "image_size": 96, "resize": "letterbox", "dim": 16})
    onnx_path = export_onnx(path, tmp_path / "emb.onnx")
    x = torch.rand(2, 3, 96, 96) * 2 - 1
    with torch.no_grad():
        expected = Embedder.load(path, device="cpu").net(x)
    np.testing.assert_allclose(_run(onnx_path, x)[0], expected.numpy(), atol=1e-4)
