"""``modiste gan ...``: train a generator of designs, sample, interpolate, evaluate."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from modiste.console import given, writable_file, writable_folder

gan_app = typer.Typer(no_args_is_help=True, help="Design generation: train a GAN, sample, interpolate, evaluate.")


@gan_app.command("train")
def gan_train(
    data: Optional[Path] = typer.Argument(None, help="Image folder (flat or class subfolders) or CSV manifest."),
    out: Path = typer.Option(..., help="Run folder (config, checkpoints, samples, metrics).", callback=writable_folder),
    size: Optional[int] = typer.Option(None, help="32, 64, 96 or 128 px [64]."),
    arch: Optional[str] = typer.Option(None, help="dcgan, upconv or projected (a light generator against a "
                                                   "discriminator on frozen ImageNet features) [dcgan]."),
    backbone: Optional[str] = typer.Option(None, help="projected: the ImageNet network D looks through, "
                                                      "efficientnet_lite0|1|2 [efficientnet_lite0]."),
    loss: Optional[str] = typer.Option(None, help="nonsaturating or hinge [hinge for projected]."),
    latent_dim: Optional[int] = typer.Option(None, help="Latent size [100]."),
    prior: Optional[str] = typer.Option(None, help="normal or uniform [normal]."),
    g_width: Optional[int] = typer.Option(None, help="Generator base width [64; 16 projected]."),
    d_width: Optional[int] = typer.Option(None, help="Discriminator base width [64; 32 upconv]."),
    batch: Optional[int] = typer.Option(None, help="Global batch size [64]."),
    epochs: Optional[float] = typer.Option(None, help="Passes over the data [25]."),
    kimg: Optional[float] = typer.Option(None, help="Image budget in thousands (overrides epochs)."),
    minutes: Optional[float] = typer.Option(None, help="Wall-clock cap; a checkpoint is written when reached."),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate [2e-4]."),
    seed: Optional[int] = typer.Option(None, help="Seed for init, data order, z and augmentation [0]."),
    small_data: Optional[bool] = typer.Option(None, "--small-data/--no-small-data", help="DiffAugment [on below 30k images]."),
    tick_kimg: Optional[float] = typer.Option(None, help="Log + sample grid + checkpoint every N kimg [4]."),
    snapshot_ticks: Optional[int] = typer.Option(None, help="Keep a numbered checkpoint every N ticks [10]."),
    resize: Optional[str] = typer.Option(None, help="letterbox or center-crop [letterbox]."),
    workers: Optional[int] = typer.Option(None, help="Image decoding processes."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 ... [cuda if available]."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="bf16 autocast [off]."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
):
    """Train a generator of new designs on garment photos.

    Example: modiste gan train data/cat --size 64 --arch dcgan --out runs/gan/a --epochs 20
    Resume:  modiste gan train --out runs/gan/a --resume
    Many processes: torchrun --nproc_per_node 2 -m modiste gan train data/cat --out runs/gan/ddp
    """
    from modiste.gan import GAN

    if data is None and not resume:
        raise typer.BadParameter("give DATA (or --resume an existing run)")
    settings = given(size=size, arch=arch, backbone=backbone, loss=loss, latent_dim=latent_dim, prior=prior, g_width=g_width, d_width=d_width,
                      batch=batch, epochs=epochs, kimg=kimg, minutes=minutes, lr=lr, seed=seed, small_data=small_data,
                      tick_kimg=tick_kimg, snapshot_ticks=snapshot_ticks, resize=resize, workers=workers, device=device,
                      amp=amp)
    gan = GAN.train(data, out=out, resume=resume, **settings)
    typer.echo(f"{gan}\nsamples: {Path(out) / 'samples' / 'latest.png'}")
    summary = json.loads((Path(out) / "summary.json").read_text())
    if summary["stop_reason"] != "budget":
        typer.echo(f"stopped early ({summary['stop_reason']}) at step {summary['steps']}; "
                   f"continue with: modiste gan train --out {out} --resume")


@gan_app.command("sample")
def gan_sample(
    ckpt: Path = typer.Argument(..., help="Run folder or checkpoint (.safetensors)."),
    n: int = typer.Option(64, help="Number of designs."),
    seed: int = typer.Option(0, help="Same seed, same designs."),
    out: Path = typer.Option(Path("samples"), help="Folder for grid.png, one PNG per design and z.npy.", callback=writable_folder),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
):
    """Generate new designs.

    Example: modiste gan sample runs/gan/a --n 64 --seed 0 --out samples/
    """
    from modiste.gan import GAN

    result = GAN.load(ckpt, device=device).sample(n, seed=seed)
    typer.echo(f"wrote {len(result)} designs to {result.save(out)}")


@gan_app.command("interpolate")
def gan_interpolate(
    ckpt: Path = typer.Argument(..., help="Run folder or checkpoint."),
    seed_a: int = typer.Option(1, help="Seed of the first design."),
    seed_b: int = typer.Option(2, help="Seed of the last design."),
    steps: int = typer.Option(8, help="Images in the strip."),
    method: str = typer.Option("slerp", help="slerp or lerp."),
    out: Path = typer.Option(Path("interpolation.png"), help="Strip PNG.", callback=writable_file),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
):
    """Walk the latent space from one design to another.

    Example: modiste gan interpolate runs/gan/a --seed-a 1 --seed-b 2 --steps 8 --out strip.png
    """
    from modiste.gan import GAN

    strip = GAN.load(ckpt, device=device).interpolate(seed_a, seed_b, steps=steps, method=method)
    typer.echo(f"wrote {strip.plot(out, scale=2)}")


@gan_app.command("eval")
def gan_eval(
    ckpt: Path = typer.Argument(..., help="Run folder or checkpoint."),
    data: Path = typer.Argument(..., help="Real images to compare with."),
    n: int = typer.Option(2000, help="Generated (and at most real) images."),
    features: str = typer.Option("imagenet", help="imagenet (ImageNet Lite0 features: comparable across data and runs), "
                                                   "data (a network trained on DATA), or a feature-network checkpoint."),
    seed: int = typer.Option(0, help="Seed of the generated set."),
    out: Optional[Path] = typer.Option(None, help="Write the report as JSON here [RUN/eval/quality.json].", callback=writable_file),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
):
    """Fréchet distance, KID and precision/recall in a feature network's space.

    By default EfficientNet-Lite0's ImageNet features at 224 px, one space for every dataset and run
    (not comparable with published Inception FIDs); --features data trains a small network on DATA.

    Example: modiste gan eval runs/gan/a data/cat --n 2000
    """
    from modiste.gan import GAN

    gan = GAN.load(ckpt, device=device)
    report = gan.evaluate(data, n=n, features=features, seed=seed)
    path = report.save(out or gan.run_dir / "eval" / "quality.json")
    typer.echo(f"{report}\nwrote {path}")
