"""Lean vs full FHIR validation: the same facts, the same DataNotes, the same errors.

Over the whole fixture corpus (tests/fixtures/fhir, tests/fixtures/http, the FHIR-shaped examples),
the Synthea sample and hypothesis-mutated records (fields dropped or garbled, wrong types, bad
dates, unknown resource types, missing statuses, unknown elements, `_field` extensions, two types
of one [x] choice), the adapter must give exactly the same answer with `validation="lean"` as with
`validation="full"`: equal PatientFacts (DataNotes included) and warnings when it maps, and the same
FhirInputError (field path and message, i.e. the same 400) in strict mode when it refuses.

Where full validation rejects something lean validation would accept: decided by design, there is
no such case. The lean models refuse every element they do not model (so an unknown field, a
garbled `note` or a `_field` extension is not "ignored") and the adapter then validates the resource
with fhir.resources, whose verdict and error path are final. Ignoring such fields would have let a
record full validation rejects qualify a patient (a valid NSAID order with a garbled unread field
would count as a failed trial instead of leaving the record unreadable and the patient short of
`candidate`); `test_a_record_full_validation_rejects_never_qualifies_under_lean` checks the
decision itself. `test_lean_never_accepts_what_full_rejects` checks the soundness this rests on, on
every mutated record.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ldncds.engine import Engine
from ldncds.fhir import (
    FhirInputError,
    MappingResult,
    adapter,
    facts_from_bundle,
    facts_from_ndjson_group,
    facts_from_resources,
    lean,
)

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
SYNTHEA = TESTS / "fixtures" / "bulk" / "synthea-bulk-10"
CORPUS = sorted(
    [*(TESTS / "fixtures" / "fhir").rglob("*.json"), *(TESTS / "fixtures" / "http").glob("*.json")]
    + [*(ROOT / "examples").glob("*.json"), *(ROOT / "examples").glob("*/*.json")]
)
# CDS Hooks prefetch keys -> adapter sections (as ldncds.cdshooks reads them).
PREFETCH_SECTIONS = {
    "conditions": "conditions",
    "medications": "medications",
    "medicationStatements": "medications",
    "medicationDispenses": "medications",
    "medicationAdministrations": "medications",
    "procedures": "procedures",
    "serviceRequests": "procedures",
    "appointments": "procedures",
    "allergies": "allergies",
    "observations": "observations",
}
Outcome = tuple[Any, ...]


def outcome(run: Callable[..., MappingResult], validation: str, strict: bool) -> Outcome:
    """What a caller sees: the facts (notes included) and warnings, or the error's path and message."""
    try:
        result = run(validation=validation, strict=strict)
    except FhirInputError as exc:
        return ("refused", exc.path, exc.message)
    return ("mapped", result.facts, list(result.warnings))


def assert_same(run: Callable[..., MappingResult]) -> list[Outcome]:
    seen = []
    for strict in (True, False):
        full = outcome(run, "full", strict)
        assert outcome(run, "lean", strict) == full
        seen.append(full)
    return seen


# ---------------------------------------------------------------------------------------------------------
# The corpus


def _runs(document: Any) -> list[Callable[..., MappingResult]]:
    """Every way the adapter is given this document (a bundle, a resource, a hook request, a case)."""
    if not isinstance(document, dict):
        return []
    if document.get("resourceType") == "Bundle":
        return [
            lambda **kw: facts_from_bundle(document, **kw),
            lambda **kw: facts_from_resources(None, {"conditions": document}, **kw),
        ]
    if "resourceType" in document:
        return [lambda **kw: facts_from_ndjson_group([document], **kw)]
    if isinstance(document.get("prefetch"), dict):
        prefetch = document["prefetch"]
        sections: dict[str, list[Any]] = defaultdict(list)
        for key, value in prefetch.items():
            if key in PREFETCH_SECTIONS and value is not None:
                sections[PREFETCH_SECTIONS[key]].append(value)
        return [lambda **kw: facts_from_resources(prefetch.get("patient"), dict(sections), **kw)]
    if isinstance(document.get("add"), list):  # a tests/fixtures/fhir/real case: base chart + records
        chart = json.loads((TESTS / "fixtures" / "fhir" / "real" / "base_chart.json").read_text())
        chart["entry"] += [{"resource": r} for r in document["add"]]
        return [lambda **kw: facts_from_bundle(chart, **kw)]
    return []  # native PatientFacts (examples/*.json): not FHIR


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_fixture_corpus_maps_the_same(path: Path) -> None:
    for run in _runs(json.loads(path.read_text())):
        assert_same(run)


def test_the_corpus_is_fhir_and_mostly_lean() -> None:
    """The comparison is not vacuous: most files are FHIR, most resources take the lean path."""
    fhir_files = [p for p in CORPUS if _runs(json.loads(p.read_text()))]
    assert len(fhir_files) >= 40
    resources = [r for p in fhir_files for r in _resources(json.loads(p.read_text()))]
    read = [r for r in resources if r.get("resourceType") in lean.MODELS]
    lean_ok = [r for r in read if lean.parse(r) is not None]
    assert len(read) >= 150 and len(lean_ok) >= 0.9 * len(read)


