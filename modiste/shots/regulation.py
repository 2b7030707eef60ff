"""A regulation: a shop's house order of shot types, read from a YAML file.

One shot-type model serves every shop; only the regulation differs, so a new shop needs a new
YAML file and no retraining. Schema (every key except ``order`` is optional)::

    # shop-a.yaml
    name: shop-a                 # free text, shown in outputs; defaults to the file name
    order:                       # first to last
      - near_front
      - [near_back, near_side]   # a list inside the list: a group of equal rank
      - far_front
      - far_back
      - far_side
      - other                    # every type not named anywhere in order ("*" means the same; quote it)
      - brand_tag
      - wash_tag
    tie_break: original          # within one rank: original (gallery order) or confidence (highest first)
    limits:                      # at most N photos of a type (N >= 0); the rest are overflow
      near_zoom: 2
    overflow: end                # end: overflow photos go after everything; drop: left out of the
                                 # published order (still listed, marked dropped; nothing is deleted)
    categories:                  # picked by a product's category; a key set here replaces the
      bottoms:                   # top-level value, a key not set is inherited from it
        order: [far_front, far_back, near_front, near_back, hem, other, brand_tag, wash_tag]
        limits: {}               # no limits for bottoms

Ranks are 0-based positions in ``order``: every type of a group shares its entry's rank, types
not named share the rank of ``other``, or come last (rank ``len(order)``) when there is no ``other``.
A product whose category is not listed (or None) uses the top-level rules.

``Regulation.load`` checks the file against the schema and the known shot types, and every
mistake raises ``RegulationError`` naming the file, line and column of the offending entry.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from modiste.data.shot_types import SHOT_TYPES

OTHER = "other"  # "*" is read as the same entry
TIE_BREAKS = ("original", "confidence")
OVERFLOWS = ("end", "drop")
_RULE_KEYS = ("order", "tie_break", "limits", "overflow")
_TOP_KEYS = ("name",) + _RULE_KEYS + ("categories",)


class RegulationError(ValueError):
    """A regulation that breaks the schema; ``file``, ``line`` and ``column`` (1-based) when known."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, column: int | None = None):
        self.file, self.line, self.column, self.reason = file, line, column, message
        where = ":".join(str(x) for x in (file, line, column) if x is not None)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Rules:
    """The resolved rules for one category (or the default): order, limits, tie-break, overflow."""

    order: tuple[tuple[str, ...], ...]  # entries first to last; each a group of equal rank; OTHER marks the rest
    limits: Mapping[str, int] = field(default_factory=dict)  # none: every photo is published
    tie_break: str = "original"  # gallery order is what the photographer chose; confidence is opt-in
    overflow: str = "end"  # end rather than drop: nothing disappears unless the shop asks for it

    def __post_init__(self):
        ranks = {t: i for i, group in enumerate(self.order) for t in group}
        object.__setattr__(self, "_ranks", ranks)
        object.__setattr__(self, "_rest", ranks.get(OTHER, len(self.order)))

    def rank(self, shot: str) -> int:
        """0-based rank of a shot type; lower comes first."""
        return self._ranks.get(shot, self._rest)

    def to_dict(self) -> dict:
        order = [list(g) if len(g) > 1 else g[0] for g in self.order]
        return {"order": order, "tie_break": self.tie_break, "limits": dict(self.limits), "overflow": self.overflow}


