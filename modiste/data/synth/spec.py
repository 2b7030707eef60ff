"""What a garment is: ``GarmentSpec`` (category, colours, print, cut) and how one is sampled.

The two style groups differ in cut as well as in print: *everyday* items are regular
shapes in mostly neutral colours with calm, small prints and small jitter; *collection* items
always carry at least one strong exaggeration (power shoulders, volume, dramatic length) and
often more (puffed or bell sleeves, slanted or ruffled hems, tiers, belts), in saturated,
high-contrast colour pairs with prints about twice as large. ``garments.py`` keeps every category
recognisable whatever the style says.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from modiste.data.synth.palette import COLOURS, RGB, mix, sample_colours, shade
from modiste.data.synth.patterns import PATTERNS

CATEGORIES = ("t-shirt", "long-sleeve-top", "hoodie", "coat", "dress", "skirt", "trousers", "shorts")
TOPS = ("t-shirt", "long-sleeve-top", "hoodie")
BOTTOMS = ("skirt", "trousers", "shorts")
GROUPS = ("everyday", "collection")
COLLECTION_RATE = 0.4

# Plain, stripes, dots, check, floral, colourblock: everyday racks are mostly plain, collections lean on prints.
_PATTERN_RATES = {
    "everyday": (0.38, 0.22, 0.10, 0.14, 0.10, 0.06),
    "collection": (0.12, 0.22, 0.16, 0.14, 0.18, 0.18),
}
# Pattern repeat in heads for everyday items; collections print 1.8-2.6x larger.
_PATTERN_SCALE = {
    "plain": (0.3, 0.3), "stripes": (0.18, 0.3), "dots": (0.22, 0.32), "check": (0.22, 0.34),
    "floral": (0.36, 0.5), "colourblock": (0.9, 1.3),
}


@dataclass(frozen=True)
class Style:
    """How a garment departs from its category's usual cut (1.0 / 0 = usual)."""

    shoulder: float = 1.0  # x shoulder half width: collection power shoulders reach ~1.6
    volume: float = 1.0  # x width at the hem: flares, palazzo legs, ballgowns, cocoons
    length: float = 0.0  # heads added to the category's usual length
    sleeve: float = 1.0  # x sleeve width at the cuff: bell and bishop sleeves
    puff: float = 0.0  # heads of extra bulge at the sleeve head
    slant: float = 0.0  # heads the right side of the hem hangs below the left: asymmetric hems
    ruffle: float = 0.0  # scallop depth of a ruffled hem, in heads
    tiers: int = 0  # horizontal seams of a tiered skirt or dress
    waist: float = 1.0  # x waist width; below 1 cinches
    neckline: str = "crew"  # crew, scoop, v, boat
    # Per category: strap/cap (dress), pencil/a-line (skirt), straight/wide/palazzo/flare (trousers),
    # single/double (coat), plain/turn-up (shorts).
    cut: str = ""
    belt: bool = False
    high_waist: bool = False


@dataclass(frozen=True)
class GarmentSpec:
    """Everything needed to draw one garment; sampled by ``sample_spec``, drawn by ``draw_garment``."""

    category: str
    group: str = "everyday"
    colour: str = "black"
    colour2: str = "white"
    pattern: str = "plain"
    # Jittered shades actually painted: main, second, accent (flower hearts, overchecks, pinstripes).
    rgb: tuple[RGB, RGB, RGB] = (COLOURS["black"], COLOURS["white"], COLOURS["yellow"])
    pattern_scale: float = 0.3  # repeat in heads, so a print grows and shrinks with the garment
    pattern_params: dict = field(default_factory=dict)  # angle, duty, radius, phase, seed...
    style: Style = Style()


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _sample_style(rng: np.random.Generator, category: str, group: str) -> Style:
    if group == "everyday":
        s = dict(
            shoulder=_u(rng, 0.96, 1.06), volume=_u(rng, 0.94, 1.12), length=_u(rng, -0.25, 0.25),
            sleeve=_u(rng, 0.92, 1.1), waist=_u(rng, 0.96, 1.04),
        )
        if category in ("t-shirt", "long-sleeve-top"):
            s["neckline"] = str(rng.choice(["crew", "crew", "v", "scoop", "boat"]))
        elif category == "dress":
            s.update(cut=str(rng.choice(["strap", "cap"])), neckline=str(rng.choice(["scoop", "v", "boat"])),
                     belt=bool(rng.random() < 0.2))
        elif category == "skirt":
            s.update(cut=str(rng.choice(["pencil", "a-line", "a-line"])))
        elif category == "trousers":
            s.update(cut=str(rng.choice(["straight", "straight", "wide"])))
        elif category == "coat":
            s.update(cut=str(rng.choice(["single", "single", "double"])), belt=bool(rng.random() < 0.15))
        elif category == "shorts":
            s.update(cut=str(rng.choice(["plain", "turn-up"])))
        return Style(**s)

    # Collection: one guaranteed exaggeration of the category's signature, then optional extras.
    slant = _u(rng, 0.5, 1.1) * float(rng.choice([-1, 1])) if rng.random() < 0.35 else 0.0
    ruffle = _u(rng, 0.06, 0.13) if rng.random() < 0.3 else 0.0
    s: dict = dict(slant=slant, ruffle=ruffle, neckline=str(rng.choice(["v", "boat", "scoop", "crew"])))
    if category == "t-shirt":
        s.update(shoulder=_u(rng, 1.3, 1.6), volume=_u(rng, 1.15, 1.4), sleeve=_u(rng, 1.2, 1.6), length=_u(rng, 0.0, 0.9),
                 puff=_u(rng, 0.12, 0.28) if rng.random() < 0.3 else 0.0)
    elif category == "long-sleeve-top":
        s.update(shoulder=_u(rng, 1.2, 1.5), volume=_u(rng, 1.25, 1.6), sleeve=_u(rng, 1.8, 2.8), length=_u(rng, 0.0, 0.8),
                 puff=_u(rng, 0.15, 0.35) if rng.random() < 0.5 else 0.0)
    elif category == "hoodie":
        s.update(shoulder=_u(rng, 1.3, 1.6), volume=_u(rng, 1.2, 1.5), sleeve=_u(rng, 1.3, 1.7), length=_u(rng, 0.5, 1.5),
                 ruffle=0.0)
    elif category == "coat":
        s.update(shoulder=_u(rng, 1.35, 1.7), volume=_u(rng, 1.35, 1.9), sleeve=_u(rng, 1.1, 1.5), length=_u(rng, 1.0, 2.1),
                 cut=str(rng.choice(["single", "double", "double"])), belt=bool(rng.random() < 0.5), ruffle=0.0)
    elif category == "dress":
        s.update(volume=_u(rng, 1.6, 2.5), length=_u(rng, 0.6, 2.0), waist=_u(rng, 0.8, 0.92),
                 cut=str(rng.choice(["strap", "cap"])), neckline=str(rng.choice(["scoop", "v", "boat"])),
                 puff=_u(rng, 0.15, 0.35) if rng.random() < 0.5 else 0.0,
                 tiers=int(rng.choice([2, 3])) if rng.random() < 0.3 else 0, belt=bool(rng.random() < 0.4))
    elif category == "skirt":
        s.update(volume=_u(rng, 1.6, 2.4), length=_u(rng, 0.5, 2.1), cut="a-line",
                 tiers=int(rng.choice([2, 3])) if rng.random() < 0.35 else 0)
    elif category == "trousers":
        s.update(volume=_u(rng, 1.7, 2.3), length=_u(rng, 0.0, 0.3), cut=str(rng.choice(["palazzo", "flare"])),
                 high_waist=bool(rng.random() < 0.5), slant=0.0, ruffle=0.0)
    elif category == "shorts":
        s.update(volume=_u(rng, 1.4, 1.9), length=_u(rng, 0.2, 0.7), cut=str(rng.choice(["plain", "turn-up"])),
                 high_waist=bool(rng.random() < 0.5), slant=0.0)
    return Style(**s)