def _resources(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [r for item in value for r in _resources(item)]
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        return _resources([e.get("resource") for e in value.get("entry") or [] if isinstance(e, dict)])
    if "resourceType" in value:
        return [value]
    return _resources(list(value.get("prefetch", {}).values()) + list(value.get("add", [])))


def _synthea() -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(SYNTHEA.glob("*.ndjson.gz")):
        for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
            resource = json.loads(line)
            owner = resource["id"] if resource["resourceType"] == "Patient" else None
            reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
            groups[owner or reference.rsplit("/", 1)[-1]].append(resource)
    return dict(groups)


SYNTHEA_GROUPS = _synthea()


@pytest.mark.parametrize("pid", sorted(SYNTHEA_GROUPS))
def test_every_synthea_patient_maps_the_same(pid: str) -> None:
    resources = SYNTHEA_GROUPS[pid]
    assert all(lean.parse(r) is not None for r in resources)  # real-shaped records take the lean path
    (strict, _lenient) = assert_same(lambda **kw: facts_from_ndjson_group(resources, **kw))
    assert strict[0] == "mapped"


# ---------------------------------------------------------------------------------------------------------
# Mutated records


PID = "pt-mut"
BAD_DATES = ["2020-13-01", "2020-02-30", "20200101", "2020-01-01T10:00", "2020-01-01T10:00:00", "2020-1-1",
             "0000", "2020-01-01T24:00:00Z", "", " 2020", "2020-01-01T10:00:00+15:00"]  # fmt: skip
GOOD_DATES = [
    "2024",
    "2024-05",
    "2024-05-31",
    "2024-05-31T23:30:00-05:00",
    "2016-12-31T23:59:60Z",
    "2024-02-29",
]
ODD_TEXT = ["", " ", "active ", " active", "a  b", "\t", "x" * 70, "Patient/other", "#m1", "urn:uuid:x"]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(BAD_DATES + GOOD_DATES + ODD_TEXT),
    st.text(max_size=6),
    st.just({}),
    st.just([]),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=3)), min_size=1, max_size=2),
    st.fixed_dictionaries({"coding": st.just([{"code": "x"}])}),
    st.fixed_dictionaries({"extension": st.just([{"url": "http://x", "valueString": "y"}])}),
).map(copy.deepcopy)  # a fresh value per draw: st.just shares one object, and mutations add to it
EXTRA_KEYS = ["notAnElement", "fhir_comments", "resource_type", "status__ext", "modifierExtension",
              "onsetString", "onsetPeriod", "effectivePeriod", "valueString", "deceasedBoolean", "photo",
              "performedString", "medicationReference", "contained", "_status", "_birthDate",
              "note"]  # fmt: skip
CODES = ["active", "stopped", "completed", "entered-in-error", "unknown", "draft", "plan", "proposal",
         "refuted", "resolved", "final", "cancelled", "booked", "d", "wk", "mg", "not-a-code"]  # fmt: skip
OPS = [
    "drop",
    "drop",
    "garble",
    "garble",
    "add",
    "retype",
    "unstatus",
    "redate",
    "redate",
    "recode",
    "recode",
]
OTHER_TYPES = ["Encounter", "Flag", "NotAType", "Medication", "Observation", "Condition", "", None, 3]


def _own(resource: dict[str, Any]) -> dict[str, Any]:
    """A pool record made this patient's (so the adapter maps it instead of dropping it)."""
    resource = copy.deepcopy(resource)
    for key in ("subject", "patient"):
        if isinstance(resource.get(key), dict):
            resource[key] = {"reference": f"Patient/{PID}"}
    for participant in resource.get("participant") or []:
        if isinstance(participant, dict) and "Patient/" in str(participant.get("actor", {})):
            participant["actor"] = {"reference": f"Patient/{PID}"}
    return resource


def _pool() -> list[dict[str, Any]]:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in CORPUS:
        for resource in _resources(json.loads(path.read_text())):
            by_type[str(resource.get("resourceType"))].append(resource)
    for resources in SYNTHEA_GROUPS.values():
        for resource in resources[:12]:
            by_type[resource["resourceType"]].append(resource)
    pool = [_own(r) for rtype in sorted(by_type) if rtype != "Patient" for r in by_type[rtype][:25]]
    return [r for r in pool if r.get("resourceType") in lean.MODELS]


POOL = _pool()
PATIENT = {"resourceType": "Patient", "id": PID, "gender": "female", "birthDate": "1970-06-15"}


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*path, i))
    return found


