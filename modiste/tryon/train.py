"""Train CAGAN try-on: adversarial + cycle + id losses, per-epoch validation and sheet, best checkpoint, early stop.

Each step, for persons x_i wearing y_i and articles y_j of other rows of the training split:

* D learns that (x_i, y_i) is real, and that both (G(x_i, y_i, y_j), y_j) and the mismatched real
  pair (x_i, y_j) are fake, so it judges whether the person wears *that* article.
* G learns to fool D with (G(x_i, y_i, y_j), y_j), to give x_i back when swapped back to y_i
  (cycle L1), and to keep alpha small (id loss: change only what must change). Weights 1 : 1 : 0.1.

The CAGAN write-up saw its generator collapse after ~50 epochs, so every epoch logs D's view of
the three kinds of pairs and the validation numbers (cycle L1, alpha area, how much the result
depends on the target article), writes a sheet of fixed validation pairs, and keeps the best
checkpoint by validation cycle L1 (or another validation number, ``best_metric``). A generator that ignores the target article scores the best
cycle L1 of all (it gives x_i back whatever it is asked), and an alpha spread thinly everywhere
hides it from the alpha area, so an epoch counts as collapsed, and is never "best", when its
results change by less than ``min_target_effect`` (mean absolute change on the [-1, 1] scale)
between two different target articles. ``patience`` epochs without a new best stop the run. Every random draw of a step derives from (seed, step), so a
resumed run repeats what an uninterrupted one would have done.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from modiste import __version__
from modiste.train.seeds import step_seed
from modiste.io import atomic_write_json
from modiste.nn.registry import create_model
from modiste.results import save_png
from modiste.train.config import RunConfig
from modiste.train.plots import plot_curves
from modiste.train.loop import TrainLoop
from modiste.train.run import open_run
from modiste.train.state import Checkpoints
from modiste.tryon.data import DEFAULT_SIZE, TryonDataset, load_pairs
from modiste.tryon.evaluate import validate
from modiste.tryon.results import sheet_scale
from modiste.train.dist import default_amp, default_device

KIND = "tryon"
NORMALIZATION = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}  # pixels in [-1, 1], tanh range


@dataclass
class TryonConfig(RunConfig):
    data: str = ""                  # pairs CSV, pairs .txt or a folder holding one (see modiste.tryon.data)
    out: str = "runs/tryon/default"
    size: list[int] = field(default_factory=lambda: list(DEFAULT_SIZE))  # (height, width): portrait person photos
    g_width: int = 32               # generator base width: ~1.5M parameters, trainable on a CPU; the write-up used 64
    g_depth: int = 4                # halvings in the U-Net: 128 x 96 -> 8 x 6 at the bottom
    d_width: int = 32
    d_layers: int = 3               # strided layers: 3 gives ~70 px patches, as pix2pix's PatchGAN
    epochs: int = 100
    batch: int = 16
    lr: float = 2e-4                # Adam with beta1 0.5: the DCGAN/pix2pix values CAGAN trained with
    beta1: float = 0.5
    beta2: float = 0.999
    adv_weight: float = 1.0         # the CAGAN paper's 1 : 1 : 0.1
    cycle_weight: float = 1.0
    id_weight: float = 0.1
    d_noise: float = 0.1            # std of the Gaussian noise on D's inputs and layers (images span [-1, 1])
    d_noise_epochs: float | None = None  # decay it linearly to 0 over this many epochs; None keeps it
    flip: bool = True               # mirror person + article together (and the target on its own draw)
    val_fraction: float = 0.1       # held out when the pairs have no split column
    # Lower is better. The write-up's cycle L1 barely moves once the generator works (0.08-0.10 from epoch 3
    # on the synthetic pairs) while the colour error to the target article (needs article_mask) falls
    # 0.42 -> 0.14 and tracks "wears the target" far more closely.
    best_metric: str = "val_cycle_l1"
    patience: int | None = 20       # epochs without a better best_metric before stopping; None never stops
    # Below this validation target effect an epoch has collapsed to "ignore the target" and is never best;
    # on the synthetic pairs an idle generator scores ~0.01 and one that recolours the garment 0.06-0.15.
    min_target_effect: float = 0.03
    sheet_pairs: int = 8            # validation pairs shown in each epoch's sheet
    amp: bool | None = None         # bf16 autocast: ~2x on CPUs with AVX-512 bf16; None = on for CUDA only
    minutes: float | None = None    # wall-clock cap on this invocation
    seed: int = 0
    workers: int | None = None      # decoding threads
    device: str | None = None

    RESUMABLE = ("epochs", "minutes", "workers", "device", "patience")

    def __post_init__(self) -> None:
        self.check_numbers()
        self.size = [int(v) for v in self.size]
        if len(self.size) != 2 or min(self.size) < 2**self.g_depth:
            raise ValueError(f"size must be (height, width), each at least {2**self.g_depth}, got {self.size}")


def tryon_step(G: torch.nn.Module, D: torch.nn.Module, opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer,
               x: torch.Tensor, y: torch.Tensor, yj: torch.Tensor, cfg: TryonConfig, *, amp: bool = False) -> torch.Tensor:
    """One D step then one G step; returns (loss_D, loss_G, adv, cycle, id, D_real, D_fake, D_mismatch, alpha_area)
    as one tensor, without a host sync."""
    autocast = lambda: torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp)  # noqa: E731
    with autocast():
        fake, alpha, _ = G(x, y, yj)
        real_logits = D(x, y).float()
        fake_logits = D(fake.detach(), yj).float()
        mismatch_logits = D(x, yj).float()
    # softplus(-l) = -log sigmoid(l): the sigmoid lives inside the loss, where it is numerically safe
    loss_D = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean() + F.softplus(mismatch_logits).mean()
    opt_D.zero_grad(set_to_none=True)
    loss_D.backward()
    opt_D.step()

    D.requires_grad_(False)  # G's step needs gradients through D's input, not for its weights
    with autocast():
        gen_logits = D(fake, yj).float()
        back, alpha_back, _ = G(fake, yj, y)
    adv = F.softplus(-gen_logits).mean()  # non-saturating
    cycle = (back.float() - x).abs().mean()
    ident = (alpha.float().mean() + alpha_back.float().mean()) / 2  # alpha >= 0, so its mean is its L1
    loss_G = cfg.adv_weight * adv + cfg.cycle_weight * cycle + cfg.id_weight * ident
    opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    opt_G.step()
    D.requires_grad_(True)
    probs = [torch.sigmoid(t).mean() for t in (real_logits, fake_logits, mismatch_logits)]
    return torch.stack([loss_D, loss_G, adv, cycle, ident, *probs, alpha.float().mean()]).detach()


STATS = ("loss_D", "loss_G", "adv", "cycle", "id", "D_real", "D_fake", "D_mismatch", "alpha_area")


def d_noise_at(cfg: TryonConfig, epoch: float) -> float:
    if cfg.d_noise_epochs is None:
        return cfg.d_noise
    return cfg.d_noise * max(0.0, 1.0 - epoch / cfg.d_noise_epochs)


def train_tryon(cfg: TryonConfig, *, resume: bool = False, progress: bool = True,
                given: Iterable[str] | None = None) -> Path:
    """Train into ``cfg.out``; returns the best checkpoint (by ``cfg.best_metric``, validation cycle L1 by default)."""
    run, cfg = open_run(cfg, resume, given)  # given: the settings the caller set (refused if changed on resume)
    device = default_device(cfg.device)
    amp = default_amp(cfg.amp, device)
    data = load_pairs(cfg.data, cfg.size, val_fraction=cfg.val_fraction, seed=cfg.seed,
                      workers=cfg.workers or 2, progress=progress)
    train_idx, val_idx = data.indices("train"), data.indices("val")
    if len(train_idx) < max(2, cfg.batch):
        raise ValueError(f"{cfg.data}: {len(train_idx)} training pairs, fewer than one batch of {cfg.batch}; "
                         "lower --batch or add pairs")
    run.write_config(cfg.to_dict())

    torch.manual_seed(cfg.seed)
    G = create_model("cagan_g", width=cfg.g_width, depth=cfg.g_depth).to(device, memory_format=torch.channels_last)
    D = create_model("cagan_d", width=cfg.d_width, layers=cfg.d_layers).to(device, memory_format=torch.channels_last)
    opt_G = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_D = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    dataset = TryonDataset(data, train_idx, seed=cfg.seed, flip=cfg.flip)
    steps_per_epoch = len(train_idx) // cfg.batch
    data_info = {"source": str(cfg.data), "train_pairs": len(train_idx), "val_pairs": len(val_idx),
                 "skipped": data.skipped}
    base_meta = {"kind": KIND, "image_size": list(cfg.size), "normalization": NORMALIZATION,
                 "config": cfg.to_dict(), "data": data_info, "modiste_version": __version__}
    saves = Checkpoints(run, {"G": G, "D": D}, {"G": opt_G, "D": opt_D}, base_meta)
    meta = saves.resume(device) if resume else {"step": 0, "best": {"epoch": None, cfg.best_metric: None}}
    best = meta["best"]
    loop = TrainLoop(run, steps_per_epoch=steps_per_epoch, epochs=cfg.epochs, minutes=cfg.minutes, step=meta["step"],
                     fitted_total=meta.get("fitted_total"), desc="tryon", progress=progress)

    G.train(), D.train()
    with loop:
        for epoch in loop.epochs():
            order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(step_seed(cfg.seed, -2, epoch)))
            order = order[: steps_per_epoch * cfg.batch] + epoch * len(train_idx)
            done = loop.step % steps_per_epoch
            loader = DataLoader(dataset, batch_size=cfg.batch, sampler=order[done * cfg.batch:].tolist())
            sums, count = torch.zeros(len(STATS), device=device), 0
            for step, b in zip(loop.steps(), loader):
                torch.manual_seed(step_seed(cfg.seed, 0, step))  # D's noise
                D.noise_std = d_noise_at(cfg, step / steps_per_epoch)
                x, y, yj = (b[k].to(device).contiguous(memory_format=torch.channels_last)
                            for k in ("person", "article", "target"))
                sums += tryon_step(G, D, opt_G, opt_D, x, y, yj, cfg, amp=amp)
                count += 1
            record = loop.record(**dict(zip(STATS, (sums / max(count, 1)).tolist())), d_noise=D.noise_std,
                                 images_per_s=loop.images_per_s(cfg.batch))
            if loop.epoch_complete and len(val_idx) >= 2:
                metrics, sheet = validate(G, data, val_idx, seed=cfg.seed, batch=2 * cfg.batch, device=device, amp=amp,
                                          keep=cfg.sheet_pairs)
                record.update(metrics)
                record["collapsed"] = metrics["val_target_effect"] < cfg.min_target_effect
                scale = sheet_scale(cfg.size[0])
                save_png(sheet, run.samples / f"epoch-{loop.step // steps_per_epoch:04d}.png", scale=scale)
                save_png(sheet, run.samples / "latest.png", scale=scale)
                if cfg.best_metric not in metrics:
                    raise ValueError(f"best_metric {cfg.best_metric!r} is not measured on {cfg.data}; "
                                     f"choose one of {', '.join(sorted(metrics))}")
                better = best[cfg.best_metric] is None or metrics[cfg.best_metric] < best[cfg.best_metric]
                if not record["collapsed"] and better:
                    best = {"epoch": record["epoch"], **metrics}
                    saves.save_best(loop, best=best)
                if cfg.patience is not None and record["epoch"] - (best["epoch"] or 0) >= cfg.patience:
                    loop.stop("patience")
                loop.bar.set_postfix(cycle=f"{record['cycle']:.3f}", val=f"{metrics['val_cycle_l1']:.3f}",
                                     effect=f"{metrics['val_target_effect']:.3f}")
            run.log(record)  # before the checkpoint: a resume drops lines past the checkpoint's step
            plot_curves(run.metrics(), run.path / "curves.png",
                        [("losses", ("loss_D", "adv", "cycle", "id")),
                         ("D outputs (sigmoid)", ("D_real", "D_fake", "D_mismatch")),
                         ("validation", ("val_cycle_l1", "val_alpha_area", "val_target_effect", "val_colour_error",
                                         "val_alpha_outside_clothing"))], x="epoch")
            saves.save_latest(loop, best=best)
            if best["epoch"] is None and loop.epoch_complete:  # no validation, or no eligible epoch yet
                saves.save_best(loop, best=best)
    atomic_write_json(run.path / "skipped.json", data.skipped)
    loop.summary(best=best, train_pairs=len(train_idx), val_pairs=len(val_idx), skipped_pairs=len(data.skipped),
                 modiste_version=__version__)
    return run.checkpoints / "best.safetensors"
