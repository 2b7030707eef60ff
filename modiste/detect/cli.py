"""``modiste detect ...``, ``modiste shop`` and ``modiste export``: items in street photos, and where to buy them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from modiste.console import given, writable_folder

detect_app = typer.Typer(no_args_is_help=True, help="An SSD-style detector for fashion items: train, val, predict.")


@detect_app.command("train")
def detect_train(
    data: Optional[Path] = typer.Argument(None, help="COCO JSON, YOLO data YAML, or a folder holding one."),
    out: Path = typer.Option(..., help="Run folder (config, metrics, curves, checkpoints).", callback=writable_folder),
    val: Optional[Path] = typer.Option(None, help="Validation data [DATA's val split, else 10% of DATA]."),
    size: Optional[int] = typer.Option(None, help="Input side in px [320; 512 for small items]."),
    backbone: Optional[str] = typer.Option(None, help="efficientnet_lite0|1|2 or convnext_<size> (micro, atto, femto, ...) [efficientnet_lite0]."),
    weights: Optional[str] = typer.Option(None, help="imagenet, none (from scratch) or a local weights FILE [imagenet where it ships]."),
    epochs: Optional[int] = typer.Option(None, help="Passes over the training images [30]."),
    batch: Optional[int] = typer.Option(None, help="Batch size [16]."),
    lr: Optional[float] = typer.Option(None, help="AdamW learning rate, cosine decay after warm-up [2e-3]."),
    backbone_lr: Optional[float] = typer.Option(None, help="A pretrained backbone's learning rate as a share of --lr [0.3]."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="bf16 autocast [on for CUDA]."),
    freeze: Optional[int] = typer.Option(None, help="Leading backbone stages kept as they start [2 pretrained, 0 from scratch]."),
    minutes: Optional[float] = typer.Option(None, help="Wall-clock cap; a checkpoint is written when reached."),
    seed: Optional[int] = typer.Option(None, help="Seed [0]."),
    workers: Optional[int] = typer.Option(None, help="Decoding and augmentation processes."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
    resume: bool = typer.Option(False, help="Continue the run in --out."),
):
    """Train the detector from scratch; validation mAP each epoch, best checkpoint kept.

    Example: modiste detect train data/scenes/data.yaml --out runs/detect/a --epochs 30
    Resume:  modiste detect train --out runs/detect/a --resume
    """
    from modiste.detect.train import DetectConfig, train_detector

    if data is None and not resume:
        raise typer.BadParameter("give DATA (or --resume an existing run)")
    settings = given(data=str(data) if data else None, out=str(out), val=str(val) if val else None,
                     size=size, backbone=backbone, weights=weights, backbone_lr=backbone_lr, amp=amp, freeze=freeze, epochs=epochs, batch=batch, lr=lr, minutes=minutes,
                     seed=seed, workers=workers, device=device)
    cfg = DetectConfig(**settings)
    best = train_detector(cfg, resume=resume, given=settings)
    summary = json.loads((out / "summary.json").read_text())
    b = summary["best"]
    typer.echo(f"best checkpoint {best} (epoch {b['epoch']}): mAP@0.5 {b['map50']:.4f}\ncurves: {out / 'curves.png'}")
    if summary["stop_reason"] != "budget":
        typer.echo(f"stopped early ({summary['stop_reason']}); continue with: modiste detect train --out {out} --resume")


@detect_app.command("eval")
def detect_eval(
    ckpt: Path = typer.Argument(..., help="Detector run folder or checkpoint."),
    data: Path = typer.Argument(..., help="COCO JSON, YOLO data YAML, or a folder holding one."),
    split: str = typer.Option("val", help="Split of a YOLO data YAML."),
    out: Optional[Path] = typer.Option(None, help="Folder for metrics.json and pr_curve.png [RUN/val].", callback=writable_folder),
    workers: Optional[int] = typer.Option(None, help="Decoding processes."),
):
    """COCO-style mAP@0.5 and mAP@0.5:0.95, per-class AP and a precision-recall plot.

    Example: modiste detect eval runs/detect/a data/scenes/data.yaml
    """
    from modiste.detect.model import Detector

    det = Detector.load(ckpt)
    out = out or det.path.parent.parent / "val"
    try:
        metrics = det.evaluate(data, split=split, out=out, workers=workers or 0)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    typer.echo(f"{metrics}\n{metrics.skipped}\nwrote {out / 'metrics.json'} and {out / 'pr_curve.png'}")


detect_app.command("val", hidden=True)(detect_eval)  # the name of earlier releases


@detect_app.command("predict")
def detect_predict(
    ckpt: Path = typer.Argument(..., help="Detector run folder or checkpoint."),
    images: List[Path] = typer.Argument(..., help="Image files, folders or CSV manifests."),
    out: Path = typer.Option(Path("detections"), help="Folder for one JSON and one drawn JPEG per image.", callback=writable_folder),
    score_threshold: float = typer.Option(0.3, "--score-threshold", "--conf", help="Keep boxes scoring at least this."),
    iou_threshold: float = typer.Option(0.45, "--iou-threshold", "--iou", help="NMS IoU threshold (per class)."),
    no_draw: bool = typer.Option(False, "--no-draw", help="Only the JSON files."),
):
    """Boxes, categories and scores per image, as JSON and drawn on the image.

    Example: modiste detect predict runs/detect/a snaps/ --out detections/ --score-threshold 0.4
    """
    from modiste.data.datasets import image_paths
    from modiste.detect.model import Detector

    det = Detector.load(ckpt, score_threshold=score_threshold, iou_threshold=iou_threshold)
    results = det.predict(image_paths(images), out, draw=not no_draw)
    n = sum(len(r) for r in results)
    typer.echo(f"{n} items in {len(results)} images; wrote {out}")
