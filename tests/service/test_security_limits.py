"""Issue 13 items 5 and 7, issue 12 item 6: request size and shape limits, input bounds, the site's
time zone for 'today'; and the operations surface: /docs without outside hosts, /metrics behind a
token, the OpenAPI security declarations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.service.evaluation import today_in
from ldncds.settings import Settings, TrustedIssuer
from ldncds.store import open_store
from support.tokens import BASE, JWKS, token

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "candidate.json"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "http" / "patient_view_candidate.json"
API = "/api/v1/assessments"
CANDIDACY = "/cds-services/ldn-candidacy"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def make(engine: Engine, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(**settings), engine=engine, store=open_store("sqlite://")))


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return make(engine)


def facts(**changes: Any) -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text()) | changes


def post(client: TestClient, body: bytes | str, path: str = API, query: str = "") -> Any:
    return client.post(path + query, content=body, headers={"Content-Type": "application/json"})


def fields(response: Any) -> list[str]:
    return [e for issue in response.json()["issue"] for e in issue.get("expression", [])]


# ----------------------------------------------------------------------------- size and shape


def test_a_20_mb_body_is_refused_with_413_before_it_is_assessed(client: TestClient) -> None:
    body = json.dumps(facts(source="x" * (20 * 1024 * 1024)))
    response = post(client, body)
    assert response.status_code == 413 and response.json()["resourceType"] == "OperationOutcome"
    assert post(client, body, CANDIDACY).status_code == 413
    assert client.get(API).json()["items"] == []  # nothing was stored


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_a_body_without_content_length_is_cut_off_at_the_limit(engine: Engine) -> None:
    client = make(engine, max_body_bytes=64 * 1024)
    body = json.dumps(facts(source="x" * 200_000)).encode()
    response = client.post(
        API, content=_chunks(body, 16 * 1024), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_the_limit_is_a_setting_and_a_body_under_it_is_served(engine: Engine) -> None:
    body = json.dumps(facts()) + " " * 2000  # whitespace counts: the limit is on bytes
    on = "?evaluation_date=2026-03-01"
    assert post(make(engine, max_body_bytes=len(body) - 1), body, query=on).status_code == 413
    assert post(make(engine, max_body_bytes=len(body)), body, query=on).status_code == 201


def test_too_many_json_values_or_resources_is_413(engine: Engine) -> None:
    client = make(engine, max_json_values=1000, max_resources=5)
    many = facts(notes=[{"source": f"Condition/{i}", "reason": "x"} for i in range(400)])
    assert post(client, json.dumps(many)).status_code == 413
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Condition", "id": str(i)}} for i in range(6)],
    }
    assert post(client, json.dumps(bundle)).status_code == 413
    assert post(make(engine), json.dumps(bundle)).status_code != 413


def test_json_nested_deeper_than_the_limit_is_refused_naming_where(client: TestClient) -> None:
    deep: Any = "x"
    for _ in range(70):
        deep = {"a": deep}
    response = post(client, json.dumps(facts(source="Patient", extra=deep)))
    assert response.status_code == 422 and fields(response)[0].startswith("extra.a.a")
    assert post(client, json.dumps({"context": deep}), CANDIDACY).status_code == 400
    very_deep = "[" * 100_000 + "]" * 100_000  # deeper than the JSON parser itself goes
    assert post(client, very_deep).status_code == 422


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_refused_with_422_naming_the_field(client: TestClient, literal: str) -> None:
    observation = {"source": "Observation/o1", "value_num": "__N__"}
    body = json.dumps(facts(observations=[observation])).replace('"__N__"', literal)
    response = post(client, body, query="?evaluation_date=2026-03-01")
    assert response.status_code == 422
    assert fields(response) == ["observations[0].value_num"]
    for content_type in (None, "application/vnd.api+json", "text/json"):  # FastAPI parses these as JSON
        headers = {"Content-Type": content_type} if content_type else {}
        request = client.build_request(
            "POST", API + "?evaluation_date=2026-03-01", content=body, headers=headers
        )
        if content_type is None:
            request.headers.pop("Content-Type", None)
        assert client.send(request).status_code == 422, content_type


# ----------------------------------------------------------------------------- dates


@pytest.mark.parametrize("value", ["0", "20260301", "9999-12-31", "1970-01-01", "2026-3-1", "2026-02-30"])
def test_evaluation_dates_outside_the_window_or_not_iso_are_422_naming_the_field(
    client: TestClient, value: str
) -> None:
    response = post(client, json.dumps(facts()), query=f"?evaluation_date={value}")
    assert response.status_code == 422, value
    assert fields(response) == ["evaluation_date"]


def test_the_window_is_configurable_and_its_edges_are_inside(engine: Engine) -> None:
    today = datetime.now(UTC).date()
    client = make(engine, evaluation_past_days=30, evaluation_future_days=7)
    for day, status in (
        (today - timedelta(days=30), 201),
        (today + timedelta(days=7), 201),
        (today - timedelta(days=31), 422),
        (today + timedelta(days=8), 422),
    ):
        assert post(client, json.dumps(facts()), query=f"?evaluation_date={day}").status_code == status, day


@pytest.mark.parametrize(
    ("birth_date", "why"),
    [("0001-01-01", "implausible"), ("1890", "implausible"), ("2026-03-02", "negative")],
)
def test_implausible_birth_dates_and_negative_ages_are_422(
    client: TestClient, birth_date: str, why: str
) -> None:
    response = post(client, json.dumps(facts(birth_date=birth_date)), query="?evaluation_date=2026-03-01")
    assert response.status_code == 422 and fields(response) == ["birth_date"]
    assert why in response.json()["issue"][0]["diagnostics"]


def test_an_old_but_possible_birth_date_is_assessed(client: TestClient) -> None:
    response = post(client, json.dumps(facts(birth_date="1900-06-01")), query="?evaluation_date=2026-03-01")
    assert response.status_code == 201


def test_today_is_the_site_calendar_date_around_midnight() -> None:
    # 23:30 on 1 March in Chicago is already 2 March in UTC.
    late_evening = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)
    assert today_in("UTC", late_evening) == date(2026, 3, 2)
    assert today_in("America/Chicago", late_evening) == date(2026, 3, 1)
    # 00:30 on 2 March in Paris is still 1 March in UTC.
    just_after_midnight = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert today_in("Europe/Paris", just_after_midnight) == date(2026, 3, 2)
    assert today_in("UTC", just_after_midnight) == date(2026, 3, 1)


def test_the_default_evaluation_date_is_today_in_the_site_time_zone(engine: Engine) -> None:
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14 and UTC-11: never the same day
        response = post(make(engine, site_timezone=zone), json.dumps(facts()))
        assert response.status_code == 201
        assert response.json()["evaluation_date"] == today_in(zone).isoformat()


def test_an_unknown_time_zone_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="site_timezone"):
        Settings(site_timezone="Mars/Olympus")


# ----------------------------------------------------------------------------- operations surface


def test_docs_use_only_local_assets_and_can_be_switched_off(client: TestClient, engine: Engine) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page.text)
    for asset in re.findall(r"(?:src|href)=[\"']([^\"']+)[\"']", page.text):
        assert client.get("/" + asset.lstrip("/")).status_code == 200, asset
    assert "default-src 'self'" in page.headers["content-security-policy"]
    off = make(engine, docs_enabled=False)
    assert off.get("/docs").status_code == 404 and off.get("/openapi.json").status_code == 404


def test_metrics_with_jwt_on_need_the_metrics_token(engine: Engine) -> None:
    issuers = [TrustedIssuer(iss="https://ehr.example.org", jwks=JWKS)]
    client = make(engine, public_base_url=BASE, trusted_issuers=issuers, metrics_token=SecretStr("m" * 32))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token('/metrics')}"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32})
    assert ok.status_code == 200 and "ldncds_http_requests" in ok.text


def test_openapi_declares_the_bearer_scheme_and_the_error_responses(engine: Engine) -> None:
    issuers = [TrustedIssuer(iss="https://ehr.example.org", jwks=JWKS)]
    schema = make(engine, trusted_issuers=issuers).get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schema["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    create = schema["paths"][API]["post"]
    assert create["security"] == [{"bearerAuth": []}]
    assert {"401", "403", "413", "422"} <= set(create["responses"])
    one = schema["paths"][API + "/{assessment_id}"]["get"]
    assert {"401", "403", "404", "422"} <= set(one["responses"])
    service = schema["paths"][CANDIDACY]["post"]
    assert {"400", "401", "403", "413"} <= set(service["responses"])
    page = schema["paths"]["/assessments/{assessment_id}"]["get"]
    assert {"401", "404"} <= set(page["responses"]) and page["security"] == [{"bearerAuth": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]
    unauthenticated = make(engine).get("/openapi.json").json()  # JWT off: declared, not required
    assert "bearerAuth" in unauthenticated["components"]["securitySchemes"]
    assert "security" not in unauthenticated["paths"][API]["post"]


def test_the_settings_give_the_same_site_today_to_every_channel() -> None:
    late_evening = datetime(2026, 3, 2, 5, 30, tzinfo=UTC)  # 23:30 on 1 March in Chicago
    assert Settings(site_timezone="America/Chicago").today(late_evening) == date(2026, 3, 1)
    assert Settings().today(late_evening) == date(2026, 3, 2)  # default UTC