def _parent(resource: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        resource = resource[part]
    return resource


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    resource = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(resource)
        texts = [p for p in paths if isinstance(_parent(resource, p)[p[-1]], str)]
        op = draw(st.sampled_from(OPS))
        if op in ("redate", "recode") and texts:  # valid FHIR, other meaning: the mapping must agree
            path = draw(st.sampled_from(texts))
            _parent(resource, path)[path[-1]] = draw(st.sampled_from(GOOD_DATES if op == "redate" else CODES))
        elif op == "retype":
            resource["resourceType"] = draw(st.sampled_from(OTHER_TYPES))
        elif op == "unstatus":
            resource.pop("status", None)
        elif op == "add" or not paths:
            holders = [p for p in paths if isinstance(_parent(resource, (*p, None)), dict)]
            target = _parent(resource, (*draw(st.sampled_from(holders)), None)) if holders else resource
            target[draw(st.sampled_from(EXTRA_KEYS))] = draw(JUNK)
        else:
            path = draw(st.sampled_from(paths))
            parent = _parent(resource, path)
            if op == "drop" and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(JUNK)
    return resource


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A patient's export: the Patient (maybe mutated) and a few pool records, some mutated."""
    patient = draw(st.one_of(st.just(PATIENT), mutated(PATIENT)))
    picked = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=4))
    return [patient] + [draw(st.one_of(st.just(r), mutated(r))) for r in picked]


EXAMPLES = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _full_accepts(resource: dict[str, Any]) -> bool:
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, TypeError, KeyError):  # the last two: a contained resource of no known type
        return False
    return True


@EXAMPLES
@given(resources=records())
def test_mutated_records_map_the_same(resources: list[dict[str, Any]]) -> None:
    strict, lenient = assert_same(lambda **kw: facts_from_ndjson_group(resources, **kw))
    event(f"strict: {strict[0]}; lenient: {lenient[0]}")
    sections = {"conditions": [r for r in resources[1:] if isinstance(r, dict)]}
    assert_same(lambda **kw: facts_from_resources(resources[0], sections, patient_id=PID, **kw))


@EXAMPLES
@given(resource=st.sampled_from(POOL + [PATIENT]).flatmap(mutated))
def test_lean_never_accepts_what_full_rejects(resource: dict[str, Any]) -> None:
    if lean.parse(resource) is not None:
        assert _full_accepts(resource)
        event("lean vouches")
    elif isinstance(resource.get("resourceType"), str) and resource["resourceType"] in lean.MODELS:
        event("full accepts, lean defers" if _full_accepts(resource) else "both refuse")


def test_the_mutations_reach_both_paths() -> None:
    """The comparison is not vacuous: records lean takes, records only full accepts, records both refuse."""
    for base in POOL:
        assert lean.parse(base) is not None, base.get("id")
        extended = base | {"fhir_comments": "a comment"}  # valid R4B (fhir.resources), not modelled
        assert lean.parse(extended) is None and _full_accepts(extended)
        garbled = base | {"meta": {"lastUpdated": "2020-01-01"}}  # an instant needs a time
        assert lean.parse(garbled) is None and not _full_accepts(garbled)


# ---------------------------------------------------------------------------------------------------------
# Decisions


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def test_a_record_full_validation_rejects_never_qualifies_under_lean(engine: Engine) -> None:
    """A candidate's qualifying NSAID trial with a garbled element the mappers never read.

    Full validation rejects the order, so it is unreadable and the medications section incomplete:
    no candidate. Lean validation must not read the order as valid by ignoring the element.
    """
    bundle = json.loads((ROOT / "examples" / "cds-hooks" / "bundle-candidate.json").read_text())
    on = date(2026, 3, 1)
    good = facts_from_bundle(bundle, strict=False, validation="lean").facts
    assert engine.assess(good, on).decision in ("candidate", "candidate_with_cautions")
    requests = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"
    ]
    assert requests
    for garble in ({"note": [{"text": 5}]}, {"requester": "Dr X"}, {"notAnElement": True}, {"_status": {}}):
        for request in requests:
            broken = copy.deepcopy(bundle)
            target = next(e["resource"] for e in broken["entry"] if e["resource"].get("id") == request["id"])
            target.update(garble)
            full = facts_from_bundle(broken, strict=False, validation="full").facts
            fast = facts_from_bundle(broken, strict=False, validation="lean").facts
            assert fast == full and "medications" in fast.incomplete
            assert engine.assess(fast, on).decision not in ("candidate", "candidate_with_cautions")


# ---------------------------------------------------------------------------------------------------------
# The setting


def test_the_setting_chooses_the_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = lean.parse
    monkeypatch.setattr(lean, "parse", lambda raw: calls.append(raw["resourceType"]) or real(raw))
    resources = SYNTHEA_GROUPS[sorted(SYNTHEA_GROUPS)[0]][:5]
    for value, expected in (("full", 0), ("lean", len(resources))):
        monkeypatch.setenv("LDNCDS_FHIR_VALIDATION", value)
        adapter.configured_validation.cache_clear()
        try:
            assert adapter.configured_validation() == value
            calls.clear()
            facts_from_ndjson_group(resources)
            assert len(calls) == expected
        finally:
            adapter.configured_validation.cache_clear()
    monkeypatch.setenv("LDNCDS_FHIR_VALIDATION", "fast")
    with pytest.raises(ValidationError, match="fhir_validation"):
        adapter.configured_validation()
    adapter.configured_validation.cache_clear()


def test_lean_is_the_default() -> None:
    from ldncds.settings import Settings

    assert Settings.model_fields["fhir_validation"].default == "lean"
