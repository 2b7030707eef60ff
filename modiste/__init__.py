"""modiste: a deep-learning workshop for fashion item images."""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names, imported on first use so that `import modiste` (and the CLI's --help) stay fast.
_LAZY = {
    # every capability: X.train(data, out=..., **settings) -> X, X.load(path) -> X, then its verbs
    "GAN": ("modiste.gan", "GAN"),
    "Embedder": ("modiste.retrieval", "Embedder"),
    "Index": ("modiste.retrieval", "Index"),
    "Detector": ("modiste.detect", "Detector"),
    "ShotClassifier": ("modiste.shots", "ShotClassifier"),
    "TryOn": ("modiste.tryon", "TryOn"),
    "Regulation": ("modiste.shots", "Regulation"),
    # functions over them
    "sort": ("modiste.shots", "sort"),
    "shop_the_look": ("modiste.retrieval", "shop_the_look"),
    "run_demo": ("modiste.demo", "run_demo"),
    # packages of tools and data
    "latent": ("modiste.latent", None),
    "synth": ("modiste.data.synth", None),
    "data": ("modiste.data", None),
    "metrics": ("modiste.metrics", None),
    "open_image": ("modiste.data", "open_image"),
    "open_dataset": ("modiste.data", "open_dataset"),
    # networks
    "create_model": ("modiste.nn", "create_model"),
    "list_models": ("modiste.nn", "list_models"),
    "load_model": ("modiste.nn.checkpoint", "load_model"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'modiste' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    return getattr(value, attr) if attr else value
