"""Train an image classifier (shot types, categories): by default EfficientNet-Lite0 fine-tuned from its
ImageNet weights; or a ConvNeXt or BatchNorm ResNet from scratch or from a local weights file.

A pretrained start first fits the classifier layer alone on the frozen features (a linear probe),
then fine-tunes the whole network, the backbone at a lower learning rate than its head.

Class-balanced batches (every class drawn equally often, so rare shot types are learnt), label
smoothing, augmentation that keeps the class (mild crops and colour; flips only when a mirror
image is still the same class), stochastic depth, AdamW with warm-up and cosine decay, bf16
autocast on GPU. After each epoch: accuracy and macro-F1 on the validation split; the best
checkpoint by accuracy is kept. A stopped run resumes exactly.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from modiste import __version__
from modiste.data.datasets import open_dataset
from modiste.data.images import RESIZE_MODES, ImagePolicy
from modiste.data.loading import SkipLog, scan
from modiste.data.augment import SnapAugment
from modiste.train.ema import ema_beta, recalibrate_batchnorm, update_ema
from modiste.train.seeds import step_seed
from modiste.io import atomic_write_json
from modiste.metrics.classification import classification_report
from modiste.shots.probe import linear_probe, pooled_features
from modiste.nn.pretrained import (classifier_layer, freeze_leading,
                                   load_backbone_weights, memory_format)
from modiste.nn.registry import create_model
from modiste.progress import progress_bar
from modiste.train.mix import MODES as MIX_MODES, mix_batch
from modiste.train.optim import adamw, set_lr
from modiste.train.config import PretrainedStart, RunConfig
from modiste.train.plots import plot_curves
from modiste.train.loop import TrainLoop
from modiste.train.run import Budget, open_run
from modiste.train.state import Checkpoints
from modiste.train.dist import default_amp, default_device

KIND = "classifier"
VAL_FRACTION, MIN_HELD_OUT = 0.15, 5  # validation share of each class, when every class can spare 5 images

# Mild: a shot type must survive its augmentation (a collar crop stays a collar crop).
AUGMENT = dict(scale=(0.55, 1.0), perspective=0.05, p_perspective=0.3, rotate=6.0, brightness=0.2, contrast=0.2,
               saturation=0.2, hue=0.02, p_color=0.8, p_gray=0.05, p_blur=0.1, blur_sigma=(0.1, 1.0))


@dataclass
class ClassifyConfig(PretrainedStart, RunConfig):
    data: str = ""                  # class folders or a CSV with path and label columns
    val: str | None = None          # validation images [a share of DATA]
    out: str = "runs/shots/default"
    backbone: str | None = None     # efficientnet_lite0|1|2, convnext_<size>, resnet_<size> [efficientnet_lite0 when installed]
    weights: str | None = None      # imagenet, none (from scratch) or a local file [imagenet where it ships]
    size: int | None = None         # input side in px [224 pretrained: the features' native scale; 96 from scratch]
    resize: str = "letterbox"
    epochs: int | None = None       # [8 pretrained, 30 from scratch]
    batch: int = 64
    lr: float | None = None         # peak AdamW learning rate of the head [3e-4 pretrained (LP-FT: the probed head needs little), 3e-3 from scratch]
    backbone_lr: float = 0.3        # the pretrained backbone's learning rate, as a share of lr
    probe: bool = True              # with pretrained weights: fit the head on frozen features first
    # leading backbone stages kept as they start (weights and BatchNorm statistics): their maps are
    # the largest, so skipping their backward pass buys more epochs [3 pretrained: through stride 8; 0]
    freeze: int | None = None
    weight_decay: float = 0.05
    warmup_epochs: float | None = None  # [0.5 pretrained: the probed head needs little; 2 from scratch]
    label_smoothing: float = 0.1
    drop_path: float = 0.1
    balanced: bool = True           # draw every class equally often
    mix: str = "none"               # batch mixing: none, mixup, cutmix or both (one or the other per batch)
    mix_alpha: float = 1.0          # mixing share ~ Beta(alpha, alpha)
    mix_p: float = 1.0              # share of batches mixed
    ema_epochs: float = 0.0         # half-life of a weight average used for validation and the best checkpoint; 0 = off
    flip: bool = True               # False when a mirror image is another class (left vs right sleeve)
    augment: dict[str, Any] = field(default_factory=dict)  # SnapAugment overrides of AUGMENT
    # of each class, when no validation set is given [0.15; none when a class has under MIN_HELD_OUT / 0.15
    # images: a few photos score too noisily to pick a checkpoint and are worth more in training]
    val_fraction: float | None = None
    amp: bool | None = None         # bf16 autocast [on for CUDA]
    minutes: float | None = None    # wall-clock budget; the schedule is re-fitted to it after every epoch
    seed: int = 0
    workers: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        self.check_numbers()
        self.resolve_start(takes="", resnet=True)
        if self.size is None:
            self.size = 224 if self.pretrained else 96
        if self.epochs is None:
            self.epochs = 8 if self.pretrained else 30
        if self.lr is None:
            self.lr = 3e-4 if self.pretrained else 3e-3
        if self.freeze is None:
            self.freeze = 3 if self.pretrained else 0
        if self.warmup_epochs is None:
            self.warmup_epochs = 0.5 if self.pretrained else 2.0
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")
        if self.mix not in MIX_MODES:
            raise ValueError(f"mix must be one of {', '.join(MIX_MODES)}, got {self.mix!r}")
        if self.ema_epochs < 0:
            raise ValueError(f"ema_epochs must be >= 0, got {self.ema_epochs}")

    @staticmethod
    def upgrade(d: dict[str, Any]) -> dict[str, Any]:
        if "arch" in d and "backbone" not in d:  # runs saved before backbones had ImageNet weights
            d = {**d, "backbone": d["arch"], "weights": d.get("weights") or "none"}
        return d



def _network(cfg: ClassifyConfig, num_classes: int) -> torch.nn.Module:
    if cfg.backbone.startswith("resnet_"):
        return create_model(cfg.backbone, num_classes=num_classes)
    return create_model(cfg.backbone, num_classes=num_classes, drop_path_rate=cfg.drop_path)


@dataclass
class LabelledImages:
    images: torch.Tensor  # uint8 (N, 3, H, W)
    labels: torch.Tensor  # long (N,)
    paths: list[str]
    classes: list[str]
    skips: SkipLog


def read_labelled(source: str, *, size: int, resize: str = "letterbox", classes: list[str] | None = None,
                  workers: int | None = None, progress: bool = True) -> LabelledImages:
    """Decode a labelled folder/CSV at ``size`` px; unreadable files are skipped with a warning naming them."""
    ds = open_dataset(source, ImagePolicy(size=(size, size), resize=resize))
    if ds.classes is None:
        raise ValueError(f"{source}: a classifier needs labels: class subfolders, or a CSV with a 'label' column")
    if classes is not None and ds.classes != classes:
        unknown = sorted(set(ds.classes) - set(classes))
        if unknown:
            raise ValueError(f"{source}: classes {unknown} are not among the model's {classes}")
        remap = torch.tensor([classes.index(c) for c in ds.classes])
    else:
        remap = None
    images, kept, skips = scan(ds, num_workers=workers, progress=progress)
    labels = torch.tensor([ds.records[i].label for i in kept.tolist()], dtype=torch.long)
    if remap is not None:
        labels = remap[labels]
    return LabelledImages(images, labels, [str(ds.records[i].path) for i in kept.tolist()],
                          list(classes or ds.classes), skips)


def _split(data: LabelledImages, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    held = torch.zeros(len(data.labels), dtype=torch.bool)
    for c in data.labels.unique():
        idx = torch.nonzero(data.labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        held[idx[: int(len(idx) * fraction)]] = True
    return torch.nonzero(~held).flatten(), torch.nonzero(held).flatten()


def _epoch_order(labels: torch.Tensor, n: int, balanced: bool, generator: torch.Generator) -> torch.Tensor:
    """``n`` training indices for one epoch: uniform over images, or uniform over classes then images."""
    if not balanced:
        return torch.randperm(len(labels), generator=generator)[:n]
    counts = torch.bincount(labels).float()
    weights = (1.0 / counts)[labels]
    return torch.multinomial(weights, n, replacement=True, generator=generator)




@torch.no_grad()
def predict_tensor(net: torch.nn.Module, images: torch.Tensor, device: torch.device, batch: int = 256,
                   amp: bool = False, flip_average: bool = False) -> torch.Tensor:
    """Class probabilities (N, C) for uint8 images; with ``flip_average``, the mean of the image's
    and its mirror image's (for a model trained with flips, whose classes a mirror keeps)."""
    was = net.training
    net.eval()
    out = []
    for x in images.split(batch):
        x = x.to(device).float().div(127.5).sub(1)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            probs = net(x).float().softmax(1)
            if flip_average:
                probs = (probs + net(x.flip(-1)).float().softmax(1)) / 2
        out.append(probs.cpu())
    net.train(was)
    return torch.cat(out) if out else torch.empty(0, 0)


