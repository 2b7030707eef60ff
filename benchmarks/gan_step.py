"""Images/s of one full DCGAN-64 training step (D and G): modiste vs a plain reference.

The reference is written the way the common PyTorch DCGAN example does it: NCHW, eager,
Sigmoid + BCELoss, default Adam settings, separate backward passes for the real and the fake
batch, `.item()` after each forward for logging. modiste runs its own `gan_step` (the function
its training loop calls) on networks from its registry with the same architecture, the same
batch and the same losses (BCE on logits is the same function as sigmoid + BCE), without
augmentation or reduced precision: identical maths, different execution.

Both run in this process, alternating rounds (ABBA) after a warm-up, on the same data; the
ratio is the median of the per-round ratios.

    python benchmarks/gan_step.py [--rounds 12 --steps 4 --batch 64]

The last line is `ratio X.XX` (modiste images/s over the reference's).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from modiste.gan.loop import gan_step
from modiste.nn.registry import create_model

NZ, NGF, NDF = 100, 64, 64


class RefGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 8), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
            nn.ConvTranspose2d(NGF, 3, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, x):
        return self.main(x)


class RefDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def weights_init(m):
    name = m.__class__.__name__
    if "Conv" in name:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Reference:
    def __init__(self, batch: int):
        self.G, self.D = RefGenerator(), RefDiscriminator()
        self.G.apply(weights_init), self.D.apply(weights_init)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.criterion = nn.BCELoss()
        self.batch = batch

    def step(self, real: torch.Tensor) -> None:
        b = real.size(0)
        self.D.zero_grad()
        label = torch.full((b,), 1.0)
        output = self.D(real)
        err_real = self.criterion(output, label)
        err_real.backward()
        output.mean().item()
        noise = torch.randn(b, NZ, 1, 1)
        fake = self.G(noise)
        label.fill_(0.0)
        output = self.D(fake.detach())
        err_fake = self.criterion(output, label)
        err_fake.backward()
        output.mean().item()
        (err_real + err_fake).item()
        self.opt_D.step()
        self.G.zero_grad()
        label.fill_(1.0)
        output = self.D(fake)
        err_g = self.criterion(output, label)
        err_g.backward()
        output.mean().item()
        self.opt_G.step()


class Modiste:
    def __init__(self, batch: int, amp: bool = False):
        self.amp = amp
        self.G = create_model("dcgan_g", size=64, latent_dim=NZ, width=NGF).to(memory_format=torch.channels_last)
        self.D = create_model("dcgan_d", size=64, width=NDF).to(memory_format=torch.channels_last)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999), fused=True)
        self.stats = torch.zeros(4)

    def step(self, real: torch.Tensor) -> None:
        real = real.contiguous(memory_format=torch.channels_last)
        z = torch.randn(real.size(0), NZ)
        self.stats += gan_step(self.G, self.D, self.opt_G, self.opt_D, real, z, amp=self.amp)


def images_per_s(runner, real: torch.Tensor, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        runner.step(real)
    return steps * real.size(0) / (time.perf_counter() - t0)


def step_flops(runner, real: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        runner.step(real)
    return counter.get_total_flops()


def matmul_peak(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=4, help="steps per round")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--amp", action="store_true", help="modiste with bf16 autocast (--amp): NOT identical maths")
    args = ap.parse_args()
    torch.manual_seed(0)
    real = torch.rand(args.batch, 3, 64, 64) * 2 - 1
    ref, mod = Reference(args.batch), Modiste(args.batch, amp=args.amp)
    for runner in (ref, mod):
        for _ in range(args.warmup):
            runner.step(real)
    flops_ref, flops_mod = step_flops(ref, real), step_flops(mod, real)
    r_ref, r_mod = [], []
    for i in range(args.rounds):
        # ABBA order cancels slow drifts of a shared machine; each round gives one paired ratio
        pair = [(ref, r_ref), (mod, r_mod)]
        for runner, out in pair if i % 2 == 0 else pair[::-1]:
            out.append(images_per_s(runner, real, args.steps))
    ratios = sorted(m / r for m, r in zip(r_mod, r_ref))
    ref_ips, mod_ips = statistics.median(r_ref), statistics.median(r_mod)
    peak = matmul_peak()
    if args.amp:
        print("modiste runs with bf16 autocast: faster, but not the reference's maths")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{args.rounds} rounds x {args.steps} steps (medians)")
    print(f"reference : {ref_ips:7.1f} images/s  ({flops_ref / 1e9:.1f} GFLOP per step, "
          f"{flops_ref / 1e9 * ref_ips / args.batch:.0f} GFLOP/s)")
    print(f"modiste   : {mod_ips:7.1f} images/s  ({flops_mod / 1e9:.1f} GFLOP per step, "
          f"{flops_mod / 1e9 * mod_ips / args.batch:.0f} GFLOP/s; "
          f"{flops_ref / 1e9 * mod_ips / args.batch:.0f} GFLOP/s in reference-equivalent work)")
    print(f"matmul peak (fp32 2048^2): {peak:.0f} GFLOP/s")
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    print(f"per-round ratios: median {statistics.median(ratios):.3f}, quartiles {q[0]:.3f}-{q[2]:.3f}, "
          f"min {ratios[0]:.3f}, max {ratios[-1]:.3f}")
    print(f"ratio {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
