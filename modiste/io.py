"""Atomic file writes: a file that matters is either the old version or the new one, never half."""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename.

    The temporary file lives in the same folder so the rename never crosses file systems.
    On any error the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as e:
        raise _cannot_write(e, path) from e
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets the mode any other would
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if str(path) in str(e):
            raise
        raise _cannot_write(e, path) from e  # name the file being written (disk full, read-only ...)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


TEMP_SUFFIX = ".tmp"


def _cannot_write(e: OSError, path: Path) -> OSError:
    return type(e)(e.errno, f"cannot write {path}: {e.strerror or e}", str(path))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temp_files(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Remove the temporary files a killed process left behind (``.NAME.XXXX.tmp`` from
    ``atomic_path``); call where no other process is writing ``folder``. The removed paths."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob(f".*{TEMP_SUFFIX}") if recursive else folder.glob(f".*{TEMP_SUFFIX}")
    removed = []
    for f in found:
        if f.is_file() and not f.is_symlink():
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


def output_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """One name per input for writing one output per input into one folder, never two alike: the
    path relative to the inputs' common folder, without its suffix (``sub/a``), the suffix kept
    where two would meet (``a_png``, ``a_jpg``)."""
    paths = [Path(p).absolute() for p in paths]
    if not paths:
        return []
    root = Path(os.path.commonpath([p.parent for p in paths]))
    rel = [p.relative_to(root) for p in paths]
    names = [r.with_suffix("").as_posix() for r in rel]
    counts = Counter(names)
    return unique_names([n if counts[n] == 1 else f"{n}_{r.suffix.lstrip('.').lower()}" for n, r in zip(names, rel)])


def unique_names(names: Iterable[str]) -> list[str]:
    """``names`` with ``-2``, ``-3`` ... added to the second and later of any name met again."""
    seen: Counter[str] = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_csv(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[dict]) -> Path:
    """A CSV with a header row of ``columns`` and one line per dict, written atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line; a line is written with a single write call so readers never see half."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_format_json(path: str | os.PathLike, fmt: str, what: str, version: int = 1) -> dict:
    """Read a modiste JSON file tagged ``"format": fmt``; clear errors naming the file otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such {what} file")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a modiste {what} file (not JSON: {e})") from e
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise ValueError(f"{path}: not a modiste {what} file (no \"format\": \"{fmt}\")")
    if d.get("version", 1) > version:
        raise ValueError(f"{path}: {what} file version {d['version']} is newer than this modiste reads ({version})")
    return d


def file_sha1(path: str | os.PathLike) -> str:
    """Hex SHA-1 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
