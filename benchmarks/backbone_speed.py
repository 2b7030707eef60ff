"""Pretrained backbone speed: images/s of EfficientNet-Lite inference and training steps, by input
size and numeric mode, side by side in one run.

Modes, each against the plain fp32 NCHW network in the same round:
  fp32            NCHW float32 (the reference)
  channels_last   the network and its input in channels-last memory (oneDNN's preferred layout)
  bf16            channels_last + bf16 autocast (AVX-512 BF16 on these CPUs)

"infer" is ``features`` under no_grad in eval mode (what indexing and evaluation run); "train" is
one fine-tuning step (forward, cross-entropy, backward, AdamW) of the 10-class classifier in
training mode, as ``shots train`` runs it. Rounds rotate the order of the modes; the medians are
reported with each mode's ratio to fp32.

    python benchmarks/backbone_speed.py [--models lite0 --sizes 160 224 --batch 32 --rounds 3 --json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from modiste.nn.pretrained import load_backbone_weights
from modiste.nn.registry import create_model
from machine_load import Quiet, add_quiet_args  # benchmarks/ is on sys.path when a script runs

MODES = ("fp32", "channels_last", "bf16")


def make(variant: str, mode: str, train: bool) -> tuple[torch.nn.Module, torch.optim.Optimizer | None]:
    torch.manual_seed(0)
    net = create_model(f"efficientnet_{variant}", num_classes=10, drop_path_rate=0.1 if train else 0.0)
    load_backbone_weights(net, f"efficientnet_{variant}", "imagenet")
    if mode != "fp32":
        net = net.to(memory_format=torch.channels_last)
    net.train(train)
    return net, (torch.optim.AdamW(net.parameters(), lr=1e-4) if train else None)


def images_per_s(net, opt, mode: str, size: int, batch: int, steps: int) -> float:
    x = torch.rand(batch, 3, size, size) * 2 - 1
    if mode != "fp32":
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch) % 10

    def once():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
            if opt is None:
                with torch.no_grad():
                    return net.features(x)
            loss = F.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    once()  # kernels chosen, buffers allocated
    t0 = time.perf_counter()
    for _ in range(steps):
        once()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["lite0"], help="lite0, lite1, lite2")
    ap.add_argument("--sizes", nargs="+", type=int, default=[160, 224])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3, help="timed batches per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads [torch's default: one per core]")
    ap.add_argument("--json", default=None)
    add_quiet_args(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet = Quiet(args.max_other, args.tries)
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"{'model':<7}{'size':>5} {'task':<6}" + "".join(f"{m:>15}" for m in MODES) + "   ratio to fp32")
    for variant in args.models:
        for size in args.sizes:
            for task in ("infer", "train"):
                nets = {m: make(variant, m, task == "train") for m in MODES}
                rates: dict[str, list[float]] = {m: [] for m in MODES}
                for r in range(args.rounds):
                    order = MODES[r % len(MODES):] + MODES[: r % len(MODES)]
                    for m in order:
                        rates[m].append(quiet(lambda: images_per_s(*nets[m], m, size, args.batch, args.steps)))
                med = {m: statistics.median(v) for m, v in rates.items()}
                ratios = {m: med[m] / med["fp32"] for m in MODES}
                rows.append({"model": variant, "size": size, "task": task, "images_per_s": med, "ratio_to_fp32": ratios})
                print(f"{variant:<7}{size:>5} {task:<6}" + "".join(f"{med[m]:>15.1f}" for m in MODES) + "   "
                      + "  ".join(f"{m} {ratios[m]:.2f}x" for m in MODES[1:]), flush=True)
    print(quiet)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "machine": quiet.to_json(), "threads": torch.get_num_threads(),
                       "batch": args.batch, "torch": torch.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
