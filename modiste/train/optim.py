"""Optimisers for modiste's trainers, and their state as flat tensors + JSON (safetensors, no pickles)."""
from __future__ import annotations

import itertools
import math
from typing import Any, Iterable

import torch


def adamw(modules: Iterable[torch.nn.Module | Iterable[torch.nn.Parameter]], lr: float, weight_decay: float,
          lr_scales: Iterable[float] | None = None) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices and kernels only: norms, biases and layer scales are not decayed.

    ``modules``: modules or lists of parameters. ``lr_scales``: one learning-rate multiplier per module (a pretrained backbone learns slower than
    its new head); each group keeps it as ``lr_scale`` for the schedule (``set_lr``)."""
    groups = []
    for m, scale in zip(modules, lr_scales or itertools.repeat(1.0)):
        params = [p for p in (m.parameters() if isinstance(m, torch.nn.Module) else m) if p.requires_grad]
        groups += [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay, "lr_scale": scale},
                   {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "lr_scale": scale}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """The schedule's learning rate, times each group's ``lr_scale``."""
    for group in opt.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def warmup_cosine(step: int, total: int, warmup: int, base: float) -> float:
    """Learning rate at ``step``: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``opt.state_dict()`` into tensors (``prefix.state.I.KEY``) and JSON-able param groups."""
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"{prefix}.state.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    head = prefix + ".state."
    for name, value in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head) :].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
    # Checkpoints store tensors contiguous; give each moment buffer its parameter's memory layout
    # again (channels_last), which fused/foreach kernels assume element for element.
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape:
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)