def train_classifier(cfg: ClassifyConfig, *, resume: bool = False, progress: bool = True,
                     given: Iterable[str] | None = None) -> Path:
    """Train into ``cfg.out``; returns the best checkpoint."""
    run, cfg = open_run(cfg, resume, given)  # given: the settings the caller set (refused if changed on resume)
    device = default_device(cfg.device)
    amp = default_amp(cfg.amp, device)
    data = read_labelled(cfg.data, size=cfg.size, resize=cfg.resize, workers=cfg.workers, progress=progress)
    if cfg.val:
        val = read_labelled(cfg.val, size=cfg.size, resize=cfg.resize, classes=data.classes, workers=cfg.workers,
                            progress=progress)
        train_x, train_y = data.images, data.labels
        val_x, val_y = val.images, val.labels
    else:
        fraction = cfg.val_fraction
        if fraction is None:
            fraction = VAL_FRACTION if int(torch.bincount(data.labels).min()) * VAL_FRACTION >= MIN_HELD_OUT else 0.0
        tr, va = _split(data, fraction, cfg.seed)
        train_x, train_y, val_x, val_y = data.images[tr], data.labels[tr], data.images[va], data.labels[va]
    if len(train_y) == 0:
        raise ValueError(f"{cfg.data}: no training images")
    run.write_config(cfg.to_dict())
    classes = data.classes

    budget = Budget(cfg.minutes)  # the linear probe is training time too
    torch.manual_seed(cfg.seed)
    net = _network(cfg, len(classes))
    if not resume:
        load_backbone_weights(net, cfg.backbone, cfg.weights)
    layout = memory_format(net)
    net = net.to(device, memory_format=layout)
    head = classifier_layer(net)
    frozen = freeze_leading(net, cfg.freeze)
    probe_report = None
    if cfg.pretrained and cfg.probe and not resume:
        bar = progress_bar(total=len(train_y) + len(val_y), unit="img", desc="linear probe", disable=not progress)
        feats = pooled_features(net, train_x, device, amp=amp, progress=bar)
        val_feats = pooled_features(net, val_x, device, amp=amp, progress=bar) if len(val_y) else None
        bar.close()
        layer, probe_report = linear_probe((feats, train_y), (val_feats, val_y) if val_feats is not None else None,
                                           len(classes))
        with torch.no_grad():
            head.weight.copy_(layer.weight)
            head.bias.copy_(layer.bias)
    # The weight average: validated and kept as the best checkpoint; its BatchNorm statistics are
    # re-estimated on training images before each validation.
    ema = copy.deepcopy(net).requires_grad_(False) if cfg.ema_epochs > 0 else None
    ema_kimg = cfg.ema_epochs * len(train_y) / 1000
    augment = SnapAugment.from_dict({**AUGMENT, "p_flip": 0.5 if cfg.flip else 0.0, **cfg.augment})
    in_head = {id(p) for p in head.parameters()}
    body = [p for p in net.parameters() if p.requires_grad and id(p) not in in_head]
    opt = adamw([body, head], cfg.lr, cfg.weight_decay,
                lr_scales=[cfg.backbone_lr if cfg.pretrained else 1.0, 1.0])
    steps_per_epoch = max(1, len(train_y) // cfg.batch)
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    base_meta = {"kind": KIND, "classes": classes, "image_size": cfg.size, "resize": cfg.resize,
                 "config": cfg.to_dict(), "data": {"train_images": len(train_y), "val_images": len(val_y)},
                 "modiste_version": __version__}
    # latest: the network and its average, to resume; best: the model that predicts (the average when kept)
    saves = Checkpoints(run, {"model": net} if ema is None else {"model": net, "ema": ema}, {"model": opt}, base_meta,
                        predict=lambda: {"model": net if ema is None else ema})
    meta = saves.resume(device) if resume else {"step": 0, "best": {"epoch": None, "accuracy": -1.0}}
    best = meta["best"]
    loop = TrainLoop(run, steps_per_epoch=steps_per_epoch, epochs=cfg.epochs, minutes=cfg.minutes, step=meta["step"],
                     fitted_total=meta.get("fitted_total"), desc="classifier", progress=progress, budget=budget)

    def recalibrated_ema() -> torch.nn.Module:
        g = torch.Generator().manual_seed(cfg.seed + 7)
        picks = iter(torch.randperm(len(train_y), generator=g)[: 8 * cfg.batch].split(cfg.batch))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            return recalibrate_batchnorm(ema, lambda: train_x[next(picks)].to(device).float().div(127.5).sub(1),
                                         batches=min(8, -(-len(train_y) // cfg.batch)))

    if probe_report is not None and len(val_y):
        # the probed model is the first candidate: fine-tuning is kept only where it does better
        probs = predict_tensor(net, val_x, device, amp=amp, flip_average=cfg.flip)
        report = classification_report(probs.argmax(1), val_y, classes)
        best = {"epoch": 0, "accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
        run.log(loop.record(val_accuracy=report["accuracy"], val_macro_f1=report["macro_f1"]))
        saves.save_best(loop, best=best)

    net.train()
    with loop:
        for epoch in loop.epochs():
            g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            order = _epoch_order(train_y, steps_per_epoch * cfg.batch, cfg.balanced, g).view(steps_per_epoch, -1)
            sums, count, mixed_n = torch.zeros(2, device=device), 0, 0
            for step in loop.steps():
                idx = order[step % steps_per_epoch]
                seed = step_seed(cfg.seed, 0, step)
                torch.manual_seed(seed)
                x = train_x[idx].to(device).float().div(127.5).sub(1)
                x = augment(x, generator=torch.Generator(device=x.device).manual_seed(seed))
                y = train_y[idx].to(device)
                mixed = mix_batch(x, y, cfg.mix, alpha=cfg.mix_alpha, p=cfg.mix_p,
                                  generator=torch.Generator().manual_seed(seed + 1))
                set_lr(opt, loop.lr(cfg.lr, warmup))
                for stage in frozen:  # after any validation's net.train(): frozen BatchNorm keeps its statistics
                    stage.eval()
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    logits = net(mixed.x.contiguous(memory_format=layout))
                loss = mixed.loss(logits.float(), cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if ema is not None:
                    update_ema(ema, net, ema_beta(cfg.batch, (step + 1) * cfg.batch, ema_kimg, rampup=0.1))
                # summed on the device: no host sync per step, read once per epoch
                sums += torch.stack([loss.detach(), (logits.argmax(1) == y).float().mean()])
                count += 1
                mixed_n += mixed.lam < 1.0
            loss_v, acc_v = (sums / max(count, 1)).tolist()
            record = loop.record(loss=loss_v, train_accuracy=acc_v, lr=opt.param_groups[-1]["lr"],
                                 mixed_share=mixed_n / max(count, 1), images_per_s=loop.images_per_s(cfg.batch))
            if loop.epoch_complete and len(val_y):
                probs = predict_tensor(net if ema is None else recalibrated_ema(), val_x, device, amp=amp,
                                       flip_average=cfg.flip)
                report = classification_report(probs.argmax(1), val_y, classes)
                record.update({"val_accuracy": report["accuracy"], "val_macro_f1": report["macro_f1"]})
                if report["accuracy"] > best["accuracy"]:
                    best = {"epoch": record["epoch"], "accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
                    saves.save_best(loop, best=best)
                loop.bar.set_postfix(loss=f"{loss_v:.3f}", val_acc=f"{report['accuracy']:.3f}")
            run.log(record)
            plot_curves(run.metrics(), run.path / "curves.png",
                        [("loss", ("loss",)), ("accuracy", ("train_accuracy", "val_accuracy", "val_macro_f1"))],
                        x="epoch")
            saves.save_latest(loop, best=best)
            if not len(val_y) and loop.epoch_complete:
                if ema is not None:
                    recalibrated_ema()
                saves.save_best(loop, best=best)
    skipped = data.skips.summary()
    atomic_write_json(run.path / "skipped.json", skipped)
    loop.summary(best=best, classes=classes, train_images=len(train_y), val_images=len(val_y),
                 skipped_files=data.skips.count, linear_probe=probe_report, modiste_version=__version__)
    return run.checkpoints / "best.safetensors"
