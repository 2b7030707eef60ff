"""Images/s of one GAN training step (D then G) for the projected architecture beside the DCGAN,
at 64 and 128 px, fp32 and bf16 autocast, channels-last (the training loop's layout).

Each configuration runs modiste's own `gan_step` with the networks `gan train` builds (default
widths, each arch's loss and DiffAugment policy). All configurations of one size alternate
round by round in this process after a warm-up, so a change in machine load hits them alike;
the table gives the median images/s and each one's ratio to the DCGAN in fp32 at that size.

    python benchmarks/gan_arch_step.py [--sizes 64 128 --rounds 5 --steps 2 --batch 32]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from modiste.gan.augment import DiffAugment
from modiste.gan.config import GANConfig
from modiste.gan.loop import build_networks, gan_step


def make(arch: str, size: int, batch: int, amp: bool):
    cfg = GANConfig(data="-", arch=arch, size=size, kimg=1)
    torch.manual_seed(0)
    G, D = build_networks(cfg)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_G = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=True)
    opt_D = torch.optim.Adam([p for p in D.parameters() if p.requires_grad], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                             fused=True)
    real = (torch.rand(batch, 3, size, size) * 2 - 1).contiguous(memory_format=torch.channels_last)
    augment = DiffAugment(cfg.augment)

    def step() -> None:
        z = torch.randn(batch, cfg.latent_dim)
        gan_step(G, D, opt_G, opt_D, real, z, augment=augment, amp=amp, loss=cfg.loss).tolist()  # host sync

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    print(f"threads {torch.get_num_threads()}, batch {args.batch}, {args.rounds} rounds of {args.steps} steps")
    print(f"{'size':>4} {'arch':>10} {'precision':>9} {'img/s':>8} {'vs dcgan fp32':>14}")
    for size in args.sizes:
        runs = {(arch, amp): make(arch, size, args.batch, amp) for arch in ("dcgan", "projected") for amp in (False, True)}
        for step in runs.values():  # warm-up
            step()
        rates: dict = {key: [] for key in runs}
        for r in range(args.rounds):
            order = list(runs) if r % 2 == 0 else list(reversed(runs))
            for key in order:
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    runs[key]()
                rates[key].append(args.steps * args.batch / (time.perf_counter() - t0))
        base = statistics.median(rates[("dcgan", False)])
        for (arch, amp), values in rates.items():
            rate = statistics.median(values)
            print(f"{size:>4} {arch:>10} {'bf16' if amp else 'fp32':>9} {rate:>8.1f} {rate / base:>14.3f}")


if __name__ == "__main__":
    main()
