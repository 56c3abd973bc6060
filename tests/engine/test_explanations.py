"""What a clinician reads: the disclaimer on every offer, what would change the decision (each way out
once, what matters first), what is missing apart from what is also missing, and unread records named."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.cdshooks.cards import card_detail, decision_card, md
from ldncds.engine import Assessment, Engine, PatientFacts, RulesetError, load_ruleset
from ldncds.engine.facts import DataNote, Medication
from ldncds.pages.views import render_assessment
from ldncds.settings import Settings
from ldncds.store import open_store
from support.pages import assert_accessible_and_offline

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ON = date(2026, 3, 1)
BASE = "https://cds.example.org"
OXYCODONE = {"system": "RxNorm", "code": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet"}
NALTREXONE = {"system": "RxNorm", "code": "7243", "display": "naltrexone"}
TRAMADOL = {"system": "RxNorm", "code": "835603", "display": "tramadol hydrochloride 50 MG Oral Tablet"}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def example(name: str) -> PatientFacts:
    return PatientFacts.model_validate_json((EXAMPLES / f"{name}.json").read_bytes())


def with_(facts: PatientFacts, **update: Any) -> PatientFacts:
    return PatientFacts.model_validate(facts.model_dump() | update)


def stored(a: Assessment) -> Assessment:
    return a.model_copy(update={"assessment_id": str(uuid.uuid4())})


def ended(source: str, code: dict, end: str) -> dict:
    return Medication(
        source=source, status="completed", start="2026-01-10", end=end, codes=[code]
    ).model_dump()


# ------------------------------------------------------------------------------- disclaimer


@pytest.mark.parametrize("name", ["candidate", "candidate_with_cautions_thyroid"])
def test_an_offer_of_ldn_says_off_label_and_weak_evidence_on_the_card(engine: Engine, name: str) -> None:
    a = stored(engine.assess(example(name), ON))
    said = engine.ruleset.manifest.disclaimer
    card = decision_card(a, base_url=BASE, patient_id="pt-1")
    assert card.summary.endswith(f"({said.summary})") and len(card.summary) < 140
    top = (card.detail or "").split("Evaluated ", 1)[0]  # the words come before anything else
    assert md(" ".join(said.text.split())) in top and "Off-label" in top


def test_a_long_reason_is_cut_but_never_the_disclaimer(engine: Engine) -> None:
    a = stored(engine.assess(example("candidate"), ON))
    long = a.model_copy(update={"reason": "Candidate: " + "a very long reason indeed " * 10})
    summary = decision_card(long, base_url=BASE, patient_id="pt-1").summary
    assert len(summary) < 140 and "…" in summary
    assert summary.endswith(f"({engine.ruleset.manifest.disclaimer.summary})")


def test_the_words_come_from_the_ruleset(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    manifest = yaml.safe_load((rules / "ruleset.yaml").read_text())
    manifest["disclaimer"]["summary"] = "unlicensed use, uncertain benefit"
    manifest["disclaimer"]["text"] = "Site wording: unlicensed at this dose, and the benefit is uncertain."
    (rules / "ruleset.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    a = stored(Engine(load_ruleset(rules)).assess(example("candidate"), ON))
    card = decision_card(a, base_url=BASE, patient_id="pt-1")
    assert card.summary.endswith("(unlicensed use, uncertain benefit)")
    assert "Site wording: unlicensed at this dose" in (card.detail or "")
    assert "Site wording: unlicensed at this dose" in render_assessment(a, a.assessment_id or "")


def test_a_ruleset_without_a_disclaimer_is_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    manifest = yaml.safe_load((rules / "ruleset.yaml").read_text())
    del manifest["disclaimer"]
    (rules / "ruleset.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    with pytest.raises(RulesetError, match="disclaimer"):
        load_ruleset(rules)


def test_a_hard_stop_card_does_not_carry_the_offer_wording(engine: Engine) -> None:
    a = stored(engine.assess(example("contraindicated_tramadol_washout"), ON))
    card = decision_card(a, base_url=BASE, patient_id="pt-1")
    assert engine.ruleset.manifest.disclaimer.summary not in card.summary
    assert "Off-label" not in (card.detail or "")


def test_a_patient_on_ldn_is_reminded_in_the_detail_not_the_summary(engine: Engine) -> None:
    ldn = Medication(source="MedicationRequest/ldn", codes=[NALTREXONE], status="active", start="2025-10-01")
    facts = PatientFacts(
        birth_date="1970-01-01",
        conditions=[],
        medications=[ldn.model_copy(update={"daily_dose_mg": 4.5})],
        allergies=[],
    )
    a = stored(engine.assess(facts, ON))
    assert a.decision == "on_therapy"
    card = decision_card(a, base_url=BASE, patient_id="pt-1")
    assert "Off-label" in (card.detail or "") and "off-label" not in card.summary


def test_the_page_shows_the_disclaimer_and_its_sources(engine: Engine) -> None:
    a = stored(engine.assess(example("candidate"), ON))
    html = render_assessment(a, a.assessment_id or "")
    assert 'id="disclaimer"' in html
    assert "clinicaltrials.gov/study/NCT04270877" in html  # the negative FINAL trial is cited


# ------------------------------------------------------------------------------- what would change


def test_one_way_out_per_record_most_specific_first(engine: Engine) -> None:
    """Buprenorphine/naloxone is both an opioid agonist and maintenance treatment, each coded and by
    name: four rules, one record, one bullet, and the maintenance (no way out here) first."""
    a = engine.assess(example("contraindicated_buprenorphine"), ON)
    assert len({e.rule_id for h in a.hard_stops for e in h.explanations}) == 4
    [way_out] = a.counterfactuals
    assert way_out.index("addiction care team") < way_out.index("the washout is")
    assert way_out.count("the washout is") == 1  # the coded and the text rule say it once


def test_two_washouts_ending_on_different_days_are_both_said(engine: Engine) -> None:
    base = example("candidate")
    meds = [
        *base.model_dump()["medications"],
        ended("MedicationRequest/oxy", OXYCODONE, "2026-02-26"),
        ended("MedicationRequest/tram", TRAMADOL, "2026-02-27"),
    ]
    a = engine.assess(with_(base, medications=meds), ON)
    assert a.decision == "contraindicated"
    assert len(a.counterfactuals) == 2
    days = sorted(h.earliest_start.isoformat() for h in a.hard_stops if h.earliest_start)
    assert len(set(days)) == 2
    assert [d for d in days if any(d in t for t in a.counterfactuals)] == days


def test_a_hard_stop_puts_the_missing_histories_apart(engine: Engine) -> None:
    a = engine.assess(example("contraindicated_buprenorphine"), ON)
    assert a.missing == []
    assert {m.criterion for m in a.also_missing} == {
        "failed_physical_therapy",
        "failed_anti_inflammatory",
        "failed_neuropathic_agent",
        "failed_epidural_steroid_injection",
    }
    assert all(m.note and "hard stop" in m.note for m in a.also_missing)
    detail = card_detail(stored(a))
    assert "**Missing**" not in detail
    way_out, also = detail.index("**What would change this decision**"), detail.index("**Also missing")
    assert way_out < detail.index("**Criteria") < also  # what matters first, the rest after
    for item in a.also_missing:
        assert detail.count(md(item.what)) == 1  # said once, apart, not again among the criteria
    assert "**Criteria unknown**" not in detail


def test_a_criterion_of_a_pathway_not_established_is_never_what_is_missing(engine: Engine) -> None:
    """Axial back pain: not a candidate. The injection belongs to the radicular pathway only."""
    a = engine.assess(example("not_candidate_axial_back_pain"), ON)
    assert a.decision == "not_candidate"
    assert "failed_epidural_steroid_injection" not in {m.criterion for m in a.missing}
    [esi] = [m for m in a.also_missing if m.criterion == "failed_epidural_steroid_injection"]
    assert esi.note and "radiculopathy pathway" in esi.note
    assert not any("epidural" in t.lower() for t in a.counterfactuals)


def test_an_unconfirmed_diagnosis_asks_for_the_diagnosis_not_the_injection(engine: Engine) -> None:
    base = example("insufficient_information_esi")
    conditions = [c | {"verification_status": "provisional"} for c in base.model_dump()["conditions"]]
    a = engine.assess(with_(base, conditions=conditions), ON)
    assert a.decision == "insufficient_information"
    assert [m.criterion for m in a.missing] == ["qualifying_diagnosis"]
    assert [m.criterion for m in a.also_missing] == ["failed_epidural_steroid_injection"]
    assert not any("epidural" in t.lower() for t in a.counterfactuals)
    assert a.reason == "Insufficient information: unknown: qualifying diagnosis"


def test_insufficient_information_lists_what_it_turns_on(engine: Engine) -> None:
    a = engine.assess(example("insufficient_information_esi"), ON)
    assert [m.criterion for m in a.missing] == ["failed_epidural_steroid_injection"]
    assert a.also_missing == []


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.json")))
def test_no_bullet_repeats_another(engine: Engine, name: str) -> None:
    a = engine.assess(PatientFacts.model_validate_json((EXAMPLES / f"{name}.json").read_bytes()), ON)
    words = [" ".join(t.lower().split()) for t in a.counterfactuals]
    assert len(words) == len(set(words))
    assert not {m.criterion for m in a.missing} & {m.criterion for m in a.also_missing}
    unknown = {c.id for c in a.criteria if c.status == "unknown" and c.required}
    if a.decision != "on_therapy":
        assert {m.criterion for m in a.missing} | {m.criterion for m in a.also_missing} == unknown
    assert not {c.id for c in a.criteria if c.status == "not_applicable"} & {
        m.criterion for m in a.missing + a.also_missing
    }


# ------------------------------------------------------------------------------- unread records


NOTES = [
    DataNote(source="MedicationDispense/md-7", section="medications", reason="unknown modifierExtension"),
    DataNote(source="Condition/c-9", section="conditions", reason="clinicalStatus is not a FHIR code"),
    DataNote(
        source="MedicationRequest/mr-2",
        section="medications",
        reason="two different versions with the same id; both kept",
        severity="caveat",
    ),
]


def test_the_card_says_how_many_records_could_not_be_read_and_names_them(engine: Engine) -> None:
    a = stored(engine.assess(with_(example("candidate"), notes=[n.model_dump() for n in NOTES]), ON))
    assert a.data_notes == NOTES
    detail = card_detail(a)
    assert "**2 records could not be read**" in detail
    assert "- MedicationDispense/md-7 (medications): unknown modifierExtension" in detail
    assert "- Condition/c-9 (conditions): clinicalStatus is not a FHIR code" in detail
    assert "**Read with a caveat**" in detail and "MedicationRequest/mr-2" in detail
    assert detail.index("could not be read") < detail.index("**Criteria")


def test_one_unreadable_record_is_said_in_the_singular(engine: Engine) -> None:
    a = stored(engine.assess(with_(example("candidate"), notes=[NOTES[0].model_dump()]), ON))
    assert "**1 record could not be read**" in card_detail(a)
    assert "Read with a caveat" not in card_detail(a)


def test_the_page_lists_unread_records(engine: Engine) -> None:
    a = stored(engine.assess(with_(example("candidate"), notes=[n.model_dump() for n in NOTES]), ON))
    html = render_assessment(a, a.assessment_id or "")
    assert 'id="unreadable-records"' in html and 'id="caveat-records"' in html
    for note in NOTES:
        assert note.source in html and note.reason in html
    assert "2 records could not be read" in html


def test_an_unreadable_record_leaves_its_section_incomplete(engine: Engine) -> None:
    a = engine.assess(with_(example("candidate"), notes=[NOTES[0].model_dump()]), ON)
    assert a.decision != "candidate"  # a medication that could not be read may be an opioid
    caveat_only = engine.assess(with_(example("candidate"), notes=[NOTES[2].model_dump()]), ON)
    assert caveat_only.decision == "candidate"


@pytest.mark.parametrize(
    "name", ["contraindicated_buprenorphine", "not_candidate_axial_back_pain", "candidate"]
)
def test_pages_with_every_new_part_stay_accessible(engine: Engine, name: str) -> None:
    facts = with_(example(name), notes=[n.model_dump() for n in NOTES])
    a = stored(engine.assess(facts, ON))
    html = render_assessment(a, a.assessment_id or "")
    assert_accessible_and_offline(html)
    if a.also_missing:
        assert 'id="also-missing"' in html
        for item in a.also_missing:
            assert item.note and item.note in html


def test_no_note_no_section(engine: Engine) -> None:
    a = stored(engine.assess(example("candidate"), ON))
    assert "could not be read" not in card_detail(a)
    assert 'id="data-notes"' not in render_assessment(a, a.assessment_id or "")


def test_the_json_api_returns_the_notes_and_documents_them(engine: Engine) -> None:
    client = TestClient(create_app(Settings(), engine=engine, store=open_store("sqlite://")))
    facts = json.loads((EXAMPLES / "candidate.json").read_text())
    facts["notes"] = [n.model_dump(exclude_none=True) for n in NOTES]
    response = client.post("/api/v1/assessments", json=facts, params={"evaluation_date": ON.isoformat()})
    assert response.status_code == 201, response.text
    assert response.json()["data_notes"] == [n.model_dump(mode="json") for n in NOTES]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"data_notes", "also_missing", "disclaimer"} <= set(schema["Assessment"]["properties"])
    assert {"source", "reason", "severity"} <= set(schema["DataNote"]["properties"])


def test_a_rule_note_names_its_record_on_card_and_page(engine: Engine) -> None:
    """Notes from rules (e.g. a record considered and judged not to block) say which record."""
    a = stored(engine.assess(example("insufficient_information_esi"), ON))
    [note] = a.notes
    [fact] = note.explanation.facts
    detail = card_detail(a)
    assert f"{md(note.text)} ({md(fact.display)} ({md(fact.source)}" in detail
    html = render_assessment(a, a.assessment_id or "")
    section = html.split('id="notes"', 1)[1].split("</section>", 1)[0]
    assert fact.source in section and note.explanation.rule_id in section
