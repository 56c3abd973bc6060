"""Checks of emitted CDS Hooks JSON against the CDS Hooks 2.0.1 rules for cards and responses.

Independent of the pydantic models that produce the JSON, so a test using them checks the wire format,
not the models' own opinion of it.
"""

from __future__ import annotations

from typing import Any

INDICATORS = frozenset({"info", "warning", "critical"})
EMPTY_ALLOWED = frozenset({"cards", "services"})  # `{"cards": []}` means no advice
# Tuples, not sets: a value of the wrong type (a dict, a list) is then reported, not a TypeError.
SELECTION_BEHAVIORS = ("at-most-one", "any")
ACTION_TYPES = ("create", "update", "delete")
LINK_TYPES = ("absolute", "smart")
OVERRIDE_REASON_FIELDS = ("system", "code", "display")  # a Coding; the spec requires display here


def empty_values(tree: Any, path: str = "$") -> list[str]:
    """Paths holding null, "", [] or {} (except the spec's `cards: []` / `services: []`)."""
    found: list[str] = []
    if tree is None or tree in ("", [], {}):
        return [path]
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in EMPTY_ALLOWED and value == []:
                continue
            found += empty_values(value, f"{path}.{key}")
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found += empty_values(value, f"{path}[{i}]")
    return found


def card_problems(card: Any) -> list[str]:
    """Each way the card breaks CDS Hooks 2.0.1 (and this service's rule that a card has a uuid), in a
    fixed order: its own fields, then each suggestion and its actions, each link, each override reason.
    Malformed JSON (a card, suggestion or link that is not an object) is a problem, never an error."""
    if not isinstance(card, dict):
        return ["not a JSON object"]
    return [
        *_summary_problems(card.get("summary")),
        *_field_problems(card),
        *_suggestion_problems(card),
        *_link_problems(card.get("links")),
        *_override_reason_problems(card.get("overrideReasons")),
    ]


def _objects(value: Any, name: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """An optional array of objects: the problems of its shape, and its objects with their index."""
    if value is None:
        return [], []
    if not isinstance(value, list):
        return [f"{name} is not an array"], []
    problems = [f"{name}[{i}] is not an object" for i, item in enumerate(value) if not isinstance(item, dict)]
    return problems, [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _summary_problems(summary: Any) -> list[str]:
    """The one line every EHR shows: required, and fewer than 140 characters."""
    if not isinstance(summary, str) or not summary or len(summary) >= 140:
        return ["summary missing or not fewer than 140 characters"]
    return []


def _field_problems(card: dict[str, Any]) -> list[str]:
    """The indicator, the source's label, and the uuid that feedback on the card is sent with."""
    problems: list[str] = []
    indicator = card.get("indicator")
    if not isinstance(indicator, str) or indicator not in INDICATORS:
        problems.append(f"indicator {indicator!r} is not info/warning/critical")
    if not isinstance(card.get("source"), dict) or not card["source"].get("label"):
        problems.append("source.label missing")
    if not card.get("uuid"):
        problems.append("uuid missing (feedback needs it)")
    return problems


def _suggestion_problems(card: dict[str, Any]) -> list[str]:
    """Suggestions need a selectionBehavior, each a label, each of its actions a type and description."""
    problems, suggestions = _objects(card.get("suggestions"), "suggestions")
    if card.get("suggestions") and card.get("selectionBehavior") not in SELECTION_BEHAVIORS:
        problems.append("suggestions without a selectionBehavior of at-most-one or any")
    for i, suggestion in suggestions:
        if not suggestion.get("label"):
            problems.append(f"suggestions[{i}].label missing")
        problems += _action_problems(i, suggestion.get("actions"))
    return problems


def _action_problems(i: int, value: Any) -> list[str]:
    problems, actions = _objects(value, f"suggestions[{i}].actions")
    return problems + [
        f"suggestions[{i}].actions[{j}] needs type and description"
        for j, action in actions
        if action.get("type") not in ACTION_TYPES or not action.get("description")
    ]


def _link_problems(value: Any) -> list[str]:
    problems, links = _objects(value, "links")
    return problems + [
        f"links[{i}] needs label, url and type absolute/smart"
        for i, link in links
        if link.get("type") not in LINK_TYPES or not link.get("label") or not link.get("url")
    ]


def _override_reason_problems(value: Any) -> list[str]:
    problems, reasons = _objects(value, "overrideReasons")
    return problems + [
        f"overrideReasons[{i}] needs system, code and display"
        for i, reason in reasons
        if not all(reason.get(k) for k in OVERRIDE_REASON_FIELDS)
    ]


def response_problems(body: Any) -> list[str]:
    """Every problem of a service response: empties anywhere, and each card's own problems."""
    if not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        return ['the body is not {"cards": [...]}']
    problems = [f"empty value at {p}" for p in empty_values(body)]
    for i, card in enumerate(body["cards"]):
        problems += [f"cards[{i}]: {p}" for p in card_problems(card)]
    return problems
