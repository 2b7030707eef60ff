"""CAGAN training: the losses move, runs repeat under a seed, resume is exact, monitoring and early stopping."""
import csv
import json

import pytest
import torch

from modiste.data.images import BadImageWarning
from modiste.nn import checkpoint
from modiste.nn.registry import create_model
from modiste.tryon.data import TryonDataset, load_pairs
from modiste.tryon.train import TryonConfig, train_tryon, tryon_step


def weights(run):
    tensors, _ = checkpoint.read(run / "checkpoints" / "latest.safetensors")
    return checkpoint.strip_prefix(tensors, "G")


def test_a_few_steps_lower_the_cycle_loss(tiny_pairs, tiny):
    data = load_pairs(tiny_pairs.csv, tiny["size"], progress=False)
    ds = TryonDataset(data, data.indices("train"), seed=0, flip=False)
    batch = [ds[i] for i in range(8)]
    x, y, yj = (torch.stack([b[k] for b in batch]) for k in ("person", "article", "target"))
    torch.manual_seed(0)
    G, D = create_model("cagan_g", width=8, depth=3), create_model("cagan_d", width=8)
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    cfg = TryonConfig(**tiny)
    cycles = [float(tryon_step(G, D, opt_G, opt_D, x, y, yj, cfg)[3]) for _ in range(15)]
    assert sum(cycles[-3:]) / 3 < 0.6 * cycles[0], cycles


def test_a_run_writes_metrics_sheets_curves_and_a_best_checkpoint(tiny_run):
    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1.0, 2.0]
    for key in ("loss_D", "adv", "cycle", "id", "D_real", "D_fake", "D_mismatch", "alpha_area", "val_cycle_l1",
                "val_cycle_ssim", "val_alpha_area", "val_alpha_outside_clothing", "val_colour_error", "val_target_effect"):
        assert all(key in r for r in rows), key
    assert (tiny_run / "samples" / "epoch-0001.png").exists() and (tiny_run / "samples" / "latest.png").exists()
    assert (tiny_run / "curves.png").exists() and (tiny_run / "config.json").exists()
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["stop_reason"] == "budget" and summary["train_pairs"] == 18 and summary["val_pairs"] == 6
    meta = checkpoint.read_meta(tiny_run / "checkpoints" / "best.safetensors")
    assert meta["kind"] == "tryon" and meta["image_size"] == [32, 24] and sorted(meta["models"]) == ["D", "G"]
    assert "optim" not in meta  # the best checkpoint is for use; latest carries the optimisers


def test_same_seed_same_run_and_resume_is_exact(tiny_pairs, tiny, tiny_run, tmp_path):
    cfg = dict(data=str(tiny_pairs.csv), out=str(tmp_path / "b"), **tiny)
    train_tryon(TryonConfig(epochs=1, **cfg), progress=False)
    train_tryon(TryonConfig(epochs=2, **cfg), resume=True, progress=False)
    a, b = weights(tiny_run), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1.0, 2.0]
    train_tryon(TryonConfig(**{**cfg, "out": str(tmp_path / "c"), "seed": 1}, epochs=2), progress=False)
    c = weights(tmp_path / "c")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_a_missing_file_skips_its_row_and_training_goes_on(tiny_pairs, tiny, tmp_path):
    with open(tiny_pairs.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["person"] = "person/gone.png"
    bad = tiny_pairs.root / "missing.csv"
    with open(bad, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.warns(BadImageWarning, match=r"line 2: .*gone\.png"):
        train_tryon(TryonConfig(data=str(bad), out=str(tmp_path / "run"), epochs=1, **tiny), progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["skipped_pairs"] == 1 and summary["train_pairs"] + summary["val_pairs"] == 23


def test_collapsed_epochs_are_never_best_and_patience_stops_the_run(tiny_pairs, tiny, tmp_path):
    out = tmp_path / "run"
    train_tryon(TryonConfig(data=str(tiny_pairs.csv), out=str(out), epochs=10, patience=1, min_target_effect=2.0, **tiny),
                progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] == "patience" and summary["epochs"] == 1.0
    assert summary["best"]["epoch"] is None  # every epoch counted as collapsed
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["collapsed"] is True
    assert (out / "checkpoints" / "best.safetensors").exists()  # the last epoch stands in, so the run is usable


def test_the_minutes_cap_stops_with_a_checkpoint_to_resume(tiny_pairs, tiny, tmp_path):
    out = tmp_path / "run"
    train_tryon(TryonConfig(data=str(tiny_pairs.csv), out=str(out), epochs=5, minutes=0, **tiny), progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] == "minutes" and summary["steps"] == 1
    train_tryon(TryonConfig(data=str(tiny_pairs.csv), out=str(out), epochs=1, **tiny), resume=True, progress=False)
    assert json.loads((out / "summary.json").read_text())["steps"] == 2


def test_a_run_folder_is_not_overwritten(tiny_pairs, tiny, tiny_run):
    with pytest.raises(FileExistsError, match="resume"):
        train_tryon(TryonConfig(data=str(tiny_pairs.csv), out=str(tiny_run), epochs=1, **tiny), progress=False)


def test_another_validation_number_can_pick_the_best_checkpoint(tiny_pairs, tiny, tmp_path):
    out = tmp_path / "run"
    train_tryon(TryonConfig(data=str(tiny_pairs.csv), out=str(out), epochs=2, best_metric="val_colour_error",
                            min_target_effect=0.0, **tiny), progress=False)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best = json.loads((out / "summary.json").read_text())["best"]
    assert best["val_colour_error"] == min(r["val_colour_error"] for r in rows)
    with pytest.raises(ValueError, match="val_nothing.*val_cycle_l1"):
        train_tryon(TryonConfig(data=str(tiny_pairs.csv), out=str(tmp_path / "bad"), epochs=1, best_metric="val_nothing",
                                **tiny), progress=False)
