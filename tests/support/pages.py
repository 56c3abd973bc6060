"""Samples shared by the page tests (test_pages*.py, test_browser*.py): one patient per decision,
assessed by the real engine, and a small in-memory decision store.

The patients come from examples/*.json (grouped by the decision the engine gives them); any
decision with no example yet is built from examples/candidate.json with one change.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ldncds.engine import Assessment, Engine, PatientFacts, default_rules_dir
from ldncds.engine.vocabulary import DECISIONS as VOCABULARY_DECISIONS
from ldncds.pages.web import router
from ldncds.store.interface import Caller, StoredAssessment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EVALUATION_DATE = date(2026, 3, 1)
DECISIONS = VOCABULARY_DECISIONS  # every decision the engine can give, each needs a page
XSS = "<script>alert(1)</script>"
HOSTILE_MEDICATION = f"{XSS} oxycodone 5 mg"
HOSTILE_CONDITION = f"<img src=x onerror=alert(2)> fibromyalgia {XSS}"


@cache
def engine() -> Engine:
    return Engine(default_rules_dir())


def _candidate() -> dict[str, Any]:
    return json.loads((EXAMPLES / "candidate.json").read_text())


def variant(decision: str) -> dict[str, Any]:
    """The candidate example with the one change that gives `decision`."""
    facts = _candidate()
    if decision == "contraindicated":
        facts["medications"].append(
            {
                "source": "MedicationRequest/oxy-1",
                "status": "completed",
                "start": "2026-02-01",
                "end": "2026-02-26",
                "codes": [
                    {
                        "system": "RxNorm",
                        "code": "1049621",
                        "display": "oxycodone hydrochloride 5 MG Oral Tablet",
                    }
                ],
            }
        )
    elif decision == "not_candidate":
        facts["birth_date"] = "2010-05-01"
    elif decision == "insufficient_information":
        facts["procedures"] = None
    elif decision == "on_therapy":
        facts["medications"].append(
            {
                "source": "MedicationRequest/ldn-1",
                "status": "active",
                "start": "2025-10-01",
                "daily_dose_mg": 4.5,
                "text": "naltrexone 4.5 mg compounded capsule",
                "codes": [{"system": "RxNorm", "code": "7243", "display": "naltrexone"}],
            }
        )
        facts["conditions"].append(
            {
                "source": "Condition/dreams-1",
                "clinical_status": "active",
                "verification_status": "confirmed",
                "onset": "2026-02-10",
                "codes": [{"system": "SNOMED-CT", "code": "52464009", "display": "Nightmares"}],
            }
        )
        facts["observations"] = [
            {
                "source": f"Observation/nrs-{i}",
                "status": "final",
                "effective": day,
                "value_num": value,
                "codes": [{"system": "LOINC", "code": "72514-3", "display": "Pain severity 0-10"}],
            }
            for i, (day, value) in enumerate(
                [("2025-09-20", 7), ("2025-11-15", 6), ("2026-01-05", 4), ("2026-02-20", 3)]
            )
        ]
    elif decision == "candidate_with_cautions":
        facts["conditions"].append(
            {
                "source": "Condition/dep-1",
                "clinical_status": "active",
                "verification_status": "confirmed",
                "onset": "2020-01-01",
                "codes": [
                    {
                        "system": "ICD-10-CM",
                        "code": "F33.1",
                        "display": "Major depressive disorder, recurrent",
                    }
                ],
            }
        )
    return facts


@cache
def facts_by_decision() -> dict[str, PatientFacts]:
    """One patient per decision: the first example (by file name) with that decision, else a variant."""
    found: dict[str, PatientFacts] = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        facts = PatientFacts.model_validate_json(path.read_bytes())
        found.setdefault(engine().assess(facts, EVALUATION_DATE).decision, facts)
    for decision in DECISIONS:
        if decision not in found:
            found[decision] = PatientFacts.model_validate(variant(decision))
    return found


def hostile_facts() -> PatientFacts:
    """A patient whose condition and medication names are HTML: must be shown as text, never run."""
    facts = _candidate()
    facts["conditions"][0]["text"] = HOSTILE_CONDITION
    facts["medications"].append(
        {"source": "MedicationStatement/ms-x", "text": HOSTILE_MEDICATION, "status": "active"}
    )
    return PatientFacts.model_validate(facts)


class MemoryStore:
    """The DecisionStore protocol in memory, enough for the pages (tests only)."""

    def __init__(self) -> None:
        self.items: dict[str, StoredAssessment] = {}

    def record(
        self,
        *,
        assessment_id: str,
        facts: dict[str, Any],
        assessment: dict[str, Any],
        raw_input: bytes,
        caller: Caller,
        ruleset_hash: str,
    ) -> StoredAssessment:
        stored = StoredAssessment(
            id=assessment_id,
            seq=len(self.items) + 1,
            created_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            caller=caller,
            evaluation_date=date.fromisoformat(assessment["evaluation_date"]),
            ruleset_version=assessment["ruleset_version"],
            ruleset_hash=ruleset_hash,
            decision=assessment["decision"],
            input_digest=hashlib.sha256(raw_input).hexdigest(),
            facts=facts,
            assessment=assessment,
        )
        self.items[assessment_id] = stored
        return stored

    def get(self, assessment_id: str) -> StoredAssessment | None:
        return self.items.get(assessment_id)

    def list(self, **_: Any) -> list[StoredAssessment]:
        return list(self.items.values())

    def add_feedback(self, card_uuid: str, item: dict[str, Any]) -> bool:
        return True


def record(store: Any, assessment_id: str, facts: PatientFacts) -> Assessment:
    """Assess `facts` with the real engine and store the result under `assessment_id`."""
    assessment = engine().assess(facts, EVALUATION_DATE)
    assessment.assessment_id = assessment_id
    store.record(
        assessment_id=assessment_id,
        facts=facts.model_dump(mode="json"),
        assessment=assessment.model_dump(mode="json"),
        raw_input=facts.model_dump_json().encode(),
        caller=Caller(channel="api"),
        ruleset_hash=engine().ruleset.content_hash,
    )
    return assessment


def fill(store: Any) -> dict[str, Assessment]:
    """Store one assessment per decision (ids `page-<decision>`) plus the hostile one (`page-hostile`)."""
    out = {f"page-{d}": record(store, f"page-{d}", facts) for d, facts in facts_by_decision().items()}
    out["page-hostile"] = record(store, "page-hostile", hostile_facts())
    return out


def pages_app(store: Any | None, with_engine: bool = True) -> FastAPI:
    """A FastAPI app with only the pages router, wired the way create_app wires it."""
    app = FastAPI()
    app.include_router(router)
    app.state.store = store
    app.state.engine = engine() if with_engine else None
    return app


class Outline(HTMLParser):
    """What the accessibility and offline checks need from a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[int] = []
        self.tables = 0
        self.captions = 0
        self.th_without_scope = 0
        self.loads: list[tuple[str, str]] = []  # (tag, url) of everything the browser would fetch
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        self.tables += tag == "table"
        self.captions += tag == "caption"
        self.th_without_scope += tag == "th" and "scope" not in a
        for key in ("src", "href", "srcset", "data", "poster"):
            if a.get(key) and tag in (
                "link",
                "script",
                "img",
                "iframe",
                "source",
                "embed",
                "object",
                "video",
                "audio",
                "image",
                "use",
                "track",
                "input",
            ):
                self.loads.append((tag, a[key] or ""))
        self._in_title = tag == "title" and not self.title

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def outline(html: str) -> Outline:
    parser = Outline()
    parser.feed(html)
    return parser


def assert_accessible_and_offline(html: str) -> Outline:
    o = outline(html)
    assert o.headings and o.headings[0] == 1 and o.headings.count(1) == 1
    for before, after in zip(o.headings, o.headings[1:], strict=False):
        assert after <= before + 1, f"heading level jumps from h{before} to h{after}"
    assert o.tables == o.captions, "every table needs a caption"
    assert o.th_without_scope == 0, "every <th> needs a scope"
    assert {"header", "main"} <= set(o.tags)
    assert "script" not in o.tags
    outside = [(t, u) for t, u in o.loads if re.match(r"^(https?:)?//", u, re.I)]
    assert outside == [], f"page would load from outside hosts: {outside}"
    assert len(o.ids) == len(set(o.ids)), "duplicate element ids"
    return o
