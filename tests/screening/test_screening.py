"""Population screening of bulk exports: grouping, bad lines, fail-safe partial data, outputs, CLI."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Detail, EngineError
from ldncds.screening import (
    build_index,
    discover,
    patient_key,
)
from ldncds.screening.bulk import RawLine
from ldncds.screening.output import CSV_COLUMNS
from ldncds.screening.patient import engine_for, screen_lines
from support.screening import ON, RX, candidate, coded, ndjson, screen, write_export

SYNTHEA = (
    Path(__file__).resolve().parents[1] / "fixtures" / "bulk" / "synthea-bulk-10"
)  # gzip copy of the shared sample


# ---------------------------------------------------------------------------------------------- tests


@pytest.mark.slow  # 4,380 real-shaped resources: a few seconds of FHIR validation
def test_synthea_sample_screens_every_patient_without_bad_lines() -> None:
    rows, bad, summary = screen(SYNTHEA)
    assert bad == []
    assert summary.bad_lines == 0
    assert summary.patients == 13 == len(rows) == sum(summary.decisions.values())
    assert "error" not in summary.decisions
    assert [r.patient for r in rows] == sorted(r.patient for r in rows)
    assert all(r.ruleset_version == engine_for(None).version for r in rows)
    # No Observation file in the sample: that section is unknown, and nobody is called a candidate on it.
    assert summary.decisions["not_candidate"] >= 1


def test_candidate_is_found_and_row_lists_what_was_decided(tmp_path: Path) -> None:
    rows, bad, _ = screen(write_export(tmp_path, [candidate("p1")]))
    assert bad == []
    [row] = rows
    assert (row.patient, row.decision, row.resources) == ("p1", "candidate", 5)
    assert row.unknown_criteria == [] and row.hard_stops == [] and row.incomplete == []
    assert row.evaluation_date == ON


def test_references_in_every_form_group_to_one_patient(tmp_path: Path) -> None:
    forms = ["Patient/p1", "urn:uuid:p1", "https://ehr.example.org/fhir/Patient/p1/_history/3"]
    patient = candidate("p1")
    for rtype, ref in zip(("Condition", "MedicationRequest", "Procedure"), forms, strict=True):
        for resource in patient[rtype]:
            resource["subject"] = {"reference": ref}
    rows, bad, _ = screen(write_export(tmp_path, [patient]))
    assert bad == []
    assert [(r.patient, r.decision, r.resources) for r in rows] == [("p1", "candidate", 5)]


def test_patient_key_rules() -> None:
    assert patient_key({"resourceType": "Patient", "id": "abc"}) == "abc"
    assert (
        patient_key({"resourceType": "AllergyIntolerance", "patient": {"reference": "urn:uuid:x-1"}}) == "x-1"
    )
    assert patient_key({"resourceType": "Condition", "subject": {"reference": "Group/g1"}}) is None
    assert (
        patient_key({"resourceType": "Condition", "subject": {"reference": "Patient?identifier=1"}}) is None
    )
    assert patient_key({"resourceType": "Observation"}) is None


def test_bad_lines_are_reported_by_file_and_line_and_never_stop_the_run(tmp_path: Path) -> None:
    broken = [
        "{not json",
        "[1, 2, 3]",
        json.dumps({"id": "x"}),
        json.dumps({"resourceType": "Condition", "id": "orphan", "code": {"text": "no subject"}}),
    ]
    folder = write_export(tmp_path, [candidate("p1"), candidate("p2")], extra={"Condition": broken})
    rows, bad, summary = screen(folder)
    assert [r.patient for r in rows] == ["p1", "p2"]
    assert [r.decision for r in rows] == ["candidate", "candidate"]
    reasons = {(b.file, b.line): b.reason for b in bad}
    assert reasons[("Condition.000.ndjson", 3)] == "invalid JSON"
    assert reasons[("Condition.000.ndjson", 4)] == "not a JSON object"
    assert reasons[("Condition.000.ndjson", 5)] == "no resourceType"
    assert reasons[("Condition.000.ndjson", 6)].startswith("no patient reference")
    assert summary.bad_lines == 4


def test_invalid_resource_is_dropped_and_its_patient_is_never_a_candidate(tmp_path: Path) -> None:
    patient = candidate("p1")
    patient["Condition"].append(
        {
            "resourceType": "Condition",
            "id": "p1-bad",
            "subject": {"reference": "Patient/p1"},
            "code": {"text": "written by hand"},
            "onsetDateTime": "not a date",
        }
    )
    rows, bad, _ = screen(write_export(tmp_path, [patient, candidate("p2")]))
    assert [(b.file, b.line) for b in bad] == [("Condition.000.ndjson", 2)]
    assert "failed FHIR validation at onsetDateTime" in bad[0].reason
    p1, p2 = rows
    assert p1.decision == "insufficient_information" and p1.incomplete == ["conditions"]
    # The rules themselves now refuse candidacy when part of the problem list could not be read.
    assert "opioid and allergy history" in p1.reason
    assert p1.resources == 5  # the other resources were still read
    assert p2.decision == "candidate"


def test_invalid_medication_marks_the_medication_list_incomplete(tmp_path: Path) -> None:
    patient = candidate("p1")
    patient["MedicationRequest"].append(
        {
            "resourceType": "MedicationRequest",
            "id": "p1-bad",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": "oxycodone"},
            "bogus": 1,
        }
    )
    rows, bad, _ = screen(write_export(tmp_path, [patient]))
    assert len(bad) == 1 and bad[0].file == "MedicationRequest.000.ndjson"
    [row] = rows
    assert row.incomplete == ["medications"]
    assert row.decision == "insufficient_information"
    assert "contraindication_screen_complete" in row.unknown_criteria  # the rules themselves say unknown


def test_invalid_patient_resource_is_reported_without_its_id(tmp_path: Path) -> None:
    patient = candidate("secret-id-42")
    patient["Patient"][0]["birthDate"] = "1970-13-45"
    rows, bad, _ = screen(write_export(tmp_path, [patient]))
    assert [(b.file, b.line) for b in bad] == [("Patient.000.ndjson", 1)]
    assert "secret-id-42" not in bad[0].reason and "Testperson" not in bad[0].reason
    [row] = rows
    assert row.decision == "insufficient_information"
    assert "adult" in row.unknown_criteria


def test_a_resource_type_missing_from_the_export_is_unknown_not_none(tmp_path: Path) -> None:
    without_allergies = ("Patient", "Condition", "MedicationRequest", "Procedure", "Observation")
    rows, _, _ = screen(write_export(tmp_path / "a", [candidate("p1")], types=without_allergies))
    assert rows[0].decision == "insufficient_information"
    assert "contraindication_screen_complete" in rows[0].unknown_criteria
    rows, _, _ = screen(write_export(tmp_path / "b", [candidate("p1")]))  # empty allergy file: none
    assert rows[0].decision == "candidate"


def test_medication_resources_alone_do_not_make_a_medication_list(tmp_path: Path) -> None:
    no_orders = ("Patient", "Condition", "Procedure", "AllergyIntolerance", "Observation")
    folder = write_export(tmp_path, [candidate("p1")], types=no_orders)
    medication = {"resourceType": "Medication", "id": "m1", "code": coded(RX, "72625", "duloxetine")}
    (folder / "Medication.000.ndjson").write_text(json.dumps(medication) + "\n", encoding="utf-8")
    rows, bad, _ = screen(folder)
    assert bad == []
    assert rows[0].decision == "insufficient_information"
    assert "contraindication_screen_complete" in rows[0].unknown_criteria


def test_a_resource_in_the_wrong_file_is_reported_not_used(tmp_path: Path) -> None:
    stray = candidate("p1")["Condition"][0] | {"id": "stray"}
    folder = write_export(tmp_path, [candidate("p1")], extra={"Observation": [json.dumps(stray)]})
    rows, bad, _ = screen(folder)
    assert [(b.file, b.line, b.reason) for b in bad] == [
        ("Observation.000.ndjson", 1, "a Condition resource in the Observation file")
    ]
    assert rows[0].decision == "candidate" and rows[0].resources == 5


def test_medication_references_are_resolved_from_the_medication_file(tmp_path: Path) -> None:
    patient = candidate("p1")
    patient["MedicationRequest"].append(
        {
            "resourceType": "MedicationRequest",
            "id": "p1-oxy",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationReference": {"reference": "Medication/med-oxy"},
        }
    )
    medication = {
        "resourceType": "Medication",
        "id": "med-oxy",
        "code": coded(RX, "1049621", "oxycodone hydrochloride 5 MG Oral Tablet"),
    }
    folder = write_export(tmp_path, [patient, candidate("p2")])
    (folder / "Medication.000.ndjson").write_text(json.dumps(medication) + "\n", encoding="utf-8")
    rows, bad, _ = screen(folder)
    assert bad == []
    assert [(r.patient, r.decision) for r in rows] == [("p1", "contraindicated"), ("p2", "candidate")]
    assert rows[0].hard_stops == ["current_opioid_agonist"]
    assert rows[0].resources == 7  # 6 own lines + the referenced Medication


def test_spilled_index_gives_the_same_rows_as_the_in_memory_index(tmp_path: Path) -> None:
    folder = write_export(tmp_path, [candidate(f"p{i}") for i in (3, 1, 2)])
    index = build_index(discover(folder), spill_at=4)
    assert index.spilled and index.patient_count() == 3
    assert [key for key, _ in index.groups()] == ["p1", "p2", "p3"]
    index.close()
    in_memory, _, _ = screen(folder)
    spilled, _, summary = screen(folder, spill_at=4)
    assert summary.spilled
    assert ndjson(spilled) == ndjson(in_memory)


class _FailingEngine:
    version = "test"

    def __init__(self, fail_on: str) -> None:
        self.fail_on = fail_on

    def assess(self, facts: Any, on: date, *, detail: Detail = "full") -> Any:
        if facts.source.endswith(self.fail_on):
            raise EngineError("expected exactly one decision rule to fire, got 0")
        return engine_for(None).assess(facts, on, detail=detail)


def _records(*pids: str) -> list[tuple[str, list[RawLine]]]:
    out = []
    for pid in pids:
        lines = [
            RawLine(f"{t}.000.ndjson", i + 1, json.dumps(r).encode())
            for t, rs in candidate(pid).items()
            for i, r in enumerate(rs)
        ]
        out.append((pid, lines))
    return out


def test_an_engine_failure_gives_no_advice_for_that_patient_only() -> None:
    types = frozenset({"Patient", "Condition", "MedicationRequest", "Procedure", "AllergyIntolerance"})
    engine = _FailingEngine(fail_on="p2")
    outcomes = screen_lines(_records("p1", "p2"), engine, ON, types)  # type: ignore[arg-type]
    assert [o.row.decision for o in outcomes] == ["candidate", "error"]
    assert outcomes[1].row.reason.startswith("No advice: the rule engine failed")


def test_cli_writes_csv_and_bad_lines_and_never_prints_patient_ids(tmp_path: Path) -> None:
    patient = candidate("hidden-7")
    patient["Condition"].append(
        {
            "resourceType": "Condition",
            "id": "c-bad",
            "subject": {"reference": "Patient/hidden-7"},
            "code": {"text": "x"},
            "unknownElement": True,
        }
    )
    folder = write_export(tmp_path / "export", [patient], extra={"Procedure": ["{oops"]})
    out, bad_file = tmp_path / "decisions.csv", tmp_path / "bad.ndjson"
    result = CliRunner().invoke(
        app,
        [
            "screen",
            str(folder),
            "--out",
            str(out),
            "--date",
            "2026-03-01",
            "--workers",
            "1",
            "--bad-lines",
            str(bad_file),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "hidden-7" not in result.output and "Testperson" not in result.output
    assert "Procedure.000.ndjson:2: invalid JSON" in result.output
    assert "Condition.000.ndjson:2:" in result.output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == CSV_COLUMNS
    assert rows[0]["patient"] == "hidden-7" and rows[0]["decision"] == "insufficient_information"
    assert rows[0]["incomplete"] == "conditions"
    assert "Testperson" not in out.read_text()
    assert [json.loads(line)["line"] for line in bad_file.read_text().splitlines()] == [2, 2]


def test_cli_rejects_a_folder_without_an_export(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["screen", str(tmp_path), "--date", "2026-03-01", "--workers", "1"])
    assert result.exit_code == 2
    assert "no bulk export files" in result.output


@pytest.mark.slow
def test_process_pool_gives_the_same_output_as_one_process(tmp_path: Path) -> None:
    from ldncds.screening import generate_population

    generate_population(60, tmp_path, seed=3, on=ON)
    one, bad_one, _ = screen(tmp_path, workers=1)
    pooled, bad_pooled, summary = screen(tmp_path, workers=2, batch_patients=7)
    assert summary.workers == 2
    assert ndjson(pooled) == ndjson(one)
    assert bad_one == bad_pooled == []
    assert Counter(r.decision for r in one) == summary.decisions


def test_a_row_lists_every_unknown_criterion_even_behind_a_hard_stop(tmp_path: Path) -> None:
    # A population manager counts what is missing across charts, whatever decided each one.
    patient = candidate("p1")
    patient["Procedure"] = []  # no physical therapy record: that criterion is unknown
    patient["MedicationRequest"].append(
        {
            "resourceType": "MedicationRequest",
            "id": "p1-tramadol",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": coded(RX, "835603", "tramadol hydrochloride 50 MG Oral Tablet"),
            "authoredOn": "2026-02-01",
        }
    )
    rows, _, _ = screen(write_export(tmp_path, [patient]))
    [row] = rows
    assert row.decision == "contraindicated" and row.hard_stops == ["current_opioid_agonist"]
    assert "failed_physical_therapy" in row.unknown_criteria


@pytest.mark.parametrize(
    ("deceased", "decision", "reason"),
    [
        ({"deceasedDateTime": "2025-06-30"}, "not_candidate", "died on 2025-06-30"),
        ({"deceasedBoolean": True}, "not_candidate", "the record says the patient died;"),
        # After the evaluation date: a record to correct, screened as living (as patient-view).
        ({"deceasedDateTime": f"{ON.year + 1}-01-01"}, "candidate", "Candidate"),
        ({"deceasedBoolean": False}, "candidate", "Candidate"),
    ],
)
def test_a_patient_who_has_died_is_never_listed_for_outreach(
    tmp_path: Path, deceased: dict[str, Any], decision: str, reason: str
) -> None:
    patient = candidate("p1")
    patient["Patient"][0].update(deceased)
    rows, bad, _ = screen(write_export(tmp_path, [patient]))
    assert bad == []
    [row] = rows
    assert row.decision == decision and reason in row.reason, row.reason