def _sample_pattern_params(rng: np.random.Generator, pattern: str, bold: bool) -> dict:
    p: dict = {"phase": (_u(rng, 0, 1), _u(rng, 0, 1))}
    if pattern == "stripes":
        angles = [0.0, math.pi / 2, math.pi / 4, -math.pi / 4] if bold else [0.0, 0.0, 0.0, math.pi / 2]
        p.update(angle=float(rng.choice(angles)), duty=_u(rng, 0.45, 0.55) if bold else _u(rng, 0.25, 0.4),
                 pin=0.12 if bold and rng.random() < 0.3 else 0.0)
    elif pattern == "dots":
        p.update(radius=_u(rng, 0.3, 0.4) if bold else _u(rng, 0.16, 0.24), stagger=bool(rng.random() < 0.7))
    elif pattern == "check":
        p.update(angle=math.pi / 4 if bold and rng.random() < 0.3 else 0.0,
                 lines=0.08 if bold and rng.random() < 0.5 else 0.0)
    elif pattern == "floral":
        p.update(angle=_u(rng, 0, math.pi), size=_u(rng, 0.38, 0.44) if bold else _u(rng, 0.3, 0.36),
                 seed=int(rng.integers(2**31)))
    elif pattern == "colourblock":
        p.update(angle=float(rng.choice([math.pi / 2, 0.6, -0.6, 0.0])) if bold else float(rng.choice([0.0, math.pi / 2])),
                 offset=_u(rng, 0, 1))
    return p


def sample_spec(
    rng: np.random.Generator,
    *,
    category: str | None = None,
    group: str | None = None,
    colour: str | None = None,
    pattern: str | None = None,
) -> GarmentSpec:
    """A random garment; any keyword pins that attribute (e.g. a plain navy everyday skirt).

    Draws from ``rng`` in a fixed order, so the same generator state gives the same garment.
    """
    category = category or CATEGORIES[int(rng.integers(len(CATEGORIES)))]
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
    group = group or ("collection" if rng.random() < COLLECTION_RATE else "everyday")
    bold = group == "collection"
    c1, c2 = sample_colours(rng, group, colour)
    pattern = pattern or PATTERNS[int(rng.choice(len(PATTERNS), p=_PATTERN_RATES[group]))]
    accent = str(rng.choice(["yellow", "white", "black", "red", "pink"] if bold else ["white", "beige", "yellow", "navy"]))
    main, second, third = (shade(COLOURS[c], rng) for c in (c1, c2, accent))
    if not bold:
        second = mix(main, second, 0.8)  # calmer prints: the second colour leans toward the first
    lo, hi = _PATTERN_SCALE[pattern]
    scale = _u(rng, lo, hi) * (_u(rng, 1.8, 2.6) if bold else 1.0)
    if pattern == "colourblock" and bold:
        scale = _u(rng, 1.0, 1.5)  # blocks bigger than the garment would be plain
    return GarmentSpec(
        category=category, group=group, colour=c1, colour2=c2, pattern=pattern,
        rgb=(main, second, third), pattern_scale=scale,
        pattern_params=_sample_pattern_params(rng, pattern, bold), style=_sample_style(rng, category, group),
    )
