"""Train an embedding for similar-item search: triplet loss with in-batch mining on m-per-class batches.

Each step takes ``batch // m`` classes with ``m`` images each (an item's street and shop photos,
or images of one category), augments them the way a street snap differs from a shop photo, and
pulls same-class embeddings together, pushing the others at least ``margin`` further away.
After each epoch the held-out split is searched (street photos against shop photos for pairs
data, every image against the others for class folders) and Recall@K and mAP@R are logged;
the checkpoint with the best mAP@R is kept as ``checkpoints/best.safetensors``. ``split.json``
lists the held-out images, so they can be searched for later without having been trained on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F

from modiste import __version__
from modiste.data.augment import SnapAugment
from modiste.retrieval.embed.data import EmbedData, query_reference, read_embed_data, split_holdout
from modiste.retrieval.embed.evaluate import results_sheet
from modiste.retrieval.embed.losses import TripletLoss
from modiste.retrieval.embed.supcon import SupConLoss
from modiste.retrieval.embed.model import KIND
from modiste.retrieval.embed.sampler import MPerClassSampler
from modiste.train.seeds import step_seed
from modiste.io import atomic_write_json
from modiste.metrics.retrieval import DEFAULT_KS, retrieval_report
from modiste.data.images import ImagePolicy
from modiste.nn.pretrained import (freeze_leading,
                                   load_backbone_weights, memory_format)
from modiste.nn.registry import create_model
from modiste.train.optim import adamw, set_lr
from modiste.train.config import PretrainedStart, RunConfig
from modiste.train.plots import plot_curves
from modiste.train.loop import TrainLoop
from modiste.train.run import open_run
from modiste.train.state import Checkpoints
from modiste.train.dist import default_amp, default_device

BEST_METRIC = "map@r"
LOSSES = ("triplet", "supcon")


class CosineClassifier(torch.nn.Module):
    """Logits ``scale * cos(e, w_c)`` of unit embeddings against unit class weights (NormFace).

    Trained beside the triplet loss, as the re-identification "bag of tricks" does with its ID
    loss: every image gets a gradient towards its class each step, which the triplet loss alone
    gives only through the few triplets that are still active. It is discarded after training.
    """

    def __init__(self, dim: int, num_classes: int, scale: float = 16.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(num_classes, dim) * 0.01)
        self.scale = scale

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(emb, dim=1) @ F.normalize(self.weight, dim=1).T


@dataclass
class EmbedConfig(PretrainedStart, RunConfig):
    data: str = ""                   # class folders, a labelled CSV, or a pairs CSV (query, catalog, item)
    out: str = "runs/embed/default"
    # efficientnet_lite0|1|2, convnext_<size>, or vgg (the street-to-shop write-up's net)
    # [efficientnet_lite0 where its ImageNet weights are installed, else convnext_micro]
    backbone: str | None = None
    weights: str | None = None       # imagenet, none (from scratch) or a local file [imagenet where it ships]
    width: int = 32                  # vgg: base width
    dim: int = 128                   # embedding length
    size: int | None = None          # input side in px [160 pretrained; 64 from scratch]
    resize: str = "letterbox"
    # Street photos: the region that shows the item, (left, top, right, bottom) shares of the photo,
    # e.g. 0.05 0.15 0.95 0.9 for the top of aligned person photos; kept with the model for searches.
    query_box: list[float] | None = None
    epochs: int | None = None        # [10 pretrained, 20 from scratch]
    batch: int = 64
    m: int = 4                       # images per class in a batch (raised when there are few classes)
    lr: float = 1e-3
    backbone_lr: float = 0.3         # a pretrained backbone's learning rate, as a share of lr
    freeze: int | None = None        # leading backbone stages kept as they start [3 pretrained (through stride 8); 0]
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    # triplet (with mining), or supcon: supervised contrastive, every same-item image in the batch a
    # positive against all the others, which uses every pair of a batch at every step
    loss: str = "triplet"
    temperature: float = 0.05        # supcon: softmax temperature of the cosine similarities
    margin: float = 0.2
    mining: str = "semi_hard"        # semi_hard, batch_hard (collapses easily from scratch) or all
    # Weight of the cosine-softmax classification loss over the training classes; 0 = triplet only.
    # None: 1 for class folders (many images per class), 0 for pairs data, where a class is one
    # item with a few photos and the classifier only slows the triplet loss down.
    id_weight: float | None = None
    id_scale: float = 16.0           # temperature of that softmax (unit vectors need a scale to reach confident logits)
    augment: dict[str, Any] = field(default_factory=dict)  # SnapAugment settings; {"strength": 0} turns it off
    holdout: float = 0.2             # share held out for the per-epoch retrieval check
    split: str = "auto"              # hold out whole classes ("class"), images of each class ("image"), or auto
    drop_path: float = 0.05
    amp: bool | None = None          # bf16 autocast [on for CUDA]
    minutes: float | None = None     # wall-clock cap on this invocation
    seed: int = 0
    workers: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        self.check_numbers()
        self.resolve_start(takes="embeddings take efficientnet_lite0|1|2, convnext_<size> or vgg", fallback="convnext_micro",
                           own=("vgg",))
        if self.size is None:
            self.size = 160 if self.pretrained else 64
        if self.epochs is None:
            self.epochs = 10 if self.pretrained else 20
        if self.freeze is None:
            self.freeze = 3 if self.pretrained and self.backbone != "vgg" else 0
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.query_box is not None:
            self.query_box = list(ImagePolicy(box=self.query_box).box)  # checked there

    @staticmethod
    def upgrade(d: dict[str, Any]) -> dict[str, Any]:
        if "arch" in d and "backbone" not in d:  # runs saved before backbones had ImageNet weights
            backbone = "vgg" if d["arch"] == "vgg" else f"convnext_{d.get('convnext_size', 'micro')}"
            d = {**d, "backbone": backbone, "weights": d.get("backbone_weights") or "none"}
        return d



def build_embedder(cfg: EmbedConfig) -> torch.nn.Module:
    """The network, its backbone started from ``cfg.weights``."""
    if cfg.backbone == "vgg":
        if cfg.pretrained:
            raise ValueError("the vgg embedding trains from scratch only (--weights none)")
        return create_model("embed_vgg", dim=cfg.dim, width=cfg.width)
    family, variant = cfg.backbone.split("_", 1)
    if family == "efficientnet":
        net = create_model("embed_efficientnet", dim=cfg.dim, variant=variant, drop_path_rate=cfg.drop_path)
    else:
        net = create_model("embed_convnext", dim=cfg.dim, size=variant, drop_path_rate=cfg.drop_path)
    load_backbone_weights(net.backbone, cfg.backbone, cfg.weights)
    return net


def _batch_m(m: int, batch: int, num_classes: int) -> tuple[int, int]:
    """(m, batch) such that m divides batch and batch // m <= num_classes (a batch never repeats a class)."""
    if num_classes < 2:
        raise ValueError(f"triplet training needs at least 2 classes in the training split, got {num_classes}")
    m = max(m, math.ceil(batch / num_classes))
    return m, max(m * 2, batch // m * m)




@torch.no_grad()
def embed_tensor(net: torch.nn.Module, images: torch.Tensor, device: torch.device, batch: int = 256) -> torch.Tensor:
    was = net.training
    net.eval()
    out = [net(x.to(device).float().div(127.5).sub(1)).float().cpu() for x in images.split(batch)]
    net.train(was)
    return torch.cat(out) if out else torch.empty(0, getattr(net, "dim", 0))


def evaluate_split(net: torch.nn.Module, data: EmbedData, device: torch.device,
                   ks: tuple[int, ...] = DEFAULT_KS) -> tuple[dict[str, float | int], torch.Tensor]:
    """Retrieval metrics on ``data`` and its embeddings."""
    emb = embed_tensor(net, data.images, device)
    q, r = query_reference(data)
    if r is None:
        report = retrieval_report(emb, data.labels, ks=ks, same_set=True)
    else:
        report = retrieval_report(emb[q], data.labels[q], emb[r], data.labels[r], ks=ks)
    return report, emb


def train_embedding(cfg: EmbedConfig, *, resume: bool = False, progress: bool = True,
                    given: Iterable[str] | None = None,
                    data: EmbedData | None = None) -> Path:
    """Train into ``cfg.out``; returns the best checkpoint. ``resume`` continues exactly where the
    run stopped (after an epoch, a signal or a ``minutes`` cap). ``data`` skips reading ``cfg.data``."""
    run, cfg = open_run(cfg, resume, given)  # given: the settings the caller set (refused if changed on resume)
    device = default_device(cfg.device)
    amp = default_amp(cfg.amp, device)
    if data is None:
        data = read_embed_data(cfg.data, size=cfg.size, resize=cfg.resize, query_box=cfg.query_box,
                               workers=cfg.workers, progress=progress)
    train, held = split_holdout(data, cfg.holdout, by=cfg.split, seed=cfg.seed)
    m, batch = _batch_m(cfg.m, cfg.batch, train.num_classes)
    cfg.m, cfg.batch = m, batch
    if cfg.id_weight is None:
        cfg.id_weight = 1.0 if data.kind == "classes" else 0.0
    run.write_config(cfg.to_dict())
    atomic_write_json(run.path / "split.json", {"holdout": held.paths, "train_images": len(train)})

    torch.manual_seed(cfg.seed)
    net = build_embedder(cfg)
    layout = memory_format(net)
    net = net.to(device, memory_format=layout)
    frozen = freeze_leading(net.backbone, cfg.freeze)
    augment = SnapAugment.from_dict(cfg.augment)
    criterion = (TripletLoss(margin=cfg.margin, mining=cfg.mining) if cfg.loss == "triplet"
                 else SupConLoss(temperature=cfg.temperature))
    classes = train.labels.unique()  # training classes -> 0..C-1 for the classifier
    class_index = torch.full((int(data.labels.max()) + 1,), -1, dtype=torch.long)
    class_index[classes] = torch.arange(len(classes))
    head = CosineClassifier(cfg.dim, len(classes), cfg.id_scale).to(device)
    scale = cfg.backbone_lr if cfg.pretrained else 1.0
    opt = adamw([[p for p in net.backbone.parameters() if p.requires_grad], net.proj, head], cfg.lr, cfg.weight_decay, lr_scales=[scale, 1.0, 1.0])
    sampler = MPerClassSampler(train.labels, m=m, batch_size=batch, seed=cfg.seed)
    steps_per_epoch = len(sampler) // batch
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    model_meta = {"kind": KIND, "image_size": cfg.size, "resize": cfg.resize, "dim": cfg.dim, "query_box": cfg.query_box,
                  "data": {"source": cfg.data, "kind": data.kind, "images": len(data), "classes": data.num_classes,
                           "train_images": len(train), "holdout_images": len(held)},
                  "config": cfg.to_dict(), "modiste_version": __version__}
    saves = Checkpoints(run, {"model": net}, {"model": opt}, model_meta, resume_only={"head": head})  # the head only resumes
    meta = saves.resume(device) if resume else {"step": 0, "best": {"epoch": None, BEST_METRIC: -1.0}}
    best = meta["best"]
    loop = TrainLoop(run, steps_per_epoch=steps_per_epoch, epochs=cfg.epochs, minutes=cfg.minutes, step=meta["step"],
                     fitted_total=meta.get("fitted_total"), desc="embed", progress=progress)

    def end_of_epoch(record: dict[str, Any]) -> None:
        nonlocal best
        report, emb = evaluate_split(net, held, device) if len(held) else ({}, None)
        record.update(report)
        run.log(record)
        plot_curves(run.metrics(), run.path / "curves.png",
                    [("loss", ("loss", "triplet_loss", "id_loss")), ("held-out retrieval", ("recall@1", "recall@5", BEST_METRIC))],
                    x="epoch")
        if emb is not None:
            q, r = query_reference(held)
            results_sheet(held, emb, q, held, emb, r if r is not None else torch.arange(len(held)), same=r is None,
                          path=run.samples / "latest.png", n=8, k=6)
        if not report or report[BEST_METRIC] > best[BEST_METRIC]:  # nothing held out: the latest is the best
            best = {"epoch": record["epoch"], BEST_METRIC: float(report.get(BEST_METRIC, 0.0)),
                    **{k: float(v) for k, v in report.items() if k.startswith("recall@")}}
            saves.save_best(loop, best=best)
        saves.save_latest(loop, best=best)

    if loop.step == 0:  # the untrained network, for the curves' first point
        end_of_epoch({"epoch": 0, "step": 0})

    net.train()
    with loop:
        for epoch in loop.epochs():
            sampler.set_epoch(epoch)
            order = torch.tensor(list(sampler)).view(steps_per_epoch, batch)
            sums, count = torch.zeros(6), 0
            for step in loop.steps():
                idx = order[step % steps_per_epoch]
                seed = step_seed(cfg.seed, 0, step)
                torch.manual_seed(seed)  # dropout and stochastic depth: resumes draw the same
                x = train.images[idx].to(device).float().div(127.5).sub(1)
                x = augment(x, generator=torch.Generator(device=x.device).manual_seed(seed))
                set_lr(opt, loop.lr(cfg.lr, warmup))
                for stage in frozen:  # after the held-out evaluation's net.train(): frozen BatchNorm stays as it started
                    stage.eval()
                labels = train.labels[idx].to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    emb = net(x.contiguous(memory_format=layout)).float()
                triplet, stats = criterion(emb, labels)
                id_loss = F.cross_entropy(head(emb), class_index.to(device)[labels]) if cfg.id_weight else torch.zeros(())
                loss = triplet + cfg.id_weight * id_loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sums += torch.tensor([loss.item(), triplet.item(), id_loss.item(), stats.active_fraction, stats.pos_distance,
                                      stats.neg_distance])
                count += 1
            loss_v, triplet_v, id_v, active, d_pos, d_neg = (sums / max(count, 1)).tolist()
            record = loop.record(loss=loss_v, triplet_loss=triplet_v, id_loss=id_v, active_triplets=active,
                                 positive_distance=d_pos, negative_distance=d_neg, lr=opt.param_groups[-1]["lr"],
                                 images_per_s=loop.images_per_s(batch))
            if loop.epoch_complete:
                end_of_epoch(record)
                loop.bar.set_postfix(loss=f"{loss_v:.3f}", r1=f"{record.get('recall@1', float('nan')):.3f}",
                                     map=f"{record.get(BEST_METRIC, float('nan')):.3f}")
            else:  # stopped mid-epoch: a checkpoint to resume from, evaluation when the epoch completes
                run.log(record)
                saves.save_latest(loop, best=best)
    loop.summary(best=best, data=model_meta["data"], batch=batch, m=m, skipped_files=data.skips.count,
                 modiste_version=__version__)
    return run.checkpoints / "best.safetensors"

