"""Indexing throughput: `Index.add` on JPEG files against the embedding model alone.

model-only: the embed_fn (uint8 -> [-1, 1] float -> network -> unit vectors) on batches of
            images decoded beforehand, `--batch` at a time: the ceiling for indexing.
full path:  `Index.add(folder, embed_fn, batch=..., num_workers=...)` into a fresh index: list
            the folder, sha1 and decode in DataLoader workers, embed, write the shard, commit.

full / model-only is the share of the model's speed that indexing keeps; the target is >= 85%
(decoding must not be the bottleneck). On a small machine the decode workers and torch's
threads share the cores, so each `--workers` setting is measured; "cpu bound" is what full /
model-only could at best be if the decode work (timed alone, one process) were perfectly
overlapped on the same cores: 1 / (1 + decode_seconds_per_image * model_images_per_s / cores).

The images are modiste's synthetic catalog shots (`--size` px), saved as JPEG (quality 90), at
the index's input size `--image-size` (letterbox). Each round times model-only once and every
setting once, in rotating order; ratios are per round, then the median.

    python benchmarks/embed_throughput.py [--n 4000 --models vgg convnext --workers auto 0 1 2 --json out.json]

The last line is `ratio X.XX` (full / model-only of the first model at the default workers).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from modiste.data.images import ImagePolicy, load_image
from modiste.retrieval.index.reading import default_workers
from modiste.data.synth import catalog
from modiste.retrieval.index import Index
from modiste.nn.pretrained import memory_format
from modiste.nn.registry import create_model
from machine_load import Quiet, add_quiet_args  # benchmarks/ is on sys.path when a script runs

MODELS = {
    "vgg": lambda dim: create_model("embed_vgg", dim=dim),
    "convnext": lambda dim: create_model("embed_convnext", dim=dim, size="micro"),
    "lite0": lambda dim: create_model("embed_efficientnet", dim=dim),  # the pretrained default (weights do not change speed)
}


def write_jpegs(out: Path, n: int, size: int) -> list[Path]:
    """``n`` synthetic catalog shots as JPEG files in ``out``."""
    png = out.parent / (out.name + "-png")
    cat = catalog(png, n=n, size=size, seed=0, progress=False)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for rec in cat.records:
        path = out / (Path(rec["path"]).stem + ".jpg")
        with Image.open(png / rec["path"]) as im:
            im.convert("RGB").save(path, format="JPEG", quality=90)
        paths.append(path)
    shutil.rmtree(png)
    return paths


def make_embed_fn(model: torch.nn.Module):
    model.eval().to(memory_format=memory_format(model))  # the layout a loaded model runs in

    @torch.inference_mode()
    def embed(images: torch.Tensor) -> torch.Tensor:
        return model(images.float().div_(127.5).sub_(1))

    return embed


def decode_seconds(paths: list[Path], policy: ImagePolicy) -> tuple[torch.Tensor, float]:
    """All images decoded (what model-only runs on) and the per-image cost of what a loader
    worker does for each file: sha1 of the bytes, then decode and resize."""
    t0 = time.perf_counter()
    images = []
    for p in paths:
        hashlib.sha1(p.read_bytes()).hexdigest()
        images.append(load_image(p, policy))
    return torch.stack(images), (time.perf_counter() - t0) / len(paths)


def model_only(embed, images: torch.Tensor, batch: int) -> float:
    t0 = time.perf_counter()
    for chunk in images.split(batch):
        embed(chunk)
    return len(images) / (time.perf_counter() - t0)


def full_path(embed, folder: Path, work: Path, dim: int, image_size: int, batch: int, setting: str) -> float:
    workers, threads = _parse(setting)
    root = work / "index"
    shutil.rmtree(root, ignore_errors=True)
    index = Index.create(root, dim, model_info={"arch": "benchmark", "image_size": [image_size, image_size]},
                         kind="flat")
    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads)
    try:
        t0 = time.perf_counter()
        report = index.add(folder, embed, batch=batch, num_workers=workers, progress=False)
        seconds = time.perf_counter() - t0
    finally:
        torch.set_num_threads(default_threads)
        index.close()
    if report.duplicates or report.skipped.count or not report.added:
        raise RuntimeError(f"expected every file added: {report}")
    return len(report.added) / seconds


def run_model(name: str, args, images: torch.Tensor, folder: Path, work: Path, decode_s: float) -> dict:
    torch.manual_seed(0)
    embed = make_embed_fn(MODELS[name](args.dim))
    for _ in range(2):
        model_only(embed, images[: 4 * args.batch], args.batch)
    settings = args.workers
    ips: dict[str, list[float]] = {"model": []} | {s: [] for s in settings}
    ratios: dict[str, list[float]] = {s: [] for s in settings}
    for r in range(args.rounds):
        order = settings[r % len(settings):] + settings[:r % len(settings)]
        m = args.quiet(lambda: model_only(embed, images, args.batch))
        ips["model"].append(m)
        for s in order:
            f = args.quiet(lambda: full_path(embed, folder, work, args.dim, args.image_size, args.batch, s))
            ips[s].append(f)
            ratios[s].append(f / m)
        print(f"  {name} round {r + 1}: model {m:.0f} img/s, " +
              ", ".join(f"{s}: {ips[s][-1]:.0f}" for s in settings), flush=True)
    model_ips = statistics.median(ips["model"])
    cores = len(os.sched_getaffinity(0))
    bound = 1 / (1 + decode_s * model_ips / cores)
    rows = [{"workers": s, "workers_threads": _resolved(s, len(images)), "images_per_s": statistics.median(ips[s]),
             "ratio": statistics.median(ratios[s]), "ratio_min": min(ratios[s]), "ratio_max": max(ratios[s])}
            for s in settings]
    return {"model": name, "model_images_per_s": model_ips, "model_runs": ips["model"], "cpu_bound": bound,
            "rows": rows}


def _parse(setting: str) -> tuple[int | None, int | None]:
    """"auto" | "W" | "W/T": Index.add's num_workers (auto: its default) and torch threads during add."""
    workers, _, threads = setting.partition("/")
    return (None if workers == "auto" else int(workers)), (int(threads) if threads else None)


