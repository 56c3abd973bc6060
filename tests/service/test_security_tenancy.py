"""Issue 13 items 1 and 2: every record is its issuer's and tenant's; the explanation page needs the
card's link token or the bearer token; auditors (a `may_audit` issuer's token with the audit scope)
read every tenant."""

from __future__ import annotations

import json
import logging
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ldncds.api.app import create_app
from ldncds.engine import Engine, PatientFacts
from ldncds.service.security import LinkSigner
from ldncds.settings import Settings, TrustedIssuer
from ldncds.store import Caller, open_store, record_assessment
from ldncds.store.migrate import alembic_config
from ldncds.store.sql import assessment_content
from ldncds.store.tables import assessments
from support.tokens import BASE, EC_KEY, FIXTURE, OTHER_KEY, jwk, token

ISS_A, ISS_B = "https://ehr-a.example.org", "https://ehr-b.example.org"
CANDIDACY = "/cds-services/ldn-candidacy"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "candidate.json"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    issuers = [
        TrustedIssuer(iss=ISS_A, jwks={"keys": [jwk(EC_KEY, "a")]}),
        TrustedIssuer(iss=ISS_B, jwks={"keys": [jwk(OTHER_KEY, "b")]}, may_audit=True),
    ]
    settings = Settings(public_base_url=BASE, trusted_issuers=issuers, data_dir=tmp_path)
    return TestClient(create_app(settings, engine=engine, store=open_store(f"sqlite:///{tmp_path / 'l.db'}")))


def as_a(path: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(path, iss=ISS_A, kid='a', **claims)}"}


def as_b(path: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(path, iss=ISS_B, key=OTHER_KEY, kid='b', **claims)}"}


def card_of_a(client: TestClient, **claims: Any) -> dict[str, Any]:
    response = client.post(CANDIDACY, json=json.loads(FIXTURE.read_text()), headers=as_a(CANDIDACY, **claims))
    assert response.status_code == 200
    return response.json()["cards"][0]


