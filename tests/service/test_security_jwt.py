"""Issue 13 item 3: JWT replay shared by processes and restarts, lifetime cap, several jku per issuer,
inline JWKS without fetching, configurable audiences, trailing slashes without redirect."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.settings import Settings, TrustedIssuer
from ldncds.store import open_store
from support.tokens import BASE, DISCOVERY, EC_KEY, FIXTURE, ISS, JWKS, JWKS_URL, OTHER_KEY, jwk, token

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
CANDIDACY = "/cds-services/ldn-candidacy"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected outbound call to {request.url}")


def client_for(engine: Engine, *issuers: TrustedIssuer, store: Any = None, **settings: Any) -> TestClient:
    config = Settings(public_base_url=BASE, trusted_issuers=list(issuers), **settings)
    app = create_app(
        config,
        engine=engine,
        store=store or open_store("sqlite://"),
        fhir_transport=httpx.MockTransport(no_network),
    )
    return TestClient(app)


def call(client: TestClient, bearer: str, path: str = DISCOVERY) -> int:
    return client.get(path, headers={"Authorization": f"Bearer {bearer}"}).status_code


def test_a_sandbox_shaped_token_with_the_key_inline_is_accepted_without_any_outbound_call(
    engine: Engine,
) -> None:
    sandbox = TrustedIssuer(iss=SANDBOX_ISS, jwks_url=SANDBOX_JKU, jwks={"keys": [jwk(EC_KEY, SANDBOX_KID)]})
    client = client_for(engine, sandbox)  # any outbound call fails the test (no_network)
    bearer = token(CANDIDACY, iss=SANDBOX_ISS, kid=SANDBOX_KID, headers={"jku": SANDBOX_JKU}, sub="sandbox")
    response = client.post(
        CANDIDACY, json=json.loads(FIXTURE.read_text()), headers={"Authorization": f"Bearer {bearer}"}
    )
    assert response.status_code == 200 and len(response.json()["cards"]) == 1


def test_the_inline_jwks_does_not_make_an_unregistered_jku_acceptable(engine: Engine) -> None:
    client = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS))
    assert call(client, token(headers={"jku": "https://evil.example/jwks.json"})) == 401


def test_one_issuer_with_a_jku_per_tenant_fetches_only_the_registered_url_the_token_names(
    engine: Engine,
) -> None:
    tenant_a, tenant_b = "https://ehr.example.org/a/jwks.json", "https://ehr.example.org/b/jwks.json"
    served = {tenant_a: {"keys": [jwk(EC_KEY, "a-1")]}, tenant_b: {"keys": [jwk(OTHER_KEY, "b-1")]}}
    fetched: list[str] = []

    def ehr(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json=served[str(request.url)])

    issuer = TrustedIssuer(iss=ISS, jwks_urls=[tenant_a, tenant_b])
    app = create_app(
        Settings(public_base_url=BASE, trusted_issuers=[issuer]),
        engine=engine,
        store=open_store("sqlite://"),
        fhir_transport=httpx.MockTransport(ehr),
    )
    client = TestClient(app)
    assert call(client, token(key=OTHER_KEY, kid="b-1", headers={"jku": tenant_b}, tenant="b")) == 200
    assert fetched == [tenant_b]
    assert call(client, token(kid="a-1", headers={"jku": tenant_a}, tenant="a")) == 200
    assert fetched == [tenant_b, tenant_a]
    # A key of tenant A presented under tenant B's jku is not found there.
    assert call(client, token(kid="a-1", headers={"jku": tenant_b})) == 401


def test_a_token_living_longer_than_the_maximum_is_refused(engine: Engine) -> None:
    client = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS))
    now = int(time.time())
    assert call(client, token(iat=now, exp=now + 10 * 365 * 86400)) == 401  # ten years
    assert call(client, token(iat=now, exp=now + 300 + 60 + 1)) == 401  # 5 min + leeway + 1 s
    assert call(client, token(iat=now, exp=now + 300 + 60)) == 200  # 5 min + leeway
    longer = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS), jwt_max_lifetime_seconds=3600)
    assert call(longer, token(iat=now, exp=now + 3600)) == 200


def test_the_base_url_is_an_accepted_audience_by_default_and_the_list_is_configurable(
    engine: Engine,
) -> None:
    client = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS))
    assert call(client, token(aud=BASE)) == 200
    assert call(client, token(aud=BASE + "/")) == 200
    assert call(client, token(aud="https://elsewhere.example")) == 401
    epic = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS), jwt_audiences=["urn:site:ldncds"])
    assert call(epic, token(aud="urn:site:ldncds")) == 200
    assert call(epic, token()) == 401  # the endpoint URL is no longer accepted once a list is set


def test_a_trailing_slash_is_served_without_redirect_and_its_audience_matches(engine: Engine) -> None:
    client = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS))
    body = json.loads(FIXTURE.read_text())
    for aud_path in (CANDIDACY + "/", CANDIDACY):
        response = client.post(
            CANDIDACY + "/",
            json=body,
            headers={"Authorization": f"Bearer {token(CANDIDACY, aud=BASE + aud_path)}"},
            follow_redirects=False,
        )
        assert response.status_code == 200, aud_path
    response = client.get(DISCOVERY + "/", headers={"Authorization": f"Bearer {token()}"})
    assert response.status_code == 200 and response.json()["services"]


def test_the_tenant_claim_must_be_a_string_and_allow_listed_when_configured(engine: Engine) -> None:
    client = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS, tenants=["north"]))
    assert call(client, token(tenant="north")) == 200
    assert call(client, token(tenant="south")) == 401
    assert call(client, token()) == 401  # a tenant is required once tenants are listed
    open_tenants = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS))
    assert call(open_tenants, token(tenant={"id": "north"})) == 401


def test_a_replayed_jti_is_refused_after_a_restart(engine: Engine, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    bearer = token()
    first = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS), store=open_store(url))
    assert call(first, bearer) == 200
    restarted = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS), store=open_store(url))
    assert call(restarted, bearer) == 401
    assert call(restarted, token()) == 200


SECOND_PROCESS = textwrap.dedent(
    """
    import json, sys
    from fastapi.testclient import TestClient
    from ldncds.api.app import create_app
    from ldncds.engine import Engine
    from ldncds.settings import Settings, TrustedIssuer
    from ldncds.store import open_store

    url, base, iss, jwks, bearer = sys.argv[1:6]
    settings = Settings(public_base_url=base, trusted_issuers=[TrustedIssuer(iss=iss, jwks=json.loads(jwks))])
    client = TestClient(create_app(settings, engine=Engine(), store=open_store(url)))
    print(client.get("/cds-services", headers={"Authorization": "Bearer " + bearer}).status_code)
    """
)


def test_a_jti_used_in_one_process_is_refused_in_another(engine: Engine, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    bearer = token()
    client = client_for(engine, TrustedIssuer(iss=ISS, jwks=JWKS), store=open_store(url))
    assert call(client, bearer) == 200
    second = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS, url, BASE, ISS, json.dumps(JWKS), bearer],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.stdout.strip().splitlines()[-1] == "401", second.stderr[-2000:]


def test_expired_jti_rows_are_reused_and_purged(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    assert store.claim_jti(ISS, "j1", expires_at=100.0, now=50.0)
    assert not store.claim_jti(ISS, "j1", expires_at=100.0, now=99.0)
    assert store.claim_jti("https://other.example", "j1", expires_at=100.0, now=99.0)  # per issuer
    assert store.claim_jti(ISS, "j1", expires_at=300.0, now=101.0)  # expired: usable again
    assert not store.claim_jti(ISS, "j1", expires_at=300.0, now=200.0)


def test_jwks_fetch_on_a_registered_url_when_the_kid_is_not_inline(engine: Engine) -> None:
    fetched: list[str] = []

    def ehr(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json={"keys": [jwk(OTHER_KEY, "rotated")]})

    issuer = TrustedIssuer(iss=ISS, jwks_url=JWKS_URL, jwks=JWKS)
    app = create_app(
        Settings(public_base_url=BASE, trusted_issuers=[issuer]),
        engine=engine,
        store=open_store("sqlite://"),
        fhir_transport=httpx.MockTransport(ehr),
    )
    client = TestClient(app)
    assert call(client, token()) == 200 and fetched == []  # inline key: no call
    assert call(client, token(key=OTHER_KEY, kid="rotated")) == 200 and fetched == [JWKS_URL]
