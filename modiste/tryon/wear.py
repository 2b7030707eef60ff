"""Street-to-shop pairs that teach an embedding which article a person wears, for the try-on evaluation.

For each pair of a split with a ``person_parse``, the worn article's region of the person photo
(the bounding box of parse label 3, at the try-on size) is cropped and saved as a ``query``, with
the article's product photo as its ``catalog`` image and the article as its ``item``: the pairs
CSV ``modiste embed train`` reads. An embedding trained on the training split's pairs then ranks
the validation split's articles for a try-on result's repainted region, on articles it never saw.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from modiste.io import atomic_write_text
from modiste.results import save_png
from modiste.tryon.data import DEFAULT_SIZE, load_pairs
from modiste.tryon.evaluate import WORN, crop, region_box


def embed_pairs(pairs: str | os.PathLike, out: str | os.PathLike, *, split: str = "train",
                size: int | tuple[int, int] = DEFAULT_SIZE, val_fraction: float = 0.1, seed: int = 0,
                progress: bool = True) -> Path:
    """Write ``out/query/*.png`` and ``out/pairs.csv`` (query, catalog, item); returns the CSV path."""
    data = load_pairs(pairs, size, val_fraction=val_fraction, seed=seed, progress=progress)
    if data.parses is None:
        raise ValueError(f"{pairs}: a person_parse column is needed to find the worn article in each photo")
    out = Path(out)
    (out / "query").mkdir(parents=True, exist_ok=True)
    index = data.indices(split)
    if not len(index):
        raise ValueError(f"{pairs}: no pairs in split {split!r} (splits: {sorted(set(data.splits))})")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["query", "catalog", "item"])
    for i in index.tolist():
        rec = data.records[i]
        box = region_box(data.parses[i, 0] == WORN)
        if box is None:
            continue  # the article is hidden (or nearly): nothing to learn from this photo
        name = f"query/{rec.line:06d}.png"
        save_png(crop(data.persons[i], box), out / name)
        article = Path(os.path.relpath(Path(rec.article).resolve(), out.resolve())).as_posix()
        writer.writerow([name, article, article])
    return atomic_write_text(out / "pairs.csv", buf.getvalue())
