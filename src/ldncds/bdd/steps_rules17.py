"""Gherkin steps for order checks (features/rules/order_checks.feature): a draft order in the chart.

A draft order is a MedicationRequest with status draft: the rules read it as exposure planned,
which no record rule counts as use; only the order-check rules (rules/orders.yaml) test it.
"""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers

from ldncds.bdd.steps import Chart, _add, _coding


@given(
    parsers.re(
        r"a draft order for (?P<display>[^(]+) \(RxNorm (?P<code>[^)]+)\)(?: at (?P<dose>[\d.]+) mg a day)?"
    )
)
def step_draft_order(chart: Chart, display: str, code: str, dose: str | None) -> None:
    order: dict[str, Any] = {
        "source": chart.source("MedicationRequest"),
        "codes": _coding("RxNorm", code, display),
        "status": "draft",
    }
    if dose:
        order["daily_dose_mg"] = float(dose)
    _add(chart, "medications", order)


@given(parsers.re(r'a draft order written only as text "(?P<text>[^"]+)"'))
def step_draft_text_order(chart: Chart, text: str) -> None:
    _add(chart, "medications", {"source": chart.source("MedicationRequest"), "text": text, "status": "draft"})
