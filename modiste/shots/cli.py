"""``modiste shots ...``: the shot-type (or category) classifier; ``modiste sort``: galleries in house order."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from modiste.console import given, writable_file, writable_folder

shots_app = typer.Typer(no_args_is_help=True, help="Image classifier for shot types or categories: train, eval, predict.")


@shots_app.command("train")
def shots_train(
    data: Optional[Path] = typer.Argument(None, help="Class folders, or a CSV with path and label columns."),
    out: Path = typer.Option(..., help="Run folder (config, metrics, curves, checkpoints).", callback=writable_folder),
    val: Optional[Path] = typer.Option(None, help="Validation images [15% of each class of DATA]."),
    backbone: Optional[str] = typer.Option(None, help="efficientnet_lite0|1|2, convnext_<size> (micro ... tiny) or resnet_<size> (r10, r18, r18w) [efficientnet_lite0]."),
    weights: Optional[str] = typer.Option(None, help="imagenet, none (from scratch) or a local weights FILE [imagenet where it ships, else none]."),
    arch: Optional[str] = typer.Option(None, hidden=True, help="Old name of --backbone."),
    size: Optional[int] = typer.Option(None, help="Input side in px [224 pretrained, 96 from scratch]."),
    resize: Optional[str] = typer.Option(None, help="letterbox (whole photo, padded), center-crop, or stretch (whole photo, squeezed square) [letterbox]."),
    epochs: Optional[int] = typer.Option(None, help="Passes over the training images [8 pretrained, 30 from scratch]."),
    batch: Optional[int] = typer.Option(None, help="Batch size [64]."),
    lr: Optional[float] = typer.Option(None, help="AdamW learning rate of the head, cosine decay after warm-up [3e-4 pretrained, 3e-3 from scratch]."),
    backbone_lr: Optional[float] = typer.Option(None, help="A pretrained backbone's learning rate as a share of --lr [0.3]."),
    probe: Optional[bool] = typer.Option(None, "--probe/--no-probe", help="Pretrained: fit the head on frozen features before fine-tuning [on]."),
    freeze: Optional[int] = typer.Option(None, help="Leading backbone stages kept as they start [3 pretrained: through stride 8; 0 from scratch]."),
    label_smoothing: Optional[float] = typer.Option(None, help="Label smoothing [0.1]."),
    balanced: Optional[bool] = typer.Option(None, "--balanced/--no-balanced", help="Draw every class equally often [on]."),
    flip: Optional[bool] = typer.Option(None, "--flip/--no-flip",
                                        help="Mirror images in training; off when left and right are different classes [on]."),
    mix: Optional[str] = typer.Option(None, help="Batch mixing: none, mixup, cutmix, or both (one per batch) [none]."),
    mix_alpha: Optional[float] = typer.Option(None, help="Mixing share ~ Beta(alpha, alpha) [1.0]."),
    ema_epochs: Optional[float] = typer.Option(None, help="Half-life in epochs of a weight average that is validated and kept; 0 = off [0]."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="bf16 autocast [on for CUDA]."),
    minutes: Optional[float] = typer.Option(None, help="Wall-clock cap; a checkpoint is written when reached."),
    seed: Optional[int] = typer.Option(None, help="Seed [0]."),
    workers: Optional[int] = typer.Option(None, help="Decoding processes."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
    resume: bool = typer.Option(False, help="Continue the run in --out."),
):
    """Train a classifier: EfficientNet-Lite0 from ImageNet weights by default (a linear probe on frozen
    features, then fine-tuning), or a ConvNeXt / ResNet (class-balanced, label smoothing, shot-preserving
    augmentation).

    Example: modiste shots train data/shots/images --out runs/shots/a
    Categories of real photos, 15 min on a 2-core CPU (3068 clothing photos, see the README):
      modiste shots train photos/train --val photos/validation --out runs/cat --no-balanced --amp --epochs 9 --minutes 14
    """
    from modiste.shots.train import ClassifyConfig, train_classifier

    if data is None and not resume:
        raise typer.BadParameter("give DATA (or --resume an existing run)")
    settings = given(data=str(data) if data else None, out=str(out), val=str(val) if val else None,
                     backbone=backbone or arch, size=size, backbone_lr=backbone_lr, probe=probe, freeze=freeze, resize=resize, epochs=epochs, batch=batch, lr=lr,
                     label_smoothing=label_smoothing, balanced=balanced, flip=flip,
                     mix=mix, mix_alpha=mix_alpha, ema_epochs=ema_epochs,
                     weights=weights, amp=amp, minutes=minutes, seed=seed,
                     workers=workers, device=device)
    cfg = ClassifyConfig(**settings)
    best = train_classifier(cfg, resume=resume, given=settings)
    summary = json.loads((out / "summary.json").read_text())
    b = summary["best"]
    if summary["val_images"]:
        typer.echo(f"best checkpoint {best} (epoch {b['epoch']}): validation accuracy {b['accuracy']:.4f} "
                   f"in {summary['minutes']:.1f} min\ncurves: {out / 'curves.png'}")
    else:
        typer.echo(f"checkpoint {best} (the last epoch: no validation images; give --val to pick the best) "
                   f"in {summary['minutes']:.1f} min\ncurves: {out / 'curves.png'}")
    if summary["stop_reason"] != "budget":
        typer.echo(f"stopped early ({summary['stop_reason']}); continue with: modiste shots train --out {out} --resume")


@shots_app.command("eval")
def shots_eval(
    ckpt: Path = typer.Argument(..., help="Classifier run folder or checkpoint."),
    data: Path = typer.Argument(..., help="Labelled images: class folders or a CSV."),
    out: Optional[Path] = typer.Option(None, help="Folder for eval.json and confusion.png [RUN/eval].", callback=writable_folder),
    workers: Optional[int] = typer.Option(None, help="Decoding processes."),
):
    """Accuracy, macro-F1, per-class precision/recall and a confusion-matrix plot.

    Example: modiste shots eval runs/shots/a data/shots_test/images
    """
    from modiste.shots.model import ShotClassifier

    clf = ShotClassifier.load(ckpt)
    out = out or clf.path.parent.parent / "eval"
    r = clf.evaluate(data, out, workers=workers)
    typer.echo(f"{r['images']} images: accuracy {r['accuracy']:.4f}, macro-F1 {r['macro_f1']:.4f}")
    typer.echo(f"{'class':<14}{'precision':>10}{'recall':>10}{'support':>9}")
    for name, c in r["per_class"].items():
        typer.echo(f"{name:<14}{c['precision']:>10.3f}{c['recall']:>10.3f}{c['support']:>9}")
    typer.echo(f"wrote {out / 'eval.json'} and {out / 'confusion.png'}")


@shots_app.command("predict")
def shots_predict(
    ckpt: Path = typer.Argument(..., help="Classifier run folder or checkpoint."),
    images: List[Path] = typer.Argument(..., help="Image files, folders or CSV manifests."),
    out: Path = typer.Option(Path("predictions.csv"), help="CSV (path, label, confidence) or .json (with probabilities).", callback=writable_file),
    overwrite: bool = typer.Option(False, help="Replace OUT when it exists."),
):
    """Class and confidence per image.

    Example: modiste shots predict runs/shots/a new_photos/ --out shots.csv
    """
    from modiste.data.datasets import image_paths
    from modiste.shots.model import ShotClassifier

    if out.exists() and not overwrite:
        raise typer.BadParameter(f"{out} exists; pass --overwrite to replace it, or choose another --out")

    preds = ShotClassifier.load(ckpt).predict(image_paths(images))
    preds.save(out)
    for p in preds[:20]:
        typer.echo(f"{p.label:<14}{p.confidence:.3f}  {p.path}")
    if len(preds) > 20:
        typer.echo(f"... {len(preds) - 20} more")
    typer.echo(f"wrote {out}")


def sort_command(
    gallery: Path = typer.Argument(..., help="A product folder, a folder of product folders, or a CSV (path, product)."),
    model: Path = typer.Option(..., help="Shot-type classifier: run folder or checkpoint."),
    regulation: Path = typer.Option(..., help="Regulation YAML (the house order of shot types)."),
    out: Path = typer.Option(Path("sorted"), help="Folder for <product>/order.csv, order.json and copies.", callback=writable_folder),
    copy: bool = typer.Option(False, help="Also write numbered copies (01_, 02_ ...); originals are never touched."),
    review_threshold: float = typer.Option(0.5, help="Photos below this confidence are flagged for review."),
):
    """Put every product's photos in the regulation's order.

    Example: modiste sort galleries/ --model runs/shots/a --regulation shop_a.yaml --out sorted/ --copy
    Score against known orders: modiste sort eval galleries/ --truth truth.csv --model runs/shots/a --regulation r.yaml
    """
    from modiste.shots.api import sort

    results = sort(gallery, model, regulation, out, copy=copy, review_threshold=review_threshold)
    review = sum(p.review for g in results for p in g.items)
    for g in results[:10]:
        typer.echo(f"{g.product}: " + " ".join(p.shot for p in g.published))
    if len(results) > 10:
        typer.echo(f"... {len(results) - 10} more galleries")
    typer.echo(f"{len(results)} galleries sorted, {review} photos flagged for review; wrote {out}")


def sort_eval_command(
    gallery: Path = typer.Argument(..., help="Galleries: a folder of product folders, or a CSV (path, product)."),
    truth: Path = typer.Option(..., help="CSV with product, file, shot: the true shot of every photo."),
    model: Path = typer.Option(..., help="Shot-type classifier: run folder or checkpoint."),
    regulation: Path = typer.Option(..., help="Regulation YAML."),
    out: Optional[Path] = typer.Option(None, help="Write the report here as JSON.", callback=writable_file),
):
    """Exact-order rate, Kendall's tau and position accuracy against the true order.

    Example: modiste sort eval data/shots/galleries --truth data/shots/galleries/truth.csv --model runs/shots/a --regulation r.yaml
    """
    from modiste.io import atomic_write_json
    from modiste.shots.api import evaluate_sorting

    r = evaluate_sorting(gallery, truth, model, regulation)
    tau = "n/a" if r["kendall_tau"] is None else f"{r['kendall_tau']:.4f}"
    typer.echo(f"{r['galleries']} galleries, {r['photos']} photos: exact order {r['exact_order']:.4f}, "
               f"Kendall's tau {tau}, position accuracy {r['position_accuracy']:.4f}, "
               f"shot accuracy {r['shot_accuracy']:.4f}")
    if out:
        atomic_write_json(out, {k: v for k, v in r.items()})
        typer.echo(f"wrote {out}")
