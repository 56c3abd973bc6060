"""The engine's public surface is `ldncds.engine.__all__`; other packages import only that."""

from __future__ import annotations

import ast
from pathlib import Path

import ldncds.engine

SRC = Path(__file__).resolve().parents[2] / "src" / "ldncds"


def _engine_submodule_imports(path: Path) -> list[str]:
    depth = len(path.relative_to(SRC).parts) - 1
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: {a.name}" for a in node.names if a.name.startswith("ldncds.engine.")
            ]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 0:
                module = node.module
            elif node.level == depth + 1:
                module = f"ldncds.{node.module}"
            else:
                continue  # relative within the importer's own package
            if module.startswith("ldncds.engine."):
                found.append(f"line {node.lineno}: {module}")
    return found


def test_only_the_engine_package_imports_engine_submodules() -> None:
    offenders = {
        str(p.relative_to(SRC)): hits
        for p in sorted(SRC.rglob("*.py"))
        if p.relative_to(SRC).parts[0] != "engine" and (hits := _engine_submodule_imports(p))
    }
    assert offenders == {}


def test_every_exported_name_exists_and_nothing_else_is_public() -> None:
    exported = set(ldncds.engine.__all__)
    assert len(exported) == len(ldncds.engine.__all__), "duplicate names in __all__"
    for name in exported:
        assert hasattr(ldncds.engine, name), name
    # Names bound in the package but not exported are submodules (implementation detail).
    public = {n for n in vars(ldncds.engine) if not n.startswith("_")}
    stray = {n for n in public - exported if not hasattr(getattr(ldncds.engine, n), "__path__")}
    stray = {n for n in stray if type(getattr(ldncds.engine, n)).__name__ != "module"}
    assert stray == set()
