"""The screening report: the counts behind it, its JSON twin, no outside reference, and Chromium shows it."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.screening import ScreeningRow, generate_population
from ldncds.screening.report import ReportBuilder, render_html
from ldncds.screening.runner import ScreenSummary
from support.screening import candidate, write_export

ON = "2026-03-01"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A seeded synthetic population screened once through the CLI, with report, summary and rows."""
    tmp = tmp_path_factory.mktemp("report")
    generate_population(150, tmp / "export", seed=11, on=date.fromisoformat(ON))
    files = {name: tmp / name for name in ("rows.ndjson", "report.html", "summary.json")}
    args = ["screen", str(tmp / "export"), "--date", ON, "--workers", "1", "--out", str(files["rows.ndjson"])]
    result = CliRunner().invoke(
        app, [*args, "--report", str(files["report.html"]), "--summary", str(files["summary.json"])]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in files["rows.ndjson"].read_text().splitlines()]
    return {
        "rows": rows,
        "html": files["report.html"].read_text(encoding="utf-8"),
        "summary": json.loads(files["summary.json"].read_text()),
        "path": files["report.html"],
    }


def test_the_summary_counts_what_the_rows_say(screened: dict[str, Any]) -> None:
    rows, summary = screened["rows"], screened["summary"]
    assert summary["patients"] == len(rows) == 150
    assert summary["decisions"] == dict(Counter(r["decision"] for r in rows)) | summary["decisions"]
    assert sum(summary["decisions"].values()) == 150
    for key, field in (("unknown_criteria", "unknown_criteria"), ("not_met_criteria", "not_met_criteria"),
                       ("hard_stops", "hard_stops"), ("cautions", "cautions")):  # fmt: skip
        expected = Counter(item for r in rows for item in set(r[field]))
        assert {i["id"]: i["patients"] for i in summary[key]} == dict(expected), key
        counts = [i["patients"] for i in summary[key]]
        assert counts == sorted(counts, reverse=True), f"{key} is ranked, most frequent first"
    assert summary["unknown_criteria"] and summary["hard_stops"] and summary["cautions"]
    assert sum(g["patients"] for g in summary["age_bands"]) == 150
    assert sum(g["patients"] for g in summary["pathways"]) == 150
    assert {g["group"] for g in summary["pathways"]} >= {"fibromyalgia"}
    assert summary["writes_decision_log"] is False


def test_titles_come_from_the_rules(screened: dict[str, Any]) -> None:
    titles = {i["id"]: i["title"] for i in screened["summary"]["unknown_criteria"]}
    assert all(title != cid for cid, title in titles.items())  # every id found its criterion's title
    for title in titles.values():
        assert title in screened["html"]


def test_the_html_embeds_the_same_summary(screened: dict[str, Any]) -> None:
    embedded = re.search(
        r'<script type="application/json" id="summary">(.*?)</script>', screened["html"], re.S
    )
    assert embedded is not None
    assert json.loads(embedded.group(1)) == screened["summary"]


def test_the_html_has_no_outside_reference(screened: dict[str, Any]) -> None:
    html = screened["html"]
    assert "://" not in html and "//" not in re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert not re.search(r"\b(src|href|srcset|action|xlink:href)\s*=", html)
    assert "url(" not in html and "@import" not in html
    assert re.search(r'http-equiv="Content-Security-Policy" content="default-src \'none\'', html)
    assert html.count("<svg") >= 5  # decisions, unknown, not met, hard stops, cautions (+ mixes)


def test_no_patient_identifier_reaches_the_report(screened: dict[str, Any]) -> None:
    ids = {r["patient"] for r in screened["rows"]}
    text = screened["html"] + json.dumps(screened["summary"])
    assert [pid for pid in ids if re.search(rf"\b{re.escape(pid)}\b", text)] == []


def test_labels_are_escaped() -> None:
    builder = ReportBuilder()
    row = {"patient": "p", "reason": "r", "ruleset_version": "v", "evaluation_date": ON, "resources": 1}
    builder.add(ScreeningRow(decision="<b>odd</b>", unknown_criteria=["<script>x</script>"], **row))
    html = render_html(builder.summary(ScreenSummary(ruleset_version="v"), date(2026, 3, 1)))
    assert "<script>x" not in html and "<b>odd" not in html
    assert "&lt;script&gt;x" in html and "&lt;b&gt;odd" in html


def test_a_one_patient_export_still_gives_a_report(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", [candidate("p1")])
    report = tmp_path / "r.html"
    result = CliRunner().invoke(
        app, ["screen", str(folder), "--date", ON, "--report", str(report), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "Hard stops by kind: none." in report.read_text()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed")
def test_chromium_shows_the_charts(screened: dict[str, Any]) -> None:
    from support.browser import CHROMIUM_ARGS

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(screened["path"].as_uri())
        charts = page.locator("svg.chart")
        assert charts.count() >= 5
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 20
        assert page.locator("svg.chart rect").count() > 20
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "screening-report.png"), full_page=True)
        browser.close()
    assert [u for u in requested if not u.startswith("file://")] == []


def test_a_terminal_gets_a_progress_bar_with_an_eta_and_a_log_gets_lines() -> None:
    import io

    from rich.console import Console

    from ldncds.screening.output import PlainProgress, RichProgress, progress_for

    tty = Console(file=io.StringIO(), force_terminal=True, width=120)
    progress = progress_for(tty)
    assert isinstance(progress, RichProgress)
    with progress as update:
        for done in range(0, 101, 10):
            update(done, 100)
    shown = tty.file.getvalue()
    assert "100/100" in shown and "ETA" in shown and "100%" in shown
    log = Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(progress_for(log), PlainProgress)
