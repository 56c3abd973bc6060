"""Issue 15 item 3: with engine workers, a request's work (FHIR mapping, scope check, engine, cards,
JSON of answer and record) runs in the worker; the server keeps HTTP, auth, EHR fetches and the
store. Answers, errors and stored records are those of the in-process path, which runs the same
functions."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.api.workers import PooledEngine
from ldncds.engine import Engine
from ldncds.settings import Settings, TrustedIssuer
from ldncds.store import open_store
from support import worker_faults
from support.tokens import BASE, EC_KEY, ISS, jwk, token

pytestmark = pytest.mark.slow  # starts an engine process

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "http"
CANDIDACY = "/cds-services/ldn-candidacy"
ORDER_SIGN = "/cds-services/ldn-order-sign"
API = "/api/v1/assessments"
FHIR = "https://ehr.example.org/fhir/r4"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def load(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def pool() -> Iterator[PooledEngine]:
    app = create_app(Settings(engine_processes=1, engine_timeout_seconds=10.0), store=open_store("sqlite://"))
    with TestClient(app):  # its lifespan closes the pool at the end of the module
        yield app.state.engine


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def client_for(evaluator: Engine | PooledEngine, **settings: Any) -> TestClient:
    app = create_app(
        Settings(public_base_url=BASE, **settings), engine=evaluator, store=open_store("sqlite://")
    )
    return TestClient(app)


def candidate_hook() -> dict[str, Any]:
    return load(FIXTURES / "patient_view_candidate.json")


def _changed(change: Any) -> dict[str, Any]:
    body = candidate_hook()
    change(body)
    return body


def _bad_birth_date_bundle() -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-02-30"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}


CASES: dict[str, tuple[str, Any]] = {
    **{
        f.stem: (ORDER_SIGN if f.name.startswith("order_sign") else CANDIDACY, load(f))
        for f in sorted(FIXTURES.glob("*.json"))
    },
    "facts": (API, load(ROOT / "examples" / "candidate.json")),
    "chart bundle": (API, load(ROOT / "tests" / "fixtures" / "fhir" / "chart_bundle.json")),
    # errors: raised in the worker (mapping) or in the server (validation), answered the same
    "malformed prefetch: another patient": (
        CANDIDACY,
        _changed(lambda b: b["prefetch"]["patient"].update(id="someone-else")),
    ),
    "malformed prefetch: a record that is not a resource": (
        CANDIDACY,
        _changed(lambda b: b["prefetch"]["conditions"]["entry"].append({"resource": "x"})),
    ),
    "malformed bundle": (API, _bad_birth_date_bundle()),
    "required key missing": (CANDIDACY, _changed(lambda b: b["prefetch"].pop("conditions"))),
    "invalid hook request": (CANDIDACY, _changed(lambda b: b["prefetch"].update(conditions=[1, 2]))),
    "invalid facts": (API, {"birth_date": "1980-13"}),
}


def masked(text: str) -> str:
    """The body with every uuid (assessment ids, card ids) replaced by its order of appearance."""
    seen: dict[str, str] = {}
    return UUID.sub(lambda m: seen.setdefault(m[0], f"<uuid {len(seen)}>"), text)


def stored_id(body: dict[str, Any]) -> str | None:
    if "cards" in body:
        ids = [c.get("extension", {}).get("ldncds", {}).get("assessment_id") for c in body["cards"]]
        return next((i for i in ids if i), None)
    return body.get("assessment_id")


@pytest.mark.parametrize("case", list(CASES))
def test_the_workers_answer_and_store_what_the_in_process_path_does(
    pool: PooledEngine, engine: Engine, case: str
) -> None:
    path, body = CASES[case]
    pooled, in_process = client_for(pool), client_for(engine)
    a, b = pooled.post(path, json=body), in_process.post(path, json=body)
    assert (a.status_code, masked(a.text)) == (b.status_code, masked(b.text))
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
    if a.status_code >= 400:
        assert a.json()["resourceType"] == "OperationOutcome"
        return
    ids = stored_id(a.json()), stored_id(b.json())
    if ids == (None, None):  # out of scope: nothing assessed, nothing stored
        assert pooled.app.state.store.list() == in_process.app.state.store.list() == []  # type: ignore[attr-defined]
        return
    records = [c.app.state.store.get(i) for c, i in zip((pooled, in_process), ids, strict=True)]  # type: ignore[attr-defined]
    assert records[0].facts == records[1].facts
    assert masked(json.dumps(records[0].assessment)) == masked(json.dumps(records[1].assessment))
    assert records[0].input_digest == records[1].input_digest  # the raw bytes as received


def test_a_malformed_prefetch_is_the_same_400_naming_the_field(pool: PooledEngine, engine: Engine) -> None:
    _, body = CASES["malformed prefetch: another patient"]
    for client in (client_for(pool), client_for(engine)):
        response = client.post(CANDIDACY, json=body)
        assert response.status_code == 400
        assert response.json()["issue"][0]["expression"] == ["prefetch.patient.id"]


def test_what_the_server_fetched_reaches_the_worker_with_where_it_came_from(pool: PooledEngine) -> None:
    chart = candidate_hook()["prefetch"]
    procedures = copy.deepcopy(chart["procedures"])
    procedures["entry"][0]["resource"]["performedDateTime"] = "soon"  # unreadable, named by origin

    def ehr(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Procedure"):
            return httpx.Response(200, json=procedures)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "total": 0})

    body = candidate_hook()
    del body["prefetch"]["procedures"]
    body |= {"fhirServer": FHIR, "fhirAuthorization": {"access_token": "t", "token_type": "Bearer"}}
    app = create_app(
        Settings(public_base_url=BASE, fhir_server_allowlist=[FHIR]),
        engine=pool,
        store=open_store("sqlite://"),
        fhir_transport=httpx.MockTransport(ehr),
    )
    client = TestClient(app)
    card = client.post(CANDIDACY, json=body).json()["cards"][0]
    assert card["extension"]["ldncds"]["decision"] == "insufficient_information"
    stored = app.state.store.get(card["uuid"])
    [note] = [n for n in stored.assessment["data_notes"] if n["severity"] == "unreadable"]
    assert note["source"] == "Procedure/proc-pt" and "performedDateTime" in note["reason"]


def test_a_worker_crash_during_mapping_is_a_503_for_that_request_only(
    pool: PooledEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(pool)
    restarts = pool.pool.restarts
    monkeypatch.setattr("ldncds.cdshooks.routes.patient_view", worker_faults.patient_view_crashing_in_mapping)
    response = client.post(CANDIDACY, json=candidate_hook())
    assert response.status_code == 503 and "No advice" in response.json()["issue"][0]["diagnostics"]
    assert "cards" not in response.json() and client.app.state.store.list() == []  # type: ignore[attr-defined]
    monkeypatch.undo()
    card = client.post(CANDIDACY, json=candidate_hook()).json()["cards"][0]
    assert card["extension"]["ldncds"]["decision"] == "candidate"
    assert pool.pool.restarts == restarts + 1


def test_a_bug_in_the_worker_is_a_500_with_no_advice_and_the_worker_lives_on(
    pool: PooledEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(client_for(pool).app, raise_server_exceptions=False)
    pids, restarts = pool.pool.pids(), pool.pool.restarts
    monkeypatch.setattr("ldncds.cdshooks.routes.patient_view", worker_faults.patient_view_with_a_bug)
    response = client.post(CANDIDACY, json=candidate_hook())
    assert response.status_code == 500 and "cards" not in response.json()
    assert client.app.state.store.list() == []  # type: ignore[attr-defined]
    assert (pool.pool.pids(), pool.pool.restarts) == (pids, restarts)


def test_with_jwt_on_the_card_link_from_the_worker_opens_the_page(pool: PooledEngine, tmp_path: Path) -> None:
    issuers = [TrustedIssuer(iss=ISS, jwks={"keys": [jwk(EC_KEY, "ec-1")]})]
    client = client_for(pool, trusted_issuers=issuers, data_dir=tmp_path)
    headers = {"Authorization": f"Bearer {token(CANDIDACY)}"}
    card = client.post(CANDIDACY, json=candidate_hook(), headers=headers).json()["cards"][0]
    link = next(x["url"] for x in card["links"] if "/assessments/" in x["url"])
    assert "?t=" in link  # signed in the worker with the app's key
    assert client.get(link.removeprefix(BASE)).status_code == 200
    assert client.get(link.removeprefix(BASE).split("?")[0]).status_code == 401


_SERVER = textwrap.dedent(
    """
    import json, sys
    import ldncds.fhir, ldncds.fhir.adapter

    calls = []
    for name in ("facts_from_resources", "facts_from_bundle"):  # before anything imports them
        def counted(*args, _fn=getattr(ldncds.fhir.adapter, name), **kwargs):
            calls.append(_fn.__name__)
            return _fn(*args, **kwargs)
        setattr(ldncds.fhir.adapter, name, counted)
        setattr(ldncds.fhir, name, counted)

    from fastapi.testclient import TestClient
    from ldncds.api.app import create_app
    from ldncds.settings import Settings
    from ldncds.store import open_store

    processes, requests = int(sys.argv[1]), json.loads(sys.stdin.read())
    answers = []
    with TestClient(create_app(Settings(engine_processes=processes), store=open_store("sqlite://"))) as c:
        for path, body in requests:
            response = c.post(path, json=body)
            answers.append([response.status_code, response.json()])
    # resource model classes (what parsing a resource loads); fhirtypes are the field types the lean
    # models are declared with, imported with ldncds.fhir, and parse nothing by themselves
    types = ("fhir.resources.R4B.fhirtypes", "fhir.resources.R4B.fhirtypesvalidators")
    models = [
        m
        for m in sys.modules
        if m.startswith("fhir.resources.R4B.") and m.count(".") == 3 and m not in types
    ]
    print(json.dumps({"calls": calls, "models": sorted(models), "answers": answers}))
    """
)


def serve(processes: int, requests: list[tuple[str, Any]], tmp_path: Path) -> dict[str, Any]:
    """A fresh server process answering `requests`: what it mapped itself and what it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDNCDS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _SERVER, str(processes)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_with_workers_the_server_process_never_maps_fhir(tmp_path: Path) -> None:
    requests = [
        CASES[name] for name in ("patient_view_candidate", "order_sign_opioid_on_ldn", "chart bundle")
    ]
    with_workers, in_process = serve(1, requests, tmp_path), serve(0, requests, tmp_path)
    assert in_process["calls"]  # the check sees mapping where it happens
    assert with_workers["calls"] == [] and with_workers["models"] == []
    answers = [
        [[status, masked(json.dumps(body))] for status, body in run["answers"]]
        for run in (with_workers, in_process)
    ]
    assert answers[0] == answers[1] and [status for status, _ in answers[0]] == [200, 200, 201]
