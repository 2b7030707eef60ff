"""Catalog-index search: `Index.search` against FAISS used directly, exact and approximate.

(a) Exact: latency of one `Index.search` call (kind="flat") per query batch, against
    `faiss.IndexFlatIP` holding the same vectors, and against the FAISS file the index itself
    built (the same structure without modiste's metadata lookup). Target: modiste <= 1.1x FAISS.
(b) Approximate, 1M vectors: recall@10 of the index's HNSW and IVF-PQ against exact search, and
    queries/s against exact queries/s, over a sweep of ef_search, nprobe and IVF-PQ's refine factor; build times.
    Target: recall@10 >= 0.95 at the default settings (ef_search 64, nprobe 16).

The vectors stand in for embeddings: a Gaussian mixture of unit vectors in which each cluster
spreads over its own random low-dimensional subspace (learnt embeddings have a low intrinsic
dimension; isotropic noise in 128-d would be a case no index is built for), plus a little
isotropic noise. Queries are further draws from the same mixture, not indexed vectors. Each item
carries catalog-like metadata (label, tags and five attribute columns, as in modiste's synthetic
catalog CSV), because `Index.search` returns it.

The index is filled with `Index.add_vectors` (precomputed embeddings, committed `--shard-rows`
at a time, as `Index.add` commits its batches). Everything timed goes through `Index.search` as
users call it; the one-time FAISS build (first search) and load (first search after `Index.open`)
are reported separately. Repeated timings rotate the order of the contenders after a warm-up.

    python benchmarks/search_speed.py [--n 100000 --ann-n 1000000 --workdir DIR --json out.json]
    python benchmarks/search_speed.py --quick          # 20k / 100k vectors, a minute or so

The last line is `ratio X.XX` (modiste's exact latency over FAISS's, at the largest batch).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import faiss
import numpy as np

from modiste.retrieval.index import Index
from machine_load import Quiet, add_quiet_args  # benchmarks/ is on sys.path when a script runs

MODEL_INFO = {"kind": "benchmark", "arch": "synthetic", "image_size": [64, 64]}
LABELS = ("dress", "t-shirt", "shirt", "skirt", "trousers", "coat", "jacket", "jumper", "shorts", "top")
COLOURS = ("black", "white", "red", "navy", "beige", "green", "grey", "pink", "blue", "yellow")
PATTERNS = ("plain", "striped", "checked", "floral", "dotted")
FIGURES = ("none", "mannequin", "model")
GROUPS = ("everyday", "formal", "sport", "evening")


def mixture(n: int, dim: int, *, points_per_cluster: int = 1000, intrinsic: int = 16,
            spread: float = 0.6, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """float32 (n, dim) unit vectors: cluster centre + spread in a random `intrinsic`-d subspace + noise."""
    rng = np.random.default_rng(seed)
    clusters = max(10, n // points_per_cluster)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32) / np.sqrt(dim)
    bases = rng.standard_normal((clusters, intrinsic, dim), dtype=np.float32) / np.sqrt(dim)
    label = rng.integers(0, clusters, n)
    x = rng.standard_normal((n, dim), dtype=np.float32) * np.float32(noise / np.sqrt(dim))
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(clusters + 1))
    for j in range(clusters):
        rows = order[bounds[j]:bounds[j + 1]]
        z = rng.standard_normal((len(rows), intrinsic), dtype=np.float32) * np.float32(spread / np.sqrt(intrinsic))
        x[rows] += centres[j] + z @ bases[j]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def catalog_items(start: int, count: int, rng: np.random.Generator) -> list[dict]:
    picks = rng.integers(0, 1 << 30, size=(count, 7))
    items = []
    for i, p in zip(range(start, start + count), picks):
        tags = [COLOURS[p[1] % 10], PATTERNS[p[3] % 5]] + (["new"] if p[6] % 4 == 0 else [])
        items.append({"path": f"/catalog/images/{i:07d}.jpg", "sha1": f"{i:040x}", "label": LABELS[p[0] % 10],
                      "tags": tags, "colour": COLOURS[p[1] % 10], "colour2": COLOURS[p[2] % 10],
                      "pattern": PATTERNS[p[3] % 5], "figure": FIGURES[p[4] % 3], "group": GROUPS[p[5] % 4]})
    return items


def fill_index(root: Path, vectors: np.ndarray, kind: str, shard_rows: int = 64) -> Index:
    """An index at ``root`` holding ``vectors`` (row i gets the i-th id), one transaction and one
    shard file per ``shard_rows`` (add()'s batch) vectors."""
    index = Index.create(root, vectors.shape[1], model_info=MODEL_INFO, kind=kind)
    items = catalog_items(0, len(vectors), np.random.default_rng(1))
    report = index.add_vectors(vectors, items, batch=shard_rows)
    if report.duplicates or len(report.added) != len(vectors):
        raise RuntimeError(f"expected every vector added: {report}")
    return index


def seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth)]))


