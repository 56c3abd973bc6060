"""Operations: health, readiness, metrics, request logs without patient identifiers, CORS, OpenAPI docs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.api.observability import JsonFormatter
from ldncds.engine import Engine
from ldncds.settings import Settings
from ldncds.store import open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "http"
SANDBOX = "https://sandbox.cds-hooks.org"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def client(engine: Engine) -> TestClient:
    settings = Settings(cors_origins=[SANDBOX])
    return TestClient(create_app(settings, engine=engine, store=open_store("sqlite://")))


def test_ping_health_and_readiness(client: TestClient, engine: Engine) -> None:
    assert client.get("/ping").json() == {"ok": True}
    assert client.get("/healthz").json() == {"status": "alive"}
    assert client.get("/readyz").json() == {
        "ready": True,
        "engine": True,
        "store": True,
        "ruleset_version": engine.version,
    }


class UnreachableStore:
    def __getattr__(self, name: str) -> Any:
        raise ConnectionError("database down")


def test_not_ready_when_the_store_is_unreachable(engine: Engine) -> None:
    client = TestClient(create_app(Settings(), engine=engine, store=UnreachableStore()))  # type: ignore[arg-type]
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["store"] is False
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_metrics_count_requests_by_decision_and_time_them(client: TestClient) -> None:
    client.post("/cds-services/ldn-candidacy", json=load("patient_view_contraindicated_tramadol.json"))
    client.get("/ping")
    text = client.get("/metrics").text
    assert (
        'ldncds_http_requests_total{decision="contraindicated",method="POST",'
        'route="/cds-services/ldn-candidacy",status="200"} 1.0'
    ) in text
    assert 'ldncds_decisions_total{channel="cds-hooks",decision="contraindicated"} 1.0' in text
    assert 'ldncds_cards_total{indicator="warning",service="ldn-candidacy"} 1.0' in text
    assert 'ldncds_http_request_duration_seconds_count{route="/ping"} 1.0' in text


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "ldncds.http" and r.getMessage() == "request"]  # type: ignore[attr-defined]


def test_one_log_line_per_request_with_hook_instance_and_decision(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = load("patient_view_candidate.json")
    with caplog.at_level(logging.INFO, logger="ldncds"):
        client.post("/cds-services/ldn-candidacy", json=body)
        client.get("/ping")
    first, second = request_lines(caplog)
    assert first["method"] == "POST" and first["path"] == "/cds-services/ldn-candidacy"
    assert first["status"] == 200 and first["duration_ms"] >= 0
    assert (first["hook"], first["hookInstance"], first["decision"]) == (
        "patient-view",
        body["hookInstance"],
        "candidate",
    )
    assert second == {"method": "GET", "path": "/ping", "status": 200, "duration_ms": second["duration_ms"]}


PHI = (
    "pt-1001",
    "Testpatient-Secret",
    "Ada",
    "MRN-SECRET-77",
    "1974-02-11",
    "Doe-Secret",
    "MRN-SECRET-42",
    "Hidden Street",
    "1980-03-15",
    "pt-1",
)


def test_logs_never_hold_patient_identifiers(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    formatter = JsonFormatter()
    with caplog.at_level(logging.DEBUG):
        for name in sorted(p.name for p in FIXTURES.glob("*.json")):
            body = load(name)
            client.post(
                "/cds-services/" + ("ldn-candidacy" if body["hook"] == "patient-view" else "ldn-order-sign"),
                json=body,
            )
        bad = load("patient_view_candidate.json")
        bad["prefetch"]["patient"]["birthDate"] = "1974-02-31"
        client.post("/cds-services/ldn-candidacy", json=bad)
        client.post(
            "/api/v1/assessments",
            content=(FIXTURES.parent / "fhir" / "chart_bundle.json").read_bytes(),
            headers={"Content-Type": "application/fhir+json"},
        )
    lines = [formatter.format(r) for r in caplog.records]
    assert len(request_lines(caplog)) == len(list(FIXTURES.glob("*.json"))) + 2
    for line in lines:
        json.loads(line)  # every line is one JSON object
        assert not [secret for secret in PHI if secret in line], line


def test_json_lines_carry_the_fields() -> None:
    record = logging.LogRecord("ldncds.http", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"status": 200, "hookInstance": "abc"}
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "request" and line["status"] == 200 and line["hookInstance"] == "abc"


def test_cors_preflight_for_a_listed_ehr_origin(client: TestClient) -> None:
    response = client.options(
        "/cds-services/ldn-candidacy",
        headers={
            "Origin": SANDBOX,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SANDBOX
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert (
        client.get("/cds-services", headers={"Origin": SANDBOX}).headers["access-control-allow-origin"]
        == SANDBOX
    )


def test_cors_refuses_an_unlisted_origin(client: TestClient) -> None:
    response = client.options(
        "/cds-services", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in response.headers
    assert (
        "access-control-allow-origin"
        not in client.get("/cds-services", headers={"Origin": "https://evil.example"}).headers
    )


def test_openapi_docs_describe_both_body_types(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/assessments"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/fhir+json"}
    assert spec["paths"]["/cds-services/ldn-candidacy"]["post"]["responses"]["400"]
    assert "HTTPValidationError" not in json.dumps(spec)


def test_settings_come_from_the_environment_and_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ldncds.settings import Settings

    config = tmp_path / "ldncds.toml"
    config.write_text(
        'public_base_url = "https://cds.example.org"\nengine_processes = 3\n'
        '[[trusted_issuers]]\niss = "https://ehr.example.org"\n'
        'jwks_url = "https://ehr.example.org/jwks"\n'
    )
    monkeypatch.setenv("LDNCDS_CONFIG", str(config))
    monkeypatch.setenv("LDNCDS_ENGINE_PROCESSES", "2")  # the environment wins over the file
    settings = Settings()
    assert settings.public_base_url == "https://cds.example.org" and settings.engine_processes == 2
    assert settings.trusted_issuers[0].algorithms == ["ES384", "RS384"]
