"""Packaging: a plain `pip install ldncds` brings no test tools, and the package ships no test code."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ldncds
from ldncds.cli import app

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TEST_TOOLS = {"pytest", "pytest-bdd", "psycopg", "hypothesis", "schemathesis", "playwright", "ruff"}
# Modules that only run under pytest-bdd, loaded by `ldncds scenarios` (the `audit` extra).
AUDIT_ONLY = ("ldncds/bdd/steps",)


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def test_runtime_dependencies_hold_no_test_tools() -> None:
    runtime = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert runtime & TEST_TOOLS == set()


def test_the_extras_bring_what_each_command_needs() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {_name(r) for r in extras["postgres"]} == {"psycopg"}
    assert {_name(r) for r in extras["audit"]} == {"pytest", "pytest-bdd"}
    assert "ldncds[audit,postgres,dask]" in extras["test"]


def test_the_license_is_an_spdx_expression_with_its_text_shipped() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert not any(c.startswith("License ::") for c in PYPROJECT["project"]["classifiers"])


def test_no_package_module_imports_a_test_tool() -> None:
    offenders = []
    for path in (ROOT / "src" / "ldncds").rglob("*.py"):
        rel = path.relative_to(ROOT / "src").as_posix()
        if rel.startswith(AUDIT_ONLY):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{rel}: {n}" for n in names if n.split(".")[0] in {"pytest", "pytest_bdd", "hypothesis"}
            ]
    assert offenders == []


def test_version_prints_package_and_ruleset_version() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from ldncds.cli import app; app()", "--version"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert f"ldncds {ldncds.__version__}" in out
    assert re.search(r"^ruleset 1\.\d+\.\d+\+[0-9a-f]{12}$", out, re.M), out


def test_scenarios_without_the_audit_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pytest_bdd" else real(name, *a)
    )
    result = CliRunner().invoke(app, ["scenarios"])
    assert result.exit_code == 2
    assert "pip install 'ldncds[audit]'" in result.output
