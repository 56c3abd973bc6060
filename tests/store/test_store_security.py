"""The store's part of issue 13 on SQLite and PostgreSQL: tenancy-scoped reads, feedback that never
crosses tenants, the shared jti replay table, and the write-readiness check."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest

from ldncds.engine import Engine, PatientFacts
from ldncds.store import Caller, open_store, record_assessment
from ldncds.store.interface import ForeignRecordError, Scope
from support.store import sqlite_url, store_url  # noqa: F401

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "candidate.json"
A, B = "https://ehr-a.example.org", "https://ehr-b.example.org"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def record(store, engine: Engine, caller: Caller) -> str:  # noqa: ANN001
    facts = PatientFacts.model_validate_json(EXAMPLE.read_bytes())
    stored = record_assessment(
        store, facts, engine.assess(facts, date(2026, 3, 1)), b"{}", caller, engine.ruleset.content_hash
    )
    return stored.id


def test_reads_and_lists_are_scoped_to_issuer_and_tenant(store_url: str, engine: Engine) -> None:  # noqa: F811
    store = open_store(store_url)
    north = record(store, engine, Caller(channel="api", issuer=A, tenant="north"))
    plain = record(store, engine, Caller(channel="api", issuer=A))
    other = record(store, engine, Caller(channel="api", issuer=B))
    ids = lambda scope: [r.id for r in store.list(scope=scope)]  # noqa: E731
    assert ids(Scope(issuer=A, tenant="north")) == [north]
    assert ids(Scope(issuer=A)) == [plain]
    assert ids(Scope(issuer=B)) == [other]
    assert set(ids(Scope(issuer=B, audit=True))) == {north, plain, other}
    assert set(ids(None)) == {north, plain, other}  # unscoped: the operator's CLI
    assert store.get(north, scope=Scope(issuer=A)) is None
    assert store.get(north, scope=Scope(issuer=A, tenant="north")).caller.tenant == "north"
    assert store.verify().intact


def test_feedback_never_crosses_tenants(store_url: str, engine: Engine) -> None:  # noqa: F811
    store = open_store(store_url)
    card = record(store, engine, Caller(channel="cds-hooks", issuer=A, tenant="north"))
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-03-01T10:00:00Z"}
    with pytest.raises(ForeignRecordError):
        store.add_feedback(card, item, caller=Caller(channel="cds-hooks", issuer=B))
    with pytest.raises(ForeignRecordError):
        store.add_feedback(card, item, caller=Caller(channel="cds-hooks", issuer=A, tenant="south"))
    assert store.add_feedback(card, item, caller=Caller(channel="cds-hooks", issuer=A, tenant="north"))
    # An unknown card is kept, under its sender, and never shows on another tenant's record.
    assert store.add_feedback("unknown-card", item, caller=Caller(channel="cds-hooks", issuer=B))
    assert store.get(card).feedback == [item]
    assert store.verify().intact


def test_a_jti_is_claimed_exactly_once_under_concurrency(store_url: str) -> None:  # noqa: F811
    store = open_store(store_url)
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda _: store.claim_jti(A, "same-jti", 2e9, 1e9), range(16)))
    assert claims.count(True) == 1
    assert store.claim_jti(B, "same-jti", 2e9, 1e9)  # jti values are per issuer


def test_a_writable_store_is_ready(store_url: str) -> None:  # noqa: F811
    store = open_store(store_url)
    store.check_writable()
    assert store.count() == 0  # the check changes nothing
