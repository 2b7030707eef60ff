"""Named colours for garments, skin, hair and studio backgrounds, and how each style group picks them."""
from __future__ import annotations

import numpy as np

RGB = tuple[int, int, int]

# Mid shades as a product page would name them; every drawn item jitters around these.
COLOURS: dict[str, RGB] = {
    "black": (34, 34, 38),
    "white": (238, 237, 232),
    "grey": (138, 140, 145),
    "navy": (34, 46, 92),
    "blue": (48, 102, 192),
    "red": (198, 32, 40),
    "burgundy": (118, 26, 46),
    "pink": (236, 136, 168),
    "orange": (234, 118, 30),
    "yellow": (240, 198, 40),
    "green": (36, 132, 72),
    "olive": (108, 110, 54),
    "beige": (212, 190, 152),
    "brown": (118, 76, 46),
    "purple": (110, 58, 152),
}
NEUTRALS = ("black", "white", "grey", "navy", "beige", "brown")

# Relative rates per style group: everyday racks are mostly neutrals, a collection is mostly
# saturated colour. Both groups keep every colour possible so colour alone never decides the group.
_EVERYDAY_WEIGHTS = {
    "black": 2.0, "white": 2.0, "grey": 1.6, "navy": 1.8, "blue": 1.4, "red": 0.7, "burgundy": 0.9,
    "pink": 0.7, "orange": 0.3, "yellow": 0.4, "green": 0.6, "olive": 0.9, "beige": 1.8, "brown": 1.0,
    "purple": 0.3,
}
_COLLECTION_WEIGHTS = {
    "black": 1.0, "white": 0.8, "grey": 0.2, "navy": 0.4, "blue": 1.4, "red": 2.0, "burgundy": 0.6,
    "pink": 1.6, "orange": 1.3, "yellow": 1.6, "green": 1.4, "olive": 0.3, "beige": 0.3, "brown": 0.2,
    "purple": 1.3,
}

SKIN_TONES: tuple[RGB, ...] = (
    (247, 214, 190), (234, 190, 156), (214, 163, 124), (178, 122, 86), (138, 90, 60), (94, 60, 42),
)
HAIR_COLOURS: tuple[RGB, ...] = ((28, 22, 20), (62, 40, 28), (112, 74, 44), (206, 170, 108), (150, 62, 32))
FORM_COLOURS: tuple[RGB, ...] = ((214, 196, 166), (190, 190, 186), (44, 44, 46), (236, 232, 224))
BACKGROUNDS: tuple[RGB, ...] = ((250, 250, 248), (242, 242, 240), (244, 238, 230), (236, 238, 242))


def _pick(rng: np.random.Generator, weights: dict[str, float], exclude: str = "") -> str:
    names = [c for c in weights if c != exclude]
    p = np.array([weights[c] for c in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


_DISTANCE = {
    (a, b): float(np.linalg.norm(np.subtract(COLOURS[a], COLOURS[b], dtype=float))) for a in COLOURS for b in COLOURS
}


def _distance(a: str, b: str) -> float:
    return _DISTANCE[a, b]


def sample_colours(rng: np.random.Generator, group: str, colour: str | None = None) -> tuple[str, str]:
    """(main, second) colour names; the second is what stripes, dots and trims use.

    Collection pairs are chosen for contrast (red/black, yellow/navy, pink/green...); everyday
    pairs lean on neutrals and keep to moderate contrast.
    """
    weights = _COLLECTION_WEIGHTS if group == "collection" else _EVERYDAY_WEIGHTS
    main = colour or _pick(rng, weights)
    if group == "collection":
        # Cubing the distance makes the most contrasting partners dominate without excluding the rest.
        second = {c: w * (_distance(main, c) / 255) ** 3 for c, w in _COLLECTION_WEIGHTS.items()}
    else:
        # Neutrals at a middling distance: navy/white, beige/brown, grey/black.
        second = {c: (2.0 if c in NEUTRALS else 0.4) * min(_distance(main, c), 220.0) for c in COLOURS}
    return main, _pick(rng, second, exclude=main)


def shade(rgb: RGB, rng: np.random.Generator, amount: float = 0.07) -> RGB:
    """``rgb`` with a little brightness and tint jitter, so no two 'red' items are the same red."""
    gain = 1.0 + rng.uniform(-amount, amount)
    tint = rng.uniform(-amount, amount, 3) * 60
    out = np.clip(np.asarray(rgb, float) * gain + tint, 0, 255)
    return tuple(int(round(v)) for v in out)  # type: ignore[return-value]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """Linear blend, t=0 gives ``a``."""
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def scale_rgb(rgb: RGB, k: float) -> RGB:
    return tuple(int(min(255, max(0, round(v * k)))) for v in rgb)  # type: ignore[return-value]
