"""A persistent catalog index: embeddings as the source of truth, metadata in SQLite, FAISS as a cache."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from modiste.data.datasets import BadSample, ImageDataset, ImageRecord, open_dataset
from modiste.data.images import ImagePolicy, load_image
from modiste.retrieval.index import ann
from modiste.retrieval.index.config import IndexConfig
from modiste.retrieval.index.meta import MetaStore, NewItem
from modiste.retrieval.index.reading import read_batches, resolve
from modiste.retrieval.index.results import AddReport, Duplicate, SearchResults
from modiste.retrieval.index.shards import ShardStore
from modiste.io import atomic_write_json, file_sha1, remove_stale_temp_files
from modiste.progress import progress_bar

FORMAT = "modiste-index"
VERSION = 1
TAG_SEPARATOR = ";"  # as in modiste's synthetic catalog CSVs
_NORM_TOLERANCE = 1e-3

# uint8 (N, 3, H, W) -> (N, dim) L2-normalised float32 (numpy or torch).
EmbedFn = Callable[[torch.Tensor], "np.ndarray | torch.Tensor"]


class Index:
    """A folder holding a catalog's embeddings, their metadata and a FAISS index over them.

    ``meta.sqlite``     items (id, path, sha1, label, tags, extra columns, shard, row) and settings
    ``embeddings/``     append-only float32 .npy shards, one per committed batch
    ``faiss.index``     built from the embeddings; ``faiss.index.json`` holds the fingerprint of
                        what it was built from, and a missing, stale or damaged file is rebuilt
    """

    def __init__(self, root: Path, meta: MetaStore) -> None:
        self.root = root
        self.meta = meta
        self.dim: int = int(meta.get("dim"))
        self.model_info: dict[str, Any] = meta.get("model", {})
        self.shards = ShardStore(root / "embeddings", self.dim)
        self._ann: Any = None
        self._ann_key: tuple | None = None
        self.report: Any = None  # the AddReport of Index.build's first add

    # -- opening --

    @classmethod
    def build(cls, images: str | os.PathLike | Sequence[str | os.PathLike], model: Any, out: str | os.PathLike,
              **options: Any) -> Index:
        """A new index at ``out`` holding every usable image of ``images`` (a folder, a CSV manifest or
        paths), embedded by ``model`` (an ``Embedder`` or its run folder); ``options`` as ``build_index``.
        What the first add did (added, duplicates, skipped files) is ``index.report``."""
        from modiste.retrieval.index.api import build_index

        index, report = build_index(images, model, out, **options)
        index.report = report
        return index

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        dim: int,
        *,
        model_info: dict[str, Any],
        kind: str | None = None,
        config: IndexConfig | None = None,
        exist_ok: bool = False,
    ) -> Index:
        """A new empty index at ``path``. With ``exist_ok``, an existing index made for the same
        dim and model is opened instead (how an interrupted build resumes)."""
        root = Path(path).expanduser()
        given = config is not None or kind is not None
        config = (config or IndexConfig()).with_overrides(kind=kind)
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        if (root / "meta.sqlite").exists() and _is_initialised(root / "meta.sqlite"):
            if not exist_ok:
                raise FileExistsError(f"{root}: an index already exists here")
            index = cls.open(root)
            if index.dim != dim or index.model_info != _jsonable(model_info):
                index.close()
                raise ValueError(
                    f"{root}: the existing index holds {index.dim}-d embeddings of model "
                    f"{index.model_info}; not {dim}-d of {model_info}"
                )
            if given and config != index.config:
                index.configure(**config.to_json())
            return index
        (root / "embeddings").mkdir(parents=True, exist_ok=True)
        meta = MetaStore(root / "meta.sqlite")
        with meta.transaction() as conn:
            for key, value in {
                "format": FORMAT, "version": VERSION, "dim": int(dim), "model": _jsonable(model_info),
                "config": config.to_json(), "next_shard": 1, "generation": 0,
            }.items():
                meta.set(key, value, conn)
        return cls(root, meta)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Index:
        root = Path(path).expanduser()
        db = root / "meta.sqlite"
        if not db.exists():
            raise FileNotFoundError(f"{root}: no index here (no meta.sqlite)")
        try:
            meta = MetaStore(db)
            fmt, version = meta.get("format"), meta.get("version", 0)
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{db}: not a modiste index ({e})") from None
        if fmt != FORMAT:
            meta.close()
            raise ValueError(f"{db}: not a modiste index")
        if version > VERSION:
            meta.close()
            raise ValueError(f"{db}: index version {version} is newer than this modiste reads ({VERSION})")
        return cls(root, meta)

    def close(self) -> None:
        self.meta.close()
        self._ann = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings --

    @property
    def config(self) -> IndexConfig:
        return IndexConfig.from_json(self.meta.get("config", {}))

    @property
    def faiss_path(self) -> Path:
        return self.root / "faiss.index"

    def configure(self, **settings: Any) -> IndexConfig:
        """Change IndexConfig fields (kind, nprobe, ef_search, ...); the FAISS file follows on next search."""
        config = self.config.with_overrides(**settings)
        with self.meta.transaction() as conn:
            self.meta.set("config", config.to_json(), conn)
        return config

    # -- reading --

    def __len__(self) -> int:
        return self.meta.count()

    def ids(self) -> np.ndarray:
        """int64 ids of the items, ascending: the row order of vectors()."""
        return self.meta.locations()[0]

    def vectors(self) -> np.ndarray:
        """float32 (N, dim) embeddings of the items, in the order of ids()."""
        _, shards, rows = self.meta.locations()
        return self.shards.gather(shards, rows)

    def items(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        """Metadata of the given ids (KeyError for an unknown one)."""
        ids = [int(i) for i in ids]
        found = self.meta.items(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no items with ids {missing[:10]}")
        return [found[i] for i in ids]

    def info(self) -> dict[str, Any]:
        ids, shards, _ = self.meta.locations()
        live = set(int(s) for s in np.unique(shards))
        size = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        return {
            "path": str(self.root),
            "count": len(ids),
            "dim": self.dim,
            "kind": self.config.kind,
            "kind_built": self.config.resolve_kind(len(ids)),
            "model": self.model_info,
            "duplicates": self.meta.duplicate_count(),
            "skipped": len(self.meta.get("skipped", {})),  # files an add could not read (skipped.json)
            "size_bytes": size,
            "shards": len(live),
            "unused_shards": len(self.shards.orphans(live)),
            "config": self.config.to_json(),
            "version": self.meta.get("version"),
        }

    # -- writing --

    def add(
        self,
        items: str | os.PathLike | ImageDataset | Iterable[str | os.PathLike | ImageRecord],
        embed_fn: EmbedFn,
        *,
        batch: int = 64,
        columns: Sequence[str] | None = None,
        policy: ImagePolicy | None = None,
        num_workers: int | None = None,
        progress: bool = True,
    ) -> AddReport:
        """Embed and add image files: a folder, a CSV manifest, a dataset, or paths / ImageRecords.

        Files whose content (sha1) is already indexed are not decoded again and are reported as
        duplicates; unreadable ones are skipped with a warning naming them. Each batch is
        committed on its own, so an interrupted add loses at most one batch and running it
        again continues where it stopped. ``columns`` keeps only these extra CSV columns.

        ``num_workers`` decoding processes (default: none on two cores or fewer or for fewer than
        2048 files, else one per two cores, at most two) start as fresh interpreters, as PyTorch's
        loaders do on macOS and Windows: a script that calls ``add`` with workers needs the usual
        ``if __name__ == "__main__":`` guard.
        """
        if batch < 1:
            raise ValueError(f"batch must be positive, got {batch}")
        records, classes = _records(items)
        policy = policy if policy is not None else self._default_policy()
        if policy.size is None:
            raise ValueError("add() batches images, so its ImagePolicy needs a size")
        report = AddReport()
        with self.meta.transaction():  # shards are only written under the write lock: a temp file there is a killed add's
            remove_stale_temp_files(self.root / "embeddings", recursive=False)
        batches = read_batches(records, policy, self.meta.path, batch=batch, num_workers=num_workers)
        with progress_bar(total=len(records), desc="indexing", unit="img", disable=not progress) as bar:
            for chunk in batches:
                # Content already indexed, found in SQLite (sha1 is a unique column) batch by batch.
                known = self.meta.find_hashes({it.sha1 for it in chunk if it.sha1 is not None})
                seen: set[str] = set()  # content added earlier in this batch
                new: list[NewItem] = []
                keep: list[int] = []  # rows of chunk.images to embed
                pending: list[tuple[str, str]] = []  # (path, sha1) duplicates to resolve after insert
                bad: list[BadSample] = []
                row = -1
                for it, decoded in zip(chunk.items, chunk.decoded):
                    row += decoded
                    if it.sha1 is not None and (it.sha1 in known or it.sha1 in seen):
                        pending.append((it.path, it.sha1))
                    elif not decoded:
                        bad.append(BadSample(it.index, str(records[it.index].path),
                                             it.reason or "indexed when read, removed since: add it again"))
                    else:
                        seen.add(it.sha1)
                        new.append(_new_item(it.path, it.sha1, records[it.index], classes, columns))
                        keep.append(row)
                report.skipped.record(bad)
                vectors = None
                if new:
                    images = chunk.images if len(keep) == len(chunk.images) else chunk.images[keep]
                    vectors = self._embed(embed_fn, images)
                self._commit(vectors, new, pending, known, report)
                bar.update(len(chunk))
        self._record_skipped(report.skipped.items)
        return report

    def _record_skipped(self, skipped: dict[str, str]) -> None:
        """Files an add could not read, kept in the index (``info()["skipped"]``) and in
        ``skipped.json`` beside it; a file that is added later leaves the list."""
        if not skipped and not self.meta.get("skipped"):
            return
        with self.meta.transaction() as conn:
            before = self.meta.get("skipped", {})
            now = {**before, **skipped}
            indexed = set(self.meta.find_paths(list(now)))
            now = {p: why for p, why in now.items() if p not in indexed}
            if now != before:
                self.meta.set("skipped", now, conn)
        if now != before:
            atomic_write_json(self.root / "skipped.json", {"skipped": len(now), "files": now})

    def add_vectors(
        self,
        vectors: np.ndarray | torch.Tensor,
        items: Sequence[str | os.PathLike | dict[str, Any]],
        *,
        batch: int = 4096,
    ) -> AddReport:
        """Add embeddings computed elsewhere (L2-normalised, (N, dim)), one item per row.

        An item is a path or a dict with ``path`` and optionally ``sha1``, ``label``, ``tags``
        and any other columns (kept like a CSV's). Without ``sha1`` the duplicate check uses the
        file's content when ``path`` is a file, else the vector's bytes. The vectors must come
        from the index's model: nothing here can check that, so it is the caller's promise.
        """
        if batch < 1:
            raise ValueError(f"batch must be positive, got {batch}")
        v = self._checked(vectors)
        if len(items) != len(v):
            raise ValueError(f"{len(v)} vectors but {len(items)} items")
        report = AddReport()
        for start in range(0, len(v), batch):
            chunk = [_vector_item(it, row) for it, row in zip(items[start:start + batch], v[start:start + batch])]
            known = self.meta.find_hashes({n.sha1 for n in chunk})
            keep, pending, seen = [], [], set()
            for i, n in enumerate(chunk):
                if n.sha1 in known or n.sha1 in seen:
                    pending.append((n.path, n.sha1))
                else:
                    seen.add(n.sha1)
                    keep.append(i)
            self._commit(v[start:start + batch][keep], [chunk[i] for i in keep], pending, known, report)
        return report

    def remove(self, targets: int | str | os.PathLike | Iterable[int | str | os.PathLike]) -> list[int]:
        """Remove items by id or by path; all or nothing (KeyError naming the unknown ones)."""
        if isinstance(targets, (int, np.integer, str, os.PathLike)):
            targets = [targets]
        ids: set[int] = set()
        unknown: list[str] = []
        for t in targets:
            if isinstance(t, (int, np.integer)):
                ids.add(int(t))
            else:
                found = self.meta.ids_for_paths([resolve(t)])[resolve(t)]
                if found:
                    ids.update(found)
                else:
                    unknown.append(str(t))
        existing = self.meta.existing_ids(ids)
        unknown += [str(i) for i in sorted(ids - existing)]
        if unknown:
            raise KeyError(f"not in the index: {', '.join(unknown[:10])}")
        removed = sorted(existing)
        with self.meta.transaction() as conn:
            self.meta.delete(conn, removed)
            self._bump(conn)
        return removed

    # -- searching --

    def search(
        self,
        queries: np.ndarray | torch.Tensor | str | os.PathLike | Sequence[str | os.PathLike],
        k: int = 10,
        *,
        nprobe: int | None = None,
        ef_search: int | None = None,
        refine: int | None = None,
        query_images: torch.Tensor | None = None,
        query_names: Sequence[str] | None = None,
        model: Any = None,
    ) -> SearchResults:
        """The ``k`` items with the highest inner product with each query vector (Q, dim), or nearest to
        each query photo (a path, a folder, a CSV manifest or a list of paths), embedded by ``model``
        (an ``Embedder``; None: the one that filled the index)."""
        if isinstance(queries, (str, os.PathLike)) or (
                isinstance(queries, (list, tuple)) and queries and isinstance(queries[0], (str, os.PathLike))):
            from modiste.retrieval.index.api import search

            return search(self, queries, k=k, model=model, nprobe=nprobe, ef_search=ef_search, refine=refine)
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        q = queries.detach().cpu().numpy() if isinstance(queries, torch.Tensor) else np.asarray(queries)
        q = np.ascontiguousarray(np.atleast_2d(q), dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"query vectors must have shape (Q, {self.dim}), got {q.shape}")
        index = self._ann_index()
        config = self.config
        ids = np.full((len(q), k), -1, dtype=np.int64)
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        if index.ntotal:
            ann.set_search_params(
                index, k=k, nprobe=nprobe or config.nprobe, ef_search=ef_search or config.ef_search,
                refine=refine or config.refine,
            )
            kk = min(k, int(index.ntotal))
            s, i = index.search(q, kk)
            ids[:, :kk], scores[:, :kk] = i, s
        def read_hits() -> list[list[dict[str, Any]]]:
            # Items removed since the search are left out; ids and scores stay as found.
            wanted = np.unique(ids[ids >= 0])
            try:
                meta = self.meta.items(wanted)
            except sqlite3.ProgrammingError:  # the index was closed since: read with a connection of our own
                store = MetaStore(self.root / "meta.sqlite")
                try:
                    meta = store.items(wanted)
                finally:
                    store.close()
            # FAISS pads with -1 at the end of a row when it finds fewer than k.
            return [[meta[int(i)] for i in row if i >= 0 and int(i) in meta] for row in ids]

        info = {"index": str(self.root), "kind": config.resolve_kind(int(index.ntotal))}
        return SearchResults(ids, scores, read_hits, list(query_names or []), query_images, info)

    def search_images(
        self,
        paths: Sequence[str | os.PathLike],
        embed_fn: EmbedFn,
        k: int = 10,
        *,
        policy: ImagePolicy | None = None,
        **settings: Any,
    ) -> SearchResults:
        """Embed query image files with ``embed_fn`` and search; raises BadImageError for a bad query."""
        policy = policy if policy is not None else self._default_policy()
        images = torch.stack([load_image(p, policy) for p in paths])
        vectors = self._embed(embed_fn, images)
        return self.search(vectors, k, query_images=images, query_names=[str(p) for p in paths], **settings)

    def rebuild(self) -> None:
        """Build the FAISS file again from the embeddings."""
        ann.remove_files(self.faiss_path)
        self._ann, self._ann_key = None, None
        self._ann_index()

    # -- internals --

    def _commit(self, vectors: np.ndarray | None, new: list[NewItem], pending: list[tuple[str, str]],
                known: dict[str, tuple[int, str]], report: AddReport) -> None:
        """One batch in one transaction: its shard file, its rows, and the duplicates it met
        (``pending`` (path, sha1), resolved against ``known`` plus what this batch adds)."""
        with self.meta.transaction() as conn:
            # Under the write lock, the content another writer added since this batch was read is
            # a duplicate too (two `index add` at once on overlapping folders), never a second row.
            taken = self.meta.find_hashes({n.sha1 for n in new}) if new else {}
            if taken:
                keep = [i for i, n in enumerate(new) if n.sha1 not in taken]
                pending = pending + [(n.path, n.sha1) for n in new if n.sha1 in taken]
                known.update(taken)
                new = [new[i] for i in keep]
                vectors = vectors[keep] if vectors is not None and keep else None
            if new:
                # The shard is written under the write lock: another writer cannot take its number.
                shard = int(self.meta.get("next_shard"))
                self.shards.write(shard, vectors)
                ids = self.meta.insert(conn, new, shard)
                self.meta.set("next_shard", shard + 1, conn)
                known.update({n.sha1: (i, n.path) for n, i in zip(new, ids)})
                report.added.extend(ids)
            dups = [Duplicate(p, *known[h]) for p, h in pending]
            self.meta.record_duplicates(
                conn, [(d.path, h, d.item_id) for d, (_, h) in zip(dups, pending) if not d.same_file]
            )
            if new:
                self._bump(conn)
        report.duplicates.extend(dups)

    def _bump(self, conn: sqlite3.Connection) -> None:
        # Any change of the item set: a cheap key for "is the loaded FAISS index still current".
        self.meta.set("generation", int(self.meta.get("generation", 0)) + 1, conn)

    def _ann_index(self) -> Any:
        config = self.config
        key = (self.meta.get("generation"), repr(config))
        if self._ann is not None and self._ann_key == key:
            return self._ann
        ids, shards, rows = self.meta.locations()
        fp = ann.fingerprint(ids, shards, rows, self.dim, config.build_params(len(ids)))
        index = ann.load(self.faiss_path, fp, self.dim, len(ids))
        if index is None:
            index, params = ann.build(self.shards.gather(shards, rows), ids, config)
            try:
                ann.save(index, self.faiss_path, fp, params)
            except OSError as e:  # a read-only index still searches, it just rebuilds each time
                warnings.warn(f"{self.faiss_path}: could not save the rebuilt FAISS index: {e}", stacklevel=3)
        self._ann, self._ann_key = index, key
        return index

    def _embed(self, embed_fn: EmbedFn, images: torch.Tensor) -> np.ndarray:
        v = self._checked(embed_fn(images), "embed_fn returned")
        if len(v) != len(images):
            raise ValueError(f"embed_fn returned {len(v)} vectors for {len(images)} images")
        return v

    def _checked(self, out: np.ndarray | torch.Tensor, what: str = "vectors are") -> np.ndarray:
        """float32 (N, dim) unit vectors, or a ValueError saying what is wrong."""
        v = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        v = np.ascontiguousarray(v, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"{what} shape {v.shape}; expected (N, {self.dim})")
        if not np.isfinite(v).all():
            raise ValueError(f"{what} non-finite values")
        norms = np.linalg.norm(v, axis=1)
        if len(v) and np.abs(norms - 1).max() > _NORM_TOLERANCE:
            raise ValueError(f"{what} vectors that are not L2-normalised (norms {norms.min():.4f}..{norms.max():.4f})")
        return v

    def _default_policy(self) -> ImagePolicy:
        size = self.model_info.get("image_size")
        if size is None:
            raise ValueError("give add() a policy (ImagePolicy(size=...)) or model_info an 'image_size'")
        return ImagePolicy(size=size, resize=self.model_info.get("resize", "letterbox"))

    def __repr__(self) -> str:
        return f"Index({str(self.root)!r}, count={len(self)}, dim={self.dim}, kind={self.config.kind!r})"


def _is_initialised(db: Path) -> bool:
    """False for a meta.sqlite left by a create() that never committed its settings."""
    try:
        conn = sqlite3.connect(db)
        try:
            row = conn.execute("SELECT value FROM info WHERE key = 'format'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return True  # something else is there: do not overwrite it
    return row is not None


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d))


def _records(items: Any) -> tuple[list[ImageRecord], list[str] | None]:
    """ImageRecords and class names from a folder, a dataset or a list of paths / records."""
    if isinstance(items, (str, os.PathLike)):
        path = Path(items).expanduser()
        if path.is_dir() or path.suffix.lower() == ".csv":
            items = open_dataset(path)  # class folders give labels, a CSV its columns
    if isinstance(items, ImageDataset):
        return list(items.records), items.classes
    if isinstance(items, (str, os.PathLike)):
        items = [items]
    return [it if isinstance(it, ImageRecord) else ImageRecord(Path(it)) for it in items], None


def _new_item(
    path: str, sha1: str, record: ImageRecord, classes: list[str] | None, columns: Sequence[str] | None
) -> NewItem:
    label = None
    if record.label is not None:
        label = classes[record.label] if classes is not None else str(record.label)
    meta = dict(record.meta)
    tags = [t.strip() for t in meta.pop("tags", "").split(TAG_SEPARATOR) if t.strip()]
    if columns is not None:
        meta = {k: v for k, v in meta.items() if k in columns}
    return NewItem(path, sha1, label, tags, meta)


def _vector_item(item: str | os.PathLike | dict[str, Any], vector: np.ndarray) -> NewItem:
    meta = dict(item) if isinstance(item, dict) else {"path": item}
    if "path" not in meta:
        raise ValueError(f"an item needs a 'path': {item!r}")
    path = resolve(meta.pop("path"))
    sha1 = meta.pop("sha1", None)
    if sha1 is None:
        sha1 = file_sha1(path) if os.path.isfile(path) else hashlib.sha1(vector.tobytes()).hexdigest()
    label = meta.pop("label", None)
    tags = meta.pop("tags", [])
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(TAG_SEPARATOR) if t.strip()]
    return NewItem(path, str(sha1), None if label is None else str(label), list(tags), meta)
