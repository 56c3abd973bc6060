"""Imports point down the layer map of the README ("Layers"): engine at the bottom, adapters above it,
the store, the service core, and the entry points on top. An import that points up, or sideways
between two top-level packages, fails here.

KNOWN lists the crossings that existed when the map was written (issue 16); each is work left to do
(the service-core move). The list may only shrink: a crossing that is gone must be removed from it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ldncds"

LAYERS: dict[str, int] = {
    "engine": 0,
    "settings": 1,
    "fhir": 1,
    "terminology": 1,
    "leanstart": 1,  # process start-up helper for worker pools; imports no ldncds package
    "store": 2,
    "gate": 3,
    "api": 4,
    "cdshooks": 4,
    "pages": 4,
    "screening": 4,
    "bdd": 4,
    "db_commands": 4,
}
ROOTS = {"cli", "__init__"}  # the composition roots: they wire every package together

KNOWN = {
    ("api", "cdshooks"),
    ("cdshooks", "api"),
    ("api", "pages"),
    ("pages", "api"),
    ("bdd", "api"),
    ("bdd", "cdshooks"),
    ("gate", "bdd"),
    ("terminology", "pages"),
}


def _package(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def _imported(path: Path) -> set[str]:
    """The ldncds top-level packages a module imports (absolute and relative imports)."""
    here = list(path.relative_to(SRC).with_suffix("").parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["ldncds", *here[: len(here) - node.level]]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "ldncds" and len(parts) > 1:
                found.add(parts[1])
    return found


def crossings() -> set[tuple[str, str]]:
    bad: set[tuple[str, str]] = set()
    for path in SRC.rglob("*.py"):
        source = _package(path)
        if source in ROOTS:
            continue
        for target in _imported(path) - {source}:
            if target in ROOTS or LAYERS[target] >= LAYERS[source]:
                bad.add((source, target))
    return bad


def test_every_package_is_on_the_layer_map() -> None:
    packages = {_package(p) for p in SRC.rglob("*.py")}
    assert packages - ROOTS - set(LAYERS) == set()


def test_no_new_import_points_up_or_sideways() -> None:
    assert crossings() - KNOWN == set()


def test_the_list_of_known_crossings_only_shrinks() -> None:
    assert KNOWN - crossings() == set()
