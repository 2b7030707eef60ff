"""Model registry: every architecture is a named factory, so a checkpoint can rebuild its model."""
from __future__ import annotations

import fnmatch
from typing import Any, Callable

from torch import nn

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *, name: str | None = None):
    """Register a model factory under its function name (or ``name``)::

        @register_model
        def dcgan_g(size=64, latent_dim=100, width=64): ...
    """

    def wrap(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or f.__name__
        if key in _FACTORIES and _FACTORIES[key] is not f:
            raise ValueError(f"model {key!r} is already registered")
        _FACTORIES[key] = f
        return f

    return wrap(fn) if fn is not None else wrap


def list_models(pattern: str = "*") -> list[str]:
    return sorted(k for k in _FACTORIES if fnmatch.fnmatch(k, pattern))


def create_model(name: str, *, weights: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model; ``weights`` is an explicit local checkpoint, never a download.

    The model remembers how it was built (``model.model_spec``) so that saving it writes
    everything needed to rebuild it.
    """
    if name not in _FACTORIES:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(sorted(_FACTORIES))}")
    model = _FACTORIES[name](**kwargs)
    model.model_spec = {"arch": name, "kwargs": dict(kwargs)}
    if weights is not None:
        from modiste.nn.checkpoint import load_state_into

        load_state_into(model, weights)
    return model


def model_spec(model: nn.Module) -> dict[str, Any]:
    spec = getattr(model, "model_spec", None)
    if spec is None:
        raise ValueError(f"{type(model).__name__} was not built by create_model, so it cannot be saved")
    return spec
