"""Assessment -> CDS Hooks card, as a pure function: one card per decision, conforming to CDS Hooks 2.0.1."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from pathlib import Path

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest

from ldncds.bdd.conformance import card_problems, empty_values, response_problems
from ldncds.cdshooks.cards import (
    EXTENSION_KEY,
    LEGACY_EXTENSION_KEY,
    NALTREXONE_RXNORM,
    TOPIC_SYSTEM,
    card_detail,
    decision_card,
    md,
    shorten,
)
from ldncds.engine import Assessment, Engine, PatientFacts
from ldncds.engine.facts import Condition, Medication

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "candidate.json"
ON = date(2026, 3, 1)
BASE = "https://cds.example.org"
RX = "RxNorm"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def candidate() -> PatientFacts:
    return PatientFacts.model_validate_json(EXAMPLE.read_bytes())


def with_(facts: PatientFacts, **update: object) -> PatientFacts:
    return PatientFacts.model_validate(facts.model_dump() | update)


def tramadol(display: str = "tramadol 50 mg tablet") -> Medication:
    return Medication(
        source="MedicationRequest/mr-tramadol",
        text=display,
        status="active",
        start="2025-11-02",
        codes=[{"system": RX, "code": "835603", "display": "tramadol hydrochloride 50 MG Oral Tablet"}],
    )


def facts_for(decision: str) -> PatientFacts:
    base = candidate()
    if decision == "candidate":
        return base
    if decision == "contraindicated":
        return with_(base, medications=[*base.model_dump()["medications"], tramadol().model_dump()])
    if decision == "not_candidate":
        return with_(base, birth_date="2012-05-01")
    if decision == "insufficient_information":
        return with_(base, procedures=None)
    thyroid = Condition(
        source="Condition/hashimoto",
        clinical_status="active",
        verification_status="confirmed",
        codes=[{"system": "ICD-10-CM", "code": "E06.3", "display": "Autoimmune thyroiditis"}],
    )
    return with_(base, conditions=[*base.model_dump()["conditions"], thyroid.model_dump()])


def assessed(engine: Engine, decision: str) -> Assessment:
    result = engine.assess(facts_for(decision), ON)
    assert result.decision == decision, result.reason
    return result.model_copy(update={"assessment_id": str(uuid.uuid4())})


DECISIONS = [
    "candidate",
    "candidate_with_cautions",
    "insufficient_information",
    "not_candidate",
    "contraindicated",
]
INDICATOR = {
    "candidate": "info",
    "not_candidate": "info",
    "insufficient_information": "info",
    "candidate_with_cautions": "warning",
    "contraindicated": "warning",
}


@pytest.mark.parametrize("decision", DECISIONS)
def test_each_decision_gives_one_conforming_card(engine: Engine, decision: str) -> None:
    a = assessed(engine, decision)
    card = decision_card(a, base_url=BASE, patient_id="pt-1").model_dump(mode="json", exclude_none=True)
    assert response_problems({"cards": [card]}) == []
    assert card["indicator"] == INDICATOR[decision]
    assert card["uuid"] == a.assessment_id
    about = {"decision": decision, "assessment_id": a.assessment_id, "ruleset_version": engine.version}
    assert EXTENSION_KEY == "org.ldncds.assessment" and LEGACY_EXTENSION_KEY == "ldncds"
    assert card["extension"] == {EXTENSION_KEY: about, LEGACY_EXTENSION_KEY: about}  # old key: one release
    rule_id = card["source"]["url"].rsplit("#rule-", 1)[1]
    assert card["source"]["topic"] == {"system": TOPIC_SYSTEM, "code": rule_id}
    assert card["links"] == [
        {"label": "Why? Full explanation", "url": f"{BASE}/assessments/{a.assessment_id}", "type": "absolute"}
    ]
    assert card["source"]["url"].startswith(f"{BASE}/rulebook#rule-")
    assert card["summary"].startswith("Low-dose naltrexone")
    assert all(r["display"] for r in card["overrideReasons"])


@pytest.mark.parametrize("decision", DECISIONS)
def test_only_candidates_get_the_starting_order(engine: Engine, decision: str) -> None:
    card = decision_card(assessed(engine, decision), base_url=BASE, patient_id="pt-1")
    if decision not in ("candidate", "candidate_with_cautions"):
        assert card.suggestions is None and card.selectionBehavior is None
        return
    assert card.selectionBehavior == "at-most-one"
    [suggestion] = card.suggestions or []
    [action] = suggestion.actions or []
    order = MedicationRequest.model_validate(action.resource)  # a valid FHIR R4 resource
    assert (order.status, order.intent) == ("draft", "proposal")
    assert order.medicationCodeableConcept.coding[0].code == "7243"
    assert order.subject.reference == "Patient/pt-1"
    dose = order.dosageInstruction[0].doseAndRate[0].doseQuantity
    assert (float(dose.value), dose.code) == (1.5, "mg")
    assert order.dosageInstruction[0].timing.repeat.when == ["HS"]
    assert "1.5 mg at bedtime" in suggestion.label


def test_the_ordered_code_is_the_rules_naltrexone(engine: Engine) -> None:
    assert "naltrexone" in engine.ruleset.valuesets.of_code("RxNorm", NALTREXONE_RXNORM)


def test_contraindicated_card_names_the_opioid_and_its_rule(engine: Engine) -> None:
    card = decision_card(assessed(engine, "contraindicated"), base_url=BASE, patient_id="pt-1")
    assert "tramadol 50 mg tablet" in card.summary
    assert card.source.url == f"{BASE}/rulebook#rule-CONTRA-OPIOID-01"
    assert "**tramadol 50 mg tablet (MedicationRequest/mr-tramadol, 2025-11-02)**" in (card.detail or "")
    assert "CONTRA-OPIOID-01" in (card.detail or "")


def test_insufficient_card_says_what_is_missing_and_what_would_change(engine: Engine) -> None:
    a = assessed(engine, "insufficient_information")
    detail = card_detail(a)
    assert "**Missing**" in detail and "**What would change this decision**" in detail
    for item in a.missing:
        assert md(item.what) in detail
    assert "**Criteria unknown**" in detail


def test_candidate_card_gives_plan_and_reminders_with_dates(engine: Engine) -> None:
    a = assessed(engine, "candidate")
    detail = card_detail(a)
    assert a.plan is not None and a.reminders
    assert f"from {ON} (week 0): 1.5 mg at bedtime" in detail
    for reminder in a.reminders:
        assert str(reminder.due_from) in detail
    assert "**Criteria met**" in detail and "Fibromyalgia (Condition/fm-1, 2024-03-01)" in detail


def test_cautions_card_names_the_caution_and_its_record(engine: Engine) -> None:
    detail = card_detail(assessed(engine, "candidate_with_cautions"))
    assert "**Cautions**" in detail and "Condition/hashimoto" in detail


def test_long_reason_is_shortened_at_a_word(engine: Engine) -> None:
    long_name = "tramadol " + "extended release tablet with a very long free text description " * 4
    facts = with_(candidate(), medications=[tramadol(long_name).model_dump()])
    a = engine.assess(facts, ON).model_copy(update={"assessment_id": str(uuid.uuid4())})
    card = decision_card(a, base_url=BASE, patient_id="pt-1")
    assert len(card.summary) < 140
    assert card.summary.startswith("Low-dose naltrexone: Contraindicated: current opioid agonist (tramadol")
    assert card.summary.endswith("…") and " " not in card.summary[-2:]


def test_shorten_keeps_short_text_and_cuts_long_text() -> None:
    assert shorten("  a   b ") == "a b"
    cut = shorten("word " * 60)
    assert len(cut) <= 139 and cut.endswith("word…")


def test_record_text_cannot_inject_markdown(engine: Engine) -> None:
    evil = "tramadol [click me](https://evil.example) <img src=x>"
    facts = with_(candidate(), medications=[tramadol(evil).model_dump()])
    a = engine.assess(facts, ON).model_copy(update={"assessment_id": str(uuid.uuid4())})
    detail = card_detail(a)
    assert not re.search(r"(?<!\\)\]\(", detail) and not re.search(r"(?<!\\)<", detail)
    assert r"\[click me\]\(https://evil.example\)" in detail


def test_a_card_needs_a_stored_assessment(engine: Engine) -> None:
    with pytest.raises(ValueError, match="stored"):
        decision_card(engine.assess(candidate(), ON), base_url=BASE, patient_id="pt-1")


def test_the_topic_does_not_depend_on_the_sites_address(engine: Engine) -> None:
    a = assessed(engine, "candidate")
    here = decision_card(a, base_url=BASE, patient_id="pt-1")
    there = decision_card(a, base_url="https://ldn.other-hospital.example/cds/", patient_id="pt-1")
    assert here.source.topic == there.source.topic and here.source.topic is not None
    assert here.source.topic.system == "urn:ldncds:rule"


def test_the_conformance_checker_catches_each_problem() -> None:
    good = {"uuid": "u", "summary": "s", "indicator": "info", "source": {"label": "x"}}
    assert card_problems(good) == []
    assert empty_values({"cards": [], "a": {"b": [None, "", [], {}]}}) == [
        "$.a.b[0]",
        "$.a.b[1]",
        "$.a.b[2]",
        "$.a.b[3]",
    ]
    bad = dict(
        good,
        summary="x" * 140,
        indicator="hard-stop",
        suggestions=[{"label": "y"}],
        links=[{"label": "l", "url": "u", "type": "relative"}],
        overrideReasons=[{"system": "s", "code": "c"}],
    )
    assert len(card_problems(bad)) == 5
    assert response_problems(json.loads('{"cards": [{"summary": null}]}'))


def test_the_conformance_checker_reports_malformed_json_instead_of_failing() -> None:
    good = {"uuid": "u", "summary": "s", "indicator": "info", "source": {"label": "x"}}
    malformed = dict(
        good,
        indicator=["info"],
        suggestions=[None, {"label": "y", "actions": "create"}],
        selectionBehavior="all",
        links={"url": "u"},
        overrideReasons=["because"],
    )
    assert card_problems(malformed) == [
        "indicator ['info'] is not info/warning/critical",
        "suggestions[0] is not an object",
        "suggestions without a selectionBehavior of at-most-one or any",
        "suggestions[1].actions is not an array",
        "links is not an array",
        "overrideReasons[0] is not an object",
    ]
    assert response_problems({"cards": [None, good]}) == [
        "empty value at $.cards[0]",
        "cards[0]: not a JSON object",
    ]


def test_washout_card_gives_the_earliest_start(engine: Engine) -> None:
    stopped = Medication(
        source="MedicationRequest/oxy-1",
        status="completed",
        start="2026-02-01",
        end="2026-02-26",
        codes=[{"system": RX, "code": "1049621", "display": "oxycodone hydrochloride 5 MG Oral Tablet"}],
    )
    facts = with_(candidate(), medications=[*candidate().model_dump()["medications"], stopped.model_dump()])
    a = engine.assess(facts, ON).model_copy(update={"assessment_id": str(uuid.uuid4())})
    assert a.decision == "contraindicated" and a.earliest_start is not None
    card = decision_card(a, base_url=BASE, patient_id="pt-1")
    assert f"**Earliest start:** {a.earliest_start}" in (card.detail or "")
    assert f"earliest start {a.earliest_start}" in card.summary


def test_markdown_escaping_is_the_regex_escaping_it_replaced() -> None:
    """md() escapes with a translation table; the reference is the regex it replaced."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ldncds.cdshooks.cards import md

    reference = re.compile(r"([\\`*_\[\]()<>|~#])")

    @settings(max_examples=500, deadline=None)
    @given(st.text(alphabet=st.sampled_from(list("\\`*_[]()<>|~#ab \n\t\u00a0é")) | st.characters()))
    def check(text: str) -> None:
        assert md(text) == reference.sub(r"\\\1", " ".join(text.split()))

    check()


def test_the_disclaimer_keeps_the_rulesets_capitals(engine: Engine) -> None:
    a = assessed(engine, "candidate")
    assert a.disclaimer is not None
    worded = a.disclaimer.model_copy(update={"summary": "off-label use of LDN, not FDA-approved for pain"})
    detail = card_detail(a.model_copy(update={"disclaimer": worded}))
    assert "**Off-label use of LDN, not FDA-approved for pain.**" in detail
