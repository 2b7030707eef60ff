"""The index with a trained embedding model: build from image files, search with query photos."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch

from modiste.data.datasets import image_paths
from modiste.data.images import load_readable
from modiste.retrieval.embed.model import Embedder
from modiste.retrieval.index.config import IndexConfig
from modiste.retrieval.index.results import AddReport, SearchResults
from modiste.retrieval.index.store import Index
from modiste.io import file_sha1

PathLike = str | os.PathLike


def build_index(
    images: PathLike | Sequence[PathLike],
    model: Embedder | PathLike,
    out: PathLike,
    *,
    kind: str | None = None,
    config: IndexConfig | None = None,
    batch: int = 64,
    columns: Sequence[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> tuple[Index, AddReport]:
    """Embed ``images`` (a folder, a CSV manifest or paths) into a new index at ``out``.

    Running it again on the same folder with the same model continues an interrupted build:
    what was committed is kept and only the rest is embedded.
    """
    model = model if isinstance(model, Embedder) else Embedder.load(model)
    index = Index.create(out, model.dim, model_info=model.model_info(), kind=kind, config=config, exist_ok=True)
    report = index.add(images, model, batch=batch, columns=columns, policy=model.policy, num_workers=workers,
                       progress=progress)
    return index, report


def index_model(index: Index, model: Embedder | PathLike | None = None) -> Embedder:
    """The model that filled ``index``: the one given (checked to be that model) or the file it names."""
    info = index.model_info
    if model is None:
        path = info.get("checkpoint")
        if not path:
            raise ValueError(f"{index.root}: the index does not name its model; pass one (--model)")
        if not Path(path).exists():
            raise FileNotFoundError(f"{index.root}: its model {path} is gone; pass the model file (--model)")
        model = Embedder.load(path)
    elif not isinstance(model, Embedder):
        model = Embedder.load(model)
    if info.get("sha1") and model.path is not None and (now := file_sha1(model.path)) != info["sha1"]:
        if str(model.path) == str(info.get("checkpoint")):  # the same file, trained again since
            raise ValueError(f"{index.root}: built with {model.path} when its sha1 was {info['sha1'][:12]}; the file "
                             f"is now {now[:12]} (trained again?), so its vectors would not match the index's. "
                             f"Rebuild: modiste index build IMAGES --model {model.path} --out NEW_INDEX")
        raise ValueError(f"{index.root}: built with model {info.get('checkpoint')} (sha1 {info['sha1'][:12]}); "
                         f"{model.path} (sha1 {now[:12]}) is a different model, and its vectors would not be comparable")
    if model.dim != index.dim:
        raise ValueError(f"{index.root}: holds {index.dim}-d vectors; {model.path} makes {model.dim}-d ones")
    return model


def add_images(index: Index, images: PathLike | Sequence[PathLike], *, model: Embedder | PathLike | None = None,
               batch: int = 64, columns: Sequence[str] | None = None, workers: int | None = None,
               progress: bool = True) -> AddReport:
    model = index_model(index, model)
    return index.add(images, model, batch=batch, columns=columns, policy=model.policy, num_workers=workers,
                     progress=progress)


def search(index: Index | PathLike, queries: Sequence[PathLike] | PathLike, *, k: int = 10,
           model: Embedder | PathLike | None = None, **settings: Any) -> SearchResults:
    """The ``k`` catalog items nearest to each query photo (paths, a folder or a CSV manifest).

    A query file that cannot be read is skipped with a warning naming it; none readable is an error."""
    index = index if isinstance(index, Index) else Index.open(index)
    model = index_model(index, model)
    queries = image_paths(queries)
    images, names = load_readable(queries, model.query_policy)
    if not images:
        raise ValueError("no readable query image among: " + ", ".join(str(p) for p in list(queries)[:5]))
    batch = torch.stack(images)
    results = index.search(model(batch), k, query_images=batch, query_names=names, **settings)
    read = set(names)
    results.info["skipped_queries"] = [str(p) for p in queries if str(p) not in read]  # warned about when read
    return results