class Regulation:
    """Default rules plus optional per-category rules; ``load`` a YAML file or build ``from_dict``."""

    def __init__(self, default: Rules, categories: Mapping[str, Rules] | None = None, *,
                 name: str | None = None, source: str | None = None):
        self.default = default
        self.categories = dict(categories or {})
        self.name = name
        self.source = source  # the file it was read from, if any

    @classmethod
    def load(cls, path: str | os.PathLike, known_types: Iterable[str] | None = SHOT_TYPES) -> "Regulation":
        """Read and check a YAML regulation; ``known_types=None`` accepts any type name."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise RegulationError(f"not UTF-8 text ({e})", file=str(path)) from None
        value, where = _compose(text, str(path))
        return _parse(value, where, known_types, default_name=path.stem)

    @classmethod
    def from_dict(cls, d: Mapping, known_types: Iterable[str] | None = SHOT_TYPES) -> "Regulation":
        """Build from a plain dict with the YAML file's schema; errors name the key path."""
        return _parse(d, _Where(None, {}, {}), known_types, default_name=None)

    def rules(self, category: str | None = None) -> Rules:
        """The category's rules, or the default ones for None or an unlisted category."""
        return self.categories.get(category, self.default) if category is not None else self.default

    def rank(self, shot: str, category: str | None = None) -> int:
        """0-based rank of ``shot`` under the category's order; lower comes first."""
        return self.rules(category).rank(shot)

    def types(self) -> set[str]:
        """Every shot type the regulation names (in any order or limit), "other" aside."""
        rules = [self.default, *self.categories.values()]
        return {t for r in rules for g in r.order for t in g if t != OTHER} | {t for r in rules for t in r.limits}

    def check_classes(self, classes: Iterable[str], model: str = "the model") -> None:
        """Refuse a regulation that names types ``classes`` (the model's) cannot predict: every photo
        would rank as "other" without a word."""
        unknown = sorted(self.types() - set(classes))
        if unknown:
            where = f"{self.source}: " if self.source else ""
            raise RegulationError(f"{where}names {', '.join(map(repr, unknown))}, which {model} does not predict "
                                  f"(its classes: {', '.join(classes)})")

    def to_dict(self) -> dict:
        """A dict ``from_dict`` reads back; category sections are written out in full."""
        d = {"name": self.name} if self.name is not None else {}
        d.update(self.default.to_dict())
        if self.categories:
            d["categories"] = {c: r.to_dict() for c, r in self.categories.items()}
        return d

    def __eq__(self, other):
        return isinstance(other, Regulation) and self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self):
        order = [list(g) if len(g) > 1 else g[0] for g in self.default.order]
        parts = [f"name={self.name!r}", f"order={order}", f"tie_break={self.default.tie_break!r}"]
        if self.default.limits:
            parts += [f"limits={dict(self.default.limits)}", f"overflow={self.default.overflow!r}"]
        if self.categories:
            parts.append(f"categories={list(self.categories)}")
        return f"Regulation({', '.join(parts)})"


# --- reading YAML with the place of every node -----------------------------------------------------

class _Where:
    """Turns a key path such as ("order", 3, 0) into an error that names the file, line and column."""

    def __init__(self, file: str | None, marks: dict, key_marks: dict):
        self.file, self.marks, self.key_marks = file, marks, key_marks

    def _mark(self, path: tuple, key: bool):
        if key and path in self.key_marks:
            return self.key_marks[path]
        while path not in self.marks and path:  # a value built by default: point at its parent
            path = path[:-1]
        return self.marks.get(path)

    def describe(self, path: tuple) -> str:
        mark = self._mark(path, key=False)
        return f"line {mark.line + 1}" if mark is not None else _dotted(path)

    def error(self, path: tuple, message: str, *, key: bool = False) -> RegulationError:
        mark = self._mark(path, key)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        return RegulationError(f"{_dotted(path)}: {message}" if path else message,
                               file=self.file, line=line, column=column)


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _compose(text: str, file: str) -> tuple[Any, _Where]:
    """Parse YAML into plain values, recording where each value (and each mapping key) starts."""
    marks, key_marks = {}, {}
    where = _Where(file, marks, key_marks)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        value = None if node is None else _plain(node, (), loader, where, set())
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise RegulationError(f"not valid YAML: {e.problem or e.context}", file=file,
                              line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise RegulationError(f"not valid YAML: {e}", file=file) from None
    finally:
        loader.dispose()
    return value, where


def _plain(node, path: tuple, loader, where: _Where, stack: set) -> Any:
    if id(node) in stack:
        raise where.error(path, "a YAML alias refers to itself")
    where.marks[path] = node.start_mark
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node)
    stack = stack | {id(node)}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(n, path + (i,), loader, where, stack) for i, n in enumerate(node.value)]
    out = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise where.error(path, "a key must be a plain name")
        key = loader.construct_object(key_node)
        if key in out:
            first = where.key_marks[path + (key,)]
            raise RegulationError(f"{_dotted(path + (key,))}: key {key!r} appears twice (first at line {first.line + 1})",
                                  file=where.file, line=key_node.start_mark.line + 1, column=key_node.start_mark.column + 1)
        where.key_marks[path + (key,)] = key_node.start_mark
        out[key] = _plain(value_node, path + (key,), loader, where, stack)
    return out


# --- checking the schema ---------------------------------------------------------------------------

def _kind(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a name", bool: "true/false", type(None): "nothing"}.get(
        type(v), type(v).__name__)


