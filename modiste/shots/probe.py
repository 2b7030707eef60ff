"""A linear probe: the classifier layer fitted on frozen pretrained features before fine-tuning.

Fine-tuning a pretrained network under a randomly initialised head first spends its steps
undoing the damage the head's large early gradients do to the features; fitting the head alone
first (Kumar et al. 2022, "LP-FT") starts fine-tuning from a classifier that is already right
most of the time. Features are computed once (no augmentation), the head is fitted full-batch
by L-BFGS for a few strengths of weight decay, and the strength best on the validation images wins.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DECAYS = (1e-4, 1e-3, 1e-2)  # L2 strengths tried; product-photo probes pick 1e-3 most often


@torch.no_grad()
def pooled_features(net: nn.Module, images: torch.Tensor, device: torch.device, *, batch: int = 64,
                    amp: bool = False, progress=None) -> torch.Tensor:
    """``net.features`` of uint8 images, in eval mode, as float32 on the CPU."""
    was = net.training
    net.eval()
    out = []
    for x in images.split(batch):
        x = x.to(device).float().div(127.5).sub(1).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out.append(net.features(x).float().cpu())
        if progress is not None:
            progress.update(len(x))
    net.train(was)
    return torch.cat(out)


def fit_linear(features: torch.Tensor, labels: torch.Tensor, num_classes: int, decay: float,
               steps: int = 100) -> nn.Linear:
    """Multinomial logistic regression (mean cross-entropy + ``decay`` * |W|^2) on standardised-free features."""
    layer = nn.Linear(features.shape[1], num_classes)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    opt = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(layer(features), labels) + decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return layer


def linear_probe(train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor] | None,
                 num_classes: int) -> tuple[nn.Linear, dict[str, float]]:
    """The head fitted on (features, labels); the decay is chosen on ``val`` when given (else the middle one)."""
    if val is None or not len(val[1]):
        decay = DECAYS[len(DECAYS) // 2]
        return fit_linear(*train, num_classes, decay), {"decay": decay}
    best = None
    for decay in DECAYS:
        layer = fit_linear(*train, num_classes, decay)
        with torch.no_grad():
            acc = (layer(val[0]).argmax(1) == val[1]).float().mean().item()
        if best is None or acc > best[1]:
            best = (layer, acc, decay)
    return best[0], {"decay": best[2], "val_accuracy": best[1]}
