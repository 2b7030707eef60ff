"""The demo's gallery-ordering section: shot-type photos, a classifier, galleries sorted under two regulations."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from modiste.report import Report

# 60 products (~900 photos) at 64 px and 8 epochs of the smallest ConvNeXt: ~30 s on 2 cores.
DEMO_SHOTS = dict(n_products=60, size=64, epochs=8, test_products=6, backbone="micro", weights="none")

REGULATIONS = {
    "shop A (model first)": """\
name: shop-a
order:
  - near_front
  - far_front
  - [far_back, far_side]
  - [near_back, near_side]
  - near_zoom
  - other
  - brand_tag
  - wash_tag
tie_break: confidence
""",
    "shop B (product first)": """\
name: shop-b
order:
  - back
  - print
  - [collar, feature]
  - [sleeve, sleeve_hem, hem]
  - material
  - brand_tag
  - wash_tag
  - other
limits: {near_zoom: 1}
""",
}


def shots_section(report: Report, out: Path, settings: dict, progress: bool) -> dict:
    from modiste.shots.model import ShotClassifier
    from modiste.shots.train import ClassifyConfig, train_classifier
    from modiste.data.synth.shots import galleries, shots
    from modiste.results import file_tile, make_grid, save_png
    from modiste.shots.api import evaluate_sorting, sort
    from modiste.shots.sort import read_galleries

    cfg = {**DEMO_SHOTS, **settings}
    root = out / "shots"
    root.mkdir(parents=True, exist_ok=True)
    t: dict[str, float] = {}

    t0 = time.perf_counter()
    train = shots(out / "data" / "shots", n_products=cfg["n_products"], size=cfg["size"], progress=progress)
    test = shots(out / "data" / "shots-new", n_products=cfg["test_products"], size=cfg["size"], seed=1,
                 progress=progress)
    gal = galleries(out / "data" / "shots-new", test)
    t["drawing shot photos"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run = root / "classifier"
    if not (run / "summary.json").exists():
        resume = (run / "checkpoints" / "latest.safetensors").exists()
        train_classifier(ClassifyConfig(data=str(train.root / "images"), out=str(run), backbone=cfg["backbone"], weights=cfg["weights"],
                                        size=cfg["size"], epochs=cfg["epochs"], workers=0),
                         resume=resume, progress=progress)
    clf = ShotClassifier.load(run)
    t["training the shot classifier"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = clf.evaluate(test.root / "images", root / "eval", workers=0, progress=False)
    rows, strips = [], []
    product = sorted(read_galleries(gal))[0]
    shuffled = read_galleries(gal)[product]
    strips.append(torch.stack([file_tile(p, 64) for p in shuffled]))
    for name, text in REGULATIONS.items():
        reg = root / f"{name.split(' (')[0].replace(' ', '_')}.yaml"
        reg.write_text(text)
        sorted_ = sort(gal, clf, reg, root / "sorted" / reg.stem, copy=True, progress=False)
        r = evaluate_sorting(gal, gal / "truth.csv", clf, reg, progress=False)
        rows.append((name, r["galleries"], r["exact_order"], r["kendall_tau"], r["position_accuracy"]))
        g = next(x for x in sorted_ if x.product == product)
        strips.append(torch.stack([file_tile(p.path, 64) for p in g.published]))
    width = max(len(s) for s in strips)
    padded = [torch.cat([s, torch.full((width - len(s), 3, 64, 64), 255, dtype=torch.uint8)]) for s in strips]
    sheet = save_png(make_grid(torch.cat(padded), nrow=width), root / "gallery.png", scale=2)
    t["sorting galleries"] = time.perf_counter() - t0

    s = report.section(
        "Gallery ordering by regulation",
        f"Synthetic product photos of the 17 shot types (<code>modiste synth</code> shots: tags, details, flat and "
        f"worn views, models and mannequins), {len(train.records)} photos of {cfg['n_products']} products. A ConvNeXt "
        f"classifier trained from scratch for {cfg['epochs']} epochs (<code>modiste shots train</code>) labels every "
        f"photo of {cfg['test_products']} new products' shuffled galleries; <code>modiste sort</code> puts each gallery "
        "in a shop's order. One model serves both regulations; the second needs no retraining.")
    report.image(s, sheet, f"gallery {product}: as shot (shuffled), then sorted for shop A and for shop B", 900)
    report.image(s, root / "eval" / "confusion.png", "shot types of the new products: confusion matrix", 520)
    s.tables.append(("orders against the true order (from the true shot types)",
                     ["regulation", "galleries", "exact order", "Kendall's tau", "position accuracy"], rows))
    s.tables.append(("shot classifier on the new products", ["accuracy", "macro-F1", "photos"],
                     [(scores["accuracy"], scores["macro_f1"], scores["images"])]))
    s.tables.append(("time (s)", ["step", "seconds"], [(k, round(v, 1)) for k, v in t.items()]))
    return {"accuracy": scores["accuracy"]}
