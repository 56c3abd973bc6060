"""`ldncds scenarios`: replay Gherkin scenarios and show which rule each one proves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ldncds.engine.assess import default_rules_dir

from .coverage import scenario_rules

console = Console()


def _slug(name: str) -> str:
    # pytest-bdd's test name (make_python_name): spaces to underscores, then non-word characters dropped.
    return "test_" + re.sub(r"^\d+_*", "", re.sub(r"\W", "", name.replace(" ", "_"))).lower()


def _features(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        found += sorted(p.rglob("*.feature")) if p.is_dir() else [p]
    return [f.resolve() for f in found]


def run_scenarios(features: list[Path], rules: Path) -> tuple[int, dict[str, tuple[str, str]]]:
    """Run the scenarios with pytest-bdd; returns pytest's exit code and test slug -> (result, message)."""
    with tempfile.TemporaryDirectory(prefix="ldncds-scenarios-") as tmp:
        module = Path(tmp) / "test_replay.py"
        paths = ", ".join(repr(str(f)) for f in features)
        module.write_text(
            "from pytest_bdd import scenarios\n"
            "from ldncds.bdd.steps import *  # noqa: F403\n"
            f"scenarios({paths})\n"
        )
        (Path(tmp) / "pytest.ini").write_text("[pytest]\n")
        report = Path(tmp) / "report.xml"
        env = dict(os.environ, LDNCDS_RULES_DIR=str(rules.resolve()))
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(Path(tmp) / "pytest.ini"),
            "--rootdir",
            tmp,
            f"--junitxml={report}",
            str(module),
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        results: dict[str, tuple[str, str]] = {}
        if report.exists():
            for case in ET.parse(report).getroot().iter("testcase"):
                failure = case.find("failure")
                if failure is None:
                    failure = case.find("error")
                message = (failure.get("message") or "") if failure is not None else ""
                results[case.get("name", "")] = ("failed" if failure is not None else "passed", message)
        elif proc.returncode:
            console.print(proc.stdout[-2000:], proc.stderr[-2000:])
        return proc.returncode, results


def scenarios_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Feature files or folders (default: features/rules).")
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Rules folder to replay against.")] = None,
) -> None:
    """Replay auditor scenarios against a ruleset and show which rule each one proves."""
    rules_dir = rules or default_rules_dir()
    features = _features(paths or [default_rules_dir().parent / "features" / "rules"])
    if not features or not all(f.is_file() for f in features):
        console.print("[red]No .feature files found.[/red]")
        raise typer.Exit(2)
    code, results = run_scenarios(features, rules_dir)
    table = Table(title=f"Scenarios replayed against {rules_dir}")
    for col in ("result", "scenario", "rules proven", "file"):
        table.add_column(col)
    passed = failed = 0
    for feature in features:
        for name, rule_ids in scenario_rules(feature).items():
            result, message = next(
                (r for slug, r in results.items() if slug.split("[")[0] == _slug(name)),
                ("not run", ""),
            )
            passed += result == "passed"
            failed += result != "passed"
            style = "green" if result == "passed" else "red"
            label = result if not message else f"{result}: {message.splitlines()[0][:160]}"
            table.add_row(f"[{style}]{label}[/]", name, ", ".join(rule_ids) or "-", feature.name)
    console.print(table)
    console.print(f"{passed} passed, {failed} failed")
    if code or failed:
        raise typer.Exit(1)


def register(app: typer.Typer, rules_app: typer.Typer) -> None:
    app.command("scenarios")(scenarios_command)
