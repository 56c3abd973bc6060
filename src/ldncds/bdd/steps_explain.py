"""Gherkin steps about what the clinician reads: the card's words, what would change the decision,
and what is missing for this decision apart from what is also missing."""

from __future__ import annotations

from pytest_bdd import parsers, then

from ldncds.bdd.steps import Chart, _done
from ldncds.cdshooks.cards import card_detail, card_summary

# The card is rendered from the assessment as the service would; the id only has to exist.
_SCENARIO_ID = "00000000-0000-4000-8000-000000000000"


def _card(chart: Chart) -> tuple[str, str]:
    a = _done(chart).model_copy(update={"assessment_id": _SCENARIO_ID})
    return card_summary(a), card_detail(a)


@then(parsers.re(r'the card summary says "(?P<text>[^"]+)"'))
def step_card_summary(chart: Chart, text: str) -> None:
    summary, _ = _card(chart)
    assert text.lower() in summary.lower(), f"the card summary is {summary!r}"


@then(parsers.re(r'the card says "(?P<text>[^"]+)"'))
def step_card_says(chart: Chart, text: str) -> None:
    summary, detail = _card(chart)
    assert text.lower() in f"{summary}\n{detail}".lower(), f"the card is {summary!r}\n{detail}"


@then(parsers.re(r'the card does not say "(?P<text>[^"]+)"'))
def step_card_does_not_say(chart: Chart, text: str) -> None:
    summary, detail = _card(chart)
    assert text.lower() not in f"{summary}\n{detail}".lower(), f"the card is {summary!r}\n{detail}"


@then(parsers.re(r"what would change the decision is said in (?P<n>\d+) items?"))
def step_counterfactual_count(chart: Chart, n: str) -> None:
    texts = _done(chart).counterfactuals
    assert len(texts) == int(n), f"counterfactuals are {texts}"


@then("nothing this decision depends on is missing")
def step_nothing_missing(chart: Chart) -> None:
    missing = [m.criterion for m in _done(chart).missing]
    assert missing == [], f"missing is {missing}"


@then(parsers.re(r"the missing information does not include (?P<criterion>[a-z_]+)"))
def step_not_missing(chart: Chart, criterion: str) -> None:
    missing = [m.criterion for m in _done(chart).missing]
    assert criterion not in missing, f"missing is {missing}"


@then(parsers.re(r"the information also missing includes (?P<criterion>[a-z_]+)"))
def step_also_missing(chart: Chart, criterion: str) -> None:
    also = [m.criterion for m in _done(chart).also_missing]
    assert criterion in also, f"also missing is {also}"
