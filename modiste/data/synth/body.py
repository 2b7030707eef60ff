"""The body a garment is cut for, in head units, and the frame that puts it on a canvas.

Garments, mannequins and models are all drawn from one ``Body``: x runs from the centre line
(right is positive), y runs down from the top of the head, and one unit is one head height
(fashion figures are about eight heads tall). A ``Frame`` maps those units to pixels, so the
same garment can be drawn as a flat product shot, on a form, on a model or, later, small in a
street scene, just by choosing a different frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

Bounds = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Body:
    """Anchor lines and half widths of a standing figure."""

    neck_y: float = 1.32  # base of the neck: necklines hang from here
    neck_w: float = 0.26
    shoulder_y: float = 1.5
    shoulder_w: float = 0.95
    armpit_y: float = 2.05
    chest_w: float = 0.8
    waist_y: float = 2.9
    waist_w: float = 0.56
    hip_y: float = 3.55
    hip_w: float = 0.84
    crotch_y: float = 4.05
    knee_y: float = 5.7
    ankle_y: float = 7.45
    floor_y: float = 7.85
    arm_len: float = 3.0  # shoulder to wrist
    # Radians from straight down. None means a flat lay: each garment spreads its sleeves the
    # way it is usually photographed (short sleeves wide, long sleeves close to the body).
    arm_angle: float | None = None
    stance: float = 0.42  # half distance between the ankles

    def shoulder_joint(self, side: int) -> tuple[float, float]:
        """Where an arm (and a sleeve's axis) starts; ``side`` is +1 (right) or -1."""
        return side * (self.shoulder_w - 0.14), self.shoulder_y + 0.14

    def arm_axis(self, side: int, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start, direction down the arm, outward normal) for an arm or sleeve at ``angle``."""
        start = np.array(self.shoulder_joint(side))
        d = np.array([side * math.sin(angle), math.cos(angle)])
        n = np.array([side * math.cos(angle), -math.sin(angle)])
        return start, d, n


# How far each figure kind lets proportions wander: forms are factory-made, models are people.
_JITTER = {"none": 0.03, "mannequin": 0.02, "model": 0.045}


def sample_body(rng: np.random.Generator, kind: str = "none") -> Body:
    """A ``Body`` with jittered proportions; ``kind`` is none (flat lay), mannequin or model."""
    base = Body()
    amount = _JITTER.get(kind, 0.03)
    values = {}
    for f in fields(Body):
        v = getattr(base, f.name)
        if isinstance(v, float) and f.name not in ("arm_angle",):
            values[f.name] = v * (1.0 + rng.uniform(-amount, amount))
    body = replace(base, **values)
    if kind == "mannequin":
        body = replace(body, arm_angle=float(rng.uniform(0.06, 0.14)))  # no arms: sleeves hang
    elif kind == "model":
        body = replace(body, arm_angle=float(rng.uniform(0.14, 0.34)), stance=float(rng.uniform(0.3, 0.5)))
    return body


@dataclass(frozen=True)
class Frame:
    """Head units to pixels: ``px = x0 + x * scale``, ``py = y0 + y * scale``."""

    scale: float  # pixels per head
    x0: float  # pixel column of the centre line
    y0: float  # pixel row of the top of the head (y = 0)

    def points(self, poly: np.ndarray) -> list[tuple[float, float]]:
        """Polygon or polyline (k, 2) in head units -> pixel tuples for ImageDraw."""
        p = np.asarray(poly, float)
        return list(zip((self.x0 + p[:, 0] * self.scale).tolist(), (self.y0 + p[:, 1] * self.scale).tolist()))

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        """An axis-aligned box in head units -> pixel [x0, y0, x1, y1] for ImageDraw.ellipse."""
        return [self.x0 + x0 * self.scale, self.y0 + y0 * self.scale, self.x0 + x1 * self.scale, self.y0 + y1 * self.scale]

    def scaled(self, k: float) -> "Frame":
        """The same placement on a canvas ``k`` times larger (supersampling)."""
        return Frame(self.scale * k, self.x0 * k, self.y0 * k)

    @classmethod
    def fit(cls, bounds: Bounds, box: Bounds, *, anchor: tuple[float, float] = (0.5, 0.5)) -> "Frame":
        """Scale ``bounds`` (head units) to fit inside ``box`` (pixels), keeping the aspect.

        ``anchor`` places the fitted bounds in the leftover space: (0.5, 0.5) centres,
        (0.5, 1.0) stands the figure on the bottom of the box.
        """
        bx0, by0, bx1, by1 = bounds
        px0, py0, px1, py1 = box
        scale = min((px1 - px0) / max(bx1 - bx0, 1e-6), (py1 - py0) / max(by1 - by0, 1e-6))
        spare_x = (px1 - px0) - (bx1 - bx0) * scale
        spare_y = (py1 - py0) - (by1 - by0) * scale
        return cls(scale, px0 + spare_x * anchor[0] - bx0 * scale, py0 + spare_y * anchor[1] - by0 * scale)

