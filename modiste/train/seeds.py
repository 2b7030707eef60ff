"""Step seeds: every random draw of step ``s`` on rank ``r`` comes from a generator seeded by
(seed, r, s), so a resumed run repeats exactly what an uninterrupted one would have done without
carrying RNG state, and every trainer orders its epochs the same way."""
from __future__ import annotations

import hashlib


def step_seed(seed: int, rank: int, step: int) -> int:
    digest = hashlib.blake2b(f"{seed}/{rank}/{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
