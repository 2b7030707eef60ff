"""Memory while `Index.add` indexes 100k small JPEGs: it must stream, staying flat as the index grows.

The files are 32 px JPEGs of random blocky content (every one distinct, so none is skipped as a
duplicate); the model is a small `embed_vgg` (width 8) at 32 px, so the run takes minutes. The
embed_fn counts images and, each time another `--every` images have gone through, samples:

  main VmRSS   the indexing process (/proc/self/status), and its peak so far (VmHWM)
  workers      the decode workers' VmRSS, summed, with the forkserver that starts them (fresh
               interpreters: each holds its own torch, a constant that does not grow with files)
  anon PSS     main + workers, anonymous memory (heap) as proportional set size (Pss_Anon of
               /proc/PID/smaps_rollup): a page shared by several processes counts once, split
               among them; a page copied on write counts for each copy. This is the
               memory the indexing really holds, without the shared libraries' file pages.

Growth is the value at the last sample minus the value at the first (after `--every` images),
as a share of the last value; the target is <= `--max-growth` for anon PSS.

    python benchmarks/index_memory.py [--n 100000 --every 10000 --workers auto --json out.json]

The last line is `growth X.X%` (anon PSS, last sample against the first).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from modiste.retrieval.index import Index
from modiste.nn.registry import create_model
from machine_load import OtherLoad  # benchmarks/ is on sys.path when a script runs


def write_jpegs(out: Path, n: int, size: int, seed: int = 0) -> None:
    """Blocky random colour images: 8 x 8 cells scaled up, plus noise, all distinct."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cells = max(1, size // 8)
    for start in range(0, n, 1000):
        count = min(1000, n - start)
        blocks = rng.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)
        pixels = blocks.repeat(cells, axis=1).repeat(cells, axis=2)[:, :size, :size]
        pixels = np.clip(pixels.astype(np.int16) + rng.integers(-12, 13, pixels.shape), 0, 255).astype(np.uint8)
        for i in range(count):
            Image.fromarray(pixels[i]).save(out / f"{start + i:07d}.jpg", format="JPEG", quality=90)


def status_kb(pid: int | str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def anon_pss_kb(pid: int | str) -> int:
    """Proportional set size of the anonymous pages (heap, not the shared libraries' file pages,
    whose share moves with every other process that maps libtorch)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss_Anon:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Child processes, theirs, and so on (the DataLoader workers while add() runs)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for kid in kids:
            out += [kid, *descendants(kid)]
    return out


class Sampler:
    """An embed_fn wrapper that records memory every ``every`` images."""

    def __init__(self, embed, every: int) -> None:
        self.embed, self.every = embed, every
        self.done, self.next_at = 0, every
        self.samples: list[dict] = []
        self.t0 = time.perf_counter()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = self.embed(images)
        self.done += len(images)
        if self.done >= self.next_at:
            self.samples.append(self.sample())
            self.next_at += self.every
        return out

    def sample(self) -> dict:
        me = os.getpid()
        kids = descendants(me)
        return {
            "images": self.done, "seconds": time.perf_counter() - self.t0,
            "main_rss_mb": status_kb(me, "VmRSS") / 1024, "main_peak_mb": status_kb(me, "VmHWM") / 1024,
            "workers": len(kids), "workers_rss_mb": sum(status_kb(k, "VmRSS") for k in kids) / 1024,
            "workers_peak_mb": sum(status_kb(k, "VmHWM") for k in kids) / 1024,
            "anon_pss_mb": (anon_pss_kb(me) + sum(anon_pss_kb(k) for k in kids)) / 1024,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=None, help="images between samples (default n / 10)")
    ap.add_argument("--size", type=int, default=32, help="pixels of the files and the model input")
    ap.add_argument("--width", type=int, default=8, help="embed_vgg width")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", default="auto", help="num_workers for Index.add; auto = its default")
    ap.add_argument("--max-growth", type=float, default=0.10, help="target: anon PSS growth, last vs first sample")
    ap.add_argument("--workdir", type=Path, default=None, help="for the files and the index (default: a temp folder)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    every = args.every or max(1, args.n // 10)
    tmp = tempfile.TemporaryDirectory(prefix="modiste-memory-", dir=args.workdir)
    work = Path(tmp.name)
    try:
        t0 = time.perf_counter()
        write_jpegs(work / "jpg", args.n, args.size)
        written_s = time.perf_counter() - t0
        torch.manual_seed(0)
        model = create_model("embed_vgg", dim=128, width=args.width).eval()

        @torch.inference_mode()
        def embed(images: torch.Tensor) -> torch.Tensor:
            return model(images.float().div_(127.5).sub_(1))

        index = Index.create(work / "index", 128, kind="flat",
                             model_info={"arch": f"embed_vgg width {args.width}", "image_size": [args.size, args.size]})
        load = OtherLoad()
        sampler = Sampler(embed, every)
        before = sampler.sample()
        sampler.t0 = time.perf_counter()
        workers = None if args.workers == "auto" else int(args.workers)
        report = index.add(work / "jpg", sampler, batch=args.batch, num_workers=workers, progress=False)
        seconds = time.perf_counter() - sampler.t0
        after = sampler.sample()
        other = load.cores()
        count = len(index)
        index.close()
    finally:
        tmp.cleanup()
    if count != args.n:
        raise RuntimeError(f"expected {args.n} items indexed, got {count}: {report}")
    samples = sampler.samples
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.n} JPEGs {args.size} px "
          f"(written in {written_s:.0f} s), embed_vgg width {args.width}, batch {args.batch}, "
          f"workers {args.workers}: {args.n / seconds:.0f} img/s, {seconds:.0f} s; other processes kept "
          f"{other:.2f} cores busy")
    print(f"before add(): main RSS {before['main_rss_mb']:.0f} MB")
    print(f"{'images':>8} {'s':>6} {'main RSS':>9} {'main peak':>10} {'workers':>8} {'workers RSS':>12} "
          f"{'anon PSS':>10}   (MB)")
    for s in samples:
        print(f"{s['images']:>8} {s['seconds']:>6.0f} {s['main_rss_mb']:>9.1f} {s['main_peak_mb']:>10.1f} "
              f"{s['workers']:>8} {s['workers_rss_mb']:>12.1f} {s['anon_pss_mb']:>10.1f}")
    print(f"after add(): main RSS {after['main_rss_mb']:.0f} MB, peak (VmHWM) {after['main_peak_mb']:.0f} MB")
    first, last = samples[0], samples[-1]
    growth = {}
    for key in ("main_rss_mb", "workers_rss_mb", "anon_pss_mb"):
        d = last[key] - first[key]
        growth[key] = {"mb": d, "share": d / last[key] if last[key] else 0.0,
                       "bytes_per_image": d * 2**20 / max(1, last["images"] - first["images"])}
        print(f"growth {key[:-3]:<12} {first['images']}->{last['images']} images: {d:+7.1f} MB "
              f"({growth[key]['share']:+.1%} of the last value, {growth[key]['bytes_per_image']:+.0f} B/image)")
    met = growth["anon_pss_mb"]["share"] <= args.max_growth
    print(f"target: anon PSS growth <= {args.max_growth:.0%}: {'met' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({
            "torch": torch.__version__, "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "images_per_s": args.n / seconds, "other_load_cores": other, "before": before, "samples": samples, "after": after,
            "growth": growth, "met": met}, indent=2))
    print(f"growth {growth['anon_pss_mb']['share']:.1%}")


if __name__ == "__main__":
    main()
