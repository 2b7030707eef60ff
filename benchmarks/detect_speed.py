"""Detector inference images/s at 320 px on this CPU: eager torch against ONNX Runtime.

The detector is the default SSDLite on EfficientNet-Lite0 (`--backbone efficientnet_lite0`, 9 classes,
320 px; `--backbone micro` for the from-scratch `ssd_convnext`), untrained: speed
does not depend on the weights, except postprocessing, which is timed apart on both an untrained
output (no candidates) and a worst case (random logits: 400 candidates per class go through NMS).

end to end:  `Detector.detect` (torch, as shipped: no_grad, NCHW) and `OnnxDetector.detect` (the
             same network exported by `modiste.export.export_onnx`; graph optimisation "all", no
             thread spinning):
             resize + normalise, network, postprocess (decode + NMS in Python), per image.
             "tensors": images decoded beforehand; "jpeg": every image read from disk each time
             (`load_image`, as `Detector.predict` does). 64 synthetic street scenes, 240x320 JPEG.
stages:      ms per image of each step alone, batch 16.
variants:    the network alone, images/s: inference_mode, channels_last, a LayerNorm2d without
             permutes, ORT thread spinning on and graph optimisation "basic"; and eager torch in a
             child process with OMP_WAIT_POLICY=PASSIVE (it must be set before torch starts).

Each setting runs until `--min-time` seconds have passed; every round times every setting once,
in rotating order, and the tables give medians over `--rounds`. The machine is shared: the load
average is printed, and the numbers move with it. The goal is >= 20 images/s at 320 px on 2 cores.

    python benchmarks/detect_speed.py [--threads 1 2 --rounds 3 --min-time 1.5 --profile --json out.json]

The last line is `ratio X.XX`: ORT / eager images/s, end to end from JPEG, batch 16, at the most threads.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

from modiste.data.images import ImagePolicy, load_image
from modiste.data.synth import scenes
from modiste.detect.boxes import postprocess
from modiste.detect.model import Detector
from modiste.export import OnnxDetector, export_onnx, read_sidecar
from modiste.nn import checkpoint
from modiste.nn.convnext import LayerNorm2d
from modiste.nn.registry import create_model

GOAL = 20.0  # images/s at 320 px on 2 cores


def rate(step: Callable[[], int], min_time: float) -> float:
    """Images/s of ``step`` (returns how many images it did), repeated for at least ``min_time`` seconds."""
    n, t0 = 0, time.perf_counter()
    while True:
        n += step()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return n / dt


def batches(items: list, batch: int):
    """Endless batches cycling over ``items``."""
    i = 0
    while True:
        yield [items[(i + k) % len(items)] for k in range(batch)]
        i += batch


def session(path: Path, threads: int, *, spinning: bool = True, level: str = "all"):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                     "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def layer_norm_2d_no_permute(self, x: torch.Tensor) -> torch.Tensor:
    """The same LayerNorm over channels as statistics along dim 1, with no permute (NCHW stays NCHW)."""
    mean = x.mean(1, keepdim=True)
    var = (x - mean).square().mean(1, keepdim=True)
    return (x - mean) * torch.rsqrt(var + self.eps) * self.weight[:, None, None] + self.bias[:, None, None]


@contextlib.contextmanager
def patched(cls, name: str, fn):
    old = getattr(cls, name)
    setattr(cls, name, fn)
    try:
        yield
    finally:
        setattr(cls, name, old)


def make_detector(backbone: str, classes: int, size: int) -> torch.nn.Module:
    if backbone.startswith("efficientnet_"):
        return create_model("ssd_efficientnet", num_classes=classes, image_size=size, variant=backbone.split("_")[1])
    return create_model("ssd_convnext", num_classes=classes, image_size=size, size=backbone.removeprefix("convnext_"))


def child_eager_rate(threads: int, batch: int, min_time: float, env: dict[str, str], backbone: str) -> float:
    """Network-only images/s of eager torch in a fresh process with ``env`` (OMP settings are read at start)."""
    code = ("import sys, time, torch\n"
            "sys.path.insert(0, 'benchmarks')\n"
            "from detect_speed import make_detector\n"
            f"torch.set_num_threads({threads})\n"
            f"net = make_detector({backbone!r}, 9, 320).eval()\n"
            f"x = torch.rand({batch}, 3, 320, 320) * 2 - 1\n"
            "with torch.inference_mode():\n"
            "    net(x); net(x)\n"
            "    n, t0 = 0, time.perf_counter()\n"
            f"    while time.perf_counter() - t0 < {min_time}:\n"
            f"        net(x); n += {batch}\n"
            "print(n / (time.perf_counter() - t0))\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--classes", type=int, default=9)
    ap.add_argument("--backbone", default="efficientnet_lite0", help="efficientnet_lite0|1|2 or a ConvNeXt size (micro, ...)")
    ap.add_argument("--images", type=int, default=64, help="JPEG files (240x320 street scenes)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads = ORT intra-op threads")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=1.5, help="seconds per measurement")
    ap.add_argument("--no-variants", action="store_true", help="only the end-to-end and stage tables")
    ap.add_argument("--profile", action="store_true", help="torch.profiler top ops of the eager network")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", category=UserWarning)
    tmp = Path(tempfile.mkdtemp(prefix="detect_speed_"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    # the detector as users get it: a checkpoint, its ONNX export, both loaded through the public API
    net = make_detector(args.backbone, args.classes, args.size)
    classes = [f"c{i}" for i in range(args.classes)]
    ckpt = checkpoint.save_models(tmp / "det.safetensors", {"model": net},
                                  {"kind": "detector", "classes": classes, "image_size": args.size})
    t0 = time.perf_counter()
    onnx_path = export_onnx(ckpt, tmp / "det.onnx")
    export_s = time.perf_counter() - t0
    side = read_sidecar(onnx_path)
    det = Detector.load(ckpt, device="cpu")
    drawn = scenes(tmp / "scenes", n=args.images, size=(240, 320), workers=1, progress=False)
    paths = sorted((Path(drawn.root) / "images").glob("*.jpg"))
    images = [load_image(p, ImagePolicy()) for p in paths]
    load = os.getloadavg()

    def eager_e2e(threads, batch, jpeg):
        feed = batches(paths if jpeg else images, batch)

        def step():
            torch.set_num_threads(threads)
            chunk = next(feed)
            det.batch = batch
            det.detect([load_image(p, ImagePolicy()) for p in chunk] if jpeg else chunk)
            return batch
        return step

    ort_dets = {t: OnnxDetector.load(onnx_path, threads=t) for t in args.threads}  # as shipped

    def ort_e2e(threads, batch, jpeg, torch_threads=None):
        feed, od = batches(paths if jpeg else images, batch), ort_dets[threads]

        def step():
            torch.set_num_threads(torch_threads or threads)  # resize and postprocess run in torch
            chunk = next(feed)
            od.batch = batch
            od.detect([load_image(p, ImagePolicy()) for p in chunk] if jpeg else chunk)
            return batch
        return step

    # --- end to end
    # "ort1": the ORT network on `threads`, resize and postprocess in torch on one thread
    engines = {"eager": eager_e2e, "ort": ort_e2e, "ort1": lambda t, b, jpeg: ort_e2e(t, b, jpeg, torch_threads=1)}
    e2e_keys = [(engine, t, b, jpeg) for t in args.threads for b in args.batches for jpeg in (False, True)
                for engine in engines if engine != "ort1" or t > 1]
    e2e = {k: [] for k in e2e_keys}

    # --- stages, ms per image at batch 16
    sb = 16
    x16 = torch.stack([det.transform(images[i % len(images)])[0] for i in range(sb)])
    with torch.no_grad():
        loc16, conf16 = det.net(x16)
    g = torch.Generator().manual_seed(0)
    worst_conf = torch.randn(conf16.shape[1:], generator=g) * 3  # many classes above 0.3 at many priors
    worst_loc = torch.randn(loc16.shape[1:], generator=g) * 0.5
    pp = dict(score_threshold=det.score_threshold, iou_threshold=det.iou_threshold, max_detections=det.max_detections)
    n_worst = len(postprocess(worst_loc, worst_conf, det.net.priors, **pp)[1])
    n_untrained = len(postprocess(loc16[0], conf16[0], det.net.priors, **pp)[1])

    def stage_steps(threads):
        """name -> step doing one stage for some images (returns how many), on ``threads`` threads."""
        ses, priors_t = ort_dets[threads].session, det.net.priors
        feed_p, feed_i = batches(paths, sb), batches(images, sb)

        def decode():
            return len([load_image(p, ImagePolicy()) for p in next(feed_p)])

        def resize():
            return len([det.transform(im) for im in next(feed_i)])

        def net_eager():
            det.raw(x16)
            return sb

        def net_ort():
            ses.run(None, {"images": x16.numpy()})
            return sb

        def post_untrained():
            for i in range(sb):
                postprocess(loc16[i], conf16[i], priors_t, **pp)
            return sb

        def post_worst():
            postprocess(worst_loc, worst_conf, priors_t, **pp)
            return 1

        def softmax_last():  # what postprocess does: (P, C+1), dim -1, a slow kernel for a short last dim
            for i in range(sb):
                torch.softmax(conf16[i], dim=-1)
            return sb

        def softmax_transposed():  # the same probabilities, computed along the long dim
            for i in range(sb):
                torch.softmax(conf16[i].t().contiguous(), dim=0).t()
            return sb

        def on_threads(f):
            def step():
                torch.set_num_threads(threads)
                return f()
            return step

        steps = {"decode JPEG": decode, "resize + normalise": resize, "network, eager": net_eager,
                 "network, ORT": net_ort, f"postprocess, untrained ({n_untrained} kept)": post_untrained,
                 f"postprocess, worst case ({n_worst} kept)": post_worst,
                 "  of which softmax (P, C+1) dim -1": softmax_last,
                 "  softmax over (C+1, P) dim 0 instead": softmax_transposed}
        return {name: on_threads(f) for name, f in steps.items()}

    stage_fns = {t: stage_steps(t) for t in args.threads}
    stages = {(t, name): [] for t in args.threads for name in stage_fns[t]}

    # --- variants, network only
    cl_net = copy.deepcopy(det.net).to(memory_format=torch.channels_last)
    xs = {b: torch.rand(b, 3, args.size, args.size) * 2 - 1 for b in args.batches}
    xs_cl = {b: x.contiguous(memory_format=torch.channels_last) for b, x in xs.items()}

    def eager_net(threads, batch, *, mode="no_grad", cl=False, ln=False):
        def step():
            torch.set_num_threads(threads)
            ctx = torch.inference_mode() if mode == "inference_mode" else torch.no_grad()
            with ctx, (patched(LayerNorm2d, "forward", layer_norm_2d_no_permute) if ln else contextlib.nullcontext()):
                (cl_net if cl else det.net)(xs_cl[batch] if cl else xs[batch])
            return batch
        return step

    ort_variant_sessions = {(t, spin, lvl): session(onnx_path, t, spinning=spin, level=lvl)
                            for t in args.threads for spin, lvl in ((True, "all"), (False, "all"), (False, "basic"))}

    def ort_net(threads, batch, spin=True, level="all"):
        ses, feed = ort_variant_sessions[(threads, spin, level)], xs[batch].numpy()
        return lambda: (ses.run(None, {"images": feed}), batch)[1]

    variant_fns = {}
    if not args.no_variants:
        for t in args.threads:
            for b in args.batches:
                variant_fns.update({
                    (t, b, "eager: no_grad, NCHW (as shipped)"): eager_net(t, b),
                    (t, b, "eager: inference_mode"): eager_net(t, b, mode="inference_mode"),
                    (t, b, "eager: inference_mode + channels_last"): eager_net(t, b, mode="inference_mode", cl=True),
                    (t, b, "eager: inference_mode + LayerNorm2d w/o permute"):
                        eager_net(t, b, mode="inference_mode", ln=True),
                    (t, b, "ORT: opt all, no spinning (as shipped)"): ort_net(t, b, spin=False),
                    (t, b, "ORT: opt all, spinning (ORT's default)"): ort_net(t, b),
                    (t, b, "ORT: opt basic, no spinning"): ort_net(t, b, spin=False, level="basic"),
                })
                if t > 1:
                    variant_fns[(t, b, "eager: inference_mode, OMP_WAIT_POLICY=PASSIVE (child)")] = (
                        lambda t=t, b=b: child_eager_rate(t, b, args.min_time, {"OMP_WAIT_POLICY": "PASSIVE"}, args.backbone))
    variants = {k: [] for k in variant_fns}

    # warm-up: one call of each
    for k in e2e_keys:
        engines[k[0]](*k[1:])()
    runners = ([(e2e, k, engines[k[0]](*k[1:])) for k in e2e_keys]
               + [(stages, (t, name), fn) for t in args.threads for name, fn in stage_fns[t].items()]
               + [(variants, k, fn) for k, fn in variant_fns.items()])
    for r in range(args.rounds):
        shift = r * len(runners) // max(1, args.rounds)  # rotate the order so no setting always runs first
        for table, key, fn in runners[shift:] + runners[:shift]:
            if table is variants and key[2].endswith("(child)"):
                table[key].append(fn())
            else:
                table[key].append(rate(fn, args.min_time))
    torch.set_num_threads(max(args.threads))

    # --- report
    med = statistics.median
    print(f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end; {args.rounds} rounds x "
          f"{args.min_time:g} s (medians)")
    print(f"SSD on {args.backbone}, {args.classes} classes, {args.size} px, {len(det.net.priors)} priors; "
          f"export {export_s:.1f} s, ORT vs torch max abs diff {side['check']['max_abs_diff']:.1e}")
    print(f"\nend to end, images/s (goal >= {GOAL:g} at 320 px on 2 cores); "
          "ORT*: ORT network, resize and postprocess on 1 torch thread")
    print(f"{'threads':>7} {'batch':>5} {'input':<8} {'eager':>8} {'ORT':>8} {'ORT*':>8} {'ORT/eager':>9}")
    rows = []
    for t in args.threads:
        for b in args.batches:
            for jpeg in (False, True):
                e, o = med(e2e[("eager", t, b, jpeg)]), med(e2e[("ort", t, b, jpeg)])
                o1 = med(e2e[("ort1", t, b, jpeg)]) if t > 1 else o
                rows.append({"threads": t, "batch": b, "input": "jpeg" if jpeg else "tensors", "eager": e, "ort": o,
                             "ort_torch1": o1, "ratio": o / e})
                print(f"{t:>7} {b:>5} {'jpeg' if jpeg else 'tensors':<8} {e:>8.1f} {o:>8.1f} "
                      f"{(f'{o1:.1f}' if t > 1 else '-'):>8} {o / e:>9.2f}")
    print(f"\nstages, ms per image (batch {sb})")
    names = list(stage_fns[args.threads[0]])
    print(f"{'':<40}" + "".join(f"{f'{t} thr':>10}" for t in args.threads))
    stage_ms = {}
    for name in names:
        vals = [1000 / med(stages[(t, name)]) for t in args.threads]
        stage_ms[name] = dict(zip(args.threads, vals))
        print(f"{name:<40}" + "".join(f"{v:>10.2f}" for v in vals))
    if variants:
        print("\nnetwork only, images/s")
        labels = list(dict.fromkeys(k[2] for k in variants))
        cols = [(t, b) for t in args.threads for b in args.batches]
        print(f"{'':<58}" + "".join(f"{f'{t}thr b{b}':>10}" for t, b in cols))
        for label in labels:
            cells = [f"{med(variants[(t, b, label)]):>10.1f}" if (t, b, label) in variants else f"{'-':>10}"
                     for t, b in cols]
            print(f"{label:<58}" + "".join(cells))
    jpeg_rows = [(r[e], e, r) for r in rows if r["input"] == "jpeg" for e in ("eager", "ort", "ort_torch1")]
    best, engine, row = max(jpeg_rows, key=lambda v: v[0])
    at2 = [v for v in jpeg_rows if v[2]["threads"] == 2]
    print(f"\nbest from JPEG: {best:.1f} images/s ({engine}, {row['threads']} threads, batch {row['batch']})"
          + (f"; eager as shipped at 2 threads: {min(v[0] for v in at2 if v[1] == 'eager'):.1f}-"
             f"{max(v[0] for v in at2 if v[1] == 'eager'):.1f}" if at2 else "")
          + f"; goal {GOAL:g}: {'met' if best >= GOAL else 'missed'}")

    top = []
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        t = max(args.threads)
        torch.set_num_threads(t)
        x = xs[max(args.batches)]
        with torch.no_grad():
            det.net(x)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(3):
                    det.net(x)
        avgs = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
        total = sum(e.self_cpu_time_total for e in prof.key_averages())
        print(f"\neager network, batch {x.shape[0]}, {t} threads: top ops by self CPU time")
        for e in avgs:
            ms, share = e.self_cpu_time_total / 1000 / 3, e.self_cpu_time_total / total
            top.append({"op": e.key, "self_ms": ms, "share": share, "calls": e.count // 3})
            print(f"  {e.key:<28} {ms:>8.1f} ms/batch {100 * share:>5.1f}%  {e.count // 3:>4} calls")

    headline = next(r for r in rows if r["threads"] == max(args.threads) and r["batch"] == max(args.batches)
                    and r["input"] == "jpeg")
    if args.json:
        args.json.write_text(json.dumps({
            "torch": torch.__version__, "cpus": os.cpu_count(), "load_average_start": load[0],
            "size": args.size, "classes": args.classes, "backbone": args.backbone, "end_to_end": rows,
            "stages_ms": stage_ms,
            "variants": {f"{t}thr b{b} {label}": med(v) for (t, b, label), v in variants.items()},
            "profile": top, "export_s": export_s, "max_abs_diff": side["check"]["max_abs_diff"],
        }, indent=2))
    print(f"ratio {headline['ratio']:.2f}")


if __name__ == "__main__":
    main()
