"""Checkpoints: ``NAME.safetensors`` (tensors) + ``NAME.json`` (how to rebuild), no pickles.

The JSON description is also embedded in the safetensors header, so the tensor file alone is
enough and a crash between writing the two files can never pair new tensors with an old
description. The sidecar is the human-readable copy.

A checkpoint holds one or more named models (``"model"`` for a single network, ``"G"``, ``"D"``,
``"G_ema"`` for a GAN) under ``meta["models"][name] = {"arch": ..., "kwargs": ...}``, and any other
tensors (optimiser state) under their own prefixes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from modiste import __version__
from modiste.io import atomic_path, atomic_write_json
from modiste.nn.pretrained import memory_format
from modiste.nn.registry import create_model, model_spec

FORMAT = "modiste.checkpoint/1"
_META_KEY = "modiste"


def resolve(path: str | os.PathLike) -> Path:
    """Accept a run folder, a ``.safetensors`` file or its ``.json`` sidecar."""
    p = Path(path)
    if p.is_dir():
        for candidate in (p / "checkpoints" / "latest.safetensors", p / "model.safetensors", p / "latest.safetensors"):
            if candidate.exists():
                return candidate
        raise FileNotFoundError(f"{p}: no checkpoint in this folder (looked for checkpoints/latest.safetensors, model.safetensors)")
    if p.suffix == ".json":
        p = p.with_suffix(".safetensors")
    if not p.exists():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    return p


def resolve_trained(path: str | os.PathLike, kind: str, train_command: str) -> tuple[Path, dict[str, Any]]:
    """(checkpoint, its description) for a trained model of ``kind``: a run folder means its
    ``checkpoints/best.safetensors``; another kind is refused with the command that trains this one."""
    p = Path(path).expanduser()
    if p.is_dir() and (p / "checkpoints" / "best.safetensors").exists():
        p = p / "checkpoints" / "best.safetensors"
    p = resolve(p)
    meta = read_meta(p)
    if meta.get("kind") != kind:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ValueError(f"{p}: not {article} {kind} checkpoint (it is {meta.get('kind')!r}); "
                         f"train one with: {train_command}")
    return p, meta


def save(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write tensors + description atomically; returns the ``.safetensors`` path."""
    path = Path(path).with_suffix(".safetensors")
    meta = {"format": FORMAT, "modiste_version": __version__, **meta}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    # The old sidecar goes first: a kill between the two writes leaves none (the header has the
    # description) rather than one that describes the previous tensors.
    path.with_suffix(".json").unlink(missing_ok=True)
    with atomic_path(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata={_META_KEY: json.dumps(meta)})
        except Exception as e:  # safetensors' own error for a full disk names no file
            raise OSError(f"cannot write {path}: {e}") from e
    atomic_write_json(path.with_suffix(".json"), meta)
    return path


def strip_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under ``prefix.``, with the prefix removed (one model's state dict)."""
    head = prefix + "."
    return {k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)}


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The description alone, without loading any tensor."""
    return _load(path, tensors=False)[1]


def read(path: str | os.PathLike, *, prefix: str | None = None, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors (optionally only those under ``prefix.``, with the prefix stripped) and the description."""
    tensors, meta = _load(path, tensors=True, device=device)
    return (strip_prefix(tensors, prefix) if prefix is not None else tensors), meta


def _load(path: str | os.PathLike, *, tensors: bool, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = resolve(path)
    out: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            header = f.metadata() or {}
            if tensors:
                out = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # safetensors raises several kinds for a damaged file
        raise ValueError(f"{path}: not a readable safetensors checkpoint ({e})") from e
    if _META_KEY in header:
        meta = json.loads(header[_META_KEY])
    elif path.with_suffix(".json").exists():
        meta = json.loads(path.with_suffix(".json").read_text())
    else:
        meta = {}
    return out, meta


def model_tensors(model: nn.Module, name: str) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v for k, v in model.state_dict().items()}


def save_models(path: str | os.PathLike, models: dict[str, nn.Module], meta: dict[str, Any] | None = None,
                extra: dict[str, torch.Tensor] | None = None) -> Path:
    """Save several registered models (and extra tensors) into one checkpoint."""
    tensors: dict[str, torch.Tensor] = dict(extra or {})
    specs = {}
    for name, model in models.items():
        specs[name] = model_spec(model)
        tensors.update(model_tensors(model, name))
    return save(path, tensors, {**(meta or {}), "models": specs})


def save_model(path: str | os.PathLike, model: nn.Module, **meta: Any) -> Path:
    """Save one registered model; ``meta`` carries image size, normalisation, class names..."""
    return save_models(path, {"model": model}, meta)


def load_model(path: str | os.PathLike, name: str | None = None, *, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model from a checkpoint alone (architecture + kwargs from its description)."""
    meta = read_meta(path)
    specs = meta.get("models") or {}
    if not specs:
        raise ValueError(f"{resolve(path)}: the checkpoint does not describe any model")
    if name is None:
        if len(specs) != 1:
            raise ValueError(f"{resolve(path)}: holds models {sorted(specs)}; say which one")
        name = next(iter(specs))
    if name not in specs:
        raise KeyError(f"{resolve(path)}: no model {name!r} (has {sorted(specs)})")
    spec = specs[name]
    model = create_model(spec["arch"], **spec["kwargs"])
    state, _ = read(path, prefix=name)
    model.load_state_dict(state)
    model.checkpoint_meta = meta
    return model.to(device, memory_format=memory_format(model))


def load_state_into(model: nn.Module, path: str | os.PathLike, name: str | None = None) -> nn.Module:
    """Load weights from a local checkpoint into an existing model (strict)."""
    tensors, meta = read(path)
    names = sorted((meta.get("models") or {}).keys())
    if name is None and len(names) == 1:
        name = names[0]
    if name is not None:
        tensors = strip_prefix(tensors, name)
    model.load_state_dict(tensors)
    return model
