"""The demo's detection section: street scenes, a briefly trained SSD, and shop the look over the catalog index."""
from __future__ import annotations

import json
import time
from pathlib import Path

from modiste.report import Report

# 300 scenes at 192 px, 10 epochs without the SSD augmentation (it pays off over long schedules,
# not in a minute): ~50 s on 2 cores.
DEMO_DETECT = dict(n=300, size=192, epochs=10, batch=16, shop_snaps=8, k=5, backbone="convnext_micro", weights="none")


def detect_section(report: Report, out: Path, settings: dict, progress: bool) -> dict:
    from modiste.data.synth.scenes import scenes
    from modiste.detect.model import Detector
    from modiste.retrieval.shop import shop_the_look
    from modiste.detect.train import DetectConfig, train_detector

    cfg = {**DEMO_DETECT, **settings}
    root = out / "detect"
    t: dict[str, float] = {}

    t0 = time.perf_counter()
    sc = scenes(out / "data" / "scenes", n=cfg["n"], progress=progress)
    root.mkdir(parents=True, exist_ok=True)
    sc.plot(root / "scenes.png", n=8)
    t["drawing street scenes"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run = root / "run"
    if not (run / "summary.json").exists():
        resume = (run / "checkpoints" / "latest.safetensors").exists()
        train_detector(DetectConfig(data=str(sc.yaml), out=str(run), size=cfg["size"], epochs=cfg["epochs"],
                                    batch=cfg["batch"], backbone=cfg["backbone"], weights=cfg["weights"], augment=False,
                                    workers=0), resume=resume, progress=progress)
    t["training the detector"] = time.perf_counter() - t0
    summary = json.loads((run / "summary.json").read_text())
    val_metrics = json.loads((run / "val_metrics.json").read_text())

    t0 = time.perf_counter()
    det = Detector.load(run, score_threshold=0.3)
    val = [line.strip() for line in (sc.root / "val.txt").read_text().splitlines() if line.strip()]
    snaps = [sc.root / v for v in val[: cfg["shop_snaps"]]]
    shown = det.predict(snaps[:4], root / "predictions")
    look = shop_the_look(snaps, det, out / "search" / "index", k=cfg["k"], same_category=True)
    look.save(root / "shop")
    t["detecting and shopping"] = time.perf_counter() - t0

    s = report.section(
        "Detection and shop the look",
        f"{sc.n} synthetic street scenes (<code>modiste synth scenes</code>: people and mannequins wearing 1-5 items "
        f"on street or indoor backgrounds, boxes for {len(sc.categories)} categories). An SSD-style detector on a "
        f"ConvNeXt backbone trained from scratch for {cfg['epochs']} epochs at {cfg['size']} px "
        f"(<code>modiste detect train</code>): validation mAP@0.5 {summary['best']['map50']:.3f}, "
        f"mAP@0.5:0.95 {summary['best']['map']:.3f}. This is a minute of CPU training; the numbers grow with "
        "longer schedules and the default augmentation. Then <code>modiste shop</code>: each detected item is cropped, "
        "embedded with the search section's model and looked up in its catalog index (same category only).")
    report.image(s, root / "scenes.png", "training scenes with their boxes", 620)
    for i, d in enumerate(shown):
        report.image(s, root / "predictions" / f"{Path(d.path).stem}.jpg", f"held-out scene {i + 1}: detections", 180)
    report.image(s, run / "curves.png", "losses and validation mAP per epoch", 760)
    report.image(s, run / "pr_curve.png", "precision-recall at IoU 0.5, per category", 420)
    with_items = [i for i, lk in enumerate(look.looks) if lk.items][:2]
    for i in with_items:
        report.image(s, root / "shop" / f"snap_{i:03d}.jpg", f"scene {i + 1}", 180)
        report.image(s, root / "shop" / f"matches_{i:03d}.png",
                     f"shop the look, scene {i + 1}: each crop, then its {cfg['k']} nearest catalog items", 560)
    per_class = val_metrics.get("per_class", {})
    s.tables.append(("validation AP per category", ["category", "AP@0.5", "AP@0.5:0.95", "ground truth boxes"],
                     [(name, v.get("ap50"), v.get("ap"), v.get("n_gt")) for name, v in per_class.items()]))
    s.tables.append(("time (s)", ["step", "seconds"], [(k, round(v, 1)) for k, v in t.items()]))
    return summary["best"]
