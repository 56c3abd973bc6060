"""The SVG timeline of the assessment page: escaped, well-formed, deterministic, and drawn to scale."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

from ldncds.engine.assessment import (
    DoseStep,
    Explanation,
    InstrumentResponse,
    MonitoringReminder,
    ResultPoint,
    Threshold,
    TitrationPlan,
)
from ldncds.pages.svg import LEFT, RIGHT, WIDTH, add_months, response_chart, timeline_svg
from support.pages import EVALUATION_DATE, engine, facts_by_decision

SVG = "{http://www.w3.org/2000/svg}"
START = date(2026, 3, 1)


def _explanation(title: str) -> Explanation:
    return Explanation(rule_id="MON-TEST-01", rule_version="1.0.0", title=title, statement="s", rationale="r")


def _reminder(title: str, from_days: int, to_days: int, what: str = "Check.") -> MonitoringReminder:
    return MonitoringReminder(
        id=title.lower().replace(" ", "_"),
        what=what,
        due_from=START + timedelta(days=from_days),
        due_by=START + timedelta(days=to_days),
        explanation=_explanation(title),
    )


def _plan(*doses: float, flag: float = 6) -> TitrationPlan:
    steps = [
        DoseStep(
            dose_mg=d,
            timing="at bedtime",
            from_week=2 * i,
            starts_on=START + timedelta(weeks=2 * i),
            above_flag=d > flag,
        )
        for i, d in enumerate(doses)
    ]
    return TitrationPlan(
        id="p",
        start_date=START,
        steps=steps,
        target_mg=doses[-1],
        flag_above_mg=flag,
        flagged=any(s.above_flag for s in steps),
        explanation=_explanation("Plan"),
    )


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises if the markup is not well-formed


def _reminders(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "tl-reminder" in (g.get("class") or "").split()]


def test_nothing_to_draw_gives_no_svg() -> None:
    assert timeline_svg(None, [], START) is None


def test_text_is_escaped_and_the_svg_well_formed() -> None:
    hostile = '<script>alert(1)</script> "quoted" & more'
    svg = str(timeline_svg(_plan(1.5), [_reminder(hostile, 7, 14, what=hostile)], START))
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg and "&amp; more" in svg
    root = _parse(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert hostile in texts  # shown as the text it is
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    assert root.get("role") == "img" and root.get("aria-labelledby") == "timeline-title timeline-desc"


def test_timeline_is_deterministic_and_follows_the_engine() -> None:
    a = engine().assess(facts_by_decision()["candidate"], EVALUATION_DATE)
    assert a.plan is not None
    first = timeline_svg(a.plan, a.reminders, a.plan.start_date)
    assert first == timeline_svg(a.plan, a.reminders, a.plan.start_date)
    root = _parse(str(first))
    assert len(root.findall(f".//{SVG}rect[@class='tl-dose']")) == len(a.plan.steps)
    assert len(_reminders(root)) == len(a.reminders)
    desc = root.find(f"{SVG}desc")
    assert desc is not None and all(r.explanation.title in (desc.text or "") for r in a.reminders)


def test_axis_runs_from_two_weeks_before_to_a_year_after_the_start() -> None:
    root = _parse(str(timeline_svg(_plan(1.5, 3, 4.5), [], START)))
    labels = [
        t.text for t in root.iter(f"{SVG}text") if re.fullmatch(r"[A-Z][a-z]{2}( \d{4})?", t.text or "")
    ]
    # Ticks sit on the first of each month: Mar 2026 (start - 14 days is in February) to Mar 2027.
    assert labels[0] == "Mar 2026" and labels[-1] == "Mar" and "Jan 2027" in labels
    assert len(labels) == 13
    steps = root.findall(f".//{SVG}rect[@class='tl-dose']")
    xs = [float(r.get("x") or 0) for r in steps]
    heights = [float(r.get("height") or 0) for r in steps]
    assert xs == sorted(xs) and heights == sorted(heights) and heights[0] > 0
    last_end = float(steps[-1].get("x") or 0) + float(steps[-1].get("width") or 0)
    assert last_end == WIDTH - RIGHT  # the target dose continues to the end of the axis
    assert xs[0] > LEFT  # the start is 14 days in


def test_a_late_reminder_widens_the_axis_and_stays_inside() -> None:
    late = _reminder("Month 13 review", 390, 400)
    root = _parse(str(timeline_svg(_plan(1.5), [late], START)))
    rect = _reminders(root)[0].find(f"{SVG}rect")
    assert rect is not None
    assert float(rect.get("x") or 0) + float(rect.get("width") or 0) <= WIDTH - RIGHT


def test_overlapping_reminders_get_their_own_lanes() -> None:
    same = [
        _reminder("Baseline measures", -14, 0),
        _reminder("Inform the transplant team", -14, 0),
        _reminder("Month 6 review", 175, 189),
    ]
    root = _parse(str(timeline_svg(None, same, START)))
    ys = [float(g.find(f"{SVG}rect").get("y") or 0) for g in _reminders(root)]
    assert ys[0] != ys[1]  # same dates: stacked
    assert ys[2] == ys[0]  # far apart: the first lane is free again


def test_a_dose_above_the_studied_range_is_flagged_on_the_band() -> None:
    root = _parse(str(timeline_svg(_plan(1.5, 4.5, 9), [], START)))
    fills = [r.get("fill") for r in root.findall(f".//{SVG}rect[@class='tl-dose']")]
    assert fills[0] == fills[1] != fills[2]
    tips = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any("9 mg" in t and "above the studied range" in t for t in tips)


def test_add_months_keeps_the_day_or_takes_the_month_end() -> None:
    assert add_months(date(2026, 3, 1), 12) == date(2027, 3, 1)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 15), 2) == date(2026, 1, 15)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


def test_reminder_states_are_said_in_words_and_today_is_marked() -> None:
    overdue = _reminder("Week 1-2 check", 7, 14).model_copy(update={"state": "overdue", "days_overdue": 30})
    done = _reminder("Baseline measures", -14, 0).model_copy(update={"state": "done"})
    svg = str(timeline_svg(None, [done, overdue], START, started=True, today=START + timedelta(days=44)))
    root = _parse(svg)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "Week 1-2 check (OVERDUE by 30 days)" in texts and "Baseline measures (done)" in texts
    assert f"Started {START.isoformat()}" in texts
    assert f"Evaluated {(START + timedelta(days=44)).isoformat()}" in texts
    assert [g.get("class") for g in _reminders(root)] == ["tl-reminder tl-done", "tl-reminder tl-overdue"]
    # No plan: no dose band, and the drawing is lifted into the band's place (a shorter picture).
    assert root.find(f".//{SVG}rect[@class='tl-dose']") is None
    with_plan = _parse(str(timeline_svg(_plan(1.5), [done, overdue], START)))
    assert float((root.get("viewBox") or "").split()[3]) < float((with_plan.get("viewBox") or "").split()[3])


def _response(*points: tuple[int, float], thresholds: tuple[float, ...] = (5.0, 3.5)) -> InstrumentResponse:
    series = [
        ResultPoint(date=START + timedelta(days=d), value=v, source=f"Observation/o{i}")
        for i, (d, v) in enumerate(points)
    ]
    return InstrumentResponse(
        instrument="pain_nrs",
        status="important",
        baseline=series[0] if series else None,
        latest=series[-1] if series else None,
        series=series,
        thresholds=[Threshold(label=f"<b>t{v:g}</b>", value=v) for v in thresholds],
    )


def test_response_chart_draws_results_and_thresholds() -> None:
    assert response_chart(_response(), START, svg_id="r") is None
    root = _parse(str(response_chart(_response((-10, 7), (60, 6), (120, 3)), START, svg_id="r-pain")))
    assert root.get("id") == "r-pain" and root.find(f"{SVG}desc") is not None
    assert len(root.findall(f"{SVG}circle")) == 3
    polyline = root.find(f"{SVG}polyline")
    assert polyline is not None and len((polyline.get("points") or "").split()) == 3
    labels = {t.text for t in root.iter(f"{SVG}text")}
    assert {"<b>t5</b> (≤ 5)", "<b>t3.5</b> (≤ 3.5)", "baseline", f"LDN start {START.isoformat()}"} <= labels
    ys = [float(c.get("cy") or 0) for c in root.findall(f"{SVG}circle")]
    assert ys[0] < ys[1] < ys[2]  # lower scores sit lower on the chart


def test_close_thresholds_get_separate_labels() -> None:
    root = _parse(str(response_chart(_response((-10, 7), (90, 4), thresholds=(5.0, 4.9)), START, svg_id="r")))
    label_ys = sorted(
        float(t.get("y") or 0) for t in root.iter(f"{SVG}text") if (t.text or "").startswith("<b>t")
    )
    assert label_ys[1] - label_ys[0] >= 12