def _hint(name: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_keys(d: dict, allowed: tuple, path: tuple, where: _Where):
    for k in d:
        if k not in allowed:
            raise where.error(path + (k,), f"unknown key {k!r} (expected one of: {', '.join(allowed)}){_hint(k, allowed)}",
                              key=True)


def _choice(v: Any, choices: tuple, path: tuple, where: _Where) -> str:
    if v not in choices:
        raise where.error(path, f"expected one of {', '.join(choices)}, got {v!r}")
    return v


def _parse(d: Any, where: _Where, known_types: Iterable[str] | None, default_name: str | None) -> Regulation:
    known = None if known_types is None else frozenset(known_types)
    if known is not None and (OTHER in known or "*" in known):
        raise ValueError(f"{OTHER!r} and '*' are reserved and cannot be shot type names")
    if d is None:
        raise where.error((), "the regulation is empty; it needs at least an 'order' list")
    if not isinstance(d, Mapping):
        raise where.error((), f"expected a mapping with an 'order' list at the top, got {_kind(d)}")
    d = dict(d)
    _check_keys(d, _TOP_KEYS, (), where)
    if "order" not in d:
        raise where.error((), "missing the 'order' list")
    name = d.get("name", default_name)
    if name is not None and not isinstance(name, str):
        raise where.error(("name",), f"expected a name, got {_kind(name)}")
    default = _parse_rules(d, (), where, known, base=None)
    categories = {}
    cats = d.get("categories", {})
    if not isinstance(cats, Mapping):
        raise where.error(("categories",), f"expected a mapping of category name -> rules, got {_kind(cats)}")
    for cat, section in cats.items():
        path = ("categories", cat)
        if not isinstance(cat, str) or not cat:
            raise where.error(path, f"a category name must be text, got {cat!r}", key=True)
        if not isinstance(section, Mapping):
            raise where.error(path, f"expected a mapping with keys from: {', '.join(_RULE_KEYS)}; got {_kind(section)}")
        _check_keys(dict(section), _RULE_KEYS, path, where)
        categories[cat] = _parse_rules(dict(section), path, where, known, base=default)
    return Regulation(default, categories, name=name, source=where.file)


def _parse_rules(d: dict, path: tuple, where: _Where, known: frozenset | None, base: Rules | None) -> Rules:
    base = base or Rules(order=((OTHER,),))
    order = _parse_order(d["order"], path + ("order",), where, known) if "order" in d else base.order
    limits = _parse_limits(d["limits"], path + ("limits",), where, known) if "limits" in d else base.limits
    tie_break = _choice(d["tie_break"], TIE_BREAKS, path + ("tie_break",), where) if "tie_break" in d else base.tie_break
    overflow = _choice(d["overflow"], OVERFLOWS, path + ("overflow",), where) if "overflow" in d else base.overflow
    return Rules(order=order, limits=limits, tie_break=tie_break, overflow=overflow)


def _parse_order(value: Any, path: tuple, where: _Where, known: frozenset | None) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not value:
        raise where.error(path, f"expected a non-empty list of shot types, got {_kind(value)}")
    first_seen: dict[str, tuple] = {}
    groups = []
    for i, entry in enumerate(value):
        if isinstance(entry, list):
            if not entry:
                raise where.error(path + (i,), "an empty group")
            names = [(e, path + (i, j)) for j, e in enumerate(entry)]
        else:
            names = [(entry, path + (i,))]
        group = []
        for name, at in names:
            if not isinstance(name, str):
                what = "a shot type" if isinstance(entry, list) else "a shot type or a list of shot types (a group)"
                raise where.error(at, f"expected {what}, got {_kind(name)} {name!r}")
            t = OTHER if name in (OTHER, "*") else name
            if t != OTHER and known is not None and t not in known:
                raise where.error(at, f"unknown shot type {name!r}{_hint(name, sorted(known))}")
            if t in first_seen:
                raise where.error(at, f"{name!r} is listed twice (first at {where.describe(first_seen[t])})")
            first_seen[t] = at
            group.append(t)
        groups.append(tuple(group))
    return tuple(groups)


def _parse_limits(value: Any, path: tuple, where: _Where, known: frozenset | None) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise where.error(path, f"expected a mapping of shot type -> count, got {_kind(value)}")
    limits = {}
    for t, n in value.items():
        if not isinstance(t, str) or t in (OTHER, "*") or (known is not None and t not in known):
            raise where.error(path + (t,), f"unknown shot type {t!r}{_hint(t, sorted(known or ()))}", key=True)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise where.error(path + (t,), f"a limit is a whole number >= 0, got {n!r}")
        limits[t] = n
    return limits
