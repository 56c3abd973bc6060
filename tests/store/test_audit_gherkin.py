"""Gherkin export: a stored decision becomes a scenario that the project's step library replays.

Round trip for every decision type: record -> export-gherkin -> pytest-bdd with ldncds.bdd.steps. It
passes under the rules that decided, and fails, showing what differs, under rules that decide otherwise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Engine, PatientFacts
from ldncds.store import Caller, SqlStore, StoredAssessment, open_store, record_assessment
from ldncds.store.gherkin import export_feature, summary
from ldncds.store.replay import replay
from support.store import copy_rules, edit_rule, set_opioid_washout, sqlite_url

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ON = date(2026, 3, 1)
DECISIONS = {
    "candidate",
    "candidate_with_cautions",
    "contraindicated",
    "not_candidate",
    "insufficient_information",
    "on_therapy",
}
runner = CliRunner()


def _facts_with(extra_medication: dict) -> PatientFacts:
    data = json.loads((EXAMPLES / "candidate.json").read_text())
    data["medications"].append(extra_medication)
    return PatientFacts.model_validate(data)


def population() -> list[tuple[str, PatientFacts]]:
    """Every example, plus a washout case and a record whose free text holds triple quotes."""
    files = sorted(EXAMPLES.glob("*.json"))
    people = [(p.stem, PatientFacts.model_validate_json(p.read_bytes())) for p in files]
    oxycodone = [{"system": "RxNorm", "code": "7804", "display": "oxycodone"}]
    people.append(
        (
            "washout",
            _facts_with(
                {
                    "source": "MedicationRequest/oxy-1",
                    "codes": oxycodone,
                    "status": "completed",
                    "start": "2026-01-10",
                    "end": "2026-02-09",
                }
            ),
        )
    )
    people.append(
        (
            "quotes",
            _facts_with(
                {
                    "source": "MedicationStatement/t-1",
                    "text": 'vitamin D """weekly""" \\ "as written"',
                    "status": "completed",
                    "start": "2020-01-01",
                    "end": "2020-02-01",
                }
            ),
        )
    )
    return people


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory, engine: Engine
) -> tuple[SqlStore, dict[str, StoredAssessment]]:
    store = open_store(sqlite_url(tmp_path_factory.mktemp("log")))
    stored = {}
    for name, facts in population():
        assessment = engine.assess(facts, ON)
        stored[name] = record_assessment(
            store, facts, assessment, b"raw", Caller(channel="cli"), engine.ruleset.content_hash
        )
    return store, stored


def run_features(features: dict[str, Path], rules: Path, workdir: Path) -> dict[str, tuple[bool, str]]:
    """Run each feature in its own test module (named after its key); key -> (passed, failure text)."""
    workdir.mkdir()
    (workdir / "pytest.ini").write_text("[pytest]\n")
    for key, feature in features.items():
        (workdir / f"test_{key}.py").write_text(
            "from pytest_bdd import scenarios\n"
            "from ldncds.bdd.steps import *  # noqa: F403\n"
            f"scenarios({str(feature)!r})\n"
        )
    report = workdir / "report.xml"
    env = dict(os.environ, LDNCDS_RULES_DIR=str(rules))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(workdir / "pytest.ini"),
            "--rootdir",
            str(workdir),
            f"--junitxml={report}",
            str(workdir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        key = case.get("classname", "").rsplit(".", 1)[-1].removeprefix("test_")
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        text = "" if failure is None else (failure.get("message") or "") + (failure.text or "")
        results[key] = (failure is None, text)
    assert set(results) == set(features), proc.stdout[-3000:]
    return results


def _key(name: str) -> str:
    return re.sub(r"\W", "_", name)


@pytest.mark.slow
def test_exported_scenarios_replay_every_decision_type(
    logged: tuple[SqlStore, dict[str, StoredAssessment]], engine: Engine, tmp_path: Path
) -> None:
    store, stored = logged
    assert {s.decision for s in stored.values()} == DECISIONS  # every decision type is covered
    features = {}
    for name, record in stored.items():
        path = tmp_path / f"{name}.feature"
        result = runner.invoke(
            app, ["audit", "export-gherkin", record.id, "-o", str(path), "--database-url", store.url]
        )
        assert result.exit_code == 0, result.output
        features[_key(name)] = path

    same_rules = run_features(features, engine.ruleset.directory, tmp_path / "same")
    failed = {k: m[:300] for k, (ok, m) in same_rules.items() if not ok}
    assert not failed

    # Under a 30-day washout the washout patient becomes contraindicated; patients already inside a
    # washout keep their decision but a later earliest start. The scenarios fail exactly where replay differs.
    rules = copy_rules(tmp_path / "rules30")
    edit_rule(rules, "CONTRA-OPIOID-WASHOUT-01", set_opioid_washout(30))
    other = run_features(features, rules, tmp_path / "other")
    differing = {
        _key(n)
        for n, r in stored.items()
        for res in replay(store, Engine(rules), [r.id])
        if not res.identical
    }
    assert {k for k, (ok, _) in other.items() if not ok} == differing
    assert "washout" in differing
    message = other["washout"][1]
    assert "decision is contraindicated" in message and "expected candidate" in message


def test_export_uses_the_step_library_phrasing(
    logged: tuple[SqlStore, dict[str, StoredAssessment]],
) -> None:
    stored = logged[1]["contraindicated_tramadol_washout"]
    text = export_feature(stored)
    a = stored.assessment
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == f"Feature: Replay of assessment {stored.id}"
    assert any(line.startswith("Scenario: contraindicated for a ") for line in lines)
    assert f"When the patient is assessed on {ON.isoformat()}" in lines
    assert "Then the decision is contraindicated" in lines
    for c in a["criteria"]:
        assert f"And criterion {c['id']} is {c['status']}" in lines
    for rule_id in a["rules_fired"]:
        assert f"And the explanation cites rule {rule_id}" in lines
    assert f"And the earliest start date is {a['earliest_start']}" in lines
    assert lines.index("Given the patient facts recorded in the chart:") < lines.index(
        f"When the patient is assessed on {ON.isoformat()}"
    )


def test_export_lists_reminders_and_the_clinical_facts(
    logged: tuple[SqlStore, dict[str, StoredAssessment]],
) -> None:
    stored = logged[1]["candidate"]
    text = export_feature(stored)
    for r in stored.assessment["reminders"]:
        assert f"    And reminder {r['id']} is due from {r['due_from']}\n" in text
    assert "earliest start date" not in text
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    assert comments[0] == "# Patient: age 52 on 2026-03-01, sex female"
    assert (
        "# Condition: Fibromyalgia (ICD-10-CM M79.7), active, confirmed, onset 2024-03-01, "
        "recorded 2024-04-15 [Condition/fm-1]" in comments
    )
    assert any(
        c.startswith(
            "# Medication: duloxetine (RxNorm 72625), stopped prescription, from 2024-09-01 to 2025-06-01"
        )
        for c in comments
    )
    assert "# Allergies: none recorded" in comments
    assert "Scenario: candidate for a 52-year-old woman with fibromyalgia\n" in text


def test_the_doc_string_holds_exactly_the_stored_facts(
    logged: tuple[SqlStore, dict[str, StoredAssessment]],
) -> None:
    for stored in logged[1].values():
        text = export_feature(stored)
        body = text.split('      """\n')[1]
        lines = [line.removeprefix("      ") for line in body.splitlines()]
        assert json.loads("\n".join(lines)) == stored.facts


def test_summary_in_clinician_language() -> None:
    facts = PatientFacts.model_validate(
        {
            "birth_date": "1974",
            "sex": "male",
            "conditions": [
                {
                    "source": "Condition/1",
                    "codes": [
                        {
                            "system": "SNOMED-CT",
                            "code": "278860009",
                            "display": "Chronic low back pain (finding)",
                        }
                    ],
                    "clinical_status": "active",
                }
            ],
            "medications": [
                {
                    "source": "MedicationRequest/2",
                    "codes": [{"system": "RxNorm", "code": "7804", "display": "oxycodone"}],
                    "status": "active",
                    "start": "2026-01-01",
                }
            ],
        }
    )
    assert summary(facts, ON) == (
        "a 51- or 52-year-old man with chronic low back pain and an active oxycodone prescription"
    )
    unknown = PatientFacts.model_validate({"sex": "female"})
    assert summary(unknown, ON) == "a woman of unknown age with conditions not available"


def test_export_of_an_unknown_id_fails(logged: tuple[SqlStore, dict[str, StoredAssessment]]) -> None:
    result = runner.invoke(app, ["audit", "export-gherkin", "nope", "--database-url", logged[0].url])
    assert result.exit_code == 1 and "No assessment nope" in result.output
