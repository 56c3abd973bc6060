"""The clinician pages in a real browser: Debian's chromium driven by Playwright, against a real
uvicorn server on 127.0.0.1 with a real SQLite decision store.

Screenshots go to test-artifacts/screenshots/ (one per decision page, plus the rulebook).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from ldncds.pages.words import decision_label, status_label
from support.browser import CHROMIUM, CHROMIUM_ARGS
from support.pages import (
    DECISIONS,
    EVALUATION_DATE,
    HOSTILE_MEDICATION,
    engine,
    facts_by_decision,
    fill,
    pages_app,
)
from support.servers import free_port

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed"),
]

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


class Server:
    """uvicorn in a background thread on a free 127.0.0.1 port."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        # Wait for start-up (not a timing assertion: a bound on how long to wait before giving up).
        for _ in range(400):
            if self.server.started or not self.thread.is_alive():
                break
            self.thread.join(0.025)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from ldncds.store import open_store

    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'decisions.db'}")
    fill(store)
    with Server(pages_app(store), free_port()) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    outside = [u for u in requested if not u.startswith((server.base, "data:", "about:"))]
    context.close()
    assert outside == [], f"the page requested outside hosts: {outside}"


def shoot(page: Any, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


@pytest.mark.parametrize("decision", DECISIONS)
def test_decision_page_in_the_browser(page: Any, server: Server, decision: str) -> None:
    a = engine().assess(facts_by_decision()[decision], EVALUATION_DATE)
    page.goto(f"{server.base}/assessments/page-{decision}")
    expect(page).to_have_title(f"LDN assessment page-{decision} — ldncds")
    label = page.locator("#decision strong")
    expect(label).to_be_visible()
    expect(label).to_have_text(decision_label(decision))
    expect(page.locator("#reason")).to_have_text(a.reason)
    criteria = page.locator("#criteria tbody.criterion")
    expect(criteria).to_have_count(len(a.criteria))
    for c in a.criteria:
        row = page.locator(f"#criterion-{c.id}")
        expect(row).to_be_visible()
        expect(row.locator(".status")).to_have_text(status_label(c.status))
        expect(row.locator("th").first).to_contain_text(c.title)
    if a.reminders:
        expect(page.locator("svg.timeline")).to_be_visible()
        rows = page.locator("#reminders tbody tr")
        expect(rows).to_have_count(len(a.reminders))
        for i, r in enumerate(a.reminders):
            expect(rows.nth(i)).to_contain_text(r.explanation.title)
            expect(rows.nth(i).locator("td.date")).to_contain_text(r.due_from.isoformat())
    else:
        expect(page.locator("#plan")).to_contain_text("No titration plan or monitoring")
    for m in a.missing:
        expect(page.locator("#missing")).to_contain_text(m.what)
    shoot(page, f"assessment-{decision}")


def test_rule_link_opens_the_rulebook_at_that_rule(page: Any, server: Server) -> None:
    page.goto(f"{server.base}/assessments/page-contraindicated")
    link = page.locator("#criteria a.rule-id").first
    rule_id = link.inner_text()
    link.click()
    page.wait_for_url(f"**/rulebook#rule-{rule_id}")
    section = page.locator(f"[id='rule-{rule_id}']")
    expect(section).to_be_visible()
    expect(section).to_be_in_viewport()
    expect(section.locator("h3")).to_contain_text(rule_id)
    # The hard stop's rule is there too, and the big opioid list stays folded until asked for.
    opioids = page.locator("#valueset-opioid_agonists details")
    expect(opioids).not_to_have_attribute("open", "")
    expect(page.locator("#valueset-opioid_agonists table")).to_be_hidden()
    shoot(page, "rulebook", full_page=False)  # the anchored rule; the whole book is thousands of rows
    page.locator("#valueset-opioid_agonists summary").click()
    expect(page.locator("#valueset-opioid_agonists table")).to_be_visible()


def test_patient_html_is_shown_as_text_and_never_run(page: Any, server: Server) -> None:
    page.goto(f"{server.base}/assessments/page-hostile")
    expect(page.locator("#hard-stops")).to_contain_text(HOSTILE_MEDICATION)
    expect(page.get_by_text(HOSTILE_MEDICATION).first).to_be_visible()
    assert page.locator("main script, main img").count() == 0
    assert page.evaluate("() => document.scripts.length") == 0
    assert page.dialogs == []  # type: ignore[attr-defined]
    shoot(page, "assessment-hostile-text")


def test_print_layout_hides_navigation(page: Any, server: Server) -> None:
    page.goto(f"{server.base}/assessments/page-candidate_with_cautions")
    expect(page.locator("header.site nav")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("header.site nav")).to_be_hidden()
    colour = page.evaluate("() => getComputedStyle(document.querySelector('.decision-label strong')).color")
    assert colour == "rgb(0, 0, 0)"


def test_card_link_opens_the_explanation(browser: Any, tmp_path: Path) -> None:
    """The CDS Hooks card links to this page: call the service, follow cards[0].links[0].url."""
    import httpx

    from ldncds.api.app import create_app
    from ldncds.settings import Settings
    from ldncds.store import open_store

    port = free_port()
    settings = Settings(
        insecure=True,
        public_base_url=f"http://127.0.0.1:{port}",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'cards.db'}",
    )
    store = open_store(settings.effective_database_url)
    app = create_app(settings, engine=engine(), store=store)
    with Server(app, port) as running:
        response = httpx.post(
            f"{running.base}/cds-services/ldn-candidacy", json=_candidate_prefetch(), timeout=60
        )
        assert response.status_code == 200, response.text
        cards = response.json()["cards"]
        assert cards, "the candidate patient should get a card"
        url = cards[0]["links"][0]["url"]
        assert url.startswith(f"{running.base}/assessments/")
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        expect(page.locator("#decision strong")).to_be_visible()
        assessment_id = url.rsplit("/", 1)[1]
        expect(page.locator("#assessment-id")).to_have_text(assessment_id)
        # The card's source points at the deciding rule in the rulebook.
        source = cards[0]["source"]["url"]
        assert source.startswith(f"{running.base}/rulebook#rule-")
        page.goto(source)
        expect(page.locator(f"[id='{source.rsplit('#', 1)[1]}']")).to_be_in_viewport()
        context.close()


