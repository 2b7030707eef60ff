"""The ``modiste`` command line: a thin layer that parses, calls the Python API and prints."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

# Idle OpenMP threads sleep instead of spinning: on a small machine shared with other work, a
# spinning thread that loses its core slows every parallel op tens of times (measured 2.7 vs 62
# images/s for the detector with a second job running). Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from modiste.cli_detect import detect_app, shop_command  # noqa: E402
from modiste.cli_export import export_command  # noqa: E402
from modiste.cli_latent import latent_app  # noqa: E402
from modiste.cli_search import embed_app, index_app, search_command  # noqa: E402
from modiste.cli_shots import shots_app, sort_command, sort_eval_command  # noqa: E402
from modiste.cli_tryon import tryon_app  # noqa: E402

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="modiste: a deep-learning workshop for fashion item images.")
synth_app = typer.Typer(no_args_is_help=True, help="Built-in synthetic fashion data.")
gan_app = typer.Typer(no_args_is_help=True, help="Design generation: train a GAN, sample, interpolate, evaluate.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect image folders and manifests.")
app.add_typer(synth_app, name="synth")
app.add_typer(gan_app, name="gan")
app.add_typer(data_app, name="data")
app.add_typer(latent_app, name="latent")
app.add_typer(embed_app, name="embed")
app.add_typer(index_app, name="index")
app.command("search")(search_command)
app.add_typer(detect_app, name="detect")
app.command("shop")(shop_command)
app.add_typer(shots_app, name="shots")
app.command("export")(export_command)
app.command("sort")(sort_command)
app.command("sort-eval", hidden=True)(sort_eval_command)
app.add_typer(tryon_app, name="tryon")


def _given(**kwargs) -> dict:
    """Only the options the user set, so API defaults (and a resumed run's saved config) apply."""
    return {k: v for k, v in kwargs.items() if v is not None}


@synth_app.command("catalog")
def synth_catalog(
    out: Path = typer.Argument(..., help="Folder to write images/ and catalog.csv into."),
    n: int = typer.Option(2000, help="Number of product images."),
    size: int = typer.Option(64, help="Image side in pixels."),
    seed: int = typer.Option(0, help="Same seed, same catalog."),
    workers: Optional[int] = typer.Option(None, help="Drawing processes (default: up to 2)."),
):
    """Draw a synthetic garment catalog with known attributes.

    Example: modiste synth catalog data/cat --n 2000 --size 64 --seed 0
    """
    from modiste.data.synth import catalog

    cat = catalog(out, n=n, size=size, seed=seed, workers=workers)
    typer.echo(f"wrote {len(cat)} images and {cat.csv}")


@synth_app.command("snaps")
def synth_snaps(
    catalog: Path = typer.Argument(..., help="A folder written by 'modiste synth catalog'."),
    out: Path = typer.Argument(..., help="Folder to write images/ and pairs.csv into."),
    per_item: int = typer.Option(2, help="Snaps of each catalog item."),
    size: Optional[int] = typer.Option(None, help="Image side in pixels [the catalog's]."),
    seed: int = typer.Option(0, help="Picks the snaps; the garments follow the catalog."),
    workers: Optional[int] = typer.Option(None, help="Drawing processes (default: up to 2)."),
):
    """Draw street snaps of every catalog item (worn or in a cluttered scene), with a pairs CSV.

    Example: modiste synth snaps data/cat data/snaps --per-item 2
    """
    from modiste.data.synth import snaps

    result = snaps(catalog, out, per_item=per_item, size=size, seed=seed, workers=workers)
    typer.echo(f"wrote {result}")


@synth_app.command("scenes")
def synth_scenes(
    out: Path = typer.Argument(..., help="Folder for images/, annotations.json (COCO), labels/ and data.yaml (YOLO)."),
    n: int = typer.Option(200, help="Number of street scenes."),
    width: int = typer.Option(240, help="Image width in pixels."),
    height: int = typer.Option(320, help="Image height in pixels (portrait)."),
    seed: int = typer.Option(0, help="Same seed, same scenes."),
    workers: Optional[int] = typer.Option(None, help="Drawing processes (default: up to 2)."),
):
    """Draw street scenes: figures wearing 1-4 items on cluttered backgrounds, with boxes and categories.

    Example: modiste synth scenes data/scenes --n 1000
    """
    from modiste.data.synth.scenes import scenes

    result = scenes(out, n=n, size=(width, height), seed=seed, workers=workers)
    typer.echo(f"wrote {result}")


@synth_app.command("tryon")
def synth_tryon(
    out: Path = typer.Argument(..., help="Folder for person/, article/, article_mask/, person_parse/ and pairs.csv."),
    n: int = typer.Option(500, help="Number of pairs."),
    width: int = typer.Option(96, help="Image width in pixels."),
    height: int = typer.Option(128, help="Image height in pixels (portrait)."),
    val_fraction: float = typer.Option(0.1, help="Share of pairs in the val split."),
    seed: int = typer.Option(0, help="Same seed, same pairs."),
    workers: Optional[int] = typer.Option(None, help="Drawing processes (default: up to 2)."),
):
    """Draw try-on pairs: a model wearing a garment, its product photo, the garment mask and a person parse.

    Example: modiste synth tryon data/tryon --n 1000
    """
    from modiste.data.synth import tryon_pairs

    pairs = tryon_pairs(out, n=n, size=(width, height), seed=seed, workers=workers, val_fraction=val_fraction)
    typer.echo(f"wrote {pairs.n} pairs and {pairs.csv}")


@data_app.command("check")
def data_check(
    source: Path = typer.Argument(..., help="Image folder, CSV manifest or image file."),
    size: int = typer.Option(64, help="Decode at this size (as training would)."),
    workers: Optional[int] = typer.Option(None, help="Decoding processes."),
):
    """Read every image once and report the files that cannot be used, and why.

    Example: modiste data check photos/ --size 64
    """
    from modiste.data import ImagePolicy, open_dataset, scan

    ds = open_dataset(source, ImagePolicy(size=(size, size)))
    images, _, skips = scan(ds, num_workers=workers)
    classes = f", {len(ds.classes)} classes" if ds.classes else ""
    typer.echo(f"{images.shape[0]} usable of {len(ds)} images{classes}; {skips}")


@gan_app.command("train")
def gan_train(
    data: Optional[Path] = typer.Argument(None, help="Image folder (flat or class subfolders) or CSV manifest."),
    out: Path = typer.Option(..., help="Run folder (config, checkpoints, samples, metrics)."),
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
    settings = _given(size=size, arch=arch, backbone=backbone, loss=loss, latent_dim=latent_dim, prior=prior, g_width=g_width, d_width=d_width,
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
    out: Path = typer.Option(Path("samples"), help="Folder for grid.png, one PNG per design and z.npy."),
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
    out: Path = typer.Option(Path("interpolation.png"), help="Strip PNG."),
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
    out: Optional[Path] = typer.Option(None, help="Write the report as JSON here [RUN/eval/quality.json]."),
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


@app.command("models")
def models(pattern: str = typer.Argument("*", help="Glob over registered names.")):
    """List the registered model architectures.

    Example: modiste models 'dcgan*'
    """
    from modiste.nn.registry import list_models

    for name in list_models(pattern):
        typer.echo(name)


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Folder for the demo's data, runs and index.html."),
    minutes: float = typer.Option(3.5, help="Training-time cap for the GAN part."),
    seed: int = typer.Option(0, help="Seed for data and training."),
):
    """Run every capability on built-in synthetic data and write one HTML page.

    Example: modiste demo --out runs/demo
    """
    from modiste.demo import run_demo

    page = run_demo(out, gan_minutes=minutes, seed=seed)
    typer.echo(f"open {page}")


def main(argv: list[str] | None = None) -> None:
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] == ["sort", "eval"]:  # "sort GALLERY" and "sort eval ..." share a name; click cannot mix them
        args = ["sort-eval", *args[2:]]
    app(args=args, prog_name="modiste")


if __name__ == "__main__":
    main()
