"""Settings of a GAN training run; the resolved copy is written to ``RUN/config.json``."""
from __future__ import annotations

from dataclasses import dataclass

from modiste.train.config import RunConfig

ARCHS = ("dcgan", "upconv", "projected")
PRIORS = ("normal", "uniform")
LOSSES = ("nonsaturating", "hinge")


@dataclass
class GANConfig(RunConfig):
    RESUMABLE = ("epochs", "kimg", "minutes", "tick_kimg", "snapshot_ticks", "workers", "device", "data")

    data: str = ""                      # image folder, CSV manifest, or list file
    out: str = "runs/gan/default"       # run folder
    size: int = 64                      # 32, 64, 96 or 128 px (square)
    # "dcgan" (Radford et al.), "upconv" (nearest upsample + 3x3 conv) or "projected" (a light FastGAN
    # generator against a discriminator on frozen ImageNet features: Sauer et al. 2021)
    arch: str = "dcgan"
    backbone: str = "efficientnet_lite0"  # projected: the frozen ImageNet network D looks through
    latent_dim: int = 100               # the 100-d code of the DCGAN paper and both write-ups
    prior: str = "normal"               # z ~ N(0, 1) or U[-1, 1] (the paper's choice)
    g_width: int | None = None          # generator base width; None = the arch's default (64; 16 projected)
    d_width: int | None = None          # discriminator base width; None = 64 for dcgan and projected, 32 for upconv
    loss: str | None = None             # nonsaturating or hinge [hinge for projected, as its paper]
    batch: int = 64                     # global batch; split evenly over torchrun processes
    lr: float = 2e-4                    # Adam lr and beta1 = 0.5: the DCGAN paper's values, stable for this family
    beta1: float | None = None          # [0.5; 0 for projected, as its paper]
    beta2: float | None = None          # [0.999; 0.99 for projected]
    epochs: float | None = 25           # budget in passes over the data ...
    kimg: float | None = None           # ... or in thousands of real images shown (overrides epochs)
    minutes: float | None = None        # optional wall-clock cap on this invocation (a resume starts a new one)
    seed: int = 0                       # model init, data order, z and augmentation all derive from it
    small_data: bool | None = None      # DiffAugment on real and fake; None = on below 30k images
    augment: str = "color,translation,cutout"   # DiffAugment policy (Zhao et al. 2020)
    ema_kimg: float = 10.0              # half-life of the generator's weight average, in kimg ...
    ema_rampup: float | None = 0.05     # ... capped at this fraction of images seen, so short runs still average
    tick_kimg: float = 4.0              # log, sample grid and latest checkpoint every tick
    snapshot_ticks: int = 10            # keep a numbered checkpoint every N ticks (0 = never)
    grid_n: int = 64                    # images in the per-tick sample grid (fixed z)
    resize: str = "letterbox"           # how photos become squares: letterbox on white or center-crop
    workers: int | None = None          # image decoding processes; None = automatic
    device: str | None = None           # None = cuda if available else cpu
    channels_last: bool = True          # faster convolutions on CPU (oneDNN) and GPU, same maths
    amp: bool = False                   # bf16 autocast: ~2x on AVX-512 CPUs; off by default, it changes numerics
    compile: bool = False               # torch.compile the step's networks (pays off on long GPU runs)

    def __post_init__(self) -> None:
        self.check_numbers()
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, not {self.arch!r}")
        projected = self.arch == "projected"
        if self.loss is None:
            self.loss = "hinge" if projected else "nonsaturating"
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {self.loss!r}")
        if self.beta1 is None:
            self.beta1 = 0.0 if projected else 0.5
        if self.beta2 is None:
            self.beta2 = 0.99 if projected else 0.999
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, not {self.prior!r}")
        if self.size not in (32, 64, 96, 128):
            raise ValueError(f"size must be 32, 64, 96 or 128, not {self.size}")
        if self.epochs is None and self.kimg is None and self.minutes is None:
            raise ValueError("give a budget: epochs, kimg or minutes")

    @property
    def generator_width(self) -> int:
        return self.g_width or (16 if self.arch == "projected" else 64)

    @property
    def discriminator_width(self) -> int:
        return self.d_width or (32 if self.arch == "upconv" else 64)
