"""Bulk-export samples for the screening tests: an LDN candidate's resources, an export folder
written one NDJSON file per type, and a screening run over it."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

from ldncds.screening import BadLine, ScreeningRow, ScreenOptions, screen_export
from ldncds.screening.output import RowWriter

ON = date(2026, 3, 1)
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"


def coded(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def status_code(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def candidate(pid: str, ref: str | None = None) -> dict[str, list[Any]]:
    """Resources of an LDN candidate (fibromyalgia pathway), keyed by resource type."""
    subject = {"reference": ref or f"Patient/{pid}"}
    return {
        "Patient": [
            {
                "resourceType": "Patient",
                "id": pid,
                "birthDate": "1970-05-01",
                "gender": "female",
                "name": [{"family": "Testperson", "given": ["Secret"]}],
            }
        ],
        "Condition": [
            {
                "resourceType": "Condition",
                "id": f"{pid}-fm",
                "subject": subject,
                "clinicalStatus": status_code("condition-clinical", "active"),
                "verificationStatus": status_code("condition-ver-status", "confirmed"),
                "code": coded(ICD, "M79.7", "Fibromyalgia"),
                "onsetDateTime": "2023-01-10",
            }
        ],
        "MedicationRequest": [
            {
                "resourceType": "MedicationRequest",
                "id": f"{pid}-nsaid",
                "status": "completed",
                "intent": "order",
                "subject": subject,
                "authoredOn": "2024-05-01",
                "medicationCodeableConcept": coded(RX, "849574", "Naproxen sodium 220 MG Oral Tablet"),
                # A supply bounds the course: an order with no end date is a trial of unknown length.
                "dispenseRequest": {
                    "expectedSupplyDuration": {
                        "value": 90,
                        "unit": "days",
                        "system": "http://unitsofmeasure.org",
                        "code": "d",
                    }
                },
            },
            {
                "resourceType": "MedicationRequest",
                "id": f"{pid}-dulox",
                "status": "completed",
                "intent": "order",
                "subject": subject,
                "authoredOn": "2024-09-01",
                "medicationCodeableConcept": coded(RX, "72625", "duloxetine"),
                # A supply bounds the course: an order with no end date is a trial of unknown length.
                "dispenseRequest": {
                    "expectedSupplyDuration": {
                        "value": 270,
                        "unit": "days",
                        "system": "http://unitsofmeasure.org",
                        "code": "d",
                    }
                },
            },
        ],
        "Procedure": [
            {
                "resourceType": "Procedure",
                "id": f"{pid}-pt",
                "status": "completed",
                "subject": subject,
                "code": coded(CPT, "97110", "Therapeutic exercises"),
                "performedDateTime": "2025-03-02",
            }
        ],
        "AllergyIntolerance": [],
        "Observation": [],
    }


def write_export(
    folder: Path,
    patients: list[dict[str, list[Any]]],
    extra: dict[str, list[str]] | None = None,
    types: tuple[str, ...] = (
        "Patient",
        "Condition",
        "MedicationRequest",
        "Procedure",
        "AllergyIntolerance",
        "Observation",
    ),
) -> Path:
    """One file per type; `extra` appends raw lines (e.g. broken ones) to a type's file."""
    folder.mkdir(parents=True, exist_ok=True)
    for rtype in types:
        lines = [json.dumps(r) for p in patients for r in p.get(rtype, [])]
        lines += (extra or {}).get(rtype, [])
        (folder / f"{rtype}.000.ndjson").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


def screen(folder: Path, **options: Any) -> tuple[list[ScreeningRow], list[BadLine], Any]:
    rows: list[ScreeningRow] = []
    bad: list[BadLine] = []
    summary = screen_export(folder, ScreenOptions(evaluation_date=ON, **options), rows.append, bad.append)
    return rows, bad, summary


def ndjson(rows: list[ScreeningRow]) -> str:
    out = io.StringIO()
    writer = RowWriter(out, "ndjson")
    for row in rows:
        writer.write(row)
    return out.getvalue()