def assess_as_a(client: TestClient, **claims: Any) -> str:
    path = "/api/v1/assessments"
    response = client.post(
        path + "?evaluation_date=2026-03-01",
        content=EXAMPLE.read_bytes(),
        headers=as_a(path, **claims) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    return response.json()["assessment_id"]


def test_issuer_b_can_neither_read_nor_list_nor_give_feedback_on_a_record_of_issuer_a(
    client: TestClient,
) -> None:
    record = assess_as_a(client)
    path = f"/api/v1/assessments/{record}"
    assert client.get(path, headers=as_a(path)).status_code == 200
    assert client.get(path, headers=as_b(path)).status_code == 404  # same answer as an unknown id
    listed = client.get("/api/v1/assessments", headers=as_b("/api/v1/assessments")).json()["items"]
    assert record not in [r["id"] for r in listed]
    mine = client.get("/api/v1/assessments", headers=as_a("/api/v1/assessments")).json()["items"]
    assert [r["id"] for r in mine] == [record] and mine[0]["caller"]["issuer"] == ISS_A

    feedback = CANDIDACY + "/feedback"
    item = {"card": record, "outcome": "overridden", "outcomeTimestamp": "2026-03-01T10:00:00Z"}
    refused = client.post(feedback, json={"feedback": [item]}, headers=as_b(feedback))
    assert refused.status_code == 404
    assert client.get(path, headers=as_a(path)).json()["feedback"] == []
    accepted = client.post(feedback, json={"feedback": [item]}, headers=as_a(feedback))
    assert accepted.status_code == 200 and accepted.json()["recorded"] == 1
    assert client.get(path, headers=as_a(path)).json()["feedback"][0]["outcome"] == "overridden"


def test_the_tenant_claim_separates_records_of_one_issuer(client: TestClient) -> None:
    north = assess_as_a(client, tenant="north")
    path = f"/api/v1/assessments/{north}"
    assert client.get(path, headers=as_a(path, tenant="north")).json()["caller"]["tenant"] == "north"
    assert client.get(path, headers=as_a(path, tenant="south")).status_code == 404
    assert client.get(path, headers=as_a(path)).status_code == 404  # no tenant is not any tenant


def test_an_auditor_reads_every_tenant_only_with_the_audit_scope_of_an_issuer_allowed_to_audit(
    client: TestClient,
) -> None:
    record = assess_as_a(client, tenant="north")
    path = f"/api/v1/assessments/{record}"
    assert client.get(path, headers=as_b(path, scope="ldncds/audit")).status_code == 200
    listed = client.get(
        "/api/v1/assessments", headers=as_b("/api/v1/assessments", scope="openid ldncds/audit")
    )
    assert record in [r["id"] for r in listed.json()["items"]]
    assert client.get(path, headers=as_b(path)).status_code == 404  # B without the scope
    assert client.get(path, headers=as_a(path, scope="ldncds/audit")).status_code == 404  # A may not audit


def test_the_card_link_opens_the_page_and_nothing_else_does(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    card = card_of_a(client)
    link = next(x["url"] for x in card["links"] if "/assessments/" in x["url"])
    page_path = link.removeprefix(BASE)
    assessment_id = page_path.split("?")[0].rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO):
        assert client.get(page_path).status_code == 200
    token_text = page_path.split("t=", 1)[1]
    ours = [r for r in caplog.records if r.name.startswith("ldncds")]  # not the test client's own lines
    assert any(getattr(r, "fields", {}).get("path") for r in ours)  # the request line was written
    assert all(token_text not in json.dumps(getattr(r, "fields", {})) + r.getMessage() for r in ours)

    bare = f"/assessments/{assessment_id}"
    assert client.get(bare).status_code == 401  # the uuid alone grants nothing
    assert client.get(bare + "?t=" + token_text[:-2] + "xx").status_code == 401  # tampered
    other = card_of_a(client)["uuid"]
    assert client.get(f"/assessments/{other}?t={token_text}").status_code == 401  # bound to one id
    assert client.get(bare, headers=as_a(bare)).status_code == 200  # the API's bearer token
    assert client.get(bare, headers=as_b(bare)).status_code == 404  # another issuer's bearer


def test_an_expired_link_is_refused(client: TestClient) -> None:
    assessment_id = card_of_a(client)["uuid"]
    signer: LinkSigner = client.app.state.links  # type: ignore[attr-defined]
    old = LinkSigner(signer._key, 1800, clock=lambda: time.time() - 3600)  # issued an hour ago
    assert client.get(f"/assessments/{assessment_id}?t={old.token(assessment_id)}").status_code == 401
    assert client.get(f"/assessments/{assessment_id}?t={signer.token(assessment_id)}").status_code == 200


def test_the_link_key_is_generated_once_into_the_data_dir_and_shared(engine: Engine, tmp_path: Path) -> None:
    issuers = [TrustedIssuer(iss=ISS_A, jwks={"keys": [jwk(EC_KEY, "a")]})]
    settings = Settings(public_base_url=BASE, trusted_issuers=issuers, data_dir=tmp_path)
    first = create_app(settings, engine=engine, store=open_store("sqlite://"))
    second = create_app(settings, engine=engine, store=open_store("sqlite://"))
    assert (tmp_path / "link-token.key").stat().st_mode & 0o077 == 0
    assert second.state.links.valid("x", first.state.links.token("x"))
    configured = settings.model_copy(update={"link_token_key": SecretStr("k" * 40)})
    assert not create_app(configured, engine=engine, store=open_store("sqlite://")).state.links.valid(
        "x", first.state.links.token("x")
    )


def test_without_jwt_the_page_needs_no_token_and_cards_carry_none(engine: Engine) -> None:
    client = TestClient(
        create_app(Settings(public_base_url=BASE), engine=engine, store=open_store("sqlite://"))
    )
    card = client.post(CANDIDACY, json=json.loads(FIXTURE.read_text())).json()["cards"][0]
    link = next(x["url"] for x in card["links"] if "/assessments/" in x["url"])
    assert "?t=" not in link and client.get(link.removeprefix(BASE)).status_code == 200


def test_a_0001_log_migrates_and_tenant_less_records_keep_the_0001_hash_format(
    engine: Engine, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = sa.create_engine(url)
    cfg = alembic_config()
    with db.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    db.dispose()
    store = open_store(url)  # migrates to 0002
    assert "tenant" in {c["name"] for c in sa.inspect(store.engine).get_columns("assessments")}
    facts = PatientFacts.model_validate_json(EXAMPLE.read_bytes())
    assessment = engine.assess(facts, date(2026, 3, 1))
    for caller in (Caller(channel="api"), Caller(channel="api", issuer=ISS_A, tenant="north")):
        record_assessment(
            store,
            facts,
            assessment.model_copy(update={"assessment_id": None}),
            b"{}",
            caller,
            engine.ruleset.content_hash,
        )
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(assessments).order_by(assessments.c.seq))]
    assert set(assessment_content(rows[0], 1)["caller"]) == {
        "channel",
        "service_id",
        "hook_instance",
        "issuer",
    }
    assert assessment_content(rows[1], 2)["caller"]["tenant"] == "north"
    assert store.verify().intact
    with store.engine.begin() as conn:  # the tenant is covered by the hash: changing it breaks the chain
        conn.execute(sa.text("UPDATE assessments SET tenant = 'south' WHERE tenant = 'north'"))
    assert not store.verify().intact
