"""The base of the trainers' settings: a dataclass that round-trips through a run's config.json."""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

C = TypeVar("C", bound="RunConfig")


class RunConfig:
    """Mixed into a ``@dataclass`` of settings. ``resumed_from`` is the saved run's settings with
    only what may change between invocations (``RESUMABLE``) taken from this one."""

    RESUMABLE = ("epochs", "minutes", "workers", "device")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in cls.upgrade(d).items() if k in names})

    @staticmethod
    def upgrade(d: dict[str, Any]) -> dict[str, Any]:
        """Settings saved by an older modiste, in today's names (a subclass says how)."""
        return d

    def resumed_from(self: C, saved: dict[str, Any]) -> C:
        cfg = type(self).from_dict(saved)
        for name in self.RESUMABLE:
            setattr(cfg, name, getattr(self, name))
        return cfg


class PretrainedStart:
    """Mixed into the settings of a trainer with ``backbone`` and ``weights`` (imagenet, none or a file)."""

    @property
    def pretrained(self) -> bool:
        return self.weights != "none"
