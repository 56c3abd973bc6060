"""`ldncds scenarios`: replay Gherkin scenarios and show which rule each one proves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ldncds.engine import RulesetError, default_rules_dir, load_ruleset

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


def auditor_features(rules: Path | None = None) -> list[Path]:
    """Every feature file an auditor is given: features/ (with its HTTP-contract scenarios) next to
    the rules folder, else the project's own."""
    beside_source = Path(__file__).resolve().parents[3] / "features"
    candidates = [(rules or default_rules_dir()).resolve().parent / "features", beside_source]
    return next((_features([c]) for c in candidates if c.is_dir() and _features([c])), [])


@dataclass
class ScenarioOutcome:
    name: str
    file: str
    result: str  # passed, failed or not run
    message: str
    rule_ids: list[str]


def replay(features: list[Path], rules: Path) -> tuple[int, list[ScenarioOutcome]]:
    """Each scenario of the files (an outline counts as failed when any of its examples fails)."""
    code, results = run_scenarios(features, rules)
    outcomes = []
    for feature in features:
        for name, rule_ids in scenario_rules(feature).items():
            runs = [r for slug, r in results.items() if slug.split("[")[0] == _slug(name)]
            failed = [r for r in runs if r[0] != "passed"]
            result, message = failed[0] if failed else (runs[0] if runs else ("not run", ""))
            outcomes.append(ScenarioOutcome(name, feature.name, result, message, rule_ids))
    return code, outcomes


def scenario_gate(rules: Path, features: list[Path] | None = None) -> tuple[list[str], int, float]:
    """Failing scenarios in words ('file: scenario: why'), how many ran, and the seconds it took."""
    started = time.monotonic()
    features = features or auditor_features(rules)
    if not features:
        return ["no .feature files found next to the rules or the project"], 0, 0.0
    code, outcomes = replay(features, rules)
    failures = [
        f"{o.file}: {o.name}: {o.result}" + (f" ({o.message.splitlines()[0]})" if o.message else "")
        for o in outcomes
        if o.result != "passed"
    ]
    if code and not failures:
        failures = [f"the scenario run itself failed (pytest exit {code})"]
    return failures, len(outcomes), time.monotonic() - started


def scenarios_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Feature files or folders (default: every file in features/)."),
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Rules folder to replay against.")] = None,
) -> None:
    """Replay auditor scenarios against a ruleset and show which rule each one proves."""
    rules_dir = rules or default_rules_dir()
    try:
        load_ruleset(rules_dir)  # one clear error for a broken ruleset, not a failure per scenario
    except RulesetError as exc:
        typer.echo(f"Rule files are invalid: {exc}", err=True)
        raise typer.Exit(2) from exc
    features = _features(paths) if paths else auditor_features(rules_dir)
    if not features or not all(f.is_file() for f in features):
        console.print("[red]No .feature files found.[/red]")
        raise typer.Exit(2)
    code, outcomes = replay(features, rules_dir)
    console.print(scenario_table(outcomes, f"Scenarios replayed against {rules_dir}"))
    failed = sum(o.result != "passed" for o in outcomes)
    console.print(f"{len(outcomes) - failed} passed, {failed} failed")
    if code or failed:
        raise typer.Exit(1)


def scenario_table(outcomes: list[ScenarioOutcome], title: str) -> Table:
    """Rule ids are never cut (piped or 80 columns): the scenario text, its file and message wrap."""
    table = Table(title=title)
    table.add_column("result", no_wrap=True)
    table.add_column("scenario (file)", overflow="fold", ratio=1)
    widest = max((len(r) for o in outcomes for r in o.rule_ids), default=1)
    table.add_column("rules proven", no_wrap=True, min_width=max(widest, len("rules proven")))
    for o in outcomes:
        style = "green" if o.result == "passed" else "red"
        text = f"{o.name}\n[dim]{o.file}[/dim]"
        if o.message:
            text += f"\n[{style}]{o.message.splitlines()[0][:300]}[/]"
        table.add_row(f"[{style}]{o.result}[/]", text, "\n".join(o.rule_ids) or "-")
    return table


def register(app: typer.Typer, rules_app: typer.Typer) -> None:
    app.command("scenarios")(scenarios_command)
