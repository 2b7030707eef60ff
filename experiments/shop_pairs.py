"""Shop the look, end to end, on person photos whose article is known.

Each person photo goes through ``shop_the_look`` as a street snap: the detector finds the upper
garment (the most confident top, outer or dress box), the crop is embedded with the index's
model and every article of the index is ranked. The rank of the article the person really wears
gives recall@k. Beside it, the same embedding on the fixed query box of the whole photo (the
embedding's own query path), and the share of photos where no upper garment was detected (those
fall back to the whole photo).

    python experiments/shop_pairs.py PAIRS.csv --detector runs/detect/ccp --embed runs/embed/viton \
        --rows 2000: --out runs/shop-viton

PAIRS is a CSV with person, article and item columns (paths relative to the CSV), e.g. viton-dev's
pairs.csv; ``--rows 2000:`` keeps its test items.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from modiste.data.images import load_image
from modiste.detect.model import Detector
from modiste.retrieval.shop import shop_the_look
from modiste.retrieval.embed.model import Embedder
from modiste.retrieval.index import build_index
from modiste.io import atomic_write_json

UPPER = ("top", "outer", "dress")


def read_pairs(path: Path, rows: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        pairs = list(csv.DictReader(f))
    start, _, stop = rows.partition(":")
    pairs = pairs[int(start or 0): int(stop) if stop else None]
    for p in pairs:
        p["person"], p["article"] = str(path.parent / p["person"]), str(path.parent / p["article"])
    return pairs


def recall(ranks: list[int], ks=(1, 5, 10)) -> dict[str, float]:
    r = torch.tensor(ranks)
    return {f"recall@{k}": round(float((r < k).float().mean()), 4) for k in ks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--detector", required=True)
    ap.add_argument("--embed", required=True)
    ap.add_argument("--rows", default="2000:", help="START:STOP rows of the CSV [2000:]")
    ap.add_argument("--out", type=Path, default=Path("runs/shop-pairs"))
    ap.add_argument("--margin", type=float, default=0.1)
    args = ap.parse_args()

    pairs = read_pairs(args.pairs, args.rows)
    articles = [p["article"] for p in pairs]
    model = Embedder.load(args.embed)
    t0 = time.perf_counter()
    index, _ = build_index(articles, model, args.out / "index")
    t_index = time.perf_counter() - t0

    t0 = time.perf_counter()
    detector = Detector.load(args.detector, score_threshold=0.05)
    shop = shop_the_look([p["person"] for p in pairs], detector, index, k=len(articles), margin=args.margin, model=model)
    t_shop = time.perf_counter() - t0

    article_of = {Path(p["person"]).resolve(): Path(p["article"]).resolve() for p in pairs}
    ranks, missed = [], 0
    for look in shop.looks:
        upper = [it for it in look.items if it.category in UPPER]
        if not upper:
            missed += 1
            ranks.append(len(articles))
            continue
        best = max(upper, key=lambda it: it.score)
        truth = article_of[Path(look.snap).resolve()]
        found = [m["rank"] - 1 for m in best.matches if Path(m["path"]).resolve() == truth]
        ranks.append(found[0] if found else len(articles))

    # a page for the first photos, with each item's five best matches
    for look in shop.looks:
        for item in look.items:
            item.matches = item.matches[:5]
    shop.looks, shop.k = shop.looks[:24], 5
    shop.save(args.out / "shop")

    # the embedding's own query path: the fixed query box of the whole person photo
    gallery = model(torch.stack([load_image(a, model.policy) for a in articles]))
    queries = model(torch.stack([load_image(p["person"], model.query_policy) for p in pairs]))
    sims = queries @ gallery.T
    box_ranks = (sims > sims.diagonal()[:, None]).sum(1).tolist()

    report = {"pairs": len(pairs), "rows": args.rows, "detector": args.detector, "embed": args.embed,
              "shop_the_look": {**recall(ranks), "no_upper_garment_detected": round(missed / len(pairs), 4)},
              "query_box": recall(box_ranks), "seconds": {"index": round(t_index, 1), "shop": round(t_shop, 1)},
              "threads": torch.get_num_threads()}
    atomic_write_json(args.out / "report.json", report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
