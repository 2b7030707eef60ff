"""Measure an embedding model on a labelled query/catalog split: Recall@K, mAP@R, a map of the embeddings."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modiste.retrieval.embed.data import STREET, EmbedData, query_reference, read_embed_data
from modiste.retrieval.embed.model import Embedder
from modiste.io import atomic_write_json
from modiste.metrics.retrieval import DEFAULT_KS, retrieval_report
from modiste.results import ranked_grid, save_png


@dataclass
class EmbedEval:
    metrics: dict[str, float | int]
    setup: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": "modiste-embed-eval", "version": 1, "metrics": self.metrics, **self.setup,
                "files": {k: str(v) for k, v in self.files.items()}}

    def save(self, out: str | os.PathLike) -> Path:
        """``out/eval.json``."""
        self.files["report"] = atomic_write_json(Path(out) / "eval.json", self.to_json())
        return self.files["report"]

    def __str__(self) -> str:
        keys = [k for k in self.metrics if k.startswith("recall@")] + ["map@r"]
        head = "  ".join(f"{k:>9}" for k in keys)
        vals = "  ".join(f"{float(self.metrics[k]):>9.4f}" for k in keys)
        return (f"{self.setup['queries']} queries against {self.setup['references']} references "
                f"({self.setup['protocol']})\n{head}\n{vals}")


def evaluate_embedding(
    model: Embedder | str | os.PathLike,
    data: str | os.PathLike | EmbedData,
    *,
    catalog: str | os.PathLike | EmbedData | None = None,
    out: str | os.PathLike | None = None,
    ks: tuple[int, ...] = DEFAULT_KS,
    map_method: str | None = "tsne",
    workers: int | None = None,
    progress: bool = True,
) -> EmbedEval:
    """Search each query among the references and score the ranking by label.

    * ``data`` alone, class folders: every image queries all the others (leave one out).
    * ``data`` alone, a pairs CSV: street photos query the shop photos.
    * ``data`` and ``catalog``: ``data``'s images query ``catalog``'s; labels match by class name.

    With ``out``: ``eval.json``, ``embeddings.npz`` (the vectors with label and role columns, for
    the latent tools), ``results.png`` (queries and their top results) and, unless ``map_method``
    is None, a map of the embeddings in ``out/map/`` coloured by label.
    """
    if not isinstance(model, Embedder):
        model = Embedder.load(model)
    read = dict(size=model.image_size, resize=model.resize, workers=workers, progress=progress)
    queries = data if isinstance(data, EmbedData) else read_embed_data(data, query_box=model.query_box, **read)
    q_emb = model(queries.images)
    q_names = [queries.classes[i] for i in queries.labels.tolist()]
    if catalog is not None:
        refs = catalog if isinstance(catalog, EmbedData) else read_embed_data(catalog, **read)
        r_emb = model(refs.images)
        r_names = [refs.classes[i] for i in refs.labels.tolist()]
        metrics = retrieval_report(q_emb, q_names, r_emb, r_names, ks=ks)
        protocol = "queries against a separate catalog"
        q_idx, r_idx = torch.arange(len(queries)), torch.arange(len(refs))
    else:
        refs, r_emb, r_names = queries, q_emb, q_names
        q_idx, r_ix = query_reference(queries)
        if r_ix is None:
            metrics = retrieval_report(q_emb, q_names, ks=ks, same_set=True)
            protocol = "leave one out within one set"
            r_idx = q_idx
        else:
            metrics = retrieval_report(q_emb[q_idx], [q_names[i] for i in q_idx.tolist()],
                                       q_emb[r_ix], [q_names[i] for i in r_ix.tolist()], ks=ks)
            protocol = "street photos against shop photos"
            r_idx = r_ix
    setup = {"model": str(model.path), "queries": len(q_idx), "references": len(r_idx), "protocol": protocol,
             "skipped_files": queries.skips.count + (refs.skips.count if refs is not queries else 0)}
    result = EmbedEval(metrics, setup)
    if out is None:
        return result

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.files["results"] = results_sheet(queries, q_emb, q_idx, refs, r_emb, r_idx, same=refs is queries,
                                            path=out / "results.png")
    vectors, images = _vectors(queries, q_emb, refs, r_emb, model)
    result.files["embeddings"] = vectors.save(out / "embeddings.npz")
    if map_method is not None and len(vectors) >= 5:
        from modiste.latent import catalog_map

        m = catalog_map(vectors, out / "map", color_by="label", method=map_method, images=images, thumb=40,
                        perplexity=min(30.0, (len(vectors) - 1) / 3), progress=progress)
        result.files["map"], result.files["map_html"] = m.files["png"], m.files["html"]
    result.save(out)
    return result


def results_sheet(queries: EmbedData, q_emb: torch.Tensor, q_idx: torch.Tensor, refs: EmbedData,
                  r_emb: torch.Tensor, r_idx: torch.Tensor, *, same: bool, path: Path, n: int = 10, k: int = 8) -> Path:
    """``n`` queries spread over ``q_idx`` (first column) and their ``k`` nearest references, best
    first; with ``same`` (one set searched against itself) a query is never its own result."""
    pick = q_idx[torch.linspace(0, len(q_idx) - 1, min(n, len(q_idx))).round().long()]
    sims = q_emb[pick] @ r_emb[r_idx].T
    if same:
        sims[(pick[:, None] == r_idx[None, :])] = -float("inf")
    top = sims.topk(min(k, sims.shape[1]), dim=1).indices
    return save_png(ranked_grid([queries.images[int(i)] for i in pick],
                                [[refs.paths[int(r_idx[j])] for j in row] for row in top], 64, k), path)


def _vectors(queries: EmbedData, q_emb: torch.Tensor, refs: EmbedData, r_emb: torch.Tensor, model: Embedder):
    from modiste.data.vectors import Vectors

    if refs is queries:
        parts = [(queries, q_emb)]
        roles = ["street" if d == STREET else "shop" for d in queries.domain.tolist()]
    else:
        parts = [(queries, q_emb), (refs, r_emb)]
        roles = ["query"] * len(queries) + ["catalog"] * len(refs)
    labels = [part.classes[i] for part, _ in parts for i in part.labels.tolist()]
    paths = [p for part, _ in parts for p in part.paths]
    vectors = Vectors(np.concatenate([e.numpy() for _, e in parts]), paths, {"label": labels, "role": roles},
                      {"kind": "embedding", "checkpoint": str(model.path)})
    images = torch.cat([p.images for p, _ in parts])
    return vectors, images
