"""``modiste synth ...``: the built-in synthetic data; ``modiste data ...``: inspecting image folders and manifests."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from modiste.console import writable_folder

synth_app = typer.Typer(no_args_is_help=True, help="Built-in synthetic fashion data.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect image folders and manifests.")


@synth_app.command("catalog")
def synth_catalog(
    out: Path = typer.Argument(..., help="Folder to write images/ and catalog.csv into.", callback=writable_folder),
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
    out: Path = typer.Argument(..., help="Folder to write images/ and pairs.csv into.", callback=writable_folder),
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
    out: Path = typer.Argument(..., help="Folder for images/, annotations.json (COCO), labels/ and data.yaml (YOLO).", callback=writable_folder),
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
    out: Path = typer.Argument(..., help="Folder for person/, article/, article_mask/, person_parse/ and pairs.csv.", callback=writable_folder),
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
