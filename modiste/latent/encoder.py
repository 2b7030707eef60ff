"""Train an encoder E for a trained generator G, so that G(E(x)) ~ x and E(x) stays a code G knows.

Each batch mixes generated pairs (z, G(z)), where the true code is known (latent loss + pixel
loss through G), with real images, where only the reconstruction G(E(x)) can be compared (pixel
loss + discriminator-feature loss + a prior term). The generated half keeps codes in the
generator's domain; the real half fits the photos actually inverted. G and D stay frozen.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from modiste import __version__
from modiste.nn.prior import sample_prior
from modiste.train.seeds import step_seed
from modiste.latent.invert import DiscriminatorFeatures, feature_distance, prior_penalty, reconstruction_scores
from modiste.nn import checkpoint
from modiste.nn.registry import create_model
from modiste.results import make_grid, save_png, to_uint8
from modiste.train.plots import plot_curves
from modiste.train.loop import TrainLoop
from modiste.train.config import RunConfig
from modiste.train.run import open_run
from modiste.train.state import Checkpoints
from modiste.train.dist import default_device


@dataclass
class EncoderConfig(RunConfig):
    RESUMABLE = ("steps", "minutes", "workers", "device")

    def __post_init__(self) -> None:
        self.check_numbers()

    gan: str = ""                    # the generator's checkpoint or run folder
    data: str | None = None          # real images (folder / CSV); None = generated pairs only
    out: str = "runs/encoder/default"
    width: int = 32                  # encoder base width (channels double per stride-2 layer)
    steps: int = 1500                # optimiser steps
    minutes: float | None = None     # optional wall-clock cap on this invocation
    batch: int = 64
    real_fraction: float = 0.5       # share of each batch taken from the real images (when there are any)
    lr: float = 1e-3                 # plain regression, so Adam's usual rate, not the GAN's 2e-4
    latent_weight: float = 1.0       # |E(G(z)) - z|^2 on generated pairs
    pixel_weight: float = 1.0        # |G(E(x)) - x|^2, both halves
    feature_weight: float = 0.5      # discriminator-feature distance on the real half
    prior_weight: float = 0.05       # keeps real codes at the prior's radius
    holdout: int = 64                # real images kept out of training to report reconstruction on
    tick_steps: int = 100            # log, sample sheet and checkpoint every tick
    seed: int = 0
    workers: int | None = None
    device: str | None = None


def load_encoder(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """(encoder in eval mode, its checkpoint description); ``path`` is a run folder or checkpoint file."""
    path = checkpoint.resolve(path)
    meta = checkpoint.read_meta(path)
    if meta.get("kind") != "latent-encoder":
        raise ValueError(f"{path}: not a latent encoder checkpoint (kind={meta.get('kind')!r})")
    return checkpoint.load_model(path, "E", device=device).eval(), meta


def train_encoder(cfg: EncoderConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train into ``cfg.out``; returns the latest checkpoint. ``resume`` continues exactly."""
    from modiste.gan import GAN
    from modiste.latent.inputs import read_images

    device = default_device(cfg.device)
    run, cfg = open_run(cfg, resume)
    run.write_config(cfg.to_dict())
    gan = GAN.load(cfg.gan, device=device)
    G, D = gan.G.requires_grad_(False), gan.D
    feats = DiscriminatorFeatures(D.requires_grad_(False)) if D is not None and cfg.feature_weight > 0 else None

    real = torch.empty(0, 3, gan.size, gan.size, dtype=torch.uint8)
    if cfg.data is not None:
        resize = gan.meta.get("config", {}).get("resize", "letterbox")
        real = read_images(cfg.data, size=gan.size, resize=resize, workers=cfg.workers, progress=progress).images
    order = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(cfg.seed))
    holdout_n = min(cfg.holdout, real.shape[0] // 5)
    held, train_real = real[order[:holdout_n]], real[order[holdout_n:]].to(device)
    n_real = round(cfg.batch * cfg.real_fraction) if train_real.shape[0] else 0
    n_gen = cfg.batch - n_real

    torch.manual_seed(cfg.seed)
    E = create_model("latent_encoder", size=gan.size, latent_dim=gan.latent_dim, width=cfg.width).to(device)
    opt = torch.optim.Adam(E.parameters(), lr=cfg.lr)
    meta = {"kind": "latent-encoder", "image_size": [gan.size, gan.size],
            "latent": {"dim": gan.latent_dim, "prior": gan.prior},
            "gan": {"path": str(gan.path), "step": gan.meta.get("step")},
            "config": cfg.to_dict(), "modiste_version": __version__}
    saves = Checkpoints(run, {"E": E}, {"E": opt}, meta)
    # a tick (log, sample sheet, checkpoint) plays the part of an epoch
    loop = TrainLoop(run, steps_per_epoch=cfg.tick_steps, epochs=cfg.steps / cfg.tick_steps, minutes=cfg.minutes,
                     step=saves.resume(device)["step"] if resume else 0, desc="encoder", progress=progress)

    def held_out_scores() -> dict[str, float]:
        if not held.shape[0]:
            return {}
        E.eval()
        with torch.no_grad():
            x = held.to(device).float().div(127.5).sub(1)
            y = G(E(x))
            mse, ss = reconstruction_scores(y, x)
        E.train()
        save_png(make_grid(torch.stack([held[:16], to_uint8(y[:16])], 1).flatten(0, 1), nrow=8),
                 run.samples / "latest.png", scale=2)
        return {"holdout_mse": float(mse.mean()), "holdout_ssim": float(ss.mean())}

    E.train()
    with loop:
        for _ in loop.epochs():
            sums, count = torch.zeros(3, device=device), 0
            for step in loop.steps():
                gen = torch.Generator().manual_seed(step_seed(cfg.seed, 0, step))
                z = sample_prior(n_gen, gan.latent_dim, gan.prior, generator=gen).to(device)
                with torch.no_grad():
                    x_gen = G(z)
                x = x_gen
                if n_real:
                    idx = torch.randint(train_real.shape[0], (n_real,), generator=gen).to(device)
                    x_real = train_real[idx].float().div(127.5).sub(1)
                    x = torch.cat([x_gen, x_real])
                z_hat = E(x)  # one pass: BatchNorm sees the mixed batch it will be used on
                y = G(z_hat)
                latent_loss = F.mse_loss(z_hat[:n_gen], z) if n_gen else z_hat.new_zeros(())  # empty mean is NaN
                pixel = (y - x).pow(2).mean(dim=(1, 2, 3))
                loss = cfg.latent_weight * latent_loss + cfg.pixel_weight * pixel.mean()
                if n_real:
                    if feats is not None:
                        loss = loss + cfg.feature_weight * feature_distance(feats(y[n_gen:]), feats(x[n_gen:])).mean()
                    loss = loss + cfg.prior_weight * prior_penalty(z_hat[n_gen:], gan.prior).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sums += torch.stack([loss.detach(), latent_loss.detach(),
                                     pixel[n_gen:].detach().mean() if n_real else pixel.detach().mean()])
                count += 1
            loss_v, latent_v, pixel_v = (sums / max(count, 1)).tolist()
            record = loop.record(loss=loss_v, latent_mse=latent_v, train_pixel_mse=pixel_v, **held_out_scores(),
                                 steps_per_s=loop.images_per_s(1))
            run.log(record)
            plot_curves(run.metrics(), run.path / "loss.png",
                        [("loss", ("loss", "latent_mse")), ("held-out reconstruction", ("holdout_mse",))], x="step")
            saves.save_latest(loop)
            loop.bar.set_postfix(loss=f"{loss_v:.4f}", **({"ho_mse": f"{record['holdout_mse']:.4f}"}
                                                        if "holdout_mse" in record else {}))
    final = run.metrics()[-1] if run.metrics() else {}
    loop.summary(real_images=int(real.shape[0]), holdout=holdout_n, holdout_mse=final.get("holdout_mse"),
                 holdout_ssim=final.get("holdout_ssim"), modiste_version=__version__)
    return run.latest
