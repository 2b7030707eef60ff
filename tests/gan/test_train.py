"""GAN training runs end to end: run folder, exact resume, kill -9, Ctrl-C, bad files, DDP."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from modiste.data import BadImageWarning
from modiste.gan import GAN
from modiste.gan.config import GANConfig
from modiste.gan.loop import build_networks
from modiste.nn import checkpoint

TINY = dict(size=32, g_width=8, d_width=8, batch=8, tick_kimg=0.04, workers=0)  # 5 steps a tick


def _same_weights(a, b) -> list[str]:
    ta, _ = checkpoint.read(a)
    tb, _ = checkpoint.read(b)
    assert ta.keys() == tb.keys()
    return [k for k in ta if not torch.equal(ta[k], tb[k])]


@pytest.mark.parametrize("arch, prior", [("dcgan", "normal"), ("upconv", "uniform"), ("projected", "normal")])
def test_training_fills_the_run_folder(tiny_catalog, tmp_path, arch, prior):
    gan = GAN.train(tiny_catalog.csv, out=tmp_path / "run", arch=arch, prior=prior, kimg=0.08,
                    snapshot_ticks=1, progress=False, **TINY)
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10]
    assert {"loss_D", "loss_G", "D_real", "D_fake", "images_per_s", "kimg", "epoch"} <= rows[0].keys()
    assert all(torch.isfinite(torch.tensor([r["loss_D"], r["loss_G"]])).all() for r in rows)
    for name in ("config.json", "loss.png", "summary.json", "samples/latest.png", "samples/step-0000010.png",
                 "checkpoints/latest.safetensors", "checkpoints/latest.json", "checkpoints/step-0000005.safetensors"):
        assert (run / name).exists(), name
    config = json.loads((run / "config.json").read_text())
    assert config["arch"] == arch and config["prior"] == prior
    assert gan.meta["step"] == 10 and gan.size == 32 and gan.prior == prior
    assert Image.open(run / "samples" / "latest.png").size[0] > 8 * 32


@pytest.mark.parametrize("arch", ["dcgan", pytest.param("projected", marks=pytest.mark.slow)])
def test_resume_continues_exactly(tiny_catalog, tmp_path, arch):
    GAN.train(tiny_catalog.csv, out=tmp_path / "straight", arch=arch, kimg=0.16, progress=False, **TINY)
    GAN.train(tiny_catalog.csv, out=tmp_path / "halves", arch=arch, kimg=0.08, progress=False, **TINY)
    gan = GAN.train(out=tmp_path / "halves", resume=True, kimg=0.16, progress=False)
    assert gan.meta["step"] == 20
    assert _same_weights(tmp_path / "straight", tmp_path / "halves") == []
    steps = [json.loads(x)["step"] for x in (tmp_path / "halves" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20]


def test_projected_discriminator_reads_through_frozen_imagenet_weights(tiny_catalog, tmp_path):
    from modiste.nn.pretrained import imagenet_state

    gan = GAN.train(tiny_catalog.csv, out=tmp_path / "run", arch="projected", kimg=0.08, progress=False, **TINY)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["loss"] == "hinge" and config["beta1"] == 0.0 and config["backbone"] == "efficientnet_lite0"
    tensors, _ = checkpoint.read(tmp_path / "run")
    imagenet = imagenet_state("efficientnet_lite0")
    backbone = {k.removeprefix("D.backbone."): v for k, v in tensors.items()
                if k.startswith("D.backbone.") and not k.endswith("num_batches_tracked")}
    assert len(backbone) > 100 and all(torch.equal(v, imagenet[k]) for k, v in backbone.items())  # BatchNorm statistics too
    torch.manual_seed(0)  # the run's seed: its starting networks
    _, start = build_networks(GANConfig(data="-", arch="projected", kimg=1, size=32, g_width=8, d_width=8))
    start = start.state_dict()
    heads = [k for k in tensors if k.startswith("D.heads.") and k.endswith("original")]
    assert heads and all(not torch.equal(tensors[k], start[k.removeprefix("D.")]) for k in heads)  # the heads learnt
    assert gan.D.train().backbone.training is False


def test_an_existing_run_is_never_overwritten(tiny_catalog, tmp_path):
    GAN.train(tiny_catalog.csv, out=tmp_path / "run", kimg=0.04, progress=False, **TINY)
    with pytest.raises(FileExistsError, match="--resume"):
        GAN.train(tiny_catalog.csv, out=tmp_path / "run", kimg=0.04, progress=False, **TINY)
    with pytest.raises(ValueError, match="cannot change \\['arch'\\]"):
        GAN.train(out=tmp_path / "run", resume=True, arch="upconv", kimg=0.08, progress=False)


def _train_cmd(data, out, kimg, extra=()):
    return [sys.executable, "-m", "modiste", "gan", "train", str(data), "--out", str(out), "--size", "32",
            "--g-width", "8", "--d-width", "8", "--batch", "8", "--tick-kimg", "0.016", "--kimg", str(kimg),
            "--workers", "0", "--snapshot-ticks", "0", *extra]


def _wait_for_step(run: Path, step: int, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        meta = run / "checkpoints" / "latest.json"
        if meta.exists():
            try:
                if json.loads(meta.read_text())["step"] >= step:
                    return
            except (json.JSONDecodeError, KeyError):
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise TimeoutError


def _same_threads() -> dict[str, str]:
    """The environment for a training subprocess that must match this process bit for bit: the same
    thread count (OMP_NUM_THREADS=1 outside, 2 set in-process by conftest, would change the sums)."""
    return {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}


def test_kill_9_mid_run_then_resume_loses_and_doubles_nothing(tiny_catalog, tmp_path):
    GAN.train(tiny_catalog.csv, out=tmp_path / "straight", kimg=0.128, progress=False,
              **{**TINY, "tick_kimg": 0.016, "snapshot_ticks": 0})
    run = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(tiny_catalog.csv, run, 0.128), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_same_threads())
    _wait_for_step(run, 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = checkpoint.read_meta(run / "checkpoints" / "latest.safetensors")["step"]  # the sidecar may be mid-write
    assert killed_at < 16
    GAN.train(out=run, resume=True, progress=False)
    assert _same_weights(tmp_path / "straight", run) == []
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(2, 17, 2))


def test_ctrl_c_writes_a_checkpoint_and_exits_cleanly(tiny_catalog, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(_train_cmd(tiny_catalog.csv, run, 50), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_same_threads())
    _wait_for_step(run, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_early"] is True and summary["stop_reason"] == "signal"
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == summary["steps"]


def test_bad_files_are_skipped_reported_once_and_counted(tiny_catalog, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, rec in enumerate(tiny_catalog.records[:16]):
        (folder / f"{i:02d}.png").write_bytes((tiny_catalog.root / rec["path"]).read_bytes())
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a photo")
    with pytest.warns(BadImageWarning) as caught:
        GAN.train(folder, out=tmp_path / "run", kimg=0.04, progress=False, **TINY)
    messages = [str(w.message) for w in caught if issubclass(w.category, BadImageWarning)]
    assert len(messages) == 2 and any("empty.jpg" in m for m in messages) and any("notes.jpg" in m for m in messages)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["data"]["images"] == 16
    assert summary["data"]["skipped"]["skipped"] == 2


def test_torchrun_two_cpu_processes(tiny_catalog, tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "modiste", "gan", "train", str(tiny_catalog.csv), "--out", str(run), "--size", "32",
           "--g-width", "8", "--d-width", "8", "--batch", "8", "--kimg", "0.08", "--tick-kimg", "0.04", "--workers", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert meta["step"] == 10 and meta["images_seen"] == 80
    assert GAN.load(run).sample(4, seed=0).images.shape == (4, 3, 32, 32)


def test_minutes_cap_stops_with_a_checkpoint(tiny_catalog, tmp_path):
    GAN.train(tiny_catalog.csv, out=tmp_path / "run", kimg=10, minutes=1e-6, progress=False, **TINY)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stop_reason"] == "minutes" and summary["steps"] == 1
    assert json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())["step"] == 1
