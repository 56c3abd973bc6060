"""CDS Hooks client JWTs: every bad token is a 401 with an empty body; good ES384/RS384 tokens pass."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.settings import Settings, TrustedIssuer
from ldncds.store import open_store
from support.tokens import (
    BASE,
    DISCOVERY,
    EC256_KEY,
    EC_KEY,
    FIXTURE,
    ISS,
    JWKS,
    JWKS_URL,
    OTHER_KEY,
    RSA_KEY,
    jwk,
    token,
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def app_with(
    engine: Engine, issuer: TrustedIssuer, transport: httpx.MockTransport | None = None
) -> TestClient:
    settings = Settings(public_base_url=BASE, trusted_issuers=[issuer])
    return TestClient(
        create_app(settings, engine=engine, store=open_store("sqlite://"), fhir_transport=transport)
    )


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return app_with(engine, TrustedIssuer(iss=ISS, jwks=JWKS))


def get(client: TestClient, bearer: str | None, path: str = DISCOVERY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return client.get(path, headers=headers)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.content == b""


def test_es384_token_is_accepted(client: TestClient) -> None:
    response = get(client, token())
    assert response.status_code == 200 and response.json()["services"]


def test_rs384_token_with_audience_list_is_accepted(client: TestClient) -> None:
    bearer = token(key=RSA_KEY, alg="RS384", kid="rsa-1", aud=[BASE + DISCOVERY, "https://other.example"])
    assert get(client, bearer).status_code == 200


def test_es384_token_on_a_service_call(client: TestClient) -> None:
    path = "/cds-services/ldn-candidacy"
    response = client.post(
        path, json=json.loads(FIXTURE.read_text()), headers={"Authorization": f"Bearer {token(path)}"}
    )
    assert response.status_code == 200 and len(response.json()["cards"]) == 1


def hs256_with_public_key() -> str:
    # The classic confusion attack: HMAC keyed with the issuer's public key.
    pem = EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    body = {"iss": ISS, "aud": BASE + DISCOVERY, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    signing = jwt.api_jws.PyJWS()
    signing._algorithms["HS256"] = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256)
    signing._algorithms["HS256"].prepare_key = lambda key: key  # type: ignore[method-assign]
    return signing.encode(
        json.dumps(body).encode(), pem, algorithm="HS256", headers={"kid": "ec-1", "typ": "JWT"}
    )


REFUSED: dict[str, tuple[Any, str]] = {  # case -> (token factory, the reason logged)
    "no token": (lambda: None, "no Authorization header"),
    "not a JWT": (lambda: "not.a.jwt", "unreadable header"),
    "alg none": (
        lambda: jwt.encode(
            {
                "iss": ISS,
                "aud": BASE + DISCOVERY,
                "exp": int(time.time()) + 60,
                "iat": int(time.time()),
                "jti": "x",
            },
            None,
            algorithm="none",
            headers={"kid": "ec-1"},
        ),
        "algorithm 'none' not allowed",
    ),
    "HS256": (hs256_with_public_key, "algorithm 'HS256' not allowed"),
    "expired": (lambda: token(exp=int(time.time()) - 3600, iat=int(time.time()) - 4000), "ExpiredSignature"),
    "issued in the future": (
        lambda: token(iat=int(time.time()) + 3600, exp=int(time.time()) + 4000),
        "ImmatureSignature",
    ),
    "wrong audience": (lambda: token(aud=BASE + "/cds-services/ldn-candidacy"), "InvalidAudience"),
    "audience from another host": (lambda: token(aud="http://testserver" + DISCOVERY), "InvalidAudience"),
    "unknown issuer": (lambda: token(iss="https://impostor.example"), "issuer not trusted"),
    "bad signature": (lambda: token(key=OTHER_KEY), "InvalidSignature"),
    "missing kid": (lambda: token(kid=None), "no kid"),
    "unknown kid": (lambda: token(kid="ec-9"), "unknown kid"),
    "missing jti": (lambda: token(jti=None), "MissingRequiredClaim"),
    "missing exp": (lambda: token(exp=None), "MissingRequiredClaim"),
    "foreign jku": (lambda: token(headers={"jku": "https://evil.example/jwks.json"}), "jku"),
    "ES256 not allowed for this issuer": (
        lambda: token(key=EC256_KEY, alg="ES256", kid="ec256-1"),
        "ES256 not allowed for this issuer",
    ),
    "key of another algorithm": (lambda: token(key=RSA_KEY, alg="RS384", kid="ec-1"), "unusable key"),
    "typ not JWT": (lambda: token(headers={"typ": "at+jwt"}), "typ is not JWT"),
}


def refusal_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.fields["reason"] for r in caplog.records if r.getMessage() == "credential refused"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_tokens_are_refused_with_an_empty_401(
    client: TestClient, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    make, reason = REFUSED[case]
    with caplog.at_level(logging.INFO, logger="ldncds"):
        assert_refused(get(client, make()))
    assert [reason in r for r in refusal_reasons(caplog)] == [True]


def test_a_replayed_jti_is_refused(client: TestClient) -> None:
    bearer = token()
    assert get(client, bearer).status_code == 200
    assert_refused(get(client, bearer))


def test_es256_only_for_an_issuer_that_allows_it(engine: Engine) -> None:
    client = app_with(engine, TrustedIssuer(iss=ISS, jwks=JWKS, algorithms=["ES256", "ES384"]))
    assert get(client, token(key=EC256_KEY, alg="ES256", kid="ec256-1")).status_code == 200
    hs = app_with(engine, TrustedIssuer(iss=ISS, jwks=JWKS, algorithms=["HS256"]))  # never, even if listed
    assert_refused(get(hs, hs256_with_public_key()))


def test_every_endpoint_but_operations_needs_a_token(client: TestClient) -> None:
    body = json.loads(FIXTURE.read_text())
    feedback = {
        "feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-03-01T10:00:00Z"}]
    }
    assert_refused(client.post("/cds-services/ldn-candidacy", json=body))
    assert_refused(client.post("/cds-services/ldn-order-sign", json=body))
    assert_refused(client.post("/cds-services/ldn-candidacy/feedback", json=feedback))
    assert_refused(client.post("/api/v1/assessments", json={}))
    assert_refused(client.get("/api/v1/assessments"))
    assert_refused(client.get("/api/v1/assessments/some-id"))
    assert client.get("/assessments/some-id").status_code == 401  # the explanation page
    for path in ("/healthz", "/readyz", "/ping", "/rulebook"):
        assert client.get(path).status_code == 200
    assert client.get("/metrics").status_code == 404  # JWT on and no metrics token: not served


def test_jwks_url_is_fetched_cached_and_refreshed_once_for_a_new_kid(engine: Engine) -> None:
    served = {"keys": [jwk(EC_KEY, "ec-1")]}
    fetched: list[str] = []

    def ehr(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json=served)

    client = app_with(engine, TrustedIssuer(iss=ISS, jwks_url=JWKS_URL), httpx.MockTransport(ehr))
    assert get(client, token()).status_code == 200
    assert get(client, token()).status_code == 200
    assert fetched == [JWKS_URL]  # cached
    served["keys"].append(jwk(RSA_KEY, "rsa-2"))  # key rotation at the EHR
    client.app.state.jwt._fetched_at.clear()  # as if the refresh interval had passed
    assert get(client, token(key=RSA_KEY, alg="RS384", kid="rsa-2")).status_code == 200
    assert fetched == [JWKS_URL, JWKS_URL]
    assert_refused(get(client, token(kid="never-published")))  # refresh is rate-limited: no third fetch
    assert fetched == [JWKS_URL, JWKS_URL]


def test_a_jku_equal_to_the_registered_url_is_accepted_but_never_fetched(engine: Engine) -> None:
    fetched: list[str] = []

    def ehr(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json=JWKS)

    client = app_with(engine, TrustedIssuer(iss=ISS, jwks_url=JWKS_URL), httpx.MockTransport(ehr))
    assert get(client, token(headers={"jku": JWKS_URL})).status_code == 200
    assert_refused(get(client, token(headers={"jku": "https://evil.example/jwks.json"})))
    assert fetched == [JWKS_URL]


def test_the_reason_is_logged_but_never_the_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    bearer = token(aud=BASE + "/elsewhere")
    with caplog.at_level(logging.INFO):
        assert_refused(get(client, bearer))
    assert ["InvalidAudience" in r for r in refusal_reasons(caplog)] == [True]
    assert all(
        bearer not in (r.getMessage() + json.dumps(getattr(r, "fields", {}), default=str))
        for r in caplog.records
    )


def test_auth_is_off_on_loopback_without_issuers(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        client = TestClient(
            create_app(Settings(host="127.0.0.1"), engine=engine, store=open_store("sqlite://"))
        )
    assert client.get(DISCOVERY).status_code == 200
    assert any("authentication is OFF" in r.getMessage() for r in caplog.records)


def test_an_open_bind_without_issuers_refuses_to_start(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="--insecure"):
        create_app(Settings(host="0.0.0.0"), engine=engine, store=open_store("sqlite://"))
    insecure = create_app(
        Settings(host="0.0.0.0", insecure=True), engine=engine, store=open_store("sqlite://")
    )
    assert TestClient(insecure).get(DISCOVERY).status_code == 200


def test_a_withdrawn_key_stops_working_once_the_cache_is_old(engine: Engine) -> None:
    served = {"keys": [jwk(EC_KEY, "ec-1")]}
    client = app_with(
        engine,
        TrustedIssuer(iss=ISS, jwks_url=JWKS_URL),
        httpx.MockTransport(lambda request: httpx.Response(200, json=served)),
    )
    assert get(client, token()).status_code == 200
    served["keys"] = []  # the EHR withdraws the key
    assert get(client, token()).status_code == 200  # cached for now
    verifier = client.app.state.jwt  # type: ignore[attr-defined]
    verifier._clock = lambda: time.time() + 2 * 3600  # two hours later
    assert_refused(get(client, token()))
