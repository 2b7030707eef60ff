"""Generator quality: Fréchet distance, KID and precision/recall in a feature network's space."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from modiste.io import atomic_write_json
from modiste.metrics import frechet_distance, kernel_distance, precision_recall
from modiste.metrics.feature_space import extract_features


NOTES = {
    "imagenet": ("EfficientNet-Lite0 ImageNet features at 224 px: one space for every dataset and run, so numbers "
                 "compare across them; not with Inception FID/KID (another network, another scale)."),
    "data": ("Feature space of a network modiste trained on this data; compare runs on the same data and "
             "feature file only. Not comparable to Inception FID/KID."),
}


@dataclass
class QualityReport:
    fd: float
    kid: float
    kid_std: float
    precision: float
    recall: float
    n_real: int
    n_fake: int
    features: str                         # "imagenet", or the checkpoint of a feature network trained on the data
    feature_task: str                     # "imagenet", "classes" or "rotation"
    reference: dict[str, float] = field(default_factory=dict)  # the same metrics between two halves of the real set
    note: str = ""

    def __post_init__(self) -> None:
        if not self.note:
            self.note = NOTES["imagenet" if self.feature_task == "imagenet" else "data"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())

    def __str__(self) -> str:
        ref = self.reference
        rows = [
            ("FD", f"{self.fd:.3f}", f"{ref.get('fd', float('nan')):.3f}"),
            ("KID x1000", f"{self.kid * 1000:.2f} ± {self.kid_std * 1000:.2f}", f"{ref.get('kid', float('nan')) * 1000:.2f}"),
            ("precision", f"{self.precision:.3f}", f"{ref.get('precision', float('nan')):.3f}"),
            ("recall", f"{self.recall:.3f}", f"{ref.get('recall', float('nan')):.3f}"),
        ]
        lines = [f"{'metric':<10} {'generated vs real':>20} {'real vs real (halves)':>22}"]
        lines += [f"{a:<10} {b:>20} {c:>22}" for a, b, c in rows]
        lines.append(f"{self.n_fake} generated vs {self.n_real} real images; features: {self.features} ({self.feature_task})")
        return "\n".join(lines)


def _metrics(a: torch.Tensor, b: torch.Tensor, seed: int) -> dict[str, float]:
    # subsets of at most half of each set, so that they differ and the spread means something
    kid, kid_std = kernel_distance(a, b, subsets=50, subset_size=max(2, min(1000, len(a) // 2, len(b) // 2)), seed=seed)
    precision, recall = precision_recall(a, b, k=3)
    return {"fd": frechet_distance(a, b), "kid": kid, "kid_std": kid_std, "precision": precision, "recall": recall}


def evaluate_generator(generate: Callable[[int, int], torch.Tensor], real: torch.Tensor, feature_net: torch.nn.Module, *,
                       features_path: str, n: int = 2000, seed: int = 0,
                       device: str | torch.device = "cpu") -> QualityReport:
    """``generate(n, seed)`` returns n images in [-1, 1]; ``real`` is uint8 (N, 3, H, W)."""
    g = torch.Generator().manual_seed(seed)
    real = real[torch.randperm(real.shape[0], generator=g)[: min(n, real.shape[0])]]
    f_real = extract_features(feature_net, real, device=device)
    f_fake = extract_features(feature_net, generate(n, seed), device=device)
    m = _metrics(f_real, f_fake, seed)
    half = f_real.shape[0] // 2
    ref = _metrics(f_real[:half], f_real[half : 2 * half], seed)
    ref.pop("kid_std")
    return QualityReport(n_real=f_real.shape[0], n_fake=f_fake.shape[0], features=features_path,
                         feature_task=getattr(feature_net, "feature_meta", {}).get("task", "?"), reference=ref, **m)
