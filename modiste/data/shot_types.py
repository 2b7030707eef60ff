"""The 17 shot types of a product gallery (what a photo shows: the brand tag, a sleeve, the far
front...), in the reference house order. Shared by the synthetic galleries and the regulations."""
from __future__ import annotations

SHOT_TYPES = (
    "brand_tag", "material", "print", "wash_tag", "sleeve", "sleeve_hem", "hem", "feature", "collar",
    "back", "far_back", "far_front", "far_side", "near_back", "near_front", "near_side", "near_zoom",
)