def _resolved(setting: str, n: int) -> str:
    workers, threads = _parse(setting)
    w = default_workers(n) if workers is None else workers
    return f"{w}/{threads or torch.get_num_threads()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4000, help="JPEG files")
    ap.add_argument("--size", type=int, default=96, help="pixels of the JPEG files")
    ap.add_argument("--image-size", type=int, default=64, help="the index's model input size")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--models", nargs="+", default=["vgg", "convnext"], choices=sorted(MODELS))
    ap.add_argument("--workers", nargs="+", default=["auto", "0", "1", "1/1"],
                    help="settings for Index.add: W or W/T = num_workers W (auto: add()'s default) with "
                         "torch.set_num_threads(T) around the add (default: torch's)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the whole run")
    ap.add_argument("--target", type=float, default=0.85)
    ap.add_argument("--workdir", type=Path, default=None, help="for the files and the index (default: a temp folder)")
    ap.add_argument("--json", type=Path, default=None)
    add_quiet_args(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory(prefix="modiste-embed-", dir=args.workdir)
    work = Path(tmp.name)
    policy = ImagePolicy(size=(args.image_size, args.image_size))
    try:
        t0 = time.perf_counter()
        paths = write_jpegs(work / "jpg", args.n, args.size)
        avg_bytes = sum(p.stat().st_size for p in paths) / len(paths)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(os.sched_getaffinity(0))} cores; "
              f"{args.n} JPEGs {args.size} px (avg {avg_bytes / 1024:.1f} KiB, written in {time.perf_counter() - t0:.0f} s) "
              f"-> {args.image_size} px, batch {args.batch}")
        args.quiet = Quiet(args.max_other, args.tries)
        images, decode_s = args.quiet(lambda: decode_seconds(paths, policy))
        print(f"sha1 + decode + resize alone: {1 / decode_s:.0f} img/s in one process ({decode_s * 1e3:.2f} ms/img)")
        results = [run_model(name, args, images, work / "jpg", work, decode_s) for name in args.models]
    finally:
        tmp.cleanup()
    print(args.quiet)
    print(f"\n{'model':>9} {'setting':>9} {'workers/threads':>15} {'model-only img/s':>17} {'full img/s':>11} "
          f"{'full/model':>11} {'range':>13} {'cpu bound':>10} {'target':>7}")
    for res in results:
        for row in res["rows"]:
            met = "met" if row["ratio"] >= args.target else "NOT met"
            print(f"{res['model']:>9} {row['workers']:>9} {row['workers_threads']:>15} "
                  f"{res['model_images_per_s']:>17.0f} {row['images_per_s']:>11.0f} {row['ratio']:>11.1%} {row['ratio_min']:>6.1%}-{row['ratio_max']:<6.1%} {res['cpu_bound']:>10.1%} {met:>7}")
    if args.json:
        args.json.write_text(json.dumps({
            "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": args.quiet.to_json(),
            "decode_s_per_image": decode_s,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "quiet"},
            "results": results}, indent=2))
    first = results[0]["rows"][0]
    print(f"ratio {first['ratio']:.2f}")


if __name__ == "__main__":
    main()
