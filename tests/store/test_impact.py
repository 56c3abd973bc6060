"""Rule-change impact over the Synthea bulk sample and over the stored decision log."""

from __future__ import annotations

import atexit
import csv
import dataclasses
import gzip
import json
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Engine, PatientFacts, RulesetError, load_ruleset
from ldncds.screening.population import export_population
from ldncds.store import Caller, open_store, record_assessment
from ldncds.store.impact import Subject, baseline_rules, impact, stored_population
from support.store import copy_rules, edit_rule, set_opioid_washout, sqlite_url

_SAMPLE_GZ = (
    Path(__file__).resolve().parents[1] / "fixtures" / "bulk" / "synthea-bulk-10"
)  # source in its README


def _decompressed_sample() -> Path:
    """The repository's gzip copy of the Synthea sample, as the plain NDJSON files an export has."""
    out = Path(tempfile.mkdtemp(prefix="ldncds-synthea-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    for gz in _SAMPLE_GZ.glob("*.ndjson.gz"):
        (out / gz.name.removesuffix(".gz")).write_bytes(gzip.decompress(gz.read_bytes()))
    return out


SYNTHEA = _decompressed_sample()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# A day when patient #5 of the sample had just been prescribed meperidine (stopped, end date not recorded).
ON = date(1980, 6, 10)  # 5 days after it was written: inside the 7-day washout whatever its end
MEPERIDINE = "MedicationRequest/34c80f81-9c15-8f10-1cf6-13827925fdd8"
ENDUNKNOWN = ("CONTRA-OPIOID-ENDUNKNOWN-01", "CONTRA-OPIOID-ENDUNKNOWN-02")
runner = CliRunner()

needs_sample = pytest.mark.skipif(not SYNTHEA.is_dir(), reason=f"Synthea sample not found at {SYNTHEA}")


@pytest.fixture(scope="module")
def current() -> Engine:
    return Engine()


@pytest.fixture(scope="module")
def synthea() -> list[Subject]:
    """The sample mapped once (mapping is the slow part); each test picks its own date."""
    return list(export_population(SYNTHEA, ON))


def _patient_ids() -> list[str]:
    lines = (SYNTHEA / "Patient.000.ndjson").read_text().splitlines()
    return [json.loads(line)["id"] for line in lines if line.strip()]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def _shorter_end_unknown_window(rule: dict) -> None:
    rule["when"][0]["where"]["days_since_start"] = {"lte": 3}


@needs_sample
def test_identical_rules_give_no_transitions(synthea: list[Subject], current: Engine, tmp_path: Path) -> None:
    baseline = Engine(copy_rules(tmp_path / "rules"))
    report = impact(baseline, current, synthea, population="synthea", evaluation_date=ON)
    assert report.evaluated == 13
    assert report.transitions == [] and report.changed == 0
    assert sum(report.unchanged.values()) == 13
    assert report.rule_changes == []


@needs_sample
def test_an_edited_rule_shows_the_expected_transition(
    synthea: list[Subject], current: Engine, tmp_path: Path
) -> None:
    rules = copy_rules(tmp_path / "rules")
    for rule_id in ENDUNKNOWN:  # baseline: an opioid with no end date blocks for 3 days only
        edit_rule(rules, rule_id, _shorter_end_unknown_window)
    report = impact(Engine(rules), current, synthea, population="synthea", evaluation_date=ON)
    assert [(t.from_decision, t.to_decision, t.patients) for t in report.transitions] == [
        ("not_candidate", "contraindicated", 1)
    ]
    [transition] = report.transitions
    assert transition.examples == [MEPERIDINE]  # a resource id, never the patient's
    assert {(r.rule_id, r.fired_under) for r in transition.rules} == {(r, "current") for r in ENDUNKNOWN}
    assert {(c.rule_id, c.change) for c in report.rule_changes} == {(r, "edited") for r in ENDUNKNOWN}
    assert report.changed == 1 and sum(report.unchanged.values()) == 12


@needs_sample
def test_a_removed_value_set_row_shows_the_expected_transition(
    synthea: list[Subject], current: Engine, tmp_path: Path
) -> None:
    rules = copy_rules(tmp_path / "rules")
    table = rules / "valuesets" / "opioid_agonists.csv"
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    kept = [r for r in rows if (r["system"], r["code"]) not in {("RxNorm", "861467"), ("text", "meperidine")}]
    assert len(kept) == len(rows) - 2
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    with pytest.raises(RulesetError, match="opioid_agonists.csv.*rules lock"):
        Engine(rules)  # a halved value set never serves without a new lock...
    proposed = Engine(load_ruleset(rules, check_lock=False))  # ...but its impact can be measured first
    report = impact(proposed, current, synthea, population="synthea", evaluation_date=ON)
    assert [(t.from_decision, t.to_decision, t.patients) for t in report.transitions] == [
        ("not_candidate", "contraindicated", 1)
    ]
    assert report.rule_changes == []  # only a value set changed
    assert {r.rule_id for r in report.transitions[0].rules} >= set(ENDUNKNOWN)


@needs_sample
def test_the_same_edit_changes_nothing_on_another_day(
    synthea: list[Subject], current: Engine, tmp_path: Path
) -> None:
    rules = copy_rules(tmp_path / "rules")
    edit_rule(rules, ENDUNKNOWN[0], _shorter_end_unknown_window)
    later = [dataclasses.replace(s, evaluation_date=date(2026, 3, 1)) for s in synthea]
    assert impact(Engine(rules), current, later, population="synthea").transitions == []


def test_stored_population_each_at_its_own_date(current: Engine, tmp_path: Path) -> None:
    """Baseline with a 30-day washout: the patient who stopped oxycodone 20 days ago was contraindicated."""
    store = open_store(sqlite_url(tmp_path))
    data = json.loads((EXAMPLES / "candidate.json").read_text())
    data["medications"].append(
        {
            "source": "MedicationRequest/oxy-1",
            "status": "completed",
            "codes": [{"system": "RxNorm", "code": "7804", "display": "oxycodone"}],
            "start": "2026-01-10",
            "end": "2026-02-09",
        }
    )
    ids = {}
    for on in (date(2026, 3, 1), date(2026, 6, 1)):  # 20 days after the end, then well after 30
        facts = PatientFacts.model_validate(data)
        stored = record_assessment(
            store,
            facts,
            current.assess(facts, on),
            b"{}",
            Caller(channel="api"),
            current.ruleset.content_hash,
        )
        ids[on] = stored.id
    rules = copy_rules(tmp_path / "rules30")
    edit_rule(rules, "CONTRA-OPIOID-WASHOUT-01", set_opioid_washout(30))
    report = impact(Engine(rules), current, stored_population(store.iter_all()), population="log")
    assert [(t.from_decision, t.to_decision, t.patients) for t in report.transitions] == [
        ("contraindicated", "candidate", 1)
    ]
    [transition] = report.transitions
    assert transition.examples == [ids[date(2026, 3, 1)]]  # the assessment id
    responsible = [(r.rule_id, r.fired_under) for r in transition.rules]
    assert responsible == [("CONTRA-OPIOID-WASHOUT-01", "baseline")]
    assert report.unchanged == {"candidate": 1}


def test_baseline_from_a_git_revision(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    rules = copy_rules(repo / "rules")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "rules"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "rules"], check=True)
    edit_rule(rules, "CONTRA-OPIOID-WASHOUT-01", set_opioid_washout(30))  # work tree differs from HEAD
    with baseline_rules("HEAD", rules) as (folder, label):
        assert label == "HEAD:rules"
        assert Engine(folder).ruleset.content_hash != Engine(rules).ruleset.content_hash
        assert Engine(folder).ruleset.content_hash == Engine().ruleset.content_hash
    assert not folder.exists()  # the extracted copy is cleaned up
    result = runner.invoke(
        app,
        [
            "rules",
            "impact",
            "--baseline",
            "no-such-rev",
            "--rules",
            str(rules),
            "--stored",
            "--database-url",
            sqlite_url(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "neither a rules folder nor a git revision" in result.output


def _small_export(folder: Path, keep: int = 2) -> Path:
    """The first `keep` patients of the sample plus the meperidine patient, as a bulk export folder."""
    ids = _patient_ids()
    wanted = set(ids[:keep])
    for line in (SYNTHEA / "MedicationRequest.000.ndjson").read_text().splitlines():
        if MEPERIDINE.split("/")[1] in line:
            wanted.add(json.loads(line)["subject"]["reference"].split("/")[-1])
    folder.mkdir()
    for path in SYNTHEA.glob("*.ndjson"):
        lines = [line for line in path.read_text().splitlines() if any(i in line for i in wanted)]
        (folder / path.name).write_text("\n".join(lines) + "\n")
    with (folder / "Condition.000.ndjson").open("a") as fh:
        fh.write("not json\n")  # reported by file and line, then skipped
    return folder


@needs_sample
def test_cli_impact_over_an_export_names_no_patient(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "baseline")
    for rule_id in ENDUNKNOWN:
        edit_rule(rules, rule_id, _shorter_end_unknown_window)
    export = _small_export(tmp_path / "export")
    args = [
        "rules",
        "impact",
        "--baseline",
        str(rules),
        "--population",
        str(export),
        "--date",
        ON.isoformat(),
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["evaluated"] == 3 and body["evaluation_date"] == ON.isoformat()
    assert body["skipped"] == [
        "Condition.000.ndjson:" + str(_lines(export / "Condition.000.ndjson")) + ": invalid JSON"
    ]
    assert [(t["from_decision"], t["to_decision"], t["patients"]) for t in body["transitions"]] == [
        ("not_candidate", "contraindicated", 1)
    ]
    table = runner.invoke(app, args)
    assert table.exit_code == 0
    assert "not_candidate -> contraindicated" in table.output and MEPERIDINE in table.output
    for patient_id in _patient_ids():
        assert patient_id not in result.output and patient_id not in table.output


def test_cli_impact_needs_exactly_one_population() -> None:
    result = runner.invoke(app, ["rules", "impact", "--baseline", "rules"])
    assert result.exit_code == 2 and "--population" in result.output
