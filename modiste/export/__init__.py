"""Detector and embedding checkpoints as ONNX files, and a detector that runs them with ONNX Runtime.

Only the network is exported: ``images`` float (B, 3, S, S) in [-1, 1] in; the detector's box
offsets and class logits (``loc``, ``conf``) or the embedding (``embedding``) out. Resizing,
normalisation, box decoding and NMS stay in Python, so the ONNX file holds no data-dependent
control flow and every runtime gives the same numbers. What a runtime needs besides the graph is in
a JSON sidecar ``<out>.json`` (kind, classes, input size, resize, normalisation, box variances,
postprocess defaults) and, for a detector, the default boxes in ``<out>.priors.npy``.

``onnx`` and ``onnxruntime`` are an optional extra (``pip install modiste[onnx]``), imported lazily.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from modiste.detect import VARIANCES, DetectionTransform, Detections, Detector, postprocess, to_pixels
from modiste.io import atomic_path, atomic_write_json, read_format_json
from modiste.nn import checkpoint

FORMAT = "modiste.onnx/1"
NORMALISATION = "x/127.5-1"  # uint8 RGB -> [-1, 1], as DetectionTransform and Embedder do
RTOL, ATOL = 1e-3, 1e-4
KINDS = ("detector", "embedding")
OUTPUTS = {"detector": ["loc", "conf"], "embedding": ["embedding"]}


class ExportCheckError(RuntimeError):
    """ONNX Runtime's outputs differ from torch's on the same batch."""


def sidecar_path(onnx_path: str | os.PathLike) -> Path:
    return Path(f"{onnx_path}.json")


def priors_path(onnx_path: str | os.PathLike) -> Path:
    return Path(f"{onnx_path}.priors.npy")


def _resolve(ckpt: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """The checkpoint file and its description; a run folder means its best checkpoint, as ``load`` does."""
    path = Path(ckpt).expanduser()
    if path.is_dir() and (path / "checkpoints" / "best.safetensors").exists():
        path = path / "checkpoints" / "best.safetensors"
    path = checkpoint.resolve(path)
    try:
        meta = checkpoint.read_meta(path)
    except ValueError as e:
        raise ValueError(f"{path}: cannot export, not a modiste model checkpoint ({e})") from None
    kind = meta.get("kind")
    if kind not in KINDS or "model" not in (meta.get("models") or {}):
        raise ValueError(f"{path}: cannot export a checkpoint of kind {kind!r}; "
                         f"export takes a detector or an embedding checkpoint")
    return path, meta


def _detector_defaults() -> dict[str, Any]:
    """Detector's postprocess settings, read from its signature so the two never drift apart."""
    params = inspect.signature(Detector.__init__).parameters
    return {k: params[k].default for k in ("score_threshold", "iou_threshold", "max_detections")}


def _torch_export(net: torch.nn.Module, x: torch.Tensor, path: Path, outputs: list[str], opset: int,
                  dynamic_batch: bool) -> str:
    """Write the graph; returns which exporter did. The TorchScript exporter needs nothing beyond torch
    and handles everything here; the torch.export-based one (needs ``onnxscript``) is the fallback for a
    torch that has dropped the old one."""
    axes = {name: {0: "batch"} for name in ["images", *outputs]} if dynamic_batch else None
    common = dict(input_names=["images"], output_names=outputs, opset_version=opset)
    try:
        with warnings.catch_warnings():
            # the deprecation notice is about this very call; users cannot act on it
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            torch.onnx.export(net, (x,), str(path), dynamic_axes=axes, dynamo=False, **common)
        return "torchscript"
    except (TypeError, RuntimeError, NotImplementedError) as first:
        if importlib.util.find_spec("onnxscript") is None:
            raise RuntimeError(f"ONNX export failed ({first}); the torch.export-based exporter would need "
                               "onnxscript (pip install onnxscript)") from first
        dims = ({0: torch.export.Dim("batch")},) if dynamic_batch else None  # by position: forward's arg name varies
        torch.onnx.export(net, (x,), str(path), dynamic_shapes=dims, dynamo=True, external_data=False, **common)
        return "dynamo"


