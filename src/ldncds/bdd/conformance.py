"""Checks of emitted CDS Hooks JSON against the CDS Hooks 2.0.1 rules for cards and responses.

Independent of the pydantic models that produce the JSON, so a test using them checks the wire format,
not the models' own opinion of it.
"""

from __future__ import annotations

from typing import Any

INDICATORS = frozenset({"info", "warning", "critical"})
EMPTY_ALLOWED = frozenset({"cards", "services"})  # `{"cards": []}` means no advice


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


def card_problems(card: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary or len(summary) >= 140:
        problems.append("summary missing or not fewer than 140 characters")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"indicator {card.get('indicator')!r} is not info/warning/critical")
    if not isinstance(card.get("source"), dict) or not card["source"].get("label"):
        problems.append("source.label missing")
    if not card.get("uuid"):
        problems.append("uuid missing (feedback needs it)")
    if card.get("suggestions") and card.get("selectionBehavior") not in ("at-most-one", "any"):
        problems.append("suggestions without selectionBehavior")
    for i, suggestion in enumerate(card.get("suggestions") or []):
        if not suggestion.get("label"):
            problems.append(f"suggestions[{i}].label missing")
        for j, action in enumerate(suggestion.get("actions") or []):
            if action.get("type") not in ("create", "update", "delete") or not action.get("description"):
                problems.append(f"suggestions[{i}].actions[{j}] needs type and description")
    for i, link in enumerate(card.get("links") or []):
        if link.get("type") not in ("absolute", "smart") or not link.get("label") or not link.get("url"):
            problems.append(f"links[{i}] needs label, url and type absolute/smart")
    for i, reason in enumerate(card.get("overrideReasons") or []):
        if not all(reason.get(k) for k in ("system", "code", "display")):
            problems.append(f"overrideReasons[{i}] needs system, code and display")
    return problems


def response_problems(body: Any) -> list[str]:
    """Every problem of a service response: empties anywhere, and each card's own problems."""
    if not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        return ['the body is not {"cards": [...]}']
    problems = [f"empty value at {p}" for p in empty_values(body)]
    for i, card in enumerate(body["cards"]):
        problems += [f"cards[{i}]: {p}" for p in card_problems(card)]
    return problems
