"""Train the SSD detector: box-aware augmentation, SSD matching, MultiBox loss, per-epoch mAP, best checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from modiste import __version__
from modiste.data.loading import SkipLog, default_num_workers
from modiste.detect.augment import DetectionAugment, DetectionTransform, to_pixels
from modiste.detect.boxes import postprocess
from modiste.detect.data import DetectionDataset, detection_collate
from modiste.detect.formats import read_detection
from modiste.detect.records import DetectionRecord
from modiste.detect.loss import match_batch, multibox_loss
from modiste.detect.metrics import DetectionMetrics, evaluate_detections
from modiste.detect.model import KIND
from modiste.io import atomic_write_json
from modiste.nn.pretrained import (backbone_name, freeze_leading,
                                   load_backbone_weights, memory_format)
from modiste.nn.registry import create_model
from modiste.train.optim import adamw, set_lr
from modiste.train.config import PretrainedStart, RunConfig
from modiste.train.plots import plot_curves
from modiste.train.loop import TrainLoop
from modiste.train.run import open_run
from modiste.train.state import Checkpoints
from modiste.train.dist import default_amp, default_device


@dataclass
class DetectConfig(PretrainedStart, RunConfig):
    data: str = ""                 # COCO JSON, YOLO data YAML, or a folder holding either
    val: str | None = None         # validation data [DATA's val split, else a share of DATA]
    out: str = "runs/detect/default"
    size: int = 320                # network input side (512 for small items)
    backbone: str | None = None    # efficientnet_lite0|1|2 or convnext_<size> [efficientnet_lite0 when installed]
    weights: str | None = None     # the backbone's start: imagenet, none (from scratch) or a local file [imagenet where it ships]
    epochs: int = 30
    batch: int = 16
    lr: float = 2e-3
    backbone_lr: float = 0.3       # a pretrained backbone's learning rate, as a share of lr
    # leading backbone stages kept as they start [2 pretrained: the stride-2 and -4 ones, whose maps
    # are the largest; the stride-8 stage feeds the finest detection map and keeps learning; 0]
    freeze: int | None = None
    amp: bool | None = None        # bf16 autocast [on for CUDA]
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    val_fraction: float = 0.1      # held out when there is no validation split
    augment: bool = True
    eval_score_threshold: float = 0.01  # low for mAP: the PR curve needs the low-scoring tail
    minutes: float | None = None
    seed: int = 0
    workers: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        self.check_numbers()
        self.resolve_start(takes="the detector takes efficientnet_lite0|1|2 or convnext_<size>", fallback="convnext_micro")
        if self.freeze is None:
            self.freeze = 2 if self.pretrained else 0

    @staticmethod
    def upgrade(d):
        if d.get("backbone") and "weights" not in d:  # runs saved before backbones had ImageNet weights
            d = {**d, "backbone": backbone_name(d["backbone"]), "weights": "none"}
        return d


def build_detector(cfg: DetectConfig, num_classes: int) -> torch.nn.Module:
    """The SSD network for ``cfg``, its backbone started from ``cfg.weights``."""
    family, variant = cfg.backbone.split("_", 1)
    if family == "efficientnet":
        net = create_model("ssd_efficientnet", num_classes=num_classes, image_size=cfg.size, variant=variant)
    else:
        net = create_model("ssd_convnext", num_classes=num_classes, image_size=cfg.size, size=variant)
    load_backbone_weights(net.backbone, cfg.backbone, cfg.weights)
    return net


class _EpochSeeded(Dataset):
    """Augments item ``i`` of epoch ``e`` (sampled as ``e * n + i``) with ``default_rng([seed, e, i])``,
    so an epoch's images do not depend on worker count or on where a resumed run restarted."""

    def __init__(self, base: DetectionDataset, transform, seed: int):
        self.base, self.transform, self.seed = base, transform, seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: int):
        epoch, index = divmod(int(key), len(self.base))
        sample = self.base[index]
        if hasattr(sample, "image"):
            rng = np.random.default_rng([self.seed, epoch, index])
            sample.image, sample.boxes, sample.labels = self.transform(sample.image, sample.boxes, sample.labels, rng)
        return sample


def load_splits(cfg: DetectConfig) -> tuple[list[DetectionRecord], list[DetectionRecord], list[str], dict[str, str]]:
    """Training and validation records, classes, and the images the readers left out (path -> why)."""
    train, classes = read_detection(cfg.data, split="train")
    skipped = dict(train.skipped)
    if cfg.val is not None:
        val, val_classes = read_detection(cfg.val, split="val")
        skipped.update(val.skipped)
    else:
        try:
            val, val_classes = read_detection(cfg.data, split="val")
            skipped.update(val.skipped)
        except (KeyError, ValueError, FileNotFoundError):
            val, val_classes = [], classes
        if not val or [r.path for r in val] == [r.path for r in train]:
            order = np.random.default_rng(cfg.seed).permutation(len(train))
            n_val = max(1, round(len(train) * cfg.val_fraction))
            val, train = [train[i] for i in order[:n_val]], [train[i] for i in order[n_val:]]
    if val_classes != classes:
        raise ValueError(f"validation classes {val_classes} differ from training classes {classes}")
    if not train:
        raise ValueError(f"{cfg.data}: no training images")
    return train, val, classes, skipped




