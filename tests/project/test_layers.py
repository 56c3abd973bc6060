"""The layer map (README "Layers"): every import between ldncds packages points down the map.

Parsed with ast (no import side effects), including imports inside functions and TYPE_CHECKING
blocks: a lazy import that points up is still a dependency that points up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ldncds"

# Lower number = lower layer. A package may import its own modules and any strictly lower layer.
LAYERS: dict[str, int] = {
    "__init__": 0,  # the package root holds only the version
    "jsontext": 0,  # JSON reading (orjson where provably json.loads' value); imports no ldncds package
    "engine": 1,
    "settings": 2,
    "leanstart": 2,  # worker start-up helper for process pools; imports no ldncds package
    "fhir": 3,
    "store": 4,
    "service": 5,  # service core: evaluation, the error model, auth
    "api": 6,
    "cdshooks": 6,
    "pages": 6,
    "screening": 6,
    # The scenario steps drive the whole service (HTTP steps build the app) and the terminology
    # report reuses the rulebook's scenario scan, so both sit above the HTTP packages.
    "bdd": 7,
    "terminology": 7,
    "gate": 8,
    "db_commands": 9,
    "cli": 10,
}
# `<package>/commands.py` modules are the CLI's commands kept next to their package: they sit on the
# command layer (they may run the ruleset gate), above every package and below cli itself.
COMMANDS_LAYER = 9

# Modules allowed to reach sideways, each with the reason.
ASSEMBLY: dict[str, set[str]] = {
    # The application factory mounts every HTTP package's router: the one place they meet.
    "ldncds.api.app": {"cdshooks", "pages"},
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every ldncds import in the file."""
    me = _module_name(path).split(".")
    here = me if path.name == "__init__.py" else me[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # `from . import x`: x is a module of that package
                    found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
                    continue
                found.append((node.lineno, target))
            else:
                found.append((node.lineno, node.module or ""))
    return [(line, mod) for line, mod in found if mod == "ldncds" or mod.startswith("ldncds.")]


def _target_package(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or not ((SRC / parts[1]).is_dir() or (SRC / f"{parts[1]}.py").is_file()):
        return "__init__"  # `from ldncds import __version__`: a name of the package root
    return parts[1]


def _layer(pkg: str, module: str) -> int:
    return COMMANDS_LAYER if module.endswith(".commands") else LAYERS[pkg]


def _violations() -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        pkg = _package(path)
        module = _module_name(path)
        for line, target in _imports(path):
            dest = _target_package(target)
            if dest == pkg or dest in ASSEMBLY.get(module, set()):
                continue
            if dest not in LAYERS or pkg not in LAYERS:
                out.append(f"{module}:{line} imports {target}: package not on the layer map")
            elif LAYERS[dest] >= _layer(pkg, module):
                here, there = _layer(pkg, module), LAYERS[dest]
                out.append(
                    f"{module}:{line} imports {target}: {pkg} (layer {here}) -> {dest} (layer {there})"
                )
    return out


def test_every_package_is_on_the_map() -> None:
    packages = {_package(p) for p in SRC.rglob("*.py")}
    assert packages <= LAYERS.keys(), sorted(packages - LAYERS.keys())


def test_imports_point_down_the_layer_map() -> None:
    assert _violations() == []


def test_the_check_sees_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine importing the API must be caught, including a lazy import inside a function.
    fake = tmp_path / "ldncds"
    for pkg in ("engine", "api", "service"):
        (fake / pkg).mkdir(parents=True)
    (fake / "engine" / "bad.py").write_text("def f():\n    from ldncds.api import app\n")
    (fake / "engine" / "rel.py").write_text("from ..service import errors\n")
    monkeypatch.setitem(globals(), "SRC", fake)
    found = _violations()
    assert "ldncds.engine.bad:2 imports ldncds.api: engine (layer 1) -> api (layer 6)" in found, found
    assert "ldncds.engine.rel:1 imports ldncds.service: engine (layer 1) -> service (layer 5)" in found, found


def test_api_and_cdshooks_do_not_import_each_other() -> None:
    def reaches(pkg: str, other: str) -> list[str]:
        return [
            f"{_module_name(p)}:{line}"
            for p in (SRC / pkg).rglob("*.py")
            for line, target in _imports(p)
            if _target_package(target) == other and _module_name(p) not in ASSEMBLY
        ]

    assert reaches("cdshooks", "api") == []
    assert reaches("api", "cdshooks") == []