def read_sidecar(index: Index) -> dict:
    # faiss.index.json: the fingerprint and the parameters the file was built with (nlist, pq_m).
    return json.loads(index.faiss_path.with_name(index.faiss_path.name + ".json").read_text())


# -- (a) exact --

def exact_part(args, work: Path) -> dict:
    print(f"\n(a) exact search: {args.n} x {args.dim} vectors, k={args.k}, {args.rounds} rounds (medians)")
    x = mixture(args.n + max(args.batches), args.dim, seed=0)
    base, pool = x[:args.n], x[args.n:]
    t = time.perf_counter()
    index = fill_index(work / "exact", base, "flat", args.shard_rows)
    fill_s = time.perf_counter() - t
    build_s = seconds(lambda: index.search(pool[:1], args.k))  # gathers shards, builds, saves the file
    reopened = Index.open(work / "exact")
    load_s = seconds(lambda: reopened.search(pool[:1], args.k))  # reads the cached file
    reopened.close()
    flat = faiss.IndexFlatIP(args.dim)
    faiss_build_s = seconds(lambda: flat.add(base))
    own = faiss.read_index(str(index.faiss_path))  # what Index.search runs, without the metadata
    ids = index.ids()  # ascending, in row order: row r holds id ids[r]
    print(f"fill {fill_s:.1f} s (test set-up) | one-time: modiste build {build_s:.2f} s, load {load_s:.2f} s; "
          f"faiss IndexFlatIP add {faiss_build_s:.2f} s")

    rows = []
    for b in args.batches:
        q = pool[:b]
        contenders = {
            "modiste": lambda: index.search(q, args.k),
            "faiss": lambda: flat.search(q, args.k),
            "faiss_file": lambda: own.search(q, args.k),
        }
        for fn in contenders.values():
            for _ in range(args.warmup):
                fn()
        times: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)

        def one_round(order: list[str]) -> dict[str, float]:
            return {name: seconds(contenders[name]) for name in order}

        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
            got = args.quiet(lambda: one_round(order if r % 2 == 0 else order[::-1]))
            for name, t in got.items():
                times[name].append(t)
        res, (_, ref_ids) = index.search(q, args.k), flat.search(q, args.k)
        same = float(np.mean(np.searchsorted(ids, res.ids) == ref_ids))
        ratios = [m / f for m, f in zip(times["modiste"], times["faiss"])]
        med = {name: statistics.median(v) for name, v in times.items()}
        rows.append({
            "queries": b, "modiste_ms": med["modiste"] * 1e3, "faiss_ms": med["faiss"] * 1e3,
            "faiss_file_ms": med["faiss_file"] * 1e3, "ratio": statistics.median(ratios),
            "ratio_q1": _quartiles(ratios)[0], "ratio_q3": _quartiles(ratios)[1],
            "metadata_ms": (med["modiste"] - med["faiss_file"]) * 1e3, "same_results": same,
            "unique_hits": int(len(np.unique(res.ids))),
        })
    print(f"{'queries':>7} {'modiste ms':>11} {'faiss ms':>9} {'faiss(file) ms':>15} {'rest ms':>8} "
          f"{'modiste/faiss':>14} {'quartiles':>12} {'same top-k':>10}")
    for r in rows:
        print(f"{r['queries']:>7} {r['modiste_ms']:>11.2f} {r['faiss_ms']:>9.2f} {r['faiss_file_ms']:>15.2f} "
              f"{r['metadata_ms']:>8.2f} {r['ratio']:>14.3f} {r['ratio_q1']:>5.3f}-{r['ratio_q3']:<6.3f} "
              f"{r['same_results']:>10.1%}")
    print("faiss(file): the IDMap+Flat file the index built, searched directly; "
          "rest: modiste - faiss(file) = settings, id mapping, metadata of the hits")
    index.close()
    return {"n": args.n, "fill_s": fill_s, "build_s": build_s, "load_s": load_s,
            "faiss_build_s": faiss_build_s, "rows": rows}


