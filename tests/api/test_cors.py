"""CORS for browser clients: Private Network Access preflights, configurable request headers, and a
real cross-origin page (Chromium) calling the service with a bearer token and getting cards."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ldncds.api.app import create_app
from ldncds.engine import Engine
from ldncds.settings import Settings, TrustedIssuer
from ldncds.store import open_store

ORIGIN = "https://sandbox.cds-hooks.example"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "http" / "patient_view_candidate.json"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def client_with(engine: Engine, **settings: Any) -> TestClient:
    app = create_app(
        Settings(cors_origins=[ORIGIN], **settings), engine=engine, store=open_store("sqlite://")
    )
    return TestClient(app)


def preflight(client: TestClient, headers: str = "authorization, content-type", **extra: str) -> Any:
    return client.options(
        "/cds-services/ldn-candidacy",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
            **extra,
        },
    )


def test_private_network_preflight_is_answered_when_configured(engine: Engine) -> None:
    response = preflight(
        client_with(engine, cors_private_network=True), **{"Access-Control-Request-Private-Network": "true"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-private-network"] == "true"
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_private_network_preflight_is_refused_by_name_when_not_configured(engine: Engine) -> None:
    response = preflight(client_with(engine), **{"Access-Control-Request-Private-Network": "true"})
    assert response.status_code == 400
    assert "private-network" in response.text
    assert "access-control-allow-private-network" not in response.headers


def test_a_plain_preflight_gets_no_private_network_header(engine: Engine) -> None:
    response = preflight(client_with(engine, cors_private_network=True))
    assert response.status_code == 200
    assert "access-control-allow-private-network" not in response.headers


def test_the_common_request_headers_are_allowed_by_default(engine: Engine) -> None:
    response = preflight(
        client_with(engine), headers="authorization, content-type, x-request-id, traceparent"
    )
    assert response.status_code == 200, response.text


def test_another_origin_is_refused_even_with_private_network(engine: Engine) -> None:
    response = client_with(engine, cors_private_network=True).options(
        "/cds-services",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-private-network" not in response.headers


def test_allowed_headers_are_configurable(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDNCDS_CORS_HEADERS", '["Authorization", "Content-Type", "X-Site-Trace"]')
    settings = Settings(cors_origins=[ORIGIN])
    client = TestClient(create_app(settings, engine=engine, store=open_store("sqlite://")))
    assert preflight(client, headers="authorization, x-site-trace").status_code == 200
    refused = preflight(client, headers="authorization, x-request-id")
    assert refused.status_code == 400 and "headers" in refused.text


def test_the_request_id_is_exposed_to_the_page(engine: Engine) -> None:
    response = client_with(engine).get("/cds-services", headers={"Origin": ORIGIN})
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


def test_no_cors_headers_without_configured_origins(engine: Engine) -> None:
    client = TestClient(create_app(Settings(), engine=engine, store=open_store("sqlite://")))
    response = preflight(client, **{"Access-Control-Request-Private-Network": "true"})
    assert not [h for h in response.headers if h.startswith("access-control-")]


# --------------------------------------------------------------------------------------------------------
# A real browser: a page served from one origin calls the service on another, with a bearer JWT.

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>EHR page</title></head><body>
<p id="status">calling</p><ul id="cards"></ul><p id="request-id"></p>
<script>
const config = JSON.parse(document.getElementById("config").textContent);
fetch(config.service + "/cds-services/ldn-candidacy", {
  method: "POST",
  headers: {"Authorization": "Bearer " + config.token, "Content-Type": "application/json",
            "X-Request-ID": "page-req-1"},
  body: JSON.stringify(config.body),
}).then(async (response) => {
  const data = await response.json();
  for (const card of data.cards) {
    const li = document.createElement("li");
    li.textContent = card.indicator + ": " + card.summary;
    document.getElementById("cards").appendChild(li);
  }
  document.getElementById("request-id").textContent = response.headers.get("X-Request-ID");
  document.getElementById("status").textContent = "status " + response.status;
}).catch((error) => { document.getElementById("status").textContent = "failed: " + error; });
</script></body></html>"""


class _Thread:
    """uvicorn on a loopback port in a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.base = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Thread:
        self.thread.start()
        for _ in range(400):  # a bound on the wait, not a timing assertion
            if self.server.started or not self.thread.is_alive():
                break
            self.thread.join(0.025)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed")
def test_a_page_on_another_origin_gets_cards_with_a_bearer_token(engine: Engine) -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from support.browser import CHROMIUM_ARGS
    from support.servers import free_port
    from support.tokens import ISS, JWKS, token

    sync_api = pytest.importorskip("playwright.sync_api")
    page_port, service_port = free_port(), free_port()
    page_origin, service = f"http://127.0.0.1:{page_port}", f"http://127.0.0.1:{service_port}"
    path = "/cds-services/ldn-candidacy"
    config = {
        "service": service,
        "token": token(path, aud=service + path),
        "body": json.loads(FIXTURE.read_text()),
    }
    script = f'<script type="application/json" id="config">{json.dumps(config)}</script><script>'
    html = PAGE.replace("<script>", script, 1)
    page_app = Starlette(routes=[Route("/ehr", lambda request: HTMLResponse(html))])
    settings = Settings(
        public_base_url=service,
        trusted_issuers=[TrustedIssuer(iss=ISS, jwks=JWKS)],
        cors_origins=[page_origin],
        cors_private_network=True,
    )
    app = create_app(settings, engine=engine, store=open_store("sqlite://"))
    seen: list[tuple[str, bool]] = []

    @app.middleware("http")
    async def remember(request: Any, call_next: Any) -> Any:
        seen.append((request.method, request.headers.get("authorization", "").startswith("Bearer ")))
        return await call_next(request)

    with _Thread(page_app, page_port), _Thread(app, service_port), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(page_origin + "/ehr")
        sync_api.expect(page.locator("#status")).to_have_text("status 200", timeout=15000)
        cards = page.locator("#cards li")
        sync_api.expect(cards).to_have_count(1)
        sync_api.expect(cards.first).to_contain_text("info:")
        sync_api.expect(page.locator("#request-id")).to_have_text("page-req-1")
        browser.close()
    # The browser asked first (Authorization and X-Request-ID are not CORS-safelisted), then posted.
    assert seen[0] == ("OPTIONS", False) and ("POST", True) in seen
