"""Fetching what the prefetch left out from the EHR's FHIR server (httpx.MockTransport: no network)."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.cdshooks.fetch import fhir_server_allowed
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "http"
FHIR = "https://ehr.example.org/fhir/r4"
TOKEN = "secret-access-token"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


class FakeEhr:
    """A FHIR server answering the service's searches from a fixture's prefetch; it logs every request."""

    def __init__(self, fixture: str) -> None:
        prefetch = load(fixture)["prefetch"]
        self.resources: dict[str, Any] = {
            "Patient/pt-1001": prefetch["patient"],
            "Condition": prefetch["conditions"],
            "MedicationRequest": prefetch["medications"],
            "MedicationStatement": {"resourceType": "Bundle", "type": "searchset", "total": 0},
            "Procedure": prefetch["procedures"],
            "AllergyIntolerance": prefetch["allergies"],
            "Observation": prefetch["observations"],
        }
        self.requests: list[httpx.Request] = []
        self.pages: dict[str, dict[str, Any]] = {}
        self.status: dict[str, int] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/fhir/r4/")
        if path in self.pages:
            return httpx.Response(200, json=self.pages[path])
        if path in self.status:
            return httpx.Response(self.status[path], json={"resourceType": "OperationOutcome", "issue": []})
        if path not in self.resources:
            return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": []})
        return httpx.Response(200, json=self.resources[path])

    def searched(self, rtype: str) -> list[dict[str, list[str]]]:
        return [parse_qs(r.url.query.decode()) for r in self.requests if r.url.path.endswith("/" + rtype)]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def client_for(ehr: FakeEhr, engine: Engine, **settings: Any) -> TestClient:
    app = create_app(
        Settings(**{"fhir_server_allowlist": [FHIR], **settings}),
        engine=engine,
        store=open_store("sqlite://"),
        fhir_transport=httpx.MockTransport(ehr.handle),
    )
    return TestClient(app)


def request_without(
    keys: list[str] | None = None, fixture: str = "patient_view_candidate.json"
) -> dict[str, Any]:
    body = load(fixture)
    body["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "ldncds",
    }
    if keys is None:
        body.pop("prefetch")
    else:
        for key in OPTIONAL_EXTRA:  # searched and found nothing: only `keys` are left to fetch
            body["prefetch"].setdefault(key, EMPTY)
        for key in keys:
            body["prefetch"].pop(key)
    return body


EMPTY = {"resourceType": "Bundle", "type": "searchset", "total": 0}
OPTIONAL_EXTRA = ["medicationStatements", "medicationDispenses", "medicationAdministrations",
                  "serviceRequests", "appointments"]  # fmt: skip


def decision(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["cards"][0]["extension"]["ldncds"]["decision"]


def test_everything_is_fetched_with_the_bearer_token(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    response = client_for(ehr, engine).post("/cds-services/ldn-candidacy", json=request_without())
    assert decision(response) == "candidate"
    assert len(ehr.requests) == 11  # every prefetch key, required and optional
    assert {r.headers["authorization"] for r in ehr.requests} == {f"Bearer {TOKEN}"}
    assert all(str(r.url).startswith(FHIR + "/") for r in ehr.requests)
    assert ehr.searched("MedicationRequest") == [  # no status filter; referenced Medications included
        {"patient": ["pt-1001"], "_include": ["MedicationRequest:medication"]}
    ]
    assert ehr.searched("Observation") == [{"patient": ["pt-1001"], "_sort": ["-date"], "_count": ["100"]}]


def test_only_the_missing_keys_are_fetched(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    response = client_for(ehr, engine).post(
        "/cds-services/ldn-candidacy", json=request_without(["procedures"])
    )
    assert decision(response) == "candidate"
    assert [r.url.path for r in ehr.requests] == ["/fhir/r4/Procedure"]


def test_next_links_are_followed(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_contraindicated_tramadol.json")
    meds = ehr.resources["MedicationRequest"]
    first = dict(
        copy.deepcopy(meds), entry=meds["entry"][:2], link=[{"relation": "next", "url": f"{FHIR}/page-2"}]
    )
    ehr.resources["MedicationRequest"] = first
    ehr.pages["page-2"] = dict(copy.deepcopy(meds), entry=meds["entry"][2:])  # the tramadol is on page 2
    response = client_for(ehr, engine).post(
        "/cds-services/ldn-candidacy", json=request_without(["medications"])
    )
    assert decision(response) == "contraindicated"
    assert "tramadol" in response.json()["cards"][0]["summary"]


def test_paging_is_bounded_and_the_rest_is_unknown(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    meds = ehr.resources["MedicationRequest"]
    ehr.resources["MedicationRequest"] = dict(meds, link=[{"relation": "next", "url": f"{FHIR}/loop"}])
    ehr.pages["loop"] = dict(meds, entry=[], link=[{"relation": "next", "url": f"{FHIR}/loop"}])
    client = client_for(ehr, engine, fhir_max_pages=3)
    response = client.post("/cds-services/ldn-candidacy", json=request_without(["medications"]))
    assert decision(response) == "insufficient_information"  # never "candidate" on a partial list
    assert len(ehr.requests) == 3
    notes = response.json()["cards"][0]["extension"]["ldncds"].get("data_notes") or []
    print(notes)


def test_the_token_never_leaves_the_fhir_server(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    meds = ehr.resources["MedicationRequest"]
    ehr.resources["MedicationRequest"] = dict(
        meds, link=[{"relation": "next", "url": "https://evil.example/x"}]
    )
    response = client_for(ehr, engine).post(
        "/cds-services/ldn-candidacy", json=request_without(["medications"])
    )
    assert decision(response) == "insufficient_information"
    assert all(r.url.host == "ehr.example.org" for r in ehr.requests)


@pytest.mark.parametrize("failure", ["status", "timeout", "not-json", "outcome"])
def test_a_failed_required_search_is_412(engine: Engine, failure: str) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    if failure == "status":
        ehr.status["Condition"] = 503
        del ehr.resources["Condition"]
    elif failure == "outcome":
        ehr.resources["Condition"] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "resource": {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "exception"}],
                    },
                    "search": {"mode": "outcome"},
                }
            ],
        }
    handle = ehr.handle

    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Condition") and failure == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if request.url.path.endswith("/Condition") and failure == "not-json":
            return httpx.Response(200, text="<html>login</html>")
        return handle(request)

    app = create_app(
        Settings(fhir_server_allowlist=[FHIR]),
        engine=engine,
        store=open_store("sqlite://"),
        fhir_transport=httpx.MockTransport(broken),
    )
    response = TestClient(app).post("/cds-services/ldn-candidacy", json=request_without(["conditions"]))
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["prefetch.conditions"]


def test_a_patient_the_server_does_not_know_is_none_not_an_error(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    del ehr.resources["Patient/pt-1001"]
    response = client_for(ehr, engine).post("/cds-services/ldn-candidacy", json=request_without(["patient"]))
    assert decision(response) == "insufficient_information"  # age unknown: never "candidate"


def test_without_fhir_authorization_nothing_is_fetched(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    body = load("patient_view_candidate.json")
    del body["prefetch"]["conditions"]
    response = client_for(ehr, engine).post("/cds-services/ldn-candidacy", json=body)
    assert response.status_code == 412 and ehr.requests == []


def test_a_malformed_fetched_resource_is_named_with_where_it_came_from(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    ehr.resources["Procedure"]["entry"][0]["resource"]["performedDateTime"] = "soon"
    client = client_for(ehr, engine)
    response = client.post("/cds-services/ldn-candidacy", json=request_without(["procedures"]))
    assert decision(response) == "insufficient_information"  # physical therapy: unknown, not "none"
    assigned = response.json()["cards"][0]["extension"]["ldncds"]["assessment_id"]
    notes = client.get(f"/api/v1/assessments/{assigned}").json()["assessment"]["data_notes"]
    [note] = [n for n in notes if n["severity"] == "unreadable"]
    assert (note["source"], note["section"]) == ("Procedure/proc-pt", "procedures")
    assert "performedDateTime" in note["reason"] and "soon" not in note["reason"]


FAILED_SEARCH = {"resourceType": "Bundle", "type": "searchset", "entry": [
    {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "code": "timeout"}]},
     "search": {"mode": "outcome"}}]}  # fmt: skip


def test_a_prefetch_that_failed_at_the_ehr_is_fetched_again(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    body = request_without([])
    body["prefetch"]["conditions"] = FAILED_SEARCH
    response = client_for(ehr, engine).post("/cds-services/ldn-candidacy", json=body)
    assert decision(response) == "candidate"
    assert [r.url.path for r in ehr.requests] == ["/fhir/r4/Condition"]


def test_a_failed_prefetch_without_fhir_access_is_412(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    body = load("patient_view_candidate.json")
    body["prefetch"]["conditions"] = FAILED_SEARCH
    response = client_for(ehr, engine).post("/cds-services/ldn-candidacy", json=body)
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["prefetch.conditions"]


# ---------------------------------------------------------------------------------------------- limits


def _conditions_stream(chunks: Any, headers: dict[str, str] | None = None) -> Any:
    """A FakeEhr handler whose Condition search answers with the given (lazy) body."""

    def wrap(ehr: FakeEhr) -> Any:
        def handle(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/Condition"):
                ehr.requests.append(request)
                return httpx.Response(200, content=chunks, headers=headers or {})
            return ehr.handle(request)

        return handle

    return wrap


def _app(handler: Any, engine: Engine, **settings: Any) -> TestClient:
    app = create_app(
        Settings(**{"fhir_server_allowlist": [FHIR], **settings}),
        engine=engine,
        store=open_store("sqlite://"),
        fhir_transport=httpx.MockTransport(handler),
    )
    return TestClient(app)


def test_a_200_mb_fhir_response_is_refused_with_bounded_memory(engine: Engine) -> None:
    sent = []

    async def huge() -> Any:  # 200 MB, made lazily: only what the service reads is ever built
        yield b'{"resourceType": "Bundle", "entry": ['
        for _ in range(200):
            sent.append(1)
            yield b" " * 1_000_000

    ehr = FakeEhr("patient_view_candidate.json")
    client = _app(_conditions_stream(huge())(ehr), engine, fhir_max_response_bytes=2_000_000)
    tracemalloc.start()
    response = client.post("/cds-services/ldn-candidacy", json=request_without(["conditions"]))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 412  # conditions are required and could not be had
    assert response.json()["issue"][0]["expression"] == ["prefetch.conditions"]
    assert len(sent) <= 4 and peak < 30_000_000  # stopped after ~2 MB, not 200 MB


def test_a_declared_oversize_response_is_not_read(engine: Engine) -> None:
    async def never() -> Any:
        raise AssertionError("the body must not be read")
        yield b""

    ehr = FakeEhr("patient_view_candidate.json")
    handler = _conditions_stream(never(), {"content-length": str(200_000_000)})(ehr)
    response = _app(handler, engine).post("/cds-services/ldn-candidacy", json=request_without(["conditions"]))
    assert response.status_code == 412


def test_a_slow_drip_fhir_server_ends_at_the_total_deadline(engine: Engine) -> None:
    async def drip() -> Any:  # one byte every 0.2 s: 1,000 s in all, never a read timeout
        for _ in range(5000):
            yield b" "
            await asyncio.sleep(0.2)

    ehr = FakeEhr("patient_view_candidate.json")
    client = _app(_conditions_stream(drip())(ehr), engine, fhir_fetch_deadline_seconds=1.0)
    started = time.monotonic()
    response = client.post("/cds-services/ldn-candidacy", json=request_without(["conditions"]))
    assert response.status_code == 412
    assert time.monotonic() - started < 30  # bounded by the deadline, not by the server


@pytest.mark.parametrize(
    ("server", "allowlist", "allowed"),
    [
        ("http://127.0.0.1:8080/fhir", [], False),
        ("http://127.0.0.1:8080/fhir", ["*"], False),
        ("http://localhost/fhir", ["*"], False),
        ("http://169.254.169.254/latest", ["*"], False),
        ("https://10.0.0.5/fhir", ["*"], False),
        ("https://[::1]/fhir", ["*"], False),
        ("http://127.0.0.1:8080/fhir", ["http://127.0.0.1:8080/fhir"], True),
        ("https://ehr.example.org/fhir/r4", ["*"], True),
        ("http://ehr.example.org/fhir/r4", ["*"], False),  # '*' is https only
        ("https://ehr.example.org/fhir/r4", ["https://ehr.example.org/fhir"], True),
        ("https://ehr.example.org.evil.example/fhir", ["https://ehr.example.org"], False),
        ("https://ehr.example.org/fhir-other", ["https://ehr.example.org/fhir"], False),
    ],
)
def test_the_fhir_server_allow_list(server: str, allowlist: list[str], allowed: bool) -> None:
    assert fhir_server_allowed(server, allowlist) is allowed


def test_a_loopback_fhir_server_not_in_the_allow_list_is_never_called(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    body = request_without(["conditions"])
    body["fhirServer"] = "http://127.0.0.1:8080/fhir"
    response = _app(ehr.handle, engine, fhir_server_allowlist=["*"]).post(
        "/cds-services/ldn-candidacy", json=body
    )
    assert response.status_code == 412 and ehr.requests == []


def test_without_an_allow_list_nothing_is_fetched(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_candidate.json")
    client = _app(ehr.handle, engine, fhir_server_allowlist=[])
    response = client.post("/cds-services/ldn-candidacy", json=request_without(["conditions"]))
    assert response.status_code == 412 and ehr.requests == []


def test_a_paged_prefetch_is_completed_from_the_server_with_the_token(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_contraindicated_tramadol.json")
    meds = ehr.resources["MedicationRequest"]
    ehr.pages["page-2"] = dict(copy.deepcopy(meds), entry=meds["entry"][2:])  # the tramadol is on page 2
    body = request_without([], fixture="patient_view_contraindicated_tramadol.json")
    body["prefetch"]["medications"] = dict(
        copy.deepcopy(meds), entry=meds["entry"][:2], link=[{"relation": "next", "url": f"{FHIR}/page-2"}]
    )
    response = client_for(ehr, engine).post("/cds-services/ldn-candidacy", json=body)
    assert decision(response) == "contraindicated"
    assert [r.url.path for r in ehr.requests] == ["/fhir/r4/page-2"]


def test_a_long_chart_is_read_to_its_last_page(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_contraindicated_tramadol.json")
    meds = ehr.resources["MedicationRequest"]
    *others, tramadol = meds["entry"]
    pages = 30  # more than the old limit of 10 pages
    ehr.resources["MedicationRequest"] = dict(
        meds, entry=others, link=[{"relation": "next", "url": f"{FHIR}/p1"}]
    )
    for i in range(1, pages):
        link = [{"relation": "next", "url": f"{FHIR}/p{i + 1}"}] if i < pages - 1 else []
        ehr.pages[f"p{i}"] = dict(meds, entry=[tramadol] if i == pages - 1 else [], link=link)
    response = client_for(ehr, engine).post(
        "/cds-services/ldn-candidacy", json=request_without(["medications"])
    )
    assert decision(response) == "contraindicated"


def test_a_referenced_medication_is_read_from_the_server(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_contraindicated_tramadol.json")
    meds = copy.deepcopy(ehr.resources["MedicationRequest"])
    tramadol = meds["entry"][-1]["resource"]
    ehr.resources["Medication/med-77"] = {"resourceType": "Medication", "id": "med-77",
                                          "code": tramadol.pop("medicationCodeableConcept")}  # fmt: skip
    tramadol["medicationReference"] = {"reference": "Medication/med-77"}
    body = request_without([], fixture="patient_view_contraindicated_tramadol.json")
    body["prefetch"]["medications"] = meds
    response = client_for(ehr, engine).post("/cds-services/ldn-candidacy", json=body)
    assert decision(response) == "contraindicated"
    assert [r.url.path for r in ehr.requests] == ["/fhir/r4/Medication/med-77"]


def test_a_medication_on_another_server_is_not_read_from_this_one(engine: Engine) -> None:
    ehr = FakeEhr("patient_view_contraindicated_tramadol.json")
    meds = copy.deepcopy(ehr.resources["MedicationRequest"])
    tramadol = meds["entry"][-1]["resource"]
    tramadol.pop("medicationCodeableConcept")
    tramadol["medicationReference"] = {"reference": "https://other.example/fhir/Medication/med-77"}
    ehr.resources["Medication/med-77"] = {"resourceType": "Medication", "id": "med-77", "code": {"text": "x"}}
    body = request_without([], fixture="patient_view_contraindicated_tramadol.json")
    body["prefetch"]["medications"] = meds
    response = client_for(ehr, engine).post("/cds-services/ldn-candidacy", json=body)
    assert decision(response) == "insufficient_information"  # an unidentified active medication
    assert ehr.requests == []