def _quartiles(v: list[float]) -> tuple[float, float]:
    if len(v) < 2:
        return v[0], v[0]
    q = statistics.quantiles(v, n=4)
    return q[0], q[2]


# -- (b) approximate --

def qps(fn: Callable[[], object], nq: int, args) -> float:
    fn()  # warm: page in the structure, settle the thread pool
    return nq / statistics.median(args.quiet(lambda: seconds(fn)) for _ in range(args.repeats))


def ann_part(args, work: Path) -> dict:
    n, nq, k = args.ann_n, args.queries, args.k
    print(f"\n(b) approximate search: {n} x {args.dim} vectors, {nq} queries per call, k={k}, "
          f"median of {args.repeats} calls")
    x = mixture(n + nq, args.dim, seed=1)
    base, q = x[:n], x[n:]
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(base)
    exact_faiss_qps = qps(lambda: flat.search(q, k), nq, args)
    _, truth = flat.search(q, k)

    t = time.perf_counter()
    indexes = {"flat": fill_index(work / "ann-flat", base, "flat", args.shard_rows)}
    fill_s = time.perf_counter() - t
    for kind in args.kinds:  # the same shards and rows, another structure
        shutil.copytree(work / "ann-flat", work / f"ann-{kind}")
        indexes[kind] = Index.open(work / f"ann-{kind}")
        indexes[kind].configure(kind=kind)
    ids = indexes["flat"].ids()
    gather_s = seconds(indexes["flat"].vectors)  # what every build starts with
    print(f"fill {fill_s:.1f} s (test set-up, once; copied for each structure); "
          f"Index.vectors() {gather_s:.1f} s ({len(np.unique(indexes['flat'].meta.locations()[1]))} shards)")

    results = []

    def row(kind: str, setting: str, value: int | None, build_s: float | None, **search_kw) -> dict:
        index = indexes[kind]
        found = index.search(q, k, **search_kw).ids
        rows_found = np.searchsorted(ids, found)  # ids ascend with rows
        own = own_files[kind]
        if kind == "hnsw":
            faiss.downcast_index(own.index).hnsw.efSearch = max(value, k)
        elif kind == "ivfpq":
            faiss.extract_index_ivf(own).nprobe = value
            refine = faiss.downcast_index(own.index)
            if isinstance(refine, faiss.IndexRefine):
                refine.k_factor = float(search_kw.get("refine") or index.config.refine)
        r = {"kind": kind, "setting": setting, "value": value, "build_s": build_s,
             "recall": recall_at(rows_found, truth),
             "modiste_qps": qps(lambda: index.search(q, k, **search_kw), nq, args),
             "faiss_file_qps": qps(lambda: own.search(q, k), nq, args)}
        results.append(r)
        print(f"{kind:>6} {setting:>12} {_fmt(build_s):>8} {r['recall']:>10.4f} {r['modiste_qps']:>12.0f} "
              f"{r['faiss_file_qps']:>13.0f} {r['modiste_qps'] / results[0]['modiste_qps']:>12.2f}x", flush=True)
        return r

    own_files: dict[str, object] = {}
    builds: dict[str, float] = {}
    print(f"{'kind':>6} {'setting':>12} {'build s':>8} {'recall@10':>10} {'modiste q/s':>12} "
          f"{'faiss(file) q/s':>13} {'vs exact':>13}")
    for kind, index in indexes.items():
        builds[kind] = seconds(lambda: index.search(q[:1], k))
        own_files[kind] = faiss.read_index(str(index.faiss_path))
        if kind == "flat":
            row("flat", "exact", None, builds[kind])
        elif kind == "hnsw":
            for i, ef in enumerate(args.ef):
                row("hnsw", f"ef_search={ef}", ef, builds[kind] if i == 0 else None, ef_search=ef)
        elif kind == "ivfpq":
            built = read_sidecar(index)
            for i, probe in enumerate(args.nprobe):
                row("ivfpq", f"nprobe={probe}", probe, builds[kind] if i == 0 else None, nprobe=probe)
            print(f"ivfpq built with nlist={built['nlist_built']}, pq_m={built['pq_m_built']}, nbits={built['nbits']}, "
                  f"exact re-ranking of refine x k candidates (refine {index.config.refine})")
            for factor in args.refine:
                row("ivfpq", f"refine={factor}", index.config.nprobe, None, refine=factor)
    print(f"exact with faiss.IndexFlatIP directly: {exact_faiss_qps:.0f} q/s")
    defaults = indexes["flat"].config
    summary = {}
    for kind, setting in (("hnsw", defaults.ef_search), ("ivfpq", defaults.nprobe)):
        at = [r for r in results if r["kind"] == kind and r["value"] == setting]
        if at:
            summary[kind] = {"default": setting, "recall": at[0]["recall"], "target": args.recall_target,
                             "met": at[0]["recall"] >= args.recall_target}
            print(f"{kind} at the default {('ef_search', 'nprobe')[kind == 'ivfpq']}={setting}: recall@10 "
                  f"{at[0]['recall']:.4f} (target >= {args.recall_target}: {'met' if summary[kind]['met'] else 'NOT met'}), "
                  f"{at[0]['modiste_qps'] / results[0]['modiste_qps']:.1f}x exact q/s")
    for index in indexes.values():
        index.close()
    return {"n": n, "queries": nq, "fill_s": fill_s, "gather_s": gather_s, "exact_faiss_qps": exact_faiss_qps,
            "rows": results, "summary": summary}


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="vectors for the exact part")
    ap.add_argument("--ann-n", type=int, default=1_000_000, help="vectors for the approximate part")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--shard-rows", type=int, default=64, help="vectors per shard file (Index.add: its batch)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 1024], help="query batch sizes (exact part)")
    ap.add_argument("--rounds", type=int, default=15, help="timed calls per contender and batch (exact part)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--queries", type=int, default=1000, help="queries per call (approximate part)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per setting (approximate part)")
    ap.add_argument("--kinds", nargs="*", default=["hnsw", "ivfpq"], choices=["hnsw", "ivfpq"])
    ap.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument("--nprobe", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    ap.add_argument("--refine", type=int, nargs="*", default=[1, 2, 8],
                    help="IVF-PQ re-ranking factors also measured at the default nprobe (1: PQ order only)")
    ap.add_argument("--recall-target", type=float, default=0.95)
    ap.add_argument("--latency-target", type=float, default=1.1)
    ap.add_argument("--part", choices=["exact", "ann", "both"], default="both")
    ap.add_argument("--quick", action="store_true", help="20k / 100k vectors, fewer rounds")
    ap.add_argument("--workdir", type=Path, default=None, help="for the index folders (default: a temp folder)")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here")
    add_quiet_args(ap)
    args = ap.parse_args()
    args.quiet = Quiet(args.max_other, args.tries)
    if args.quick:
        args.n, args.ann_n, args.rounds, args.repeats = 20_000, 100_000, 7, 2
    tmp = tempfile.TemporaryDirectory(prefix="modiste-search-", dir=args.workdir)
    work = Path(tmp.name)
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads; index folders in {work}")
    out: dict = {"faiss": faiss.__version__, "threads": faiss.omp_get_max_threads(), "args": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "quiet"}}
    started = time.perf_counter()
    try:
        if args.part in ("exact", "both"):
            out["exact"] = exact_part(args, work)
        if args.part in ("ann", "both"):
            out["ann"] = ann_part(args, work)
    finally:
        tmp.cleanup()
    out["total_s"], out["machine"] = time.perf_counter() - started, args.quiet.to_json()
    print(f"\ntotal {out['total_s']:.0f} s; {args.quiet}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    if "exact" in out:
        last = out["exact"]["rows"][-1]
        worst = max(r["ratio"] for r in out["exact"]["rows"])
        print(f"exact latency modiste/faiss, worst batch {worst:.2f} (target <= {args.latency_target}: "
              f"{'met' if worst <= args.latency_target else 'NOT met'})")
        print(f"ratio {last['ratio']:.2f}")


if __name__ == "__main__":
    main()
