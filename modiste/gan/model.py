"""``modiste.GAN``: train, load, sample, interpolate and evaluate a garment-design generator."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from modiste.gan import loop
from modiste.gan.config import GANConfig
from modiste.gan.quality import QualityReport, evaluate_generator
from modiste.nn import checkpoint
from modiste.nn.prior import sample_prior, slerp
from modiste.results import ImageSet, to_uint8



class GAN:
    """A trained generator (the EMA weights) and its discriminator."""

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module | None, meta: dict[str, Any], path: Path | None = None,
                 device: str | torch.device = "cpu"):
        self.G, self.D, self.meta, self.path = G.eval(), D.eval() if D is not None else None, meta, path
        self.device = torch.device(device)

    # ---- construction ------------------------------------------------------------------------------------
    @classmethod
    def train(cls, data: str | Path | None = None, *, out: str | Path, resume: bool = False, progress: bool = True,
              **settings: Any) -> "GAN":
        """Train on a folder / CSV of images; ``settings`` are GANConfig fields (size, arch, epochs, ...).

        ``resume=True`` continues the run in ``out`` exactly where its last checkpoint left it.
        """
        explicit = set(settings) | ({"data"} if data is not None else set())
        if resume and data is None:
            data = json.loads((Path(out) / "config.json").read_text())["data"]
        cfg = GANConfig(data=str(data), out=str(out), **settings)
        latest = loop.train(cfg, resume=resume, overrides=explicit, progress=progress)
        return cls.load(latest)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "GAN":
        """Load from a run folder or a checkpoint file (the EMA generator is used for sampling)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        path = checkpoint.resolve(path)
        meta = checkpoint.read_meta(path)
        if meta.get("kind") != "gan":
            raise ValueError(f"{path}: not a GAN checkpoint (kind={meta.get('kind')!r})")
        names = meta["models"]
        G = checkpoint.load_model(path, "G_ema" if "G_ema" in names else "G", device=device)
        D = checkpoint.load_model(path, "D", device=device) if "D" in names else None
        return cls(G, D, meta, path, device)

    # ---- properties -----------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.meta["latent"]["dim"]

    @property
    def prior(self) -> str:
        return self.meta["latent"]["prior"]

    @property
    def size(self) -> int:
        return self.meta["image_size"][0]

    def __repr__(self) -> str:
        cfg = self.meta.get("config", {})
        return (f"GAN(arch={cfg.get('arch')}, size={self.size}, latent={self.latent_dim} {self.prior}, "
                f"step={self.meta.get('step')}, path={self.path})")

    # ---- verbs ----------------------------------------------------------------------------------------
    def latents(self, n: int, seed: int = 0) -> torch.Tensor:
        """The codes ``sample(n, seed=seed)`` uses: drawn on the CPU so every device gets the same ones, and
        row by row so that code i of a seed is the same whatever n is (torch's vectorised sampler is not)."""
        g = torch.Generator().manual_seed(seed)
        rows = [sample_prior(1, self.latent_dim, self.prior, generator=g) for _ in range(n)]
        return torch.cat(rows) if rows else torch.empty(0, self.latent_dim)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """Codes (N, latent_dim) -> images in [-1, 1], (N, 3, H, W), on the CPU."""
        out = [self.G(z[i : i + batch].to(self.device)).float().cpu() for i in range(0, z.shape[0], batch)]
        return torch.cat(out) if out else torch.empty(0, 3, self.size, self.size)

    def sample(self, n: int = 64, *, seed: int = 0) -> ImageSet:
        z = self.latents(n, seed)
        return ImageSet(to_uint8(self.generate(z)), z=z, names=[f"seed{seed}_{i:04d}" for i in range(n)],
                        info={"seed": seed, "checkpoint": str(self.path)})

    def interpolate(self, seed_a: int = 1, seed_b: int = 2, steps: int = 8, method: str = "slerp") -> ImageSet:
        """A strip from the design of ``seed_a`` to that of ``seed_b`` (codes: ``latents(1, seed)``)."""
        if method not in ("slerp", "lerp"):
            raise ValueError(f"method must be 'slerp' or 'lerp', not {method!r}")
        a, b = self.latents(1, seed_a)[0], self.latents(1, seed_b)[0]
        t = torch.linspace(0, 1, steps)
        z = slerp(a, b, t) if method == "slerp" else torch.lerp(a[None], b[None], t[:, None])
        if self.prior == "uniform":
            z = z.clamp(-1, 1)  # stay inside the prior's support
        return ImageSet(to_uint8(self.generate(z)), z=z, names=[f"step{i:02d}" for i in range(steps)], nrow=steps,
                        info={"seed_a": seed_a, "seed_b": seed_b, "method": method, "checkpoint": str(self.path)})

    def evaluate(self, data: str | Path, *, n: int = 2000, features: str | Path = "imagenet", seed: int = 0,
                 workers: int | None = None, progress: bool = True) -> QualityReport:
        """FD, KID and precision/recall against the real images in ``data``.

        ``features``: ``imagenet`` (the default where its weights are installed): EfficientNet-Lite0's
        ImageNet features at 224 px, one space for every dataset and run, as FID's Inception is;
        ``data``: a small network trained on ``data`` the first time and kept next to the run
        (``RUN/eval/features-*.safetensors``), so later evaluations of the same run on the same data
        share it; or the path of such a feature-network checkpoint.
        """
        from modiste.data import ImagePolicy, open_dataset, scan
        from modiste.metrics.feature_space import load_feature_net, save_feature_net, train_feature_net

        resize = self.meta.get("config", {}).get("resize", "letterbox")
        dataset = open_dataset(data, ImagePolicy(size=(self.size, self.size), resize=resize))
        real, idx, _ = scan(dataset, progress=progress, num_workers=workers)
        if str(features) == "imagenet":
            from modiste.metrics.imagenet_space import ImagenetFeatures, imagenet_space_available

            if imagenet_space_available():
                return evaluate_generator(lambda k, s: self.generate(self.latents(k, s)), real,
                                          ImagenetFeatures().to(self.device), features_path="imagenet", n=n,
                                          seed=seed, device=self.device)
            features = "data"  # no ImageNet weights installed: a space learnt on the data instead
        if str(features) == "data":
            key = hashlib.sha1(f"{Path(data).resolve()}|{self.size}|{resize}".encode()).hexdigest()[:10]
            features = self.run_dir / "eval" / f"features-{key}.safetensors"
            if not Path(features).exists():
                all_labels = dataset.labels
                labels = torch.tensor([-1 if all_labels[i] is None else all_labels[i] for i in idx.tolist()])
                net = train_feature_net(real, labels, class_names=dataset.classes, device=self.device, progress=progress)
                save_feature_net(net, features)
        net = load_feature_net(features, device=self.device)
        return evaluate_generator(lambda k, s: self.generate(self.latents(k, s)), real, net,
                                  features_path=str(features), n=n, seed=seed, device=self.device)

    @property
    def run_dir(self) -> Path:
        """The run folder of the checkpoint (or the checkpoint's folder when it stands alone)."""
        assert self.path is not None
        return self.path.parent.parent if self.path.parent.name == "checkpoints" else self.path.parent