def _session(path: str | os.PathLike, threads: int | None = None, spinning: bool = False):
    """A CPU session. Graph optimisation "all" fuses LayerNorm and GELU (1.7-1.9x over "basic" here); with
    spinning off, idle worker threads sleep instead of busy-waiting, which on a small CPU shared with other
    work was up to 2.5x faster at 2 threads and no slower at 1 (benchmarks/detect_speed.py)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _check(net: torch.nn.Module, path: Path, outputs: list[str], size: int, batch: int) -> float:
    """Run torch and ONNX Runtime on one random batch; the largest absolute difference, or raise."""
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        ref = net(x)
    ref = [ref] if isinstance(ref, torch.Tensor) else list(ref)
    got = _session(path).run(outputs, {"images": x.numpy()})
    worst = 0.0
    for name, r, g in zip(outputs, ref, got):
        r = r.numpy()
        if r.shape != g.shape:
            raise ExportCheckError(f"{path}: ONNX output {name!r} has shape {g.shape}, torch gives {r.shape}")
        diff = float(np.abs(r - g).max()) if r.size else 0.0
        worst = max(worst, diff)
        if not np.allclose(g, r, rtol=RTOL, atol=ATOL):
            raise ExportCheckError(f"{path}: ONNX Runtime output {name!r} differs from torch on a batch of {batch}: "
                                   f"max abs diff {diff:.3g} (rtol {RTOL}, atol {ATOL})")
    return worst


def export_onnx(ckpt: str | os.PathLike, out: str | os.PathLike | None = None, *, opset: int = 17,
                dynamic_batch: bool = True, check: bool = True) -> Path:
    """Export a detector or embedding checkpoint (run folder or file) to ONNX; returns the ``.onnx`` path.

    ``out`` defaults to the checkpoint's path with ``.onnx``. Beside it: ``<out>.json`` (what a runtime
    needs, see ``read_sidecar``) and, for a detector, ``<out>.priors.npy`` (P, 4) cxcywh in [0, 1].
    With ``check`` and onnxruntime installed, ONNX Runtime must reproduce torch on a random batch
    (of another size than the traced one, when the batch is dynamic) within rtol 1e-3, atol 1e-4;
    otherwise ``ExportCheckError`` and nothing is written. The sidecar's ``check`` records the result.
    """
    path, meta = _resolve(ckpt)
    kind = meta["kind"]
    out = Path(out) if out is not None else path.with_suffix(".onnx")
    net = checkpoint.load_model(path, "model", device="cpu").eval()
    size = int(meta["image_size"][0] if isinstance(meta["image_size"], (list, tuple)) else meta["image_size"])
    outputs = OUTPUTS[kind]
    spec = meta["models"]["model"]
    side: dict[str, Any] = {
        "format": FORMAT, "kind": kind, "onnx": out.name, "checkpoint": str(path),
        "arch": spec["arch"], "kwargs": spec["kwargs"], "opset": opset, "torch": torch.__version__,
        "input": {"name": "images", "dtype": "float32", "layout": "NCHW",
                  "shape": ["batch" if dynamic_batch else 2, 3, size, size]},
        "outputs": outputs, "image_size": size, "normalisation": NORMALISATION,
    }
    if kind == "detector":
        side.update(classes=list(meta["classes"]),
                    # DetectionTransform: the whole image bilinearly to S x S, aspect not kept, no antialias
                    resize="stretch", priors=priors_path(out).name, priors_format="cxcywh, [0, 1] of the input",
                    variances=list(VARIANCES), background="conf column 0; class i is column i + 1",
                    postprocess=_detector_defaults())
    else:
        side.update(resize=meta.get("resize", "letterbox"), dim=int(meta.get("dim", net.dim)))

    can_check = importlib.util.find_spec("onnxruntime") is not None
    trace_batch, check_batch = 2, (3 if dynamic_batch else 2)
    x = torch.rand(trace_batch, 3, size, size) * 2 - 1
    with atomic_path(out) as tmp:
        with torch.no_grad():
            side["exporter"] = _torch_export(net, x, tmp, outputs, opset, dynamic_batch)
        if check and can_check:
            diff = _check(net, tmp, outputs, size, check_batch)
            side["check"] = {"batch": check_batch, "max_abs_diff": diff, "rtol": RTOL, "atol": ATOL}
        else:
            side["check"] = None
        # sidecar and priors are written before the .onnx is renamed into place, so a new graph never
        # appears without its description
        if kind == "detector":
            with atomic_path(priors_path(out)) as ptmp, open(ptmp, "wb") as f:
                np.save(f, net.priors.cpu().numpy().astype(np.float32))
        atomic_write_json(sidecar_path(out), side)
    return out


def read_sidecar(onnx_path: str | os.PathLike) -> dict[str, Any]:
    """The description ``export_onnx`` wrote beside ``onnx_path``; clear errors naming the file otherwise."""
    p = sidecar_path(onnx_path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no sidecar for {onnx_path} (export it with: modiste export CKPT --format onnx)")
    return read_format_json(p, FORMAT, "ONNX sidecar")


class OnnxDetector:
    """An exported detector run with ONNX Runtime; ``detect`` gives what ``Detector.detect`` gives.

    The same resize (DetectionTransform) and the same postprocess run around the ONNX network, so
    only the network's floating-point rounding can differ from the torch detector.
    """

    def __init__(self, session, side: dict[str, Any], priors: torch.Tensor, *, path: Path | None = None,
                 score_threshold: float | None = None, iou_threshold: float | None = None,
                 max_detections: int | None = None, batch: int = 16):
        self.session, self.meta, self.path = session, side, path
        self.classes = list(side["classes"])
        self.size = int(side["image_size"])
        self.priors = priors
        self.variances = tuple(side.get("variances", VARIANCES))
        self.transform = DetectionTransform(self.size)
        given = {"score_threshold": score_threshold, "iou_threshold": iou_threshold, "max_detections": max_detections}
        settings = {**_detector_defaults(), **side.get("postprocess", {}),
                    **{k: v for k, v in given.items() if v is not None}}
        self.score_threshold, self.iou_threshold = settings["score_threshold"], settings["iou_threshold"]
        self.max_detections = settings["max_detections"]
        # a graph exported with a fixed batch takes only that batch
        fixed = side["input"]["shape"][0]
        self.batch = batch if fixed == "batch" else int(fixed)

    @classmethod
    def load(cls, path: str | os.PathLike, *, threads: int | None = None, spinning: bool = False,
             **settings: Any) -> OnnxDetector:
        """From an ``.onnx`` file written by ``export_onnx`` (its sidecar and priors beside it).

        ``threads``: ONNX Runtime's intra-op threads (default: one per core); on a CPU shared with other
        jobs, 1 was fastest. ``settings``: score_threshold, iou_threshold, max_detections, batch."""
        path = Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        side = read_sidecar(path)
        if side.get("kind") != "detector":
            raise ValueError(f"{path}: an exported {side.get('kind')!r} model, not a detector")
        priors = torch.from_numpy(np.load(path.parent / side["priors"]))
        return cls(_session(path, threads, spinning), side, priors, path=path, **settings)

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Network outputs for a normalised batch (B, 3, S, S), as torch tensors."""
        loc, conf = self.session.run(["loc", "conf"], {"images": x.float().contiguous().numpy()})
        return torch.from_numpy(loc), torch.from_numpy(conf)

    def detect(self, images: Sequence[torch.Tensor], paths: Sequence[str] | None = None) -> list[Detections]:
        """Detections for uint8 images (3, H, W) of any sizes."""
        out: list[Detections] = []
        paths = list(paths) if paths is not None else [""] * len(images)
        for start in range(0, len(images), self.batch):
            chunk = images[start:start + self.batch]
            loc, conf = self.raw(torch.stack([self.transform(im)[0] for im in chunk]))
            for i, im in enumerate(chunk):
                boxes, scores, labels = postprocess(loc[i], conf[i], self.priors, score_threshold=self.score_threshold,
                                                    iou_threshold=self.iou_threshold,
                                                    max_detections=self.max_detections, variances=self.variances)
                h, w = im.shape[1:]
                out.append(Detections(paths[start + i], w, h, to_pixels(boxes, w, h), scores, labels, self.classes))
        return out

    def __call__(self, images: Sequence[torch.Tensor]) -> list[Detections]:
        return self.detect(images)

    def __repr__(self) -> str:
        return f"OnnxDetector({self.path}, classes={len(self.classes)}, size={self.size})"
