"""The package's import graph follows its layers (ARCHITECTURE.md):

- the base (``io``, ``console``, ``progress``, ``results``, ``report``, ``data``, ``nn``, ``metrics``,
  ``train``) imports no capability;
- a capability imports another only through that capability's own package (``modiste.gan``, never
  ``modiste.gan.loop``), and in one direction: no cycle among capabilities;
- only the top (``cli``, ``demo``) may reach into anything.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import modiste

PACKAGE = Path(modiste.__file__).parent
BASE = {"io", "console", "progress", "results", "report", "data", "nn", "metrics", "train", "__init__"}
TOP = {"cli", "demo", "__main__"}
CAPABILITIES = {"gan", "latent", "retrieval", "detect", "shots", "tryon", "export"}


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return [m for m in out if m == "modiste" or m.startswith("modiste.")]


def _graph() -> dict[tuple[str, str], list[str]]:
    """(importing top-level part, file) -> imported modiste modules."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        part = rel.parts[0].removesuffix(".py")
        graph[(part, str(rel))] = _imports(path)
    return graph


def test_every_top_level_part_has_a_layer():
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert parts <= BASE | TOP | CAPABILITIES, f"place {sorted(parts - BASE - TOP - CAPABILITIES)} in a layer"


def test_base_imports_no_capability():
    bad = [f"{file} -> {m}" for (part, file), mods in _graph().items() if part in BASE
           for m in mods if m.split(".")[1:2] and m.split(".")[1] in CAPABILITIES | TOP]
    assert not bad, "\n".join(bad)


def test_capabilities_meet_only_through_their_packages_in_one_direction():
    bad, edges = [], defaultdict(set)
    for (part, file), mods in _graph().items():
        if part not in CAPABILITIES:
            continue
        for m in mods:
            target = m.split(".")[1] if "." in m else None
            if target in TOP:
                bad.append(f"{file} -> {m} (the top)")
            elif target in CAPABILITIES and target != part:
                edges[part].add(target)
                if m != f"modiste.{target}":
                    bad.append(f"{file} -> {m} (use modiste.{target})")
    assert not bad, "\n".join(bad)

    def reaches(a: str, b: str, seen: frozenset = frozenset()) -> bool:
        return any(n == b or (n not in seen and reaches(n, b, seen | {n})) for n in edges[a])

    cycles = [c for c in CAPABILITIES if reaches(c, c)]
    assert not cycles, f"capabilities in an import cycle: {sorted(cycles)}; edges {dict(edges)}"


def test_the_registry_imports_no_model_and_nn_imports_them():
    registry = _imports(PACKAGE / "nn" / "registry.py")
    assert registry == ["modiste.nn.checkpoint"], registry  # only for create_model(weights=...)
    tree = ast.parse((PACKAGE / "nn" / "__init__.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "modiste.nn" for a in n.names}
    model_files = {p.stem for p in (PACKAGE / "nn").glob("*.py")
                   if "@register_model" in p.read_text() and p.stem not in ("registry", "__init__")}
    assert model_files and model_files <= imported, f"nn/__init__.py does not import {sorted(model_files - imported)}"
