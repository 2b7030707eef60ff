"""A plain HTML report page: sections of text, tables and images, written atomically."""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from modiste.io import atomic_write_text

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-weight:600}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figure img{max-width:100%;image-rendering:pixelated;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;font-size:.9em}th{background:#f6f6f6}
.note{color:#666;font-size:.9em}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
"""


@dataclass
class Section:
    title: str
    text: str = ""
    images: list[tuple[str, str, int | None]] = field(default_factory=list)  # (path, caption, display width)
    tables: list[tuple[str, list[str], list[Sequence[Any]]]] = field(default_factory=list)  # (caption, header, rows)
    code: str = ""


class Report:
    """``Report(out / "index.html", "title")``; add sections, then ``write()`` (any number of times)."""

    def __init__(self, path: str | Path, title: str, intro: str = ""):
        self.path, self.title, self.intro = Path(path), title, intro
        self.sections: list[Section] = []

    def section(self, title: str, text: str = "") -> Section:
        s = Section(title, text)
        self.sections.append(s)
        return s

    def image(self, section: Section, path: str | Path, caption: str = "", width: int | None = None) -> None:
        rel = os.path.relpath(Path(path).resolve(), self.path.parent.resolve())
        section.images.append((rel, caption, width))

    def write(self) -> Path:
        parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(self.title)}</title><style>{_STYLE}</style>",
                 f"<h1>{html.escape(self.title)}</h1>"]
        if self.intro:
            parts.append(f"<p>{self.intro}</p>")
        if len(self.sections) > 1:
            parts.append("<ul>" + "".join(f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>" for i, s in enumerate(self.sections)) + "</ul>")
        for i, s in enumerate(self.sections):
            parts.append(f"<h2 id='s{i}'>{html.escape(s.title)}</h2>")
            if s.text:
                parts.append(f"<p>{s.text}</p>")
            for caption, header, rows in s.tables:
                head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
                cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
                parts.append(f"<table>{cap}<tr>{head}</tr>{body}</table>")
            for rel, caption, width in s.images:
                w = f" width='{width}'" if width else ""
                parts.append(f"<figure><img src='{html.escape(rel)}'{w}><figcaption>{html.escape(caption)}</figcaption></figure>")
            if s.code:
                parts.append(f"<pre>{html.escape(s.code)}</pre>")
        return atomic_write_text(self.path, "\n".join(parts) + "\n")


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
