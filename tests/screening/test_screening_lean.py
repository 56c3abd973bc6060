"""Screening's lean assessments (`detail="decision"`) decide exactly as full ones.

A screening row needs the decision and what it turns on, not the explanations a clinician reads.
The lean path must give the same rows and the same decision content (criteria states, deciding
rule, hard stops, cautions, missing items); only explanation texts, the plan, the reminders and the
counterfactuals are left out, and the decision log (--record) always gets the full assessment.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ldncds.engine import DECISIONS, Assessment, Detail, Engine, PatientFacts
from ldncds.screening import ScreeningRow, ScreenOptions, build_index, generate_population, screen_export
from ldncds.screening.bulk import LineReader, RawLine, discover
from ldncds.screening.patient import PatientOutcome, engine_for, prepare, screen_lines
from support.screening import ON, RX, candidate

ROOT = Path(__file__).resolve().parents[2]
EXPLANATIONS = ("explanation", "explanations", "recommendation_explanation")
LEFT_OUT = ("plan", "reminders", "counterfactuals")


def _decision_part(value: Any) -> Any:
    """An assessment's dump without what the lean path leaves out; explanations keep their rule id."""
    if isinstance(value, list):
        return [_decision_part(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in LEFT_OUT:
            continue
        if key in EXPLANATIONS:
            rules = [e["rule_id"] for e in (item if isinstance(item, list) else [item]) if e]
            out[key] = rules
        else:
            out[key] = _decision_part(item)
    return out


def _assert_lean(lean: Assessment) -> None:
    """Guards against a lean path that silently builds everything (the comparison would still pass)."""
    assert lean.plan is None and lean.reminders == [] and lean.counterfactuals == []
    cited = [e for c in lean.criteria for e in c.explanations if e.facts or e.evidence or e.counterfactual]
    assert cited == []


def _on_ldn(pid: str) -> dict[str, list[Any]]:
    """A patient already taking LDN 4.5 mg at bedtime (the synthetic population has none)."""
    patient = candidate(pid)
    patient["MedicationRequest"].append(
        {
            "resourceType": "MedicationRequest",
            "id": f"{pid}-ldn",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{pid}"},
            "authoredOn": "2025-09-10",
            "medicationCodeableConcept": {
                "coding": [{"system": RX, "code": "7243", "display": "naltrexone"}],
                "text": "naltrexone 4.5 mg (compounded)",
            },
            "dosageInstruction": [
                {
                    "text": "4.5 mg at bedtime",
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": 4.5, "unit": "mg", "code": "mg"}}],
                }
            ],
        }
    )
    return patient


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ldncds synth` patients, plus a few already on LDN: every decision the engine can give."""
    folder = tmp_path_factory.mktemp("population")
    generate_population(300, folder, seed=15, on=ON)
    extra = [_on_ldn(f"ldn-{i}") for i in range(3)]
    for rtype in ("Patient", "Condition", "MedicationRequest", "Procedure"):
        with (folder / f"{rtype}.000.ndjson").open("a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for p in extra for r in p[rtype])
    return folder


def _screen(folder: Path, keep: bool) -> tuple[list[ScreeningRow], list[PatientOutcome]]:
    rows: list[ScreeningRow] = []
    outcomes: list[PatientOutcome] = []
    options = ScreenOptions(evaluation_date=ON, keep=keep)
    screen_export(folder, options, rows.append, lambda bad: None, on_outcome=outcomes.append)
    return rows, outcomes


def _all_facts(folder: Path) -> list[PatientFacts]:
    export = discover(folder)
    index = build_index(export)
    reader = LineReader(export.files)
    try:
        prepared = [
            prepare(key, reader.read(entries), export.present_types) for key, entries in index.groups()
        ]
    finally:
        reader.close()
        index.close()
    return [p.facts for p in prepared if p.facts is not None]


def test_lean_and_full_screening_give_identical_rows(population: Path) -> None:
    lean_rows, _ = _screen(population, keep=False)
    full_rows, full = _screen(population, keep=True)
    assert {r.decision for r in lean_rows} == set(DECISIONS)
    assert [r.model_dump() for r in lean_rows] == [r.model_dump() for r in full_rows]
    # --record's path: every kept assessment is the full one, as the decision log must store it.
    engine = engine_for(None)
    kept = [o.kept for o in full if o.kept is not None]
    assert len(kept) == len(full)
    for facts, assessment, _ in kept[:40]:
        assert assessment == engine.assess(facts, ON)


def test_lean_assessments_keep_every_part_of_the_decision(population: Path) -> None:
    engine = engine_for(None)
    seen: set[str] = set()
    for facts in _all_facts(population):
        full = engine.assess(facts, ON)
        lean = engine.assess(facts, ON, detail="decision")
        _assert_lean(lean)
        assert _decision_part(lean.model_dump(mode="json")) == _decision_part(full.model_dump(mode="json"))
        seen.add(full.decision)
        if full.decision in ("candidate", "candidate_with_cautions"):
            assert full.plan is not None  # what the lean path does leave out is really there in full
    assert seen == set(DECISIONS)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.json")), ids=lambda p: p.stem)
def test_every_example_decides_the_same_when_lean(path: Path) -> None:
    facts = PatientFacts.model_validate_json(path.read_bytes())
    engine = engine_for(None)
    full, lean = engine.assess(facts, ON), engine.assess(facts, ON, detail="decision")
    _assert_lean(lean)
    assert _decision_part(lean.model_dump(mode="json")) == _decision_part(full.model_dump(mode="json"))
    assert lean.explanation.rule_id == full.explanation.rule_id  # the deciding rule


def test_lean_and_full_calls_on_one_engine_do_not_mix_across_threads() -> None:
    engine = Engine(ROOT / "rules")
    examples = [
        PatientFacts.model_validate_json(p.read_bytes()) for p in sorted((ROOT / "examples").glob("*.json"))
    ]
    jobs = [(facts, detail) for facts in examples for detail in ("full", "decision")] * 6

    def run(job: tuple[PatientFacts, Detail]) -> Assessment:
        return engine.assess(job[0], ON, detail=job[1])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, jobs))
    for (facts, detail), result in zip(jobs, results, strict=True):
        assert result == engine.assess(facts, ON, detail=detail)
    # ... and the two details really differ, so a call that took the other's would be seen.
    assert all(engine.assess(f, ON) != engine.assess(f, ON, detail="decision") for f in examples)


class _Recording:
    """An engine that notes which detail each patient was assessed with."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.version = engine, engine.version
        self.details: list[str] = []

    def assess(self, facts: PatientFacts, on: date, *, detail: Detail = "full") -> Assessment:
        self.details.append(detail)
        return self.engine.assess(facts, on, detail=detail)


@pytest.mark.parametrize(("keep", "expected"), [(False, "decision"), (True, "full")])
def test_screening_assesses_lean_unless_the_assessment_is_kept(keep: bool, expected: str) -> None:
    lines = [
        RawLine(f"{rtype}.000.ndjson", i + 1, json.dumps(r).encode())
        for rtype, resources in candidate("p1").items()
        for i, r in enumerate(resources)
    ]
    engine = _Recording(engine_for(None))
    types = frozenset({"Patient", "Condition", "MedicationRequest", "Procedure", "AllergyIntolerance"})
    [outcome] = screen_lines([("p1", lines)], engine, ON, types, keep)  # type: ignore[arg-type]
    assert engine.details == [expected]
    assert outcome.row.decision == "candidate"
    assert (outcome.kept is not None) is keep
