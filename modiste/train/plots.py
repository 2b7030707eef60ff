"""Training curves as PNG, drawn from metrics.jsonl."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from modiste.io import atomic_path


def plot_curves(rows: list[dict], out: str | Path, panels: Sequence[tuple[str, Sequence[str]]], x: str = "kimg") -> Path:
    """One panel per (title, keys); each key a line against ``x``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.4), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            pts = [(r[x], r[key]) for r in rows if key in r and x in r]
            if pts:
                ax.plot(*zip(*pts), label=key, lw=1.4)
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        if ax.lines:  # a panel with nothing logged yet (no held-out images) has no legend to draw
            ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
    return out
