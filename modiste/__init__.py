"""modiste: a deep-learning workshop for fashion item images."""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names, imported on first use so that `import modiste` (and the CLI's --help) stay fast.
_LAZY = {
    "GAN": ("modiste.gan", "GAN"),
    "GANConfig": ("modiste.gan", "GANConfig"),
    "synth": ("modiste.data.synth", None),
    "data": ("modiste.data", None),
    "metrics": ("modiste.metrics", None),
    "open_image": ("modiste.data", "open_image"),
    "open_dataset": ("modiste.data", "open_dataset"),
    "create_model": ("modiste.nn.registry", "create_model"),
    "list_models": ("modiste.nn.registry", "list_models"),
    "load_model": ("modiste.nn.checkpoint", "load_model"),
    "run_demo": ("modiste.demo", "run_demo"),
    "Index": ("modiste.index", "Index"),
    "EmbeddingModel": ("modiste.embed.model", "EmbeddingModel"),
    "Detector": ("modiste.detect.model", "Detector"),
    "Classifier": ("modiste.classify.model", "Classifier"),
    "TryOn": ("modiste.tryon.apply", "TryOn"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'modiste' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    return getattr(value, attr) if attr else value
