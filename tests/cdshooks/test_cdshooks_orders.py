"""Order checks as pure functions: drugs recognised with the rules' value sets, thresholds in one place."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from ldncds.bdd.conformance import card_problems, empty_values
from ldncds.cdshooks import orders
from ldncds.cdshooks.orders import MedicationView
from ldncds.engine import Engine, PatientFacts
from ldncds.engine.facts import Medication
from ldncds.engine.ruleschema import CautionOutcome, TitrationOutcome

ON = date(2026, 3, 1)
BASE = "https://cds.example.org"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def med(
    source: str,
    *,
    code: str | None = None,
    text: str | None = None,
    status: str = "active",
    dose: float | None = None,
) -> Medication:
    codes = [{"system": "RxNorm", "code": code}] if code else []
    return Medication(source=source, codes=codes, text=text, status=status, daily_dose_mg=dose)


def views(engine: Engine, *meds: Medication) -> list[MedicationView]:
    return orders.medication_views(list(meds), ON, engine.ruleset.valuesets)


def test_thresholds_match_the_rules(engine: Engine) -> None:
    # One home per number: the order checks read the same ruleset parameters the rules name.
    LDN_STUDIED_MAX_MG_PER_DAY = engine.ruleset.parameter("ldn_studied_max_mg_per_day")  # noqa: N806
    LDN_MAX_MG_PER_DAY = engine.ruleset.parameter("ldn_max_mg_per_day")  # noqa: N806
    [order] = views(engine, med("MedicationRequest/x", code="7243", dose=4.5))
    assert (order.limits.studied_max_mg, order.limits.ldn_max_mg) == (
        LDN_STUDIED_MAX_MG_PER_DAY,
        LDN_MAX_MG_PER_DAY,
    )
    titrations = [
        lr.rule.then for lr in engine.ruleset.rules.values() if isinstance(lr.rule.then, TitrationOutcome)
    ]
    assert {t.flag_above_mg for t in titrations} == {LDN_STUDIED_MAX_MG_PER_DAY}
    dose_rule = engine.ruleset.rules["CAUT-DOSE-01"].rule
    assert isinstance(dose_rule.then, CautionOutcome) and dose_rule.then.caution == "dose_outside_ldn"
    assert dose_rule.when[0].where["daily_dose_mg"] == {"gt": LDN_STUDIED_MAX_MG_PER_DAY}
    # The LDN ceiling is the therapy rules' own: THER-LDN-01 (<=) and THER-FULLDOSE-01 (>).
    rules = engine.ruleset.rules
    assert rules["THER-LDN-01"].rule.when[0].where["daily_dose_mg"] == {"lte": LDN_MAX_MG_PER_DAY}
    assert rules["THER-FULLDOSE-01"].rule.when[0].where["daily_dose_mg"] == {"gt": LDN_MAX_MG_PER_DAY}


def test_drugs_are_recognised_by_code_or_by_name(engine: Engine) -> None:
    coded, named, other, stopped = views(
        engine,
        med("MedicationRequest/a", code="1049621"),  # oxycodone product
        med("MedicationStatement/b", text="Suboxone film"),  # buprenorphine by brand name only
        med("MedicationRequest/c", code="310965"),  # ibuprofen
        med("MedicationRequest/d", code="7243", status="stopped", dose=4.5),
    )
    assert coded.is_opioid and named.is_opioid and not other.is_opioid
    assert stopped.is_naltrexone and stopped.exposure == "ended"
    assert orders.current_naltrexone([coded, named, other, stopped]) == []


def test_a_naltrexone_of_unknown_status_counts_as_possibly_current(engine: Engine) -> None:
    [unknown] = views(engine, med("MedicationStatement/n", text="LDN 4.5 mg compounded", status="unknown"))
    assert orders.current_naltrexone([unknown]) == [unknown]
    assert orders.is_low_dose(unknown)


def test_selections_pick_drafts_by_reference(engine: Engine) -> None:
    drafts = views(
        engine,
        med("MedicationRequest/1", code="1049621", status="draft"),
        med("MedicationRequest/2", code="7243", status="draft"),
    )
    assert [d.source for d in orders.selected(drafts, ["MedicationRequest/2"])] == ["MedicationRequest/2"]
    assert orders.selected(drafts, None) == drafts


@pytest.mark.parametrize(
    ("dose", "on_ldn", "warns"),
    [
        (None, False, False),
        (1.5, False, False),
        (6.0, False, False),
        (6.5, False, True),
        (10.0, False, True),
        (10.5, False, False),
        (50.0, False, False),
        (50.0, True, True),
    ],
)
def test_dose_warning_boundaries(engine: Engine, dose: float | None, on_ldn: bool, warns: bool) -> None:
    # The thresholds are the order-check rules' (rules/orders.yaml), read by the engine.
    draft = med("MedicationRequest/new", code="7243", status="draft", dose=dose)
    ldn = [med("MedicationRequest/ldn", code="7243", dose=4.5)] if on_ldn else []
    cards = _order_check(engine, ldn, [draft])
    assert bool(cards) is warns
    if cards:
        [card] = cards
        assert card.indicator == "warning" and card.source.url.startswith(
            f"{BASE}/rulebook#rule-ORDER-NTX-DOSE-0"
        )


def _order_check(engine: Engine, record_meds: list[Medication], drafts: list[Medication]) -> list:
    """What the order-sign service does: assess the record with the drafts, then one card per finding."""
    record = views(engine, *record_meds)
    draft_views = views(engine, *drafts)
    facts = orders.with_drafts(PatientFacts(medications=record_meds, allergies=[]), drafts)
    assessment = engine.assess(facts, ON).model_copy(update={"assessment_id": str(uuid.uuid4())})
    naltrexone = [d for d in draft_views if d.is_naltrexone]
    opioid = [d for d in draft_views if d.is_opioid]
    return orders.order_cards(naltrexone, opioid, record, assessment, base_url=BASE, ruleset_version="v")


def test_order_cards_put_each_conflict_on_a_conforming_card(engine: Engine) -> None:
    record = [
        med("MedicationRequest/ldn", code="7243", dose=4.5),
        med("MedicationRequest/tram", code="835603"),
    ]
    drafts = [
        med("MedicationRequest/draft-oxy", code="1049621", status="draft"),
        med("MedicationRequest/draft-ntx", code="7243", status="draft", dose=8.0),
    ]
    cards = _order_check(engine, record, drafts)
    assert [(c.indicator, c.extension["ldncds"]["check"]) for c in cards] == [  # type: ignore[index]
        ("critical", "opioid-order-with-naltrexone"),
        ("critical", "naltrexone-order-contraindicated"),
        ("warning", "naltrexone-dose-above-ldn"),
    ]
    assert cards[0].source.url == f"{BASE}/rulebook#rule-ORDER-OPIOID-ON-NTX-01"
    assert cards[1].source.url == f"{BASE}/rulebook#rule-CONTRA-OPIOID-01"
    assert cards[2].source.url == f"{BASE}/rulebook#rule-ORDER-NTX-DOSE-01"
    assessment_ids = {c.extension["ldncds"]["assessment_id"] for c in cards}  # type: ignore[index]
    assert len(assessment_ids) == 1 and cards[1].uuid in assessment_ids
    assert len({c.uuid for c in cards}) == 3
    for card in cards:
        dumped = card.model_dump(mode="json", exclude_none=True)
        assert card_problems(dumped) == [] and empty_values(dumped) == []


def test_an_opioid_order_beside_a_named_naltrexone_of_unknown_status_blocks(engine: Engine) -> None:
    record = [med("MedicationStatement/n", text="LDN 4.5 mg compounded", status="unknown")]
    [card] = _order_check(engine, record, [med("MedicationRequest/o", code="1049621", status="draft")])
    assert card.indicator == "critical" and card.source.url.endswith("#rule-ORDER-OPIOID-ON-NTX-03")


def test_no_cards_without_a_conflict(engine: Engine) -> None:
    record = [med("MedicationRequest/ibu", code="310965")]
    assert (
        _order_check(engine, record, [med("MedicationRequest/draft-oxy", code="1049621", status="draft")])
        == []
    )
    opioid = views(engine, med("MedicationRequest/draft-oxy", code="1049621", status="draft"))
    assert (
        orders.order_cards([], opioid, views(engine, *record), None, base_url=BASE, ruleset_version="v") == []
    )
