"""patient-view's fast path (parts built without validating again, markdown escaped by regex, the
log's text without a read-back) answers byte for byte what the slow, validated path answers: the
response body and the decision-log text, on every hook fixture, a synthetic population and
generated patients."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ldncds.cdshooks import cards, work
from ldncds.engine import Engine, PatientFacts
from ldncds.engine.assessment import validating
from ldncds.screening import generate_population
from ldncds.service import worklet
from ldncds.store import record
from support.patients import ON, patients

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted((ROOT / "tests" / "fixtures" / "http").glob("patient_view_*.json"))
BASE = "https://cds.example.org/"
PREFETCH_KEY = {
    "Condition": "conditions",
    "MedicationRequest": "medications",
    "Procedure": "procedures",
    "AllergyIntolerance": "allergies",
    "Observation": "observations",
}
# The markdown escaping as it was: one character table over the whole text.
_TABLE = str.maketrans({c: "\\" + c for c in "\\`*_[]()<>|~#"})


def reference_md(text: str) -> str:
    return " ".join(text.split()).translate(_TABLE)


def reference_json(model: BaseModel, dumped: dict[str, Any]) -> str:
    return record.compact_json(dumped)  # orjson, checked by read-back and number scan, else json


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(ROOT / "rules")


@contextmanager
def slow_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as patched, validating():
        patched.setattr(cards, "md", reference_md)
        patched.setattr(cards, "_md_rules", reference_md)
        patched.setattr(record, "_model_json", reference_json)
        yield


def answers(engine: Engine, task: work.HookTask, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(fast outcome, slow outcome) of one request, each with assessment id 0."""
    results = []
    for slow in (False, True):
        monkeypatch.setattr(worklet.uuid, "uuid4", lambda: uuid.UUID(int=0))
        if slow:
            with slow_path(monkeypatch):
                results.append(_outcome(engine, task))
        else:
            results.append(_outcome(engine, task))
    return results[0], results[1]


def _outcome(engine: Engine, task: work.HookTask) -> Any:
    try:
        return work.patient_view(engine, task)
    except Exception as exc:  # the same refusal on both paths is the same answer
        return (type(exc).__name__, str(exc))


def assert_same_answer(fast: Any, slow: Any) -> None:
    assert fast == slow  # Outcome: body bytes, AssessmentText (facts and assessment JSON text), indicators
    if isinstance(fast, worklet.Outcome) and fast.record is not None:
        assert json.loads(fast.body)["cards"], "an assessed patient gets a card"


@pytest.mark.parametrize("hook", HOOKS, ids=lambda p: p.stem)
@pytest.mark.parametrize("on", [ON, date(2026, 12, 2)])
def test_fixture_hooks_answer_the_same(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, hook: Path, on: date
) -> None:
    task = work.HookTask(raw=hook.read_bytes(), on=on, base_url=BASE)
    assert_same_answer(*answers(engine, task, monkeypatch))


def population_hooks(tmp: Path, count: int) -> list[bytes]:
    """patient-view requests, one per synthetic patient (its resources as the prefetch)."""
    generate_population(count, tmp, seed=11, on=ON)
    charts: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    patients_by_id: dict[str, dict[str, Any]] = {}
    for path in sorted(tmp.glob("*.ndjson")):
        for line in path.read_text(encoding="utf-8").splitlines():
            resource = json.loads(line)
            if resource["resourceType"] == "Patient":
                patients_by_id[resource["id"]] = resource
            else:
                owner = resource["subject" if "subject" in resource else "patient"]["reference"]
                charts[owner.removeprefix("Patient/")][PREFETCH_KEY[resource["resourceType"]]].append(
                    resource
                )
    hooks = []
    for pid, patient in patients_by_id.items():
        prefetch: dict[str, Any] = {"patient": patient}
        for key in PREFETCH_KEY.values():
            found = charts[pid].get(key, [])
            prefetch[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in found],
            }
        body = {
            "hook": "patient-view",
            "hookInstance": str(uuid.UUID(int=len(hooks))),
            "context": {"userId": "Practitioner/p", "patientId": pid},
            "prefetch": prefetch,
        }
        hooks.append(json.dumps(body).encode())
    return hooks


def test_a_synthetic_population_answers_the_same(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    decisions: set[str] = set()
    for raw in population_hooks(tmp_path, 150):
        fast, slow = answers(engine, work.HookTask(raw=raw, on=ON, base_url=BASE), monkeypatch)
        assert_same_answer(fast, slow)
        if isinstance(fast, worklet.Outcome) and fast.record is not None:
            decisions.add(fast.record.decision)
    assert len(decisions) >= 4, decisions  # the population covers most decisions


HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]


@settings(max_examples=250, deadline=None, suppress_health_check=HEALTH)
@given(patient=patients(), days=st.integers(min_value=-200, max_value=400))
def test_generated_patients_get_the_same_card_and_log_text(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, patient: PatientFacts, days: int
) -> None:
    on = date.fromordinal(ON.toordinal() + days)

    def run() -> tuple[bytes, Any]:
        monkeypatch.setattr(worklet.uuid, "uuid4", lambda: uuid.UUID(int=1))
        assessment = engine.assess(patient, on)
        text = worklet.record_of(patient, assessment)
        card = cards.decision_card(assessment, base_url=BASE, patient_id="pt-1")
        return work.cards_outcome([card], text).body, text

    fast = run()
    with slow_path(monkeypatch):
        slow = run()
    assert fast == slow


@pytest.mark.parametrize(
    "text",
    ["plain words", "a_b (c) [d] <e> |f| ~g~ #h `i` *j* \\k", "  spaced\n\tout  ", "", "é 😀 ( " * 40],
)
def test_md_escapes_as_the_table_did(text: str) -> None:
    assert cards.md(text) == reference_md(text)
    assert cards._md_rules(text) == reference_md(text)


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("\\`*_[]()<>|~# \n")))
def test_md_escapes_any_text_as_the_table_did(text: str) -> None:
    assert cards.md(text) == reference_md(text)
