"""The clinician pages through FastAPI's TestClient (fast; the browser tests are in test_browser_pages.py)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ldncds.engine import Assessment, PatientFacts
from ldncds.pages.words import (
    OVERALL_RESPONSE_LABELS,
    REMINDER_STATES,
    RESPONSE_LABELS,
    decision_label,
    status_label,
)
from support.pages import (
    DECISIONS,
    EVALUATION_DATE,
    HOSTILE_CONDITION,
    HOSTILE_MEDICATION,
    MemoryStore,
    assert_accessible_and_offline,
    engine,
    facts_by_decision,
    fill,
    hostile_facts,
    pages_app,
    variant,
)


@pytest.fixture(scope="module")
def store() -> MemoryStore:
    store = MemoryStore()
    fill(store)
    return store


@pytest.fixture(scope="module")
def client(store: MemoryStore) -> TestClient:
    return TestClient(pages_app(store))


@pytest.fixture(scope="module")
def rulebook_html(client: TestClient) -> str:
    response = client.get("/rulebook")
    assert response.status_code == 200
    return response.text


# ------------------------------------------------------------------ assessment pages


@pytest.mark.parametrize("decision", DECISIONS)
def test_assessment_page_for_each_decision(client: TestClient, store: MemoryStore, decision: str) -> None:
    assessment_id = f"page-{decision}"
    a = Assessment.model_validate(store.get(assessment_id).assessment)
    response = client.get(f"/assessments/{assessment_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    o = assert_accessible_and_offline(html)
    assert o.title == f"LDN assessment {assessment_id} — ldncds"
    # The decision is said in words, not only by colour, at the top.
    top = html[: html.index('id="criteria-heading"')]
    assert f"<strong>{decision_label(decision)}</strong>" in top
    assert f'class="summary decision--{decision}"' in top
    assert _escaped(a.reason) in top
    assert a.ruleset_version in html and assessment_id in html
    for c in a.criteria:
        assert f'id="criterion-{c.id}" data-status="{c.status}"' in html
        assert f'class="status status--{c.status}">{status_label(c.status)}<' in html
        for e in c.explanations:
            assert f'href="../rulebook#rule-{e.rule_id}"' in html
    for m in a.missing:
        assert _escaped(m.what) in html
    for text in a.counterfactuals:
        assert _escaped(text) in html
    for h in a.hard_stops:
        assert _escaped(h.culprit.display) in html and h.culprit.source in html
    for caution in a.cautions:
        assert _escaped(caution.title) in html
        assert all(_escaped(f.display) in html for f in caution.culprits)


def _escaped(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def test_contraindicated_page_names_the_culprit_and_earliest_start(
    client: TestClient, store: MemoryStore
) -> None:
    a = Assessment.model_validate(store.get("page-contraindicated").assessment)
    html = client.get("/assessments/page-contraindicated").text
    section = html[html.index('id="hard-stops"') :]
    for h in a.hard_stops:
        assert _escaped(h.culprit.display) in section
        if h.earliest_start:
            assert h.earliest_start.isoformat() in section
    if a.earliest_start:
        assert f'<dd id="earliest-start">{a.earliest_start.isoformat()}</dd>' in html
    assert "No titration plan or monitoring" in html
    assert "<svg" not in html  # no plan, no timeline


@pytest.mark.parametrize("decision", ["candidate", "candidate_with_cautions"])
def test_candidate_pages_draw_the_plan_and_reminders(
    client: TestClient, store: MemoryStore, decision: str
) -> None:
    a = Assessment.model_validate(store.get(f"page-{decision}").assessment)
    html = client.get(f"/assessments/page-{decision}").text
    assert a.plan is not None and a.reminders
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
    assert svg.count('class="tl-dose"') == len(a.plan.steps)
    assert svg.count('class="tl-reminder ') == len(a.reminders)
    reminders = html[html.index('id="reminders"') :]
    for r in a.reminders:
        assert _escaped(r.explanation.title) in svg  # on the timeline
        assert _escaped(r.what) in reminders  # and in the text table beside it
        assert r.due_from.isoformat() in reminders
    for s in a.plan.steps:
        assert s.starts_on.isoformat() in html


def test_on_therapy_page_shows_response_adverse_effects_and_reminder_states(
    client: TestClient, store: MemoryStore
) -> None:
    a = Assessment.model_validate(store.get("page-on_therapy").assessment)
    t = a.therapy
    assert t is not None and t.instruments and t.adverse_effects
    html = client.get("/assessments/page-on_therapy").text
    assert_accessible_and_offline(html)
    therapy = html[html.index('id="therapy"') : html.index('id="criteria-heading"')]
    assert f"{t.daily_dose_mg:g} mg a day" in therapy and t.start_date.isoformat() in therapy
    if t.response_status:
        assert f"<strong>{OVERALL_RESPONSE_LABELS[t.response_status]}</strong>" in therapy
    for i in t.instruments:
        assert f'id="response-{i.instrument}"' in therapy  # its chart
        assert f"{RESPONSE_LABELS[i.status]}<" in therapy
        for th in i.thresholds:
            assert f"{_escaped(th.label)}: {th.value:g} or lower" in therapy
    for e in t.adverse_effects:
        assert _escaped(e.action) in therapy and _escaped(e.culprit.display) in therapy
    reminders = html[html.index('id="reminders"') :]
    for r in a.reminders:
        assert f'class="state state--{r.state}">{REMINDER_STATES[r.state]}' in reminders
        if r.done_by:
            assert r.done_by.source in reminders
    assert f"Started {t.start_date.isoformat()}" in html  # the timeline counts from the real start
    assert any(r.state == "overdue" for r in a.reminders) and "(OVERDUE by" in html


def test_patient_text_is_escaped_everywhere(client: TestClient) -> None:
    html = client.get("/assessments/page-hostile").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html and "<img" not in html
    assert _escaped(HOSTILE_MEDICATION) in html and _escaped(HOSTILE_CONDITION) in html
    assert_accessible_and_offline(html)


def test_patient_id_and_birth_date_stay_off_the_page(client: TestClient) -> None:
    facts = facts_by_decision()["candidate"]
    html = client.get("/assessments/page-candidate").text
    assert facts.birth_date and facts.birth_date not in html
    patient_id = facts.source.removeprefix("Patient/")
    assert patient_id and patient_id not in html
    assert "age " in html  # the age the rule used is shown instead


def test_page_is_deterministic_and_not_cached(client: TestClient) -> None:
    first, second = client.get("/assessments/page-candidate"), client.get("/assessments/page-candidate")
    assert first.text == second.text
    assert first.headers["cache-control"] == "no-store"
    csp = first.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # scripts fall under 'none'
    assert first.headers["referrer-policy"] == "no-referrer"


def test_evidence_links_point_to_pubmed_doi_or_the_source(client: TestClient, store: MemoryStore) -> None:
    a = Assessment.model_validate(store.get("page-candidate").assessment)
    html = client.get("/assessments/page-candidate").text
    explanations = [a.explanation, *(e for c in a.criteria for e in c.explanations)]
    evidence = [ev for e in explanations for ev in e.evidence]
    for ev in evidence:
        if ev.pmid:
            assert f'href="https://pubmed.ncbi.nlm.nih.gov/{ev.pmid}/"' in html
        elif ev.doi:
            assert f'href="https://doi.org/{ev.doi}"' in html
        else:
            assert f'href="{_escaped(ev.url or "")}"' in html
    assert "DEC-CAND-01" in html


def test_unknown_assessment_is_a_404_page(client: TestClient) -> None:
    for path in ("/assessments/no-such-id", "/assessments/" + "x" * 500):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "Assessment not found" in response.text
        assert_accessible_and_offline(response.text)


def test_unreadable_stored_assessment_shows_no_advice(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    fill(store)
    broken = store.items["page-hostile"].model_copy(deep=True, update={"id": "page-broken"})
    broken.assessment["decision"] = "candidate"
    broken.assessment["surprise"] = HOSTILE_MEDICATION  # an unknown field: the model forbids extras
    store.items["page-broken"] = broken
    with caplog.at_level(logging.ERROR):
        response = TestClient(pages_app(store)).get("/assessments/page-broken")
    assert response.status_code == 500
    assert "No advice is shown" in response.text and "CANDIDATE" not in response.text
    assert "oxycodone" not in caplog.text and "page-broken" in caplog.text


def test_pages_without_store_or_engine_say_so() -> None:
    client = TestClient(pages_app(None, with_engine=False))
    assert client.get("/assessments/x").status_code == 503
    response = client.get("/rulebook")
    assert response.status_code == 503 and "No ruleset is loaded" in response.text


def test_stylesheet_is_served_and_nothing_else(client: TestClient) -> None:
    css = client.get("/static/ldncds.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media print" in css.text and "url(" not in css.text and "@import" not in css.text
    for path in ("/static/missing.css", "/static/..%2Fweb.py", "/static/.hidden", "/static/web.py"):
        assert client.get(path).status_code == 404


# ------------------------------------------------------------------ rulebook


def test_rulebook_has_an_anchor_for_every_rule_and_value_set(rulebook_html: str) -> None:
    o = assert_accessible_and_offline(rulebook_html)
    rs = engine().ruleset
    ids = set(o.ids)
    assert {f"rule-{r}" for r in rs.rules} <= ids
    assert {f"valueset-{v}" for v in rs.valuesets.names} <= ids
    assert {f"criterion-{c}" for c in rs.criteria} <= ids
    assert {f"hard-stop-{h}" for h in rs.hard_stops} <= ids and {f"caution-{c}" for c in rs.cautions} <= ids
    assert rs.version in rulebook_html
    # Every in-page link lands on an anchor that exists.
    targets = set(re.findall(r'href="#([^"]+)"', rulebook_html))
    assert targets and targets <= ids


def _rule_section(html: str, rule_id: str) -> str:
    start = html.index(f'<article class="rule" id="rule-{rule_id}"')
    return html[start : html.index("</article>", start)]


def test_rulebook_writes_conditions_and_outcomes_in_words(rulebook_html: str) -> None:
    fm = _rule_section(rulebook_html, "ELIG-DX-FM-01")
    assert 'a condition in value set <a href="#valueset-fibromyalgia">fibromyalgia</a>' in fm
    assert "clinical status current" in fm and "verification confirmed" in fm
    outcome = (
        '<a href="#criterion-qualifying_diagnosis">Qualifying diagnosis</a> is met (pathway: fibromyalgia)'
    )
    assert outcome in fm
    assert "https://doi.org/10.1002/art.37734" in fm
    washout = _rule_section(rulebook_html, "CONTRA-OPIOID-WASHOUT-01")
    assert "days since end less than 7" in washout and "exposure ended" in washout
    assert "Hard stop:" in washout and "7 days after the last dose" in washout
    # The counterfactual as written, its per-patient placeholders said in words.
    assert "As far as the [name of the record] washout goes, earliest start [earliest start]." in washout
    assert "days since end not recorded" in _rule_section(rulebook_html, "CONTRA-OPIOID-ENDUNKNOWN-01")
    assert "no hard stops" in _rule_section(rulebook_html, "DEC-CAND-01")
    assert "Decision: CONTRAINDICATED" in _rule_section(rulebook_html, "DEC-CONTRA-01")
    titrate = _rule_section(rulebook_html, "DOSE-TITRATE-01")
    assert "4.5 mg at bedtime" in titrate and "https://pubmed.ncbi.nlm.nih.gov/19453963/" in titrate
    assert "the decision is one of candidate, candidate with cautions" in titrate
    baseline = _rule_section(rulebook_html, "MON-BASELINE-01")
    assert "Due from 14 days before the planned start to the day itself." in baseline
    assert "Due from 7 to 14 days after the planned start." in _rule_section(rulebook_html, "MON-WEEK1-01")
    assert "Due 3 days before the event" in _rule_section(rulebook_html, "MON-SURGERY-01")
    assert 'the caution <a href="#caution-planned_surgery">Planned surgery</a> applies' in _rule_section(
        rulebook_html, "MON-SURGERY-01"
    )
    assert "the patient: youngest possible age at least 18" in _rule_section(rulebook_html, "ELIG-ADULT-01")
    substantial = _rule_section(rulebook_html, "RESP-PAIN-SUBSTANTIAL-01")
    assert 'measure <a href="#valueset-instrument_pain_nrs">instrument_pain_nrs</a>' in substantial
    assert "Response of this measure: substantial improvement" in substantial
    assert "Adverse effect vivid dreams: Move the dose to the morning" in _rule_section(
        rulebook_html, "AE-DREAMS-01"
    )
    follow_up = _rule_section(rulebook_html, "FU-MON-BASELINE-01")
    assert "Due from 14 days before the start of LDN therapy to the day itself." in follow_up
    assert 'Marked done by a result in value set <a href="#valueset-instrument_pain_nrs">' in follow_up
    checks = _rule_section(rulebook_html, "CHECK-RECORDS-01")
    assert "the medications section of the record was supplied and is complete" in checks


def test_rulebook_folds_the_big_opioid_list(rulebook_html: str) -> None:
    start = rulebook_html.index('id="valueset-opioid_agonists"')
    section = rulebook_html[start : rulebook_html.index("</section>", start)]
    assert "<details>" in section and "<summary>" in section
    assert section.index("<details>") < section.index("<table")
    start = rulebook_html.index('id="valueset-fibromyalgia"')
    small = rulebook_html[start : rulebook_html.index("</section>", start)]
    assert "<table" in small and "<details>" not in small


def test_rulebook_lists_the_scenarios_that_mention_a_rule(tmp_path: Path) -> None:
    from ldncds.pages.rulebook import render_rulebook, scenarios_by_rule

    features = tmp_path / "features" / "sub"
    features.mkdir(parents=True)
    (features / "opioids.feature").write_text(
        "Feature: Opioids\n\n"
        "  Background:\n    Given CONTRA-MAINT-01 is not a scenario\n\n"
        "  @CONTRA-OPIOID-01\n"
        "  Scenario: Current oxycodone blocks LDN\n    Given an active opioid order\n"
        "    Then the explanation cites rule CONTRA-OPIOID-02\n\n"
        "  Scenario Outline: Washout <days>\n    Then the explanation cites rule CONTRA-OPIOID-WASHOUT-01\n"
        "    Examples:\n      | days |\n      | 3    |\n",
        encoding="utf-8",
    )
    found = scenarios_by_rule(tmp_path / "features")
    assert [(s.name, s.file, s.line) for s in found["CONTRA-OPIOID-01"]] == [
        ("Current oxycodone blocks LDN", "features/sub/opioids.feature", 7)
    ]
    assert [s.name for s in found["CONTRA-OPIOID-02"]] == ["Current oxycodone blocks LDN"]
    assert [s.name for s in found["CONTRA-OPIOID-WASHOUT-01"]] == ["Washout <days>"]
    assert "CONTRA-MAINT-01" not in found  # a Background is no scenario
    html = render_rulebook(engine().ruleset, tmp_path / "features")
    section = _rule_section(html, "CONTRA-OPIOID-01")
    assert "Current oxycodone blocks LDN" in section and "features/sub/opioids.feature:7" in section
    assert "No scenario mentions this rule yet" in _rule_section(html, "ELIG-ADULT-01")


def test_rules_docs_command_writes_the_static_rulebook(tmp_path: Path) -> None:
    from ldncds.cli import app

    out = tmp_path / "docs"
    result = CliRunner().invoke(app, ["rules", "docs", str(out)])
    assert result.exit_code == 0, result.output
    index = (out / "index.html").read_text(encoding="utf-8")
    assert (out / "ldncds.css").read_text(encoding="utf-8").startswith("/* ldncds pages")
    assert '<link rel="stylesheet" href="ldncds.css">' in index
    assert all(f'id="rule-{r}"' in index for r in engine().ruleset.rules)
    assert_accessible_and_offline(index)


def test_rules_docs_command_rejects_a_broken_ruleset(tmp_path: Path) -> None:
    from ldncds.cli import app

    result = CliRunner().invoke(app, ["rules", "docs", str(tmp_path / "out"), "--rules", str(tmp_path)])
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ the samples themselves


def test_samples_cover_every_decision() -> None:
    got = {d: engine().assess(f, EVALUATION_DATE).decision for d, f in facts_by_decision().items()}
    assert got == {d: d for d in DECISIONS}


def test_hostile_sample_cites_the_hostile_names() -> None:
    a = engine().assess(hostile_facts(), EVALUATION_DATE)
    assert a.decision == "contraindicated"
    assert a.hard_stops[0].culprit.display == HOSTILE_MEDICATION
    assert any(f.display == HOSTILE_CONDITION for c in a.criteria for e in c.explanations for f in e.facts)


def test_variants_give_their_decision() -> None:
    # The fallbacks must stay right even while examples/ has a file for every decision.
    for decision in DECISIONS:
        facts = PatientFacts.model_validate(variant(decision))
        assert engine().assess(facts, EVALUATION_DATE).decision == decision
