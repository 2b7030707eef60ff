"""The feature space for generative metrics: a FeatureNet trained on the real images.

With class labels it learns to tell the classes apart; without, it learns to tell how an image
was rotated (0/90/180/270 degrees): product photos have a canonical orientation, so the pretext
task needs shape and layout features and no labels. Either way the numbers it gives are relative
to this network and this data: compare runs on the same data with the same feature file, never
with published Inception FIDs.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from modiste.progress import progress_bar

from modiste.nn import checkpoint
from modiste.nn.registry import create_model


def _to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1) if images.dtype == torch.uint8 else images.float()


def _rotate_batch(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate image i by k[i] quarter turns (k in 0..3; only 0 and 2 for non-square images)."""
    out = x.clone()
    for r in (1, 2, 3):
        m = k.to(x.device) == r
        if m.any():
            out[m] = torch.rot90(x[m], r, dims=(2, 3))
    return out


def train_feature_net(images: torch.Tensor, labels: torch.Tensor | None = None, *, class_names: list[str] | None = None,
                      epochs: int = 6, batch: int = 64, width: int = 32, lr: float = 2e-3, seed: int = 0,
                      device: str | torch.device = "cpu", progress: bool = True) -> torch.nn.Module:
    """Train on uint8 (N, 3, H, W) images; labels (N,) of class ids, or None for the rotation task."""
    task = "classes" if labels is not None and int(labels.max()) > 0 else "rotation"
    square = images.shape[-1] == images.shape[-2]
    num_classes = int(labels.max()) + 1 if task == "classes" else (4 if square else 2)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = create_model("feature_net", num_classes=num_classes, width=width).to(device, memory_format=torch.channels_last)
    n = images.shape[0]
    order = torch.randperm(n, generator=g)
    n_val = max(1, n // 10)
    val, tr = order[:n_val], order[n_val:]
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, len(tr) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))

    def batch_of(idx: torch.Tensor, augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
        x = _to_float(images[idx]).to(device).contiguous(memory_format=torch.channels_last)
        if task == "rotation":
            y = torch.randint(0, num_classes, (len(idx),), generator=g)
            x = _rotate_batch(x, y if square else y * 2)
        else:
            y = labels[idx]
        if augment and task == "classes":
            flip = torch.rand(len(idx), generator=g) < 0.5
            x = torch.where(flip.to(device)[:, None, None, None], x.flip(3), x)
        return x, y.to(device)

    net.train()
    bar = progress_bar(total=steps, desc=f"feature net ({task})", disable=not progress, leave=False)
    for _ in range(epochs):
        perm = tr[torch.randperm(len(tr), generator=g)]
        for i in range(0, len(perm) - batch + 1, batch):
            x, y = batch_of(perm[i : i + batch], augment=True)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    net.eval()
    with torch.no_grad():
        x, y = batch_of(val, augment=False)
        acc = float((net(x).argmax(1) == y).float().mean())
    net.feature_meta = {"task": task, "val_accuracy": acc, "class_names": class_names if task == "classes" else None,
                        "image_size": list(images.shape[-2:]), "trained_on": n}
    return net


def save_feature_net(net: torch.nn.Module, path: str | Path) -> Path:
    meta = dict(getattr(net, "feature_meta", {}))
    return checkpoint.save_model(path, net, kind="feature_net",
                                 normalization={"mean": [0.5] * 3, "std": [0.5] * 3}, **meta)


def load_feature_net(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    net = checkpoint.load_model(path, device=device).eval()
    if not hasattr(net, "features"):
        raise ValueError(f"{path}: {net.model_spec['arch']} has no .features(); name a modiste feature_net checkpoint")
    net.feature_meta = {k: v for k, v in net.checkpoint_meta.items() if k in ("task", "val_accuracy", "class_names", "image_size")}
    return net


@torch.no_grad()
def extract_features(net: torch.nn.Module, images: torch.Tensor, *, batch: int = 256,
                     device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 or [-1, 1] float images (N, 3, H, W) -> float32 features (N, D) on the CPU."""
    net.eval()
    out = [net.features(_to_float(images[i : i + batch]).to(device)).float().cpu() for i in range(0, images.shape[0], batch)]
    return torch.cat(out)
