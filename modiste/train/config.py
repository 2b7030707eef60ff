"""The base of the trainers' settings: a dataclass that round-trips through a run's config.json."""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, Iterable, TypeVar

C = TypeVar("C", bound="RunConfig")


class RunConfig:
    """Mixed into a ``@dataclass`` of settings (every trainer's). ``resumed_from`` gives the settings a
    resumed run goes on with, by one rule for every trainer: the saved ones, with what may change
    between invocations (``RESUMABLE``: the budget and the machine) taken from this call."""

    RESUMABLE: tuple[str, ...] = ("epochs", "minutes", "workers", "device")
    # Numbers checked where settings are made (``check_numbers``), so a bad value is refused at once
    # with its name, not found later as a run of zero steps or a best checkpoint never written.
    POSITIVE: tuple[str, ...] = ("epochs", "kimg", "steps", "batch", "lr", "size", "tick_kimg", "tick_steps", "dim",
                                 "patience", "m")
    NON_NEGATIVE: tuple[str, ...] = ("minutes", "workers", "holdout", "freeze", "warmup_epochs", "ema_epochs",
                                     "label_smoothing", "weight_decay", "snapshot_ticks")

    def check_numbers(self) -> None:
        for name in self.POSITIVE + self.NON_NEGATIVE:
            value = getattr(self, name, None)
            if value is None or isinstance(value, (list, tuple, str, bool)):
                continue
            bad = not value > 0 if name in self.POSITIVE else not value >= 0  # NaN fails both
            if bad:
                which = "positive" if name in self.POSITIVE else "zero or more"
                raise ValueError(f"{name} must be {which}, not {value}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_call(cls: type[C], data: Any, out: Any, settings: dict[str, Any]) -> tuple[C, set[str]]:
        """The settings of ``X.train(data, out=..., **settings)``, and the names the caller set (the
        ``given`` of ``resumed_from``)."""
        cfg = cls(data=str(data) if data is not None else "", out=str(out), **settings)
        return cfg, set(settings) | ({"data"} if data is not None else set())

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in cls.upgrade(d).items() if k in names})

    @staticmethod
    def upgrade(d: dict[str, Any]) -> dict[str, Any]:
        """Settings saved by an older modiste, in today's names (a subclass says how)."""
        return d

    def resumed_from(self: C, saved: dict[str, Any], given: Iterable[str] | None = None) -> C:
        """``given`` names the settings the caller set (the CLI's options, ``X.train``'s keywords):
        then only those of them that are ``RESUMABLE`` are taken, and any other that differs from
        the saved run is refused, since the checkpoint was trained with the saved value. Without
        ``given`` every ``RESUMABLE`` setting comes from this call."""
        cfg = type(self).from_dict(saved)
        take = set(self.RESUMABLE)
        if given is not None:
            given = set(given) - {"out"}
            changed = sorted(k for k in given - take - {"data"} if getattr(self, k) != getattr(cfg, k))
            if changed:
                was = ", ".join(f"{k}={getattr(cfg, k)!r}" for k in changed)
                raise ValueError(f"cannot change {changed} when resuming {getattr(cfg, 'out', '')} (it was trained "
                                 f"with {was}); start a new run instead (another --out)")
            take &= given
        for name in take | ({"out"} & {f.name for f in fields(self)}):  # a moved run folder is where it is now
            setattr(cfg, name, getattr(self, name))
        return cfg


class PretrainedStart:
    """Mixed into the settings of a trainer with ``backbone`` and ``weights`` (imagenet, none or a file)."""

    def resolve_start(self, *, takes: str, fallback: str | None = None, resnet: bool = False,
                      own: tuple[str, ...] = ()) -> None:
        """Fill in ``backbone`` and ``weights``: EfficientNet-Lite0 from ImageNet where its weights are
        installed, else ``fallback`` (None: the registry's) from scratch. ``takes`` says which
        backbones this trainer takes, for the error; ``own`` are its own networks (no ImageNet start)."""
        from modiste.nn.pretrained import FALLBACK, backbone_name, default_backbone, default_weights

        if self.backbone is None:
            self.backbone = default_backbone() if default_backbone() != FALLBACK or fallback is None else fallback
        if self.backbone not in own:
            self.backbone = backbone_name(self.backbone)
            if self.backbone.startswith("resnet_") and not resnet:
                raise ValueError(f"{takes}, not {self.backbone}")
        self.weights = str(self.weights or ("none" if self.backbone in own else default_weights(self.backbone)))

    @property
    def pretrained(self) -> bool:
        return self.weights != "none"
