"""A timed record falls on the site's calendar day (setting site_timezone), whatever offset it is
written in: the evaluation date is the site's today, so every window (washout, trial, duration)
counts site days. Before, the day was taken in the record's own offset, and an evening dose written
at -10:00 fell a day earlier than at a UTC site, outside the 7-day washout.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_fhir_real_records import REAL, chart_with
from test_lean_vs_full import SYNTHEA_GROUPS

from ldncds.fhir import adapter, facts_from_bundle, facts_from_ndjson_group, facts_from_resources
from ldncds.fhir.lean import DATETIME_FORM
from ldncds.fhir.values import date_str

_TIMED = re.compile(DATETIME_FORM)


def _written_in(value: Any, offset_hours: float) -> Any:
    """Every timed value rewritten as the same instant in another UTC offset."""
    if isinstance(value, dict):
        return {k: _written_in(v, offset_hours) for k, v in value.items()}
    if isinstance(value, list):
        return [_written_in(v, offset_hours) for v in value]
    if isinstance(value, str) and _TIMED.match(value):
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return instant.astimezone(timezone(timedelta(hours=offset_hours))).isoformat()
    return value


def _count_timed(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_count_timed(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_timed(v) for v in value)
    return int(isinstance(value, str) and bool(_TIMED.match(value)))


@pytest.mark.parametrize(
    ("written", "zone", "day"),
    [
        ("2026-11-26T20:00:00-10:00", "UTC", "2026-11-27"),
        ("2026-11-26T20:00:00-10:00", "Pacific/Honolulu", "2026-11-26"),
        ("2026-11-27T09:00:00+10:00", "UTC", "2026-11-26"),
        ("2026-11-27T09:00:00+10:00", "Australia/Brisbane", "2026-11-27"),
        ("2026-11-26T23:30:00Z", "America/Chicago", "2026-11-26"),
        ("2026-11-27T05:30:00Z", "America/Chicago", "2026-11-26"),
        ("2026-11-27T06:30:00Z", "America/Chicago", "2026-11-27"),
    ],
)
def test_a_timed_value_is_the_sites_calendar_day(written: str, zone: str, day: str) -> None:
    value = datetime.fromisoformat(written.replace("Z", "+00:00"))
    assert date_str(value, ZoneInfo(zone)) == day


def test_dates_and_partial_dates_keep_their_day_whatever_the_zone() -> None:
    zone = ZoneInfo("Pacific/Kiritimati")  # +14:00, the largest offset there is
    assert date_str("2026-11", zone) == "2026-11"
    assert date_str("2026", zone) == "2026"
    assert date_str(datetime(2026, 11, 26).date(), zone) == "2026-11-26"
    assert date_str(datetime(2026, 11, 26, 23, 0), zone) == "2026-11-26"  # no offset: as written


@pytest.mark.parametrize("offset", [-10, -3.5, 5.75, 14])
def test_the_real_shaped_corpus_gives_the_same_facts_in_any_offset(offset: float) -> None:
    """Every real-shaped case, its timed values rewritten in another offset: the same facts."""
    cases = [None, *sorted(p.stem for p in REAL.glob("*.json") if p.stem != "base_chart")]
    timed = 0
    for name in cases:
        bundle = chart_with(name)
        timed += _count_timed(bundle)
        as_sent = facts_from_bundle(bundle, strict=False, site_timezone="UTC").facts
        moved = facts_from_bundle(_written_in(bundle, offset), strict=False, site_timezone="UTC").facts
        assert moved == as_sent, name
    assert timed >= 4  # the corpus does hold timed values (Synthea below holds thousands)


@pytest.mark.parametrize("pid", sorted(SYNTHEA_GROUPS)[:12])
def test_a_synthea_chart_gives_the_same_facts_in_any_offset(pid: str) -> None:
    resources = SYNTHEA_GROUPS[pid]
    assert _count_timed(resources) > 0
    as_sent = facts_from_ndjson_group(resources, site_timezone="UTC").facts
    for offset in (-11, 13):
        assert facts_from_ndjson_group(_written_in(resources, offset), site_timezone="UTC").facts == as_sent


def test_every_mapped_date_moves_with_the_site() -> None:
    """One record of each type read, all timed at 20:00 -10:00: each of its dates is the site's day."""
    at = "2026-11-26T20:00:00-10:00"
    subject = {"reference": "Patient/p"}
    drug = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7804"}]}
    code = {"coding": [{"system": "http://snomed.info/sct", "code": "203082005"}]}
    sections: dict[str, Any] = {
        "conditions": [
            {"resourceType": "Condition", "id": "c", "subject": subject, "code": code,
             "onsetDateTime": at, "recordedDate": at, "abatementDateTime": at},
        ],
        "medications": [
            {"resourceType": "MedicationRequest", "id": "r", "status": "stopped", "intent": "order",
             "subject": subject, "medicationCodeableConcept": drug, "authoredOn": at},
            {"resourceType": "MedicationStatement", "id": "s", "status": "completed", "subject": subject,
             "medicationCodeableConcept": drug, "effectivePeriod": {"start": at, "end": at}},
            {"resourceType": "MedicationDispense", "id": "d", "status": "completed", "subject": subject,
             "medicationCodeableConcept": drug, "whenHandedOver": at,
             "daysSupply": {"value": 1, "system": "http://unitsofmeasure.org", "code": "d"}},
            {"resourceType": "MedicationAdministration", "id": "a", "status": "completed",
             "subject": subject, "medicationCodeableConcept": drug, "effectiveDateTime": at},
        ],
        "procedures": [
            {"resourceType": "Procedure", "id": "p", "status": "completed", "subject": subject,
             "code": code, "performedDateTime": at},
            {"resourceType": "ServiceRequest", "id": "q", "status": "active", "intent": "order",
             "subject": subject, "code": code, "occurrenceDateTime": at},
            {"resourceType": "Appointment", "id": "b", "status": "booked", "start": at, "end": at,
             "participant": [{"actor": subject, "status": "accepted"}]},
        ],
        "observations": [
            {"resourceType": "Observation", "id": "o", "status": "final", "subject": subject,
             "code": code, "effectiveDateTime": at, "valueInteger": 3},
        ],
    }  # fmt: skip
    patient = {"resourceType": "Patient", "id": "p", "birthDate": "1970-01-01"}
    for zone, day in (("UTC", "2026-11-27"), ("Pacific/Honolulu", "2026-11-26")):
        facts = facts_from_resources(patient, sections, site_timezone=zone).facts
        dumped = json.dumps(facts.model_dump(mode="json"))
        found = set(re.findall(r"\d{4}-\d{2}-\d{2}", dumped)) - {"1970-01-01"}
        assert day in found, (zone, found)
        assert found <= {day, "2026-11-28" if day == "2026-11-27" else "2026-11-27"}, (zone, found)
        assert facts.conditions and facts.conditions[0].onset == day
        assert facts.observations and facts.observations[0].effective == day
        assert facts.procedures and {p.performed for p in facts.procedures} == {day}
        assert facts.medications and {m.start for m in facts.medications} == {day}


def test_the_site_timezone_setting_is_the_default_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    value = datetime.fromisoformat("2026-11-26T20:00:00-10:00")
    monkeypatch.setenv("LDNCDS_SITE_TIMEZONE", "Pacific/Honolulu")
    adapter.configured_zone.cache_clear()
    try:
        assert date_str(value, adapter.configured_zone()) == "2026-11-26"
        monkeypatch.setenv("LDNCDS_SITE_TIMEZONE", "UTC")
        adapter.configured_zone.cache_clear()
        assert date_str(value, adapter.configured_zone()) == "2026-11-27"
    finally:
        adapter.configured_zone.cache_clear()
