"""Data-parallel helpers: one process per device, launched by ``torchrun``.

Gradients are averaged with one flat all_reduce per optimiser step (the approach of
stylegan2-ada's training loop): a GAN step runs D twice and backpropagates G through D, which
the DistributedDataParallel wrapper's per-forward hooks do not fit. Single-process runs skip all
of it, so their maths is unchanged.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def default_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when there is one, else the CPU."""
    return torch.device(device if device is not None else "cuda" if torch.cuda.is_available() else "cpu")


def default_amp(amp: bool | None, device: torch.device) -> bool:
    """bf16 autocast: as set, else on for CUDA (on a CPU it is a choice: faster where bf16 is native)."""
    return amp if amp is not None else device.type == "cuda"


def init_from_env(device: str | None = None) -> tuple[World, torch.device]:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA) and pick the device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = default_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local if size > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=size)
    return World(rank, size, local), dev


def average_gradients(params: list[torch.nn.Parameter], world: World) -> None:
    if not world.distributed:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def agree(flag: bool, world: World, device: torch.device | str = "cpu") -> bool:
    """True on every rank if it is true on any (so all ranks stop at the same step)."""
    if not world.distributed:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
