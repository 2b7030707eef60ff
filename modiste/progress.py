"""Progress bars that suit both a terminal and a log file."""
from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def progress_bar(iterable: Any = None, **kwargs: Any) -> tqdm:
    """``tqdm`` redrawing every 0.1 s on a terminal, but only every 30 s when stderr is a file or a
    pipe, so a long run's log holds a readable line per half minute instead of one per step."""
    kwargs.setdefault("mininterval", 0.1 if sys.stderr.isatty() else 30.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
