"""Gherkin steps for order checks (features/rules/order_checks.feature): a draft order in the chart.

A draft order is a MedicationRequest with status draft: the rules read it as exposure planned,
which no record rule counts as use; only the order-check rules (rules/orders.yaml) test it.
"""

from __future__ import annotations

from pytest_bdd import given, parsers

from ldncds.bdd.steps import Chart, _add, _add_medication


@given(
    parsers.re(
        r"a draft order for (?P<display>[^(]+) \(RxNorm (?P<code>[^)]+)\)(?: at (?P<dose>[\d.]+) mg a day)?"
    )
)
def step_draft_order(chart: Chart, display: str, code: str, dose: str | None) -> None:
    _add_medication(chart, display, code, "draft", dose=dose)


@given(parsers.re(r'a draft order written only as text "(?P<text>[^"]+)"'))
def step_draft_text_order(chart: Chart, text: str) -> None:
    _add(chart, "medications", {"source": chart.source("MedicationRequest"), "text": text, "status": "draft"})
