"""The demo's similar-item section: street snaps, a triplet-trained embedding, the catalog index, street -> shop."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from modiste.report import Report

# Two snaps per item; 8 epochs of the ConvNeXt-micro embedding at 64 px (~40 s on 2 cores). A fifth
# of the items is held out of training: their snaps are the queries, searched among all items.
DEMO_SEARCH = dict(per_item=2, epochs=8, holdout=0.2, queries_shown=8, k=8, backbone="convnext_micro", weights="none",
                   size=64)


def search_section(report: Report, out: Path, cat, settings: dict, progress: bool) -> dict[str, float]:
    from modiste.data.synth import snaps
    from modiste.retrieval.embed import EmbedConfig, Embedder, train_embedding
    from modiste.retrieval.index import build_index, search

    cfg = {**DEMO_SEARCH, **settings}
    root = out / "search"
    t: dict[str, float] = {}

    t0 = time.perf_counter()
    street = snaps(cat.root, out / "data" / "snaps", per_item=cfg["per_item"], progress=progress)
    t["drawing street snaps"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run = root / "embed"
    if not (run / "summary.json").exists():
        resume = (run / "checkpoints" / "latest.safetensors").exists()
        train_embedding(EmbedConfig(data=str(street.csv), out=str(run), epochs=cfg["epochs"], holdout=cfg["holdout"],
                                    backbone=cfg["backbone"], weights=cfg["weights"], size=cfg["size"], workers=0),
                        resume=resume, progress=progress)
    model = Embedder.load(run)
    t["training the embedding"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    index, added = build_index(cat.csv, model, root / "index", workers=0, progress=progress)
    t["indexing the catalog"] = time.perf_counter() - t0

    # Held-out snaps (items never trained on) against the whole catalog, through the index.
    t0 = time.perf_counter()
    held = set(json.loads((run / "split.json").read_text())["holdout"])
    shop_of = {}
    with open(street.csv, newline="") as f:
        for row in csv.DictReader(f):
            query = str((street.root / row["query"]).resolve())
            if query in held:
                shop_of[query] = str((street.root / row["catalog"]).resolve())
    queries = sorted(shop_of)
    results = search(index, queries, k=20, model=model)
    ranks = [next((r for r, p in enumerate(row) if p == shop_of[q]), None) for q, row in zip(queries, results.paths)]
    recall = {k: float(np.mean([r is not None and r < k for r in ranks])) for k in (1, 5, 10, 20)}
    t["searching"] = time.perf_counter() - t0

    shown = np.linspace(0, len(queries) - 1, cfg["queries_shown"]).round().astype(int)
    subset = search(index, [queries[i] for i in shown], k=cfg["k"], model=model)
    grid = subset.plot(root / "street-to-shop.png", size=64)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    untrained, best = metrics[0], json.loads((run / "summary.json").read_text())["best"]

    s = report.section(
        "Similar items: street to shop",
        f"{len(street)} street snaps of the catalog's items (<code>modiste synth snaps</code>: worn by a figure or "
        "lying in a cluttered scene, scaled, rotated, relit, partly hidden). A ConvNeXt-style embedding "
        f"(128 floats) trained from scratch with a triplet loss, semi-hard mining and m-per-class batches on snap and "
        f"shop photos of {100 - round(100 * cfg['holdout'])}% of the items (<code>modiste embed train</code>), "
        f"then every catalog photo embedded into a persistent index (<code>modiste index build</code>: "
        f"{len(index)} items, exact inner-product FAISS search). The queries are snaps of the held-out items, "
        "which training never saw, searched among the whole catalog (<code>modiste search</code>).")
    report.image(s, grid, "held-out snaps (first column) and their 8 nearest catalog items; "
                          "the right item is somewhere in the row when found", 620)
    report.image(s, run / "curves.png", "training loss and held-out retrieval per epoch", 760)
    rows = [("untrained network, held-out snaps vs held-out items", *(untrained[f"recall@{k}"] for k in (1, 5, 10, 20)))]
    rows.append((f"trained (epoch {best['epoch']:g}), held-out snaps vs held-out items",
                 *(best[f"recall@{k}"] for k in (1, 5, 10, 20))))
    rows.append((f"trained, held-out snaps vs all {len(index)} catalog items (index)",
                 *(recall[k] for k in (1, 5, 10, 20))))
    chance = len(index)
    s.tables.append((f"street-to-shop recall: the share of snaps whose own item is among the first K "
                     f"({len(queries)} queries; chance of Recall@1 against the catalog is 1/{chance})",
                     ["", "Recall@1", "Recall@5", "Recall@10", "Recall@20"], rows))
    s.tables.append(("index", ["added", "already indexed", "skipped"],
                     [(len(added.added), len(added.duplicates), added.skipped.count)]))
    s.tables.append(("time (s)", ["step", "seconds"], [(k, round(v, 1)) for k, v in t.items()]))
    return recall
