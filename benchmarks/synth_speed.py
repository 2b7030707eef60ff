"""Synthetic catalog throughput: 1000 images at 64 px, PNG writing included.

Usage: python benchmarks/synth_speed.py [--n 1000] [--size 64] [--workers N]
The last line is ``images/s X``.
"""
from __future__ import annotations

import argparse
import tempfile
import time

from modiste.data.synth import catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="default: the catalog's own (up to 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cat = catalog(tmp, n=args.n, size=args.size, seed=0, workers=args.workers, progress=False)
        seconds = time.perf_counter() - start
    print(f"{len(cat)} images at {args.size} px in {seconds:.2f} s")
    print(f"images/s {len(cat) / seconds:.0f}")


if __name__ == "__main__":
    main()
