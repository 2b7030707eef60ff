"""The index's metadata in SQLite: one row per item, the index's settings, the duplicates seen."""
from __future__ import annotations

import itertools
import json
import sqlite3
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a removed id is never handed out again
    path TEXT NOT NULL,
    sha1 TEXT NOT NULL UNIQUE,             -- of the file's bytes: the duplicate check
    label TEXT,
    tags TEXT NOT NULL DEFAULT '[]',       -- JSON list
    extra TEXT NOT NULL DEFAULT '{}',      -- JSON object: the other CSV columns
    shard INTEGER NOT NULL,                -- embeddings/<shard>.npy ...
    row INTEGER NOT NULL,                  -- ... row of this item's vector
    added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_path ON items(path);
CREATE TABLE IF NOT EXISTS duplicates (
    path TEXT PRIMARY KEY,                 -- a file not added because its content is already there
    sha1 TEXT NOT NULL,
    item_id INTEGER NOT NULL
);
"""


@dataclass
class NewItem:
    path: str
    sha1: str
    label: str | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class MetaStore:
    """A thin layer over ``meta.sqlite``; every write is one transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # isolation_level=None: transactions are opened explicitly by ``transaction()``.
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA synchronous=FULL")  # a committed batch survives a power cut
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, before anything is read for the write. Two
        # writers (two `index add` at once) take turns: the second says it waits, then waits.
        self._begin()
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException as e:
            if self.conn.in_transaction:  # SQLite has rolled back by itself after some errors (a full disk)
                self.conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.OperationalError) and "full" in str(e):
                raise OSError(f"cannot write {self.path}: {e}; nothing of this batch was kept") from e
            raise

    def _begin(self, patience_s: float = 3600.0) -> None:
        self.conn.execute("PRAGMA busy_timeout = 2000")
        deadline = time.monotonic() + patience_s
        for attempt in itertools.count():
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                if time.monotonic() > deadline:
                    raise OSError(f"{self.path.parent}: the index stayed locked by another writer: {e}") from e
            if attempt == 0:
                print(f"{self.path.parent}: waiting for the index lock (another process is writing to this index)",
                      file=sys.stderr, flush=True)

    # -- info --

    def get(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def set(self, key: str, value: Any, conn: sqlite3.Connection | None = None) -> None:
        (conn or self.conn).execute(
            "INSERT OR REPLACE INTO info (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    # -- items --

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    def duplicate_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM duplicates").fetchone()[0]

    def find_paths(self, paths: list[str]) -> list[str]:
        """Those of ``paths`` that are indexed items."""
        return [r["path"] for r in self._where_in("path", "path", paths)]

    def find_hashes(self, hashes: Iterable[str]) -> dict[str, tuple[int, str]]:
        """sha1 -> (id, path) of the items with these content hashes."""
        return {r["sha1"]: (r["id"], r["path"]) for r in self._where_in("id, sha1, path", "sha1", list(hashes))}

    def _where_in(self, select: str, column: str, values: list[Any]) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = []
        for i in range(0, len(values), 500):  # SQLite caps bound parameters per statement
            chunk = values[i : i + 500]
            rows += self.conn.execute(f"SELECT {select} FROM items WHERE {column} IN ({','.join('?' * len(chunk))})",
                                      chunk).fetchall()
        return rows

    def locations(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, shards, rows) of every item, by id."""
        rows = self.conn.execute("SELECT id, shard, row FROM items ORDER BY id").fetchall()
        a = np.array([tuple(r) for r in rows], dtype=np.int64).reshape(-1, 3)
        return a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy()

    def insert(self, conn: sqlite3.Connection, items: list[NewItem], shard: int) -> list[int]:
        """Insert in one statement; within the caller's write transaction AUTOINCREMENT hands
        out consecutive ids after the table's sequence number, which are returned."""
        now = time.time()
        before = self._sequence(conn)
        conn.executemany(
            "INSERT INTO items (path, sha1, label, tags, extra, shard, row, added) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(item.path, item.sha1, item.label, json.dumps(item.tags), json.dumps(item.extra), shard, row, now)
             for row, item in enumerate(items)],
        )
        after = self._sequence(conn)
        if after - before != len(items):  # cannot happen under the write lock; never guess ids
            raise RuntimeError(f"{self.path}: inserted {len(items)} items but the id sequence moved {after - before}")
        return list(range(before + 1, after + 1))

    @staticmethod
    def _sequence(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'items'").fetchone()
        return int(row[0]) if row is not None else 0

    def record_duplicates(self, conn: sqlite3.Connection, dups: Iterable[tuple[str, str, int]]) -> None:
        conn.executemany("INSERT OR REPLACE INTO duplicates (path, sha1, item_id) VALUES (?, ?, ?)", list(dups))

    def ids_for_paths(self, paths: Iterable[str]) -> dict[str, list[int]]:
        out = {}
        for p in paths:
            out[p] = [r[0] for r in self.conn.execute("SELECT id FROM items WHERE path = ?", (p,))]
        return out

    def existing_ids(self, ids: Iterable[int]) -> set[int]:
        ids = list(ids)
        found: set[int] = set()
        for i in range(0, len(ids), 500):  # SQLite caps bound parameters per statement
            chunk = ids[i : i + 500]
            q = f"SELECT id FROM items WHERE id IN ({','.join('?' * len(chunk))})"
            found.update(r[0] for r in self.conn.execute(q, chunk))
        return found

    def delete(self, conn: sqlite3.Connection, ids: list[int]) -> None:
        conn.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        conn.executemany("DELETE FROM duplicates WHERE item_id = ?", [(i,) for i in ids])

    def items(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """id -> {**extra, id, path, sha1, label, tags} for the ids that exist."""
        ids = [int(i) for i in ids]
        out: dict[int, dict[str, Any]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT id, path, sha1, label, tags, extra FROM items WHERE id IN ({','.join('?' * len(chunk))})"
            for r in self.conn.execute(q, chunk):
                # The fixed fields last: a CSV column named "id" or "path" must not shadow them.
                out[r["id"]] = {
                    **json.loads(r["extra"]), "id": r["id"], "path": r["path"], "sha1": r["sha1"],
                    "label": r["label"], "tags": json.loads(r["tags"]),
                }
        return out
