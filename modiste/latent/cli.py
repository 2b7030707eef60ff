"""``modiste latent ...``: invert images, map a catalog, boundaries, edits, tags, similar items."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from modiste.console import given, writable_file, writable_folder

latent_app = typer.Typer(no_args_is_help=True, help="Latent space of a trained generator: invert, map, boundary, edit, tag.")
encoder_app = typer.Typer(no_args_is_help=True, help="The image -> code encoder used to start inversions.")
tag_app = typer.Typer(no_args_is_help=True, help="Linear tag probes on latent codes.")
latent_app.add_typer(encoder_app, name="encoder")
latent_app.add_typer(tag_app, name="tag")

_INVERT_HELP = dict(
    encoder="Encoder run folder or checkpoint (modiste latent encoder train) to start from [random codes].",
    steps="Per-image optimisation steps after the encoder's guess [100].",
)


@encoder_app.command("train")
def encoder_train(
    ckpt: Path = typer.Argument(..., help="The generator: GAN run folder or checkpoint."),
    data: Optional[Path] = typer.Argument(None, help="Real images (folder or CSV) [generated pairs only]."),
    out: Path = typer.Option(..., help="Run folder for the encoder.", callback=writable_folder),
    steps: int = typer.Option(1500, help="Optimiser steps."),
    minutes: Optional[float] = typer.Option(None, help="Wall-clock cap; a checkpoint is written when reached."),
    batch: int = typer.Option(64, help="Batch size (half generated, half real)."),
    width: int = typer.Option(32, help="Encoder base width."),
    lr: float = typer.Option(1e-3, help="Adam learning rate."),
    feature_weight: float = typer.Option(0.5, help="Weight of the discriminator-feature loss on real images."),
    seed: int = typer.Option(0, help="Seed."),
    workers: Optional[int] = typer.Option(None, help="Image decoding processes."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
    resume: bool = typer.Option(False, help="Continue the run in --out."),
):
    """Train an encoder for a generator (on generated pairs and on real images).

    Example: modiste latent encoder train runs/gan/a data/cat/catalog.csv --out runs/encoder/a --steps 1500
    """
    from modiste.latent.encoder import EncoderConfig, train_encoder

    cfg = EncoderConfig(gan=str(ckpt), data=str(data) if data else None, out=str(out), steps=steps, minutes=minutes,
                        batch=batch, width=width, lr=lr, feature_weight=feature_weight, seed=seed, workers=workers,
                        device=device)
    path = train_encoder(cfg, resume=resume)
    summary = (Path(out) / "summary.json").read_text()
    typer.echo(f"wrote {path}\n{summary}")


@latent_app.command("invert")
def invert(
    ckpt: Path = typer.Argument(..., help="GAN run folder or checkpoint."),
    images: Path = typer.Argument(..., help="Image folder, CSV manifest or one image."),
    out: Path = typer.Option(Path("latents.npz"), help="Codes (.npz); .csv, .json and .png are written beside it.", callback=writable_file),
    encoder: Optional[Path] = typer.Option(None, help=_INVERT_HELP["encoder"]),
    steps: Optional[int] = typer.Option(None, help=_INVERT_HELP["steps"]),
    lr: Optional[float] = typer.Option(None, help="Adam step size on z [0.05]."),
    pixel_weight: Optional[float] = typer.Option(None, help="Pixel MSE weight [1]."),
    feature_weight: Optional[float] = typer.Option(None, help="Perceptual feature loss weight [0.5]."),
    perceptual: Optional[str] = typer.Option(None, help="Perceptual space: discriminator, or imagenet (Lite0's ImageNet maps; slower) [discriminator]."),
    prior_weight: Optional[float] = typer.Option(None, help="Latent-prior weight [0.05]."),
    batch: Optional[int] = typer.Option(None, help="Images optimised together [64]."),
    workers: Optional[int] = typer.Option(None, help="Image decoding processes."),
):
    """Find each image's latent code: encoder guess, then per-image optimisation.

    Example: modiste latent invert runs/gan/a data/cat/catalog.csv --encoder runs/encoder/a --out latents.npz
    """
    from modiste.latent.api import invert_images

    inv = invert_images(ckpt, images, encoder=encoder, workers=workers,
                        **given(steps=steps, lr=lr, pixel_weight=pixel_weight, feature_weight=feature_weight,
                                    perceptual=perceptual, prior_weight=prior_weight, batch=batch))
    path = inv.save(out)
    typer.echo(f"{inv}  (skipped {inv.info['skipped']['skipped']})\nwrote {path} and {path.with_suffix('.png')}")


def _codes(ckpt, image, seed, latents, where, limit, encoder, steps):
    from modiste.latent.api import codes

    return codes(ckpt, image=image, seed=seed, latents=latents, where=where, limit=limit, encoder=encoder,
                 **given(steps=steps))


@latent_app.command("edit")
def edit(
    ckpt: Path = typer.Argument(..., help="GAN run folder or checkpoint."),
    boundary: Path = typer.Option(..., help="Boundary JSON (modiste latent boundary)."),
    image: Optional[Path] = typer.Option(None, help="Edit this image (inverted first)."),
    seed: Optional[int] = typer.Option(None, help="Edit the design of this seed."),
    latents: Optional[Path] = typer.Option(None, help="Edit codes from a latents file."),
    where: Optional[str] = typer.Option(None, help="With --latents: only items with COLUMN=VALUE."),
    limit: int = typer.Option(8, help="With --latents: at most this many codes."),
    range_: tuple[float, float] = typer.Option((-3.0, 3.0), "--range", help="Amounts along the normal, from and to."),
    steps: int = typer.Option(7, help="Images per strip."),
    absolute: bool = typer.Option(False, help="Amounts are signed distances from the hyperplane, not moves."),
    to_hyperplane: bool = typer.Option(False, help="Instead of a strip: each design and its twin on the hyperplane."),
    condition: Optional[List[Path]] = typer.Option(None, help="Keep these boundaries' attributes fixed (up to 2)."),
    encoder: Optional[Path] = typer.Option(None, help=_INVERT_HELP["encoder"]),
    invert_steps: Optional[int] = typer.Option(None, help=_INVERT_HELP["steps"]),
    out: Path = typer.Option(Path("edit.png"), help="Strip PNG (a .json description is written beside it).", callback=writable_file),
):
    """Move designs along a boundary's normal, or onto its hyperplane.

    Example: modiste latent edit runs/gan/a --boundary style.json --seed 3 --range -3 3 --steps 7 --out edit.png
    """
    import numpy as np

    from modiste.gan import GAN
    from modiste.latent.api import read_boundary, save_strip
    from modiste.latent.edit import edit as edit_strip
    from modiste.latent.edit import hyperplane_designs

    gan = GAN.load(ckpt)
    b = read_boundary(boundary, condition)
    z, names = _codes(gan, image, seed, latents, where, limit, encoder, invert_steps)
    if to_hyperplane:
        result = hyperplane_designs(gan, z, b, names=names)
    else:
        result = edit_strip(gan, z, b, amounts=np.linspace(range_[0], range_[1], steps).tolist(), absolute=absolute,
                            names=names)
    typer.echo(f"wrote {save_strip(result, out)} ({len(names)} codes; {b.neg} <- -  + -> {b.pos})")


@latent_app.command("between")
def between(
    ckpt: Path = typer.Argument(..., help="GAN run folder or checkpoint."),
    image_a: Path = typer.Argument(..., help="First image."),
    image_b: Path = typer.Argument(..., help="Second image."),
    steps: int = typer.Option(5, help="Images in the strip (odd: the middle one is the midpoint)."),
    encoder: Optional[Path] = typer.Option(None, help=_INVERT_HELP["encoder"]),
    invert_steps: Optional[int] = typer.Option(None, help=_INVERT_HELP["steps"]),
    out: Path = typer.Option(Path("between.png"), help="Strip PNG; the midpoint alone is written as NAME-mid.png.", callback=writable_file),
):
    """The design halfway between two items (both inverted first).

    Example: modiste latent between runs/gan/a shirt.png dress.png --encoder runs/encoder/a --out mid.png
    """
    from modiste.gan import GAN
    from modiste.latent.api import codes, save_strip
    from modiste.latent.edit import between as between_strip
    from modiste.results import save_png

    gan = GAN.load(ckpt)
    za, _ = codes(gan, image=image_a, encoder=encoder, **given(steps=invert_steps))
    zb, _ = codes(gan, image=image_b, encoder=encoder, **given(steps=invert_steps))
    strip = between_strip(gan, za[0], zb[0], steps=steps)
    path = save_strip(strip, out)
    mid = save_png(strip.images[strip.info["midpoint_index"]], path.with_name(path.stem + "-mid.png"), scale=2)
    typer.echo(f"wrote {path} and {mid}")


@latent_app.command("similar")
def similar(
    ckpt: Path = typer.Argument(..., help="GAN run folder or checkpoint."),
    query: Path = typer.Argument(..., help="Query image (or folder / CSV of queries)."),
    latents: Path = typer.Option(..., help="Catalog codes (modiste latent invert)."),
    k: int = typer.Option(8, help="Matches per query."),
    metric: str = typer.Option("cosine", help="cosine or euclidean."),
    encoder: Optional[Path] = typer.Option(None, help=_INVERT_HELP["encoder"]),
    invert_steps: Optional[int] = typer.Option(None, help=_INVERT_HELP["steps"]),
    out: Path = typer.Option(Path("similar"), help="Folder for matches.json and matches.png.", callback=writable_folder),
):
    """Nearest catalog items to a photo by latent distance (a baseline for learned search).

    Example: modiste latent similar runs/gan/a query.png --latents latents.npz --k 8 --out similar/
    """
    from modiste.latent import Vectors
    from modiste.latent.api import invert_images
    from modiste.latent.similar import similar as find_similar

    inv = invert_images(ckpt, query, encoder=encoder, progress=False, **given(steps=invert_steps))
    matches = find_similar(inv.z, Vectors.load(latents), k=k, metric=metric, query_paths=inv.paths,
                           query_images=inv.images)
    matches.save(out)
    typer.echo(f"{matches.table()}\nwrote {out / 'matches.json'} and {out / 'matches.png'}")


@latent_app.command("map")
def map_(
    latents: Path = typer.Argument(..., help="Latents or embeddings file (.npz)."),
    out: Path = typer.Option(Path("map"), help="Folder for map.png, map.html and map.json.", callback=writable_folder),
    labels: Optional[Path] = typer.Option(None, help="CSV of attributes with a path column, joined by file."),
    color_by: Optional[str] = typer.Option(None, help="Column that colours each thumbnail's border (label, group...)."),
    filter_by: Optional[str] = typer.Option(None, "--filter", help="Map only COLUMN=VALUE items (e.g. group=collection)."),
    method: str = typer.Option("tsne", help="tsne (PCA first) or pca."),
    perplexity: float = typer.Option(30.0, help="t-SNE perplexity."),
    thumb: int = typer.Option(48, help="Thumbnail side in pixels."),
    canvas: Optional[int] = typer.Option(None, help="PNG side in pixels [grows with the number of items]."),
    seed: int = typer.Option(0, help="Layout seed."),
):
    """A map of the catalog: every item's thumbnail at its t-SNE position, as PNG and pan/zoom HTML.

    Example: modiste latent map latents.npz --color-by label --out map/
    """
    from modiste.latent import Vectors
    from modiste.latent.map import catalog_map

    vec = Vectors.load(latents)
    if labels is not None:
        vec = vec.join_csv(labels)
    result = catalog_map(vec, out, color_by=color_by, filter_by=filter_by, method=method, perplexity=perplexity,
                         thumb=thumb, canvas=canvas, seed=seed)
    typer.echo(f"{result}\nwrote {result.files['png']} and {result.files['html']}")


@latent_app.command("boundary")
def boundary(
    latents: Optional[Path] = typer.Argument(None, help="One latents file with a label column (use with --column)."),
    pos: str = typer.Option(..., help="Positive group: a latents file, or with LATENTS a value of --column."),
    neg: Optional[str] = typer.Option(None, help="Negative group: a latents file, or a value [with LATENTS: all others]."),
    column: Optional[str] = typer.Option(None, help="With LATENTS: the column holding the groups (e.g. group)."),
    condition: Optional[List[Path]] = typer.Option(None, help="Make the normal orthogonal to these boundaries (up to 2)."),
    c: float = typer.Option(1.0, "--C", help="SVM regularisation (inverse strength)."),
    folds: int = typer.Option(5, help="Cross-validation folds."),
    out: Path = typer.Option(Path("boundary.json"), help="Boundary JSON.", callback=writable_file),
):
    """A linear-SVM hyperplane between two groups of codes, with cross-validated accuracy.

    Example: modiste latent boundary latents.npz --column group --pos collection --neg everyday --out style.json
    Two files: modiste latent boundary --pos collection.npz --neg everyday.npz --out style.json
    """
    from modiste.latent import Vectors
    from modiste.latent.boundary import Boundary, boundary_from_column, fit_boundary

    if latents is not None:
        if column is None:
            raise typer.BadParameter("with LATENTS, say which --column holds the groups")
        b = boundary_from_column(Vectors.load(latents), column, pos, neg, C=c, folds=folds)
    else:
        if neg is None:
            raise typer.BadParameter("give --neg (a latents file) or a LATENTS file with --column")
        vp, vn = Vectors.load(pos), Vectors.load(neg)
        b = fit_boundary(vp.vectors, vn.vectors, pos_name=Path(pos).stem, neg_name=Path(neg).stem, C=c, folds=folds,
                         space=str(vp.meta.get("kind", "")))
    if condition:
        b = b.condition(*[Boundary.load(p) for p in condition])
        b.conditioned_on = [str(p) for p in condition]
    b.save(out)
    typer.echo(f"{b}\nwrote {out}")


@latent_app.command("directions")
def directions(
    ckpt: Path = typer.Argument(..., help="GAN run folder or checkpoint."),
    method: str = typer.Option("ganspace", help="ganspace (PCA of an early layer, mapped back) or pca (of codes)."),
    k: int = typer.Option(10, help="Number of directions."),
    n: int = typer.Option(2000, help="Sampled codes."),
    layer: Optional[str] = typer.Option(None, help="Generator layer for ganspace [the first activation]."),
    seed: int = typer.Option(0, help="Seed of the samples and of the design shown."),
    sigmas: float = typer.Option(3.0, help="The sheet moves from -sigmas to +sigmas."),
    steps: int = typer.Option(7, help="Images per direction in the sheet."),
    out: Path = typer.Option(Path("directions"), help="Folder for directions.json and sheet.png.", callback=writable_folder),
):
    """Unsupervised edit directions (GANSpace), to browse the latent space without labels.

    Example: modiste latent directions runs/gan/a --k 8 --out dirs/
    """
    from modiste.gan import GAN
    from modiste.latent.api import save_strip
    from modiste.latent.directions import ganspace, latent_pca
    from modiste.latent.edit import direction_sheet

    gan = GAN.load(ckpt)
    if method == "ganspace":
        dirs = ganspace(gan.G, latent_dim=gan.latent_dim, prior=gan.prior, n=n, k=k, layer=layer, seed=seed)
    elif method == "pca":
        dirs = latent_pca(gan.latents(n, seed), k=k)
    else:
        raise typer.BadParameter(f"method must be ganspace or pca, not {method!r}")
    out.mkdir(parents=True, exist_ok=True)
    dirs.save(out / "directions.json")
    sheet = save_strip(direction_sheet(gan, dirs, gan.latents(1, seed)[0], sigmas=sigmas, steps=steps), out / "sheet.png")
    typer.echo(f"{dirs}\nwrote {out / 'directions.json'} and {sheet}")


@tag_app.command("fit")
def tag_fit(
    latents: Path = typer.Argument(..., help="Latents file (its columns are the tags unless --labels is given)."),
    labels: Optional[Path] = typer.Option(None, help="CSV of attributes with a path column, joined by file."),
    columns: Optional[str] = typer.Option(None, help="Comma-separated columns to probe [all label-like columns]."),
    folds: int = typer.Option(5, help="Cross-validation folds."),
    out: Path = typer.Option(Path("tags.json"), help="Probes JSON.", callback=writable_file),
):
    """One linear probe per attribute column, with cross-validated accuracy against chance.

    Example: modiste latent tag fit latents.npz --labels data/cat/catalog.csv --out tags.json
    """
    from modiste.latent import Vectors
    from modiste.latent.tags import fit_tags

    vec = Vectors.load(latents)
    if labels is not None:
        vec = vec.join_csv(labels)
    probes = fit_tags(vec, columns.split(",") if columns else None, folds=folds)
    probes.save(out)
    typer.echo(f"{probes.table()}\nwrote {out}")


@tag_app.command("predict")
def tag_predict(
    ckpt: Path = typer.Argument(..., help="GAN run folder or checkpoint (to invert the images)."),
    images: Path = typer.Argument(..., help="Image folder, CSV or one image."),
    probes: Path = typer.Option(..., help="Probes JSON (modiste latent tag fit)."),
    encoder: Optional[Path] = typer.Option(None, help=_INVERT_HELP["encoder"]),
    invert_steps: Optional[int] = typer.Option(None, help=_INVERT_HELP["steps"]),
    threshold: float = typer.Option(0.5, help="Probability above which a multi-valued tag is given."),
    out: Path = typer.Option(Path("tags.csv"), help="CSV: path then one column per probed attribute.", callback=writable_file),
):
    """Tag new images: invert them, then apply the probes.

    Example: modiste latent tag predict runs/gan/a photos/ --probes tags.json --encoder runs/encoder/a --out tags.csv
    """
    from modiste.latent.api import invert_images, write_tags
    from modiste.latent.tags import TagProbes

    tp = TagProbes.load(probes)
    inv = invert_images(ckpt, images, encoder=encoder, **given(steps=invert_steps))
    rows = tp.predict_columns(inv.z.numpy(), threshold=threshold)
    write_tags(out, inv.paths, rows)
    for p, r in list(zip(inv.paths, rows))[:10]:
        typer.echo(f"{Path(p).name}: " + ", ".join(f"{k}={v}" for k, v in r.items()))
    typer.echo(f"wrote {out} ({len(rows)} images)")