@torch.no_grad()
def evaluate_model(net: torch.nn.Module, records: Sequence[DetectionRecord], classes: list[str], *,
                   batch: int = 16, workers: int = 0, score_threshold: float = 0.01,
                   device: torch.device | str = "cpu") -> tuple[DetectionMetrics, SkipLog]:
    """COCO-style mAP of ``net`` on ``records`` (boxes compared in original pixels)."""
    was = net.training
    net.eval()
    ds = DetectionDataset(records, net.image_size, DetectionTransform(net.image_size))
    loader = DataLoader(ds, batch_size=batch, num_workers=workers, collate_fn=detection_collate)
    preds, truth, skips = [], [], SkipLog()
    for b in loader:
        skips.record(b.bad)
        if not len(b):
            continue
        loc, conf = net(b.images.to(device))
        for i, idx in enumerate(b.indices.tolist()):
            rec = records[idx]
            boxes, scores, labels = postprocess(loc[i].cpu(), conf[i].cpu(), net.priors.cpu(),
                                                score_threshold=score_threshold)
            preds.append({"boxes": to_pixels(boxes, rec.width, rec.height), "scores": scores, "labels": labels})
            truth.append({"boxes": rec.boxes, "labels": rec.labels})
    net.train(was)
    return evaluate_detections(preds, truth, classes), skips


def train_detector(cfg: DetectConfig, *, resume: bool = False, progress: bool = True,
                   given: Iterable[str] | None = None) -> Path:
    """Train into ``cfg.out``; returns the best checkpoint (by validation mAP@0.5)."""
    run, cfg = open_run(cfg, resume, given)  # given: the settings the caller set (refused if changed on resume)
    device = default_device(cfg.device)
    train, val, classes, missing = load_splits(cfg)
    run.write_config(cfg.to_dict())

    torch.manual_seed(cfg.seed)
    net = build_detector(cfg, len(classes))
    layout = memory_format(net)
    net = net.to(device, memory_format=layout)
    amp = default_amp(cfg.amp, device)
    frozen = freeze_leading(net.backbone, cfg.freeze)
    priors = net.priors.cpu()
    heads = [p for name, p in net.named_parameters() if not name.startswith("backbone.")]
    opt = adamw([[p for p in net.backbone.parameters() if p.requires_grad], heads], cfg.lr, cfg.weight_decay,
                lr_scales=[cfg.backbone_lr if cfg.pretrained else 1.0, 1.0])
    transform = DetectionAugment(cfg.size) if cfg.augment else DetectionTransform(cfg.size)
    dataset = _EpochSeeded(DetectionDataset(train, cfg.size), transform, cfg.seed)
    workers = cfg.workers if cfg.workers is not None else default_num_workers(dataset)
    steps_per_epoch = max(1, len(train) // cfg.batch)
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    base_meta = {"kind": KIND, "classes": classes, "image_size": cfg.size, "config": cfg.to_dict(),
                 "data": {"train_images": len(train), "val_images": len(val)}, "modiste_version": __version__}
    saves = Checkpoints(run, {"model": net}, {"model": opt}, base_meta)
    meta = saves.resume(device) if resume else {"step": 0, "best": {"epoch": None, "map50": -1.0}}
    best = meta["best"]
    loop = TrainLoop(run, steps_per_epoch=steps_per_epoch, epochs=cfg.epochs, minutes=cfg.minutes, step=meta["step"],
                     fitted_total=meta.get("fitted_total"), desc="detect", progress=progress)

    skips = SkipLog.of(missing)  # images the annotations list that could not be read count too
    net.train()
    with loop:
        for epoch in loop.epochs():
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch))
            order = order[: steps_per_epoch * cfg.batch] + epoch * len(train)
            done = loop.step % steps_per_epoch
            loader = DataLoader(dataset, batch_size=cfg.batch, sampler=order[done * cfg.batch:].tolist(),
                                num_workers=workers, collate_fn=detection_collate)
            sums, count = torch.zeros(4), 0
            for _, b in zip(loop.steps(), loader):
                skips.record(b.bad)
                if not len(b):
                    continue
                set_lr(opt, loop.lr(cfg.lr, warmup))
                for stage in frozen:  # after validation's net.train(): frozen BatchNorm keeps its statistics
                    stage.eval()
                loc_t, labels_t = match_batch(b.boxes, b.labels, priors)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    loc, conf = net(b.images.to(device).contiguous(memory_format=layout))
                loss, parts = multibox_loss(loc.float(), conf.float(), loc_t.to(device), labels_t.to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sums += torch.tensor([loss.item(), parts.loc, parts.conf, parts.positives])
                count += 1
            loss_v, loc_v, conf_v, pos_v = (sums / max(count, 1)).tolist()
            record = loop.record(loss=loss_v, loc_loss=loc_v, conf_loss=conf_v, positives_per_image=pos_v,
                                 lr=opt.param_groups[-1]["lr"], images_per_s=loop.images_per_s(cfg.batch))
            if loop.epoch_complete and val:
                metrics, _ = evaluate_model(net, val, classes, batch=cfg.batch, workers=workers,
                                            score_threshold=cfg.eval_score_threshold, device=device)
                record.update({"map50": metrics.map50, "map": metrics.map})
                if metrics.map50 > best["map50"]:
                    best = {"epoch": record["epoch"], "map50": metrics.map50, "map": metrics.map}
                    saves.save_best(loop, best=best)
                    metrics.save(run.path / "val_metrics.json")
                    metrics.plot(run.path / "pr_curve.png")
                loop.bar.set_postfix(loss=f"{loss_v:.3f}", map50=f"{metrics.map50:.3f}")
            run.log(record)
            plot_curves(run.metrics(), run.path / "curves.png",
                        [("loss", ("loss", "loc_loss", "conf_loss")), ("validation", ("map50", "map"))], x="epoch")
            saves.save_latest(loop, best=best)
            if not val and loop.epoch_complete:
                saves.save_best(loop, best=best)
    atomic_write_json(run.path / "skipped.json", skips.summary())
    loop.summary(best=best, classes=classes, train_images=len(train), val_images=len(val), skipped_files=skips.count,
                 modiste_version=__version__)
    return run.checkpoints / "best.safetensors"
