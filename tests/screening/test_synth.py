"""The synthetic population: seeded, valid FHIR R4, real codes, every decision path."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import load_ruleset
from ldncds.engine.codes import canonical_system
from ldncds.screening import ScreenOptions, generate_population, screen_export
from ldncds.screening.synth import CODES, CODINGS, PROFILES, RESOURCE_TYPES, SYSTEM

ON = date(2026, 3, 1)
DECISIONS = {
    "candidate",
    "candidate_with_cautions",
    "contraindicated",
    "insufficient_information",
    "not_candidate",
}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    generate_population(50, tmp_path / "a", seed=11, on=ON)
    generate_population(50, tmp_path / "b", seed=11, on=ON)
    generate_population(50, tmp_path / "c", seed=12, on=ON)
    a = _files(tmp_path / "a")
    assert sorted(a) == sorted(f"{t}.000.ndjson" for t in RESOURCE_TYPES)
    assert a == _files(tmp_path / "b")
    assert a != _files(tmp_path / "c")


def test_every_code_is_in_the_value_set_it_claims_and_background_codes_in_none() -> None:
    valuesets = load_ruleset(Path(__file__).resolve().parents[2] / "rules").valuesets
    for group, codes in CODES.items():
        for code in codes:
            found = valuesets.of_code(canonical_system(SYSTEM[code.system]) or "", code.code)
            if code.value_set is None:
                assert found == set(), (group, code.code, found)
            else:
                assert code.value_set in found, (group, code.code)
            for product, _ in code.products:  # every product form is in the same value set
                assert code.value_set in valuesets.of_code("RxNorm", product), (group, product)


def test_profile_weights_add_up_to_one() -> None:
    assert abs(sum(weight for _, weight, _ in PROFILES) - 1.0) < 1e-9
    assert {decision for _, _, decision in PROFILES} == DECISIONS


def test_two_hundred_patients_screen_to_every_decision_path_as_intended(tmp_path: Path) -> None:
    summary = generate_population(200, tmp_path, seed=5, on=ON)
    assert summary.patients == 200 == summary.resources["Patient"]
    rows, bad = [], []
    result = screen_export(tmp_path, ScreenOptions(evaluation_date=ON), rows.append, bad.append)
    assert bad == []  # every resource passed the adapter's fhir.resources validation
    assert set(result.decisions) == DECISIONS
    assert result.decisions == summary.intended  # each story leads where it was meant to
    washouts = [r for r in rows if r.decision == "contraindicated" and r.earliest_start is not None]
    assert washouts and all(r.earliest_start > ON for r in washouts)
    assert Counter(r.decision for r in rows)["candidate"] >= 20


def test_patients_carry_no_real_identifiers_and_reference_their_own_patient(tmp_path: Path) -> None:
    generate_population(30, tmp_path, seed=2, on=ON)
    patients = {json.loads(line)["id"] for line in (tmp_path / "Patient.000.ndjson").read_text().splitlines()}
    assert len(patients) == 30
    for rtype in RESOURCE_TYPES[1:]:
        for line in (tmp_path / f"{rtype}.000.ndjson").read_text().splitlines():
            resource = json.loads(line)
            ref = resource["patient" if rtype == "AllergyIntolerance" else "subject"]["reference"]
            assert ref.removeprefix("Patient/") in patients


def test_synth_command_writes_the_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["synth", "12", str(tmp_path / "pop"), "--seed", "4", "--date", "2026-03-01"]
    )
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "pop" / "Patient.000.ndjson").read_text().splitlines()) == 12


def _decisions(folder: Path) -> dict[str, tuple[object, ...]]:
    """Per patient: decision, hard stops, cautions, unknown criteria and earliest start."""
    rows, bad = [], []
    screen_export(folder, ScreenOptions(evaluation_date=ON), rows.append, bad.append)
    assert bad == []
    return {
        r.patient: (
            r.decision,
            sorted(r.hard_stops),
            sorted(r.cautions),
            sorted(r.unknown_criteria),
            r.earliest_start,
        )
        for r in rows
    }


def test_product_coded_population_gets_the_decisions_of_the_ingredient_coded_one(tmp_path: Path) -> None:
    """Issue 11 acceptance: the same 300 patients, coded as EHRs send them or at ingredient level."""
    for coding in CODINGS:
        generate_population(300, tmp_path / coding, seed=9, on=ON, coding=coding)
    ingredient = _decisions(tmp_path / "ingredient")
    assert len(ingredient) == 300
    assert _decisions(tmp_path / "product") == ingredient  # patient for patient
    assert _decisions(tmp_path / "realistic") == ingredient
    requests = (tmp_path / "product" / "MedicationRequest.000.ndjson").read_text()
    assert "596934" in requests or "310431" in requests  # product codes really were written
    assert '"code":"25480"' not in requests and '"code":"72625"' not in requests


def test_realistic_coding_mixes_products_ingredients_and_text_only_opioids(tmp_path: Path) -> None:
    generate_population(400, tmp_path, seed=3, on=ON)
    concepts = [
        json.loads(line)["medicationCodeableConcept"]
        for line in (tmp_path / "MedicationRequest.000.ndjson").read_text().splitlines()
    ]
    products = {c for g in CODES.values() for code in g for c, _ in code.products}
    ingredients = {code.code for g in CODES.values() for code in g if code.products}
    codes = [c["coding"][0]["code"] for c in concepts if c.get("coding")]
    assert sum(c in products for c in codes) > sum(c in ingredients for c in codes) > 0
    assert any("coding" not in c for c in concepts)  # some opioids arrive as text only


def test_an_unknown_coding_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="coding"):
        generate_population(1, tmp_path, on=ON, coding="snomed")  # type: ignore[arg-type]
