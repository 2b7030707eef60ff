"""The GAN training loop, top to bottom.

The catalog is decoded once (in DataLoader workers) into a uint8 tensor kept in memory: a few
thousand photos at 64 px are tens of MB, and it removes decoding from every step on small CPUs.
Every random draw of step ``s`` on rank ``r`` comes from a generator seeded by (seed, r, s), so a
resumed run repeats exactly what an uninterrupted one would have done without carrying RNG state.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from modiste.progress import progress_bar

from modiste import __version__
from modiste.data import ImagePolicy, open_dataset, scan
from modiste.gan.augment import DiffAugment
from modiste.gan.config import GANConfig
from modiste.nn import checkpoint
from modiste.nn.prior import sample_prior
from modiste.nn.pretrained import load_backbone_weights
from modiste.nn.registry import create_model
from modiste.results import make_grid, save_png, to_uint8
from modiste.train.dist import World, agree, average_gradients, barrier, init_from_env, shutdown
from modiste.train.optim import load_optimizer, optimizer_tensors
from modiste.train.plots import plot_curves
from modiste.train.ema import ema_beta, recalibrate_batchnorm, update_ema
from modiste.train.run import Budget, GracefulStop, open_run
from modiste.train.seeds import step_seed

SMALL_DATA_LIMIT = 30_000  # below this many images DiffAugment is on unless the user says otherwise
NORMALIZATION = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}  # pixels in [-1, 1], tanh range




def build_networks(cfg: GANConfig) -> tuple[torch.nn.Module, torch.nn.Module]:
    G = create_model(f"{cfg.arch}_g", size=cfg.size, latent_dim=cfg.latent_dim, width=cfg.generator_width)
    if cfg.arch == "projected":
        D = create_model("projected_d", size=cfg.size, width=cfg.discriminator_width, backbone=cfg.backbone)
        load_backbone_weights(D.backbone, cfg.backbone, "imagenet")
    else:
        D = create_model(f"{cfg.arch}_d", size=cfg.size, width=cfg.discriminator_width)
    return G, D


def gan_meta(cfg: GANConfig, step: int, images_seen: int, data: dict) -> dict:
    """The description stored with every GAN checkpoint: enough to rebuild and use it alone."""
    return {
        "kind": "gan",
        "image_size": [cfg.size, cfg.size],
        "normalization": NORMALIZATION,
        "class_names": None,
        "latent": {"dim": cfg.latent_dim, "prior": cfg.prior},
        "step": step,
        "images_seen": images_seen,
        "config": cfg.to_dict(),
        "data": data,
    }


def gan_step(G, D, opt_G, opt_D, real: torch.Tensor, z: torch.Tensor, *, augment=None, amp: bool = False,
             loss: str = "nonsaturating", world: World = World()) -> torch.Tensor:
    """One D step then one G step; returns (loss_D, loss_G, D(x), D(G(z))) as a tensor, without a host sync.

    ``loss``: the non-saturating logistic loss of the DCGAN family, or the hinge loss (D pushes real
    logits above 1 and generated ones below -1; G raises its logits)."""
    augment = augment or (lambda x: x)
    autocast = lambda: torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=amp)  # noqa: E731
    trainable = [p for p in D.parameters() if p.requires_grad]  # not a projected D's frozen ImageNet network
    # D step: real -> 1, generated -> 0 (the sigmoid lives inside softplus, which is numerically safe)
    with autocast():
        fake = G(z)
        logits_real = D(augment(real)).float()
        logits_fake = D(augment(fake.detach())).float()
    if loss == "hinge":
        loss_D = F.relu(1 - logits_real).mean() + F.relu(1 + logits_fake).mean()
    else:
        loss_D = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
    opt_D.zero_grad(set_to_none=True)
    loss_D.backward()
    average_gradients(trainable, world)
    opt_D.step()

    # G step: D's weights need no gradient here, only its input does
    for p in trainable:
        p.requires_grad_(False)
    with autocast():
        logits_gen = D(augment(fake)).float()
    loss_G = -logits_gen.mean() if loss == "hinge" else F.softplus(-logits_gen).mean()
    opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    average_gradients(list(G.parameters()), world)
    opt_G.step()
    for p in trainable:
        p.requires_grad_(True)
    return torch.stack([loss_D, loss_G, torch.sigmoid(logits_real).mean(), torch.sigmoid(logits_fake).mean()]).detach()


def train(cfg: GANConfig, *, resume: bool = False, overrides: set[str] = frozenset(), progress: bool = True) -> Path:
    """Train a GAN into ``cfg.out``; returns the path of the latest checkpoint."""
    world, device = init_from_env(cfg.device)
    run, cfg = open_run(cfg, resume, overrides, is_main=world.is_main)
    barrier(world)
    run.write_config(cfg.to_dict())

    # ---- data: decode once, keep uint8 in memory -------------------------------------------------
    dataset = open_dataset(cfg.data, ImagePolicy(size=(cfg.size, cfg.size), resize=cfg.resize))
    with warnings.catch_warnings():
        if not world.is_main:
            warnings.simplefilter("ignore")  # rank 0 reports bad files once
        images, _, skips = scan(dataset, num_workers=cfg.workers, progress=progress and world.is_main)
    n = images.shape[0]
    if cfg.batch % world.size:
        raise ValueError(f"batch {cfg.batch} does not split evenly over {world.size} processes")
    local_batch = cfg.batch // world.size
    steps_per_epoch = n // cfg.batch
    if steps_per_epoch == 0:
        raise ValueError(f"{cfg.data}: {n} usable images, fewer than one batch of {cfg.batch}; lower --batch")
    images = images.to(device)
    data_info = {"source": str(cfg.data), "images": n, "skipped": skips.summary()}

    if cfg.kimg is not None:
        total_steps = math.ceil(cfg.kimg * 1000 / cfg.batch)
    elif cfg.epochs is not None:
        total_steps = math.ceil(cfg.epochs * steps_per_epoch)
    else:
        total_steps = None  # minutes only
    tick_steps = max(1, round(cfg.tick_kimg * 1000 / cfg.batch))
    small_data = cfg.small_data if cfg.small_data is not None else n < SMALL_DATA_LIMIT
    augment = DiffAugment(cfg.augment if small_data else "")

    # ---- networks and optimisers -------------------------------------------------------------------
    torch.manual_seed(cfg.seed)
    G, D = build_networks(cfg)
    G_ema = copy.deepcopy(G).requires_grad_(False)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    for net in (G, D, G_ema):
        net.to(device, memory_format=memory_format)
    fused = device.type in ("cpu", "cuda")
    opt_G = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)
    opt_D = torch.optim.Adam([p for p in D.parameters() if p.requires_grad], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)
    step = 0
    if resume:
        tensors, meta = checkpoint.read(run.latest, device=device)
        for name, net in (("G", G), ("D", D), ("G_ema", G_ema)):
            net.load_state_dict(checkpoint.strip_prefix(tensors, name))
        load_optimizer(opt_G, tensors, meta["optim"]["G"], "optim.G")
        load_optimizer(opt_D, tensors, meta["optim"]["D"], "optim.D")
        step = meta["step"]
        run.truncate_metrics(step)
    G.train(), D.train()
    fixed_z = sample_prior(cfg.grid_n, cfg.latent_dim, cfg.prior, generator=torch.Generator().manual_seed(cfg.seed)).to(device)

    def save_checkpoint(path: Path) -> None:
        opt_g, meta_g = optimizer_tensors(opt_G, "optim.G")
        opt_d, meta_d = optimizer_tensors(opt_D, "optim.D")
        meta = gan_meta(cfg, step, step * cfg.batch, data_info)
        meta["optim"] = {"G": meta_g, "D": meta_d}
        checkpoint.save_models(path, {"G": G, "D": D, "G_ema": G_ema}, meta, extra={**opt_g, **opt_d})

    last_plot = [float("-inf")]

    def tick(stats: torch.Tensor, steps_in_tick: int, seconds: float, final: bool) -> None:
        loss_D, loss_G, d_real, d_fake = (stats / max(steps_in_tick, 1)).tolist()
        record = {
            "step": step, "kimg": round(step * cfg.batch / 1000, 3), "epoch": round(step / steps_per_epoch, 3),
            "loss_D": loss_D, "loss_G": loss_G, "D_real": d_real, "D_fake": d_fake,
            "images_per_s": steps_in_tick * cfg.batch / max(seconds, 1e-9), "time": round(time.time(), 3),
        }
        if not world.is_main:
            return
        gen = torch.Generator(device="cpu").manual_seed(step_seed(cfg.seed, -1, step))
        recalibrate_batchnorm(G_ema, lambda: sample_prior(cfg.batch, cfg.latent_dim, cfg.prior, generator=gen).to(device))
        with torch.no_grad():
            grid = make_grid(to_uint8(G_ema(fixed_z)))
        save_png(grid, run.samples / f"step-{step:07d}.png")
        save_png(grid, run.samples / "latest.png")
        run.log(record)  # log before the checkpoint: a resume drops lines past the checkpoint's step
        if final or time.monotonic() - last_plot[0] > 30:  # drawing costs ~0.5 s: not on every short tick
            plot_curves(run.metrics(), run.path / "loss.png",
                        [("losses", ("loss_D", "loss_G")), ("D outputs (sigmoid)", ("D_real", "D_fake"))])
            last_plot[0] = time.monotonic()
        save_checkpoint(run.latest)
        if cfg.snapshot_ticks and (step // tick_steps) % cfg.snapshot_ticks == 0 and step % tick_steps == 0:
            save_checkpoint(run.checkpoints / f"step-{step:07d}.safetensors")
        bar.set_postfix(loss_D=f"{loss_D:.3f}", loss_G=f"{loss_G:.3f}", img_s=f"{record['images_per_s']:.0f}")

    # ---- the loop -----------------------------------------------------------------------------------
    bar = progress_bar(total=total_steps, initial=step, unit="step", desc="gan", disable=not (progress and world.is_main))
    stats = torch.zeros(4, device=device)
    steps_in_tick, tick_start, budget = 0, time.perf_counter(), Budget(cfg.minutes)
    perm, perm_epoch = None, -1
    stopped, out_of_time = False, False
    with GracefulStop() as stop:
        while total_steps is None or step < total_steps:
            epoch, pos = divmod(step, steps_per_epoch)
            if epoch != perm_epoch:
                perm = torch.randperm(n, generator=torch.Generator().manual_seed(step_seed(cfg.seed, -2, epoch))).to(device)
                perm_epoch = epoch
                bar.set_description(f"gan epoch {epoch}")
            start = pos * cfg.batch + world.rank * local_batch
            torch.manual_seed(step_seed(cfg.seed, world.rank, step))
            real = images[perm[start : start + local_batch]].float().div_(127.5).sub_(1)
            real = real.contiguous(memory_format=memory_format)
            z = sample_prior(local_batch, cfg.latent_dim, cfg.prior, device=device)

            stats += gan_step(G, D, opt_G, opt_D, real, z, augment=augment, amp=cfg.amp, loss=cfg.loss,
                              world=world)
            step += 1
            update_ema(G_ema, G, ema_beta(cfg.batch, step * cfg.batch, cfg.ema_kimg, cfg.ema_rampup))
            steps_in_tick += 1
            bar.update(1)

            out_of_time = budget.spent()
            stopped = agree(stop.requested or out_of_time, world, device)
            done = stopped or (total_steps is not None and step >= total_steps)
            if step % tick_steps == 0 or done:
                tick(stats, steps_in_tick, time.perf_counter() - tick_start, final=done)
                stats.zero_()
                steps_in_tick, tick_start = 0, time.perf_counter()
            if stopped:
                break
    bar.close()
    run.write_summary({
        "steps": step, "images_seen": step * cfg.batch, "epochs": round(step / steps_per_epoch, 3),
        "stopped_early": stopped, "stop_reason": "minutes" if out_of_time else "signal" if stopped else "budget",
        "minutes": round(budget.elapsed / 60, 2),
        "data": data_info, "modiste_version": __version__,
    })
    barrier(world)
    shutdown(world)
    return run.latest
