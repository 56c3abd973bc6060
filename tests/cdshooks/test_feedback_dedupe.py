"""CDS Hooks feedback dedupe: a retry is recorded once, a different override reason is new feedback."""

from __future__ import annotations

from pathlib import Path

from ldncds.store import open_store
from ldncds.store.sql import feedback_key
from support.store import sqlite_url

CARD = "4b3f3f4e-0000-4000-8000-000000000001"
AT = "2026-03-01T10:00:00Z"


def override(code: str, comment: str | None = None) -> dict:
    reason: dict = {"reason": {"system": "urn:ldncds:cds-hooks:override-reason", "code": code}}
    if comment is not None:
        reason["userComment"] = comment
    return {"card": CARD, "outcome": "overridden", "outcomeTimestamp": AT, "overrideReason": reason}


def test_a_second_override_with_another_reason_at_the_same_instant_is_kept(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    declined, out_of_date = override("patient-declined"), override("record-out-of-date")
    assert store.add_feedback(CARD, declined) is True
    assert store.add_feedback(CARD, dict(declined)) is False  # a retry of the same feedback
    assert store.add_feedback(CARD, out_of_date) is True  # same card, outcome and instant, other reason
    assert store.add_feedback(CARD, override("patient-declined", "wants to think about it")) is True
    reasons = [f["overrideReason"]["reason"]["code"] for f in store.feedback_for_card(CARD)]
    assert reasons == ["patient-declined", "record-out-of-date", "patient-declined"]
    assert store.verify().intact
    store.close()


def test_the_display_text_of_a_reason_does_not_make_it_new() -> None:
    plain = override("clinical-judgement")
    shown = override("clinical-judgement")
    shown["overrideReason"]["reason"]["display"] = "Clinical judgement"
    assert feedback_key(CARD, plain) == feedback_key(CARD, shown)


def test_feedback_without_a_reason_keys_as_older_versions_did() -> None:
    # The key of a stored accepted item must not move, or a retry after an upgrade is stored twice
    # (the value is what the version before this change computed).
    accepted = {
        "card": CARD,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "s1"}],
        "outcomeTimestamp": AT,
    }
    assert feedback_key(CARD, accepted) == "3fa94f7546a891c36c42c1f6000f7b8614d82d2d00527e4cd7356effcbe13f9d"