def _candidate_prefetch() -> dict[str, Any]:
    """A patient-view call with prefetch for a candidate (fibromyalgia, PT, NSAID and duloxetine tried)."""

    def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}

    def coding(system: str, code: str, display: str) -> dict[str, Any]:
        return {"coding": [{"system": system, "code": code, "display": display}], "text": display}

    rxnorm, patient = "http://www.nlm.nih.gov/research/umls/rxnorm", {"reference": "Patient/pt-page"}
    return {
        "hook": "patient-view",
        "hookInstance": "0d7c1a52-5b7e-4a53-9d7f-4a1d2c3b4e5f",
        "context": {"userId": "Practitioner/prac-1", "patientId": "pt-page"},
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": "pt-page",
                "gender": "female",
                "birthDate": "1974-02-11",
            },
            "conditions": bundle(
                {
                    "resourceType": "Condition",
                    "id": "fm-1",
                    "subject": patient,
                    "clinicalStatus": coding(
                        "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
                    ),
                    "verificationStatus": coding(
                        "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"
                    ),
                    "code": coding("http://hl7.org/fhir/sid/icd-10-cm", "M79.7", "Fibromyalgia"),
                    "onsetDateTime": "2024-03-01",
                }
            ),
            "medications": bundle(
                {
                    "resourceType": "MedicationRequest",
                    "id": "naproxen-1",
                    "status": "completed",
                    "intent": "order",
                    "subject": patient,
                    "authoredOn": "2024-05-01",
                    "medicationCodeableConcept": coding(
                        rxnorm, "849574", "Naproxen sodium 220 MG Oral Tablet"
                    ),
                },
                {
                    "resourceType": "MedicationRequest",
                    "id": "duloxetine-1",
                    "status": "stopped",
                    "intent": "order",
                    "subject": patient,
                    "authoredOn": "2024-09-01",
                    "medicationCodeableConcept": coding(rxnorm, "72625", "duloxetine"),
                },
            ),
            "procedures": bundle(
                {
                    "resourceType": "Procedure",
                    "id": "pt-1",
                    "status": "completed",
                    "subject": patient,
                    "code": coding("http://www.ama-assn.org/go/cpt", "97110", "Therapeutic exercises"),
                    "performedDateTime": "2025-03-02",
                }
            ),
            "allergies": None,
            "observations": None,
        },
    }
