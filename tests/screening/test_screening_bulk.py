"""Bulk exports as servers name and ship them: numbered and unnumbered files, gzip, manifest.json."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Engine
from ldncds.screening import discover
from ldncds.screening.bulk import ManifestError, patient_key, patient_keys
from ldncds.screening.population import export_population
from support.screening import ON, candidate, ndjson, screen, write_export

REAL = Path(__file__).parents[1] / "fixtures" / "fhir" / "real"


def _population(folder: Path) -> Path:
    """Three patients in the usual `Type.000.ndjson` layout: the reference for every other layout."""
    return write_export(folder, [candidate("p1"), candidate("p2"), candidate("p3")])


def _renamed(source: Path, target: Path, name: str, compress: bool = False) -> Path:
    """The same files under another naming pattern (`{type}` stands for the resource type)."""
    target.mkdir()
    for path in source.glob("*.000.ndjson"):
        dest = target / (name.format(type=path.name.split(".")[0]) + (".gz" if compress else ""))
        if compress:
            with path.open("rb") as src, gzip.open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
        else:
            shutil.copy(path, dest)
    return target


@pytest.mark.parametrize(
    ("pattern", "compress"),
    [
        ("1.{type}.ndjson", False),  # SMART's bulk-data server
        ("{type}.ndjson", False),
        ("{type}.part-7.ndjson", False),
        ("{type}.000.ndjson", True),
        ("1.{type}.ndjson", True),
    ],
)
def test_every_common_naming_and_gzip_give_the_same_decisions(
    tmp_path: Path, pattern: str, compress: bool
) -> None:
    reference = ndjson(screen(_population(tmp_path / "ref"))[0])
    folder = _renamed(tmp_path / "ref", tmp_path / "other", pattern, compress)
    rows, bad, summary = screen(folder)
    assert bad == [] and summary.ignored_files == ()
    assert ndjson(rows) == reference
    assert {r.decision for r in rows} == {"candidate"}


def test_a_bad_line_in_a_gzip_file_is_named_by_the_file_as_delivered(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", [candidate("p1")], extra={"Condition": ["{broken"]})
    plain = folder / "Condition.000.ndjson"
    with gzip.open(folder / "Condition.000.ndjson.gz", "wb") as out:
        out.write(plain.read_bytes())
    plain.unlink()
    _, bad, _ = screen(folder)
    assert [(b.file, b.reason) for b in bad] == [("Condition.000.ndjson.gz", "invalid JSON")]


def test_decompressed_copies_are_removed(tmp_path: Path) -> None:
    folder = _renamed(_population(tmp_path / "ref"), tmp_path / "gz", "{type}.000.ndjson", compress=True)
    export = discover(folder)
    scratch = export.files[0].parent
    assert scratch != folder and scratch.is_dir()
    export.close()
    assert not scratch.exists()


def _manifest(folder: Path, outputs: list[tuple[str, str]]) -> None:
    manifest = {
        "transactionTime": "2026-03-01T00:00:00Z",
        "request": "https://fhir.example.org/Group/g1/$export",
        "requiresAccessToken": True,
        "output": [{"type": t, "url": f"https://files.example.org/job/42/{name}"} for t, name in outputs],
        "error": [{"type": "OperationOutcome", "url": "https://files.example.org/job/42/err.ndjson"}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_a_manifest_names_the_files_and_their_types(tmp_path: Path) -> None:
    reference = ndjson(screen(_population(tmp_path / "ref"))[0])
    folder = tmp_path / "m"
    folder.mkdir()
    outputs = []
    for i, path in enumerate(sorted((tmp_path / "ref").glob("*.ndjson"))):
        name = f"part{i}.ndjson"  # names that say nothing: the manifest gives the type
        shutil.copy(path, folder / name)
        outputs.append((path.name.split(".")[0], name))
    (folder / "err.ndjson").write_text("{}\n", encoding="utf-8")
    (folder / "Condition.999.ndjson").write_text("{}\n", encoding="utf-8")  # not in the manifest
    _manifest(folder, outputs)
    rows, bad, summary = screen(folder)
    assert bad == []
    assert ndjson(rows) == reference
    assert summary.ignored_files == ("Condition.999.ndjson", "err.ndjson")


def test_a_manifest_listing_a_missing_file_stops_the_run(tmp_path: Path) -> None:
    folder = _population(tmp_path / "m")
    (folder / "MedicationRequest.000.ndjson").rename(folder / "elsewhere.txt")
    _manifest(
        folder, [("Patient", "Patient.000.ndjson"), ("MedicationRequest", "MedicationRequest.000.ndjson")]
    )
    with pytest.raises(ManifestError, match=r"MedicationRequest\.000\.ndjson"):
        discover(folder)
    result = CliRunner().invoke(app, ["screen", str(folder), "--date", "2026-03-01"])
    assert result.exit_code == 2
    assert "MedicationRequest.000.ndjson" in result.output


@pytest.mark.parametrize("text", ["not json", '{"output": [{"type": "Patient"}]}', '{"output": 3}'])
def test_an_unreadable_manifest_is_an_error_not_a_fallback(tmp_path: Path, text: str) -> None:
    folder = _population(tmp_path / "m")
    (folder / "manifest.json").write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError, match="not a bulk-data manifest"):
        discover(folder)


def test_a_manifest_url_cannot_reach_outside_the_folder(tmp_path: Path) -> None:
    folder = _population(tmp_path / "m")
    (tmp_path / "secret.ndjson").write_text("{}\n", encoding="utf-8")
    _manifest(folder, [("Patient", "../secret.ndjson")])
    with pytest.raises(ManifestError, match="secret.ndjson"):  # looked for inside the folder only
        discover(folder)


# ---------------------------------------------------------------------------------------------------------
# Appointments: an Appointment names its patients among its participants, not in a subject


def _surgery_appointment(*actors: str, status: str = "booked") -> dict[str, Any]:
    """A surgery booked ten days after the screening date (support.screening.ON), as an EHR sends it."""
    appointment = json.loads((REAL / "planned_surgery_appointment.json").read_text())["add"][0]
    participants = [{"actor": {"reference": ref}, "status": "accepted"} for ref in actors]
    return appointment | {"status": status, "participant": participants}


def _with_appointments(folder: Path, patients: list[str], appointments: list[dict[str, Any]]) -> Path:
    write_export(folder, [candidate(p) for p in patients])
    lines = "".join(json.dumps(a) + "\n" for a in appointments)
    (folder / "Appointment.000.ndjson").write_text(lines, encoding="utf-8")
    return folder


def test_a_booked_surgery_appointment_brings_the_perioperative_caution(tmp_path: Path) -> None:
    without = screen(write_export(tmp_path / "a", [candidate("p1")]))[0]
    assert [r.decision for r in without] == ["candidate"]
    appointment = _surgery_appointment("Patient/p1", "Practitioner/pr-1")
    rows, bad, summary = screen(_with_appointments(tmp_path / "b", ["p1"], [appointment]))
    assert bad == [] and summary.ignored_files == ()  # Appointment files are read, not ignored
    assert [(r.decision, r.cautions, r.resources) for r in rows] == [
        ("candidate_with_cautions", ["planned_surgery"], 6)
    ]


def test_a_group_appointment_belongs_to_each_patient_taking_part(tmp_path: Path) -> None:
    appointment = _surgery_appointment("Patient/p1", "Practitioner/pr-1", "urn:uuid:p3")
    rows, bad, _ = screen(_with_appointments(tmp_path, ["p1", "p2", "p3"], [appointment]))
    assert bad == []
    assert {r.patient: r.cautions for r in rows} == {
        "p1": ["planned_surgery"],
        "p2": [],
        "p3": ["planned_surgery"],
    }


def test_an_appointment_without_a_patient_is_named_as_skipped(tmp_path: Path) -> None:
    clinicians_only = _surgery_appointment("Practitioner/pr-1", "Location/or-2")
    rows, bad, _ = screen(_with_appointments(tmp_path, ["p1"], [clinicians_only]))
    reason = (
        "no patient reference (Appointment.participant.actor.reference missing or not a Patient reference)"
    )
    assert [(b.file, b.line, b.reason) for b in bad] == [("Appointment.000.ndjson", 1, reason)]
    assert [r.decision for r in rows] == ["candidate"]


def test_a_cancelled_appointment_plans_nothing(tmp_path: Path) -> None:
    cancelled = _surgery_appointment("Patient/p1", status="cancelled")
    rows, bad, _ = screen(_with_appointments(tmp_path, ["p1"], [cancelled]))
    assert bad == [] and [(r.decision, r.resources) for r in rows] == [("candidate", 6)]


def test_patient_keys_of_every_reference_shape() -> None:
    assert patient_keys(_surgery_appointment("Patient/a", "Patient/a", "Practitioner/x", "Patient/b")) == [
        "a",
        "b",
    ]
    assert patient_keys({"resourceType": "Appointment", "participant": [{"actor": "Patient/a"}, {}]}) == []
    assert patient_keys(
        {"resourceType": "Appointment", "participant": {"actor": {"reference": "Patient/a"}}}
    ) == ["a"]  # a single element where FHIR has a list: indexed, so its patient's screening names it
    assert patient_key(_surgery_appointment("Patient/a", "Patient/b")) is None  # several: no single owner
    assert patient_keys({"resourceType": "Condition", "subject": {"reference": "Patient/c"}}) == ["c"]
    assert patient_keys({"resourceType": "Encounter", "subject": {"reference": "Patient/c"}}) == []


def test_a_malformed_appointment_is_named_and_blocks_candidacy(tmp_path: Path) -> None:
    malformed = _surgery_appointment("Patient/p1") | {"participant": {"actor": {"reference": "Patient/p1"}}}
    rows, bad, _ = screen(_with_appointments(tmp_path, ["p1"], [malformed]))
    assert [(b.file, b.line) for b in bad] == [("Appointment.000.ndjson", 1)]
    assert "participant" in bad[0].reason and "section marked incomplete" in bad[0].reason
    assert [r.decision for r in rows] == ["insufficient_information"]  # a surgery may be planned


def test_rules_impact_reads_an_export_as_screening_does(tmp_path: Path) -> None:
    plain = _with_appointments(tmp_path / "plain", ["p1", "p2"], [_surgery_appointment("Patient/p1")])
    folder = _renamed(plain, tmp_path / "gz", "{type}.000.ndjson", compress=True)
    skipped: list[str] = []
    subjects = list(export_population(folder, ON, skipped))
    assert skipped == []
    assert [s.label for s in subjects] == ["patient #1 of the export", "patient #2 of the export"]
    facts = [s.facts for s in subjects if s.facts is not None]
    planned = [[p.source for p in f.procedures or [] if p.status == "preparation"] for f in facts]
    assert planned == [["Appointment/ap-surgery"], []]
    engine = Engine()
    decisions = [engine.assess(f, ON).decision for f in facts]
    assert decisions == [r.decision for r in screen(folder)[0]] == ["candidate_with_cautions", "candidate"]


def test_the_index_knows_where_the_patient_is_in_every_type_the_adapter_reads() -> None:
    from ldncds.fhir import SECTION_TYPES
    from ldncds.screening.bulk import PATIENT_FIELDS

    # A type the adapter maps but the index cannot place would be ignored by screen and impact.
    assert set(PATIENT_FIELDS) == {t for types in SECTION_TYPES.values() for t in types}
