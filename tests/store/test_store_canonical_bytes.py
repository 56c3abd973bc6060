"""The bytes the hash chain covers did not change with the new write path (issue 15).

The reference below is the code of the store before the rewrite (commit be216a0), copied verbatim:
its stored JSON text and its chain hash. The new path (prepare_record, then PreparedRecord.chain_hash
at append time) must produce the same text and the same hash for every input, and a log written by
the old code must still verify and read back exactly.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.engine import Engine, PatientFacts
from ldncds.store import Caller, open_store, prepare_record
from ldncds.store.chain import utc_text
from ldncds.store.record import compact_json, json_string_bytes, load_json

ROOT = Path(__file__).resolve().parents[2]
OLD_LOG = ROOT / "tests" / "fixtures" / "store" / "old-decision-log.sql"
ON = date(2026, 3, 1)


# ---------------------------------------------------------------- the old code (be216a0), verbatim


def old_canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def old_compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def old_chain_hash(content: dict[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(old_canonical_json(content).encode("utf-8") + prev_hash.encode("ascii")).hexdigest()


def old_assessment_content(row: dict[str, Any], seq: int) -> dict[str, Any]:
    caller = {k: row[k] for k in ("channel", "service_id", "hook_instance", "issuer")}
    caller |= {"tenant": row["tenant"]} if row.get("tenant") is not None else {}
    return {
        "id": row["id"],
        "seq": seq,
        "created_at": utc_text(row["created_at"]),
        "caller": caller,
        "evaluation_date": row["evaluation_date"].isoformat(),
        "ruleset_version": row["ruleset_version"],
        "ruleset_hash": row["ruleset_hash"],
        "decision": row["decision"],
        "input_digest": row["input_digest"],
        "facts": row["facts"],
        "assessment": row["assessment"],
    }


def old_row(
    record_id: str, facts: Any, assessment: dict[str, Any], raw: bytes, caller: Caller, ruleset_hash: str
) -> dict[str, Any]:
    return {
        "id": record_id,
        "channel": caller.channel,
        "service_id": caller.service_id,
        "hook_instance": caller.hook_instance,
        "issuer": caller.issuer,
        "tenant": caller.tenant,
        "evaluation_date": date.fromisoformat(str(assessment["evaluation_date"])),
        "ruleset_version": str(assessment["ruleset_version"]),
        "ruleset_hash": ruleset_hash,
        "decision": str(assessment["decision"]),
        "input_digest": hashlib.sha256(raw).hexdigest(),
        "facts": old_compact_json(facts),
        "assessment": old_compact_json(assessment),
    }


# ---------------------------------------------------------------- helpers


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON, types included (1 is not 1.0, True is not 1)."""
    return json.dumps(a) == json.dumps(b) and type(a) is type(b)


def assert_same_as_old(
    facts: Any,
    assessment: dict[str, Any],
    raw: bytes,
    caller: Caller,
    ruleset_hash: str,
    record_id: str,
    created_at: datetime,
    seq: int,
    prev_hash: str,
) -> None:
    prepared = prepare_record(facts, assessment, raw, caller, ruleset_hash, assessment_id=record_id)
    row = old_row(record_id, facts, assessment, raw, caller, ruleset_hash) | {"created_at": created_at}
    assert prepared.facts_json == row["facts"]
    assert prepared.assessment_json == row["assessment"]
    assert prepared.chain_hash(created_at, seq, prev_hash) == old_chain_hash(
        old_assessment_content(row, seq), prev_hash
    )
    assert same_json(prepared.facts, json.loads(row["facts"]))
    assert same_json(prepared.assessment, json.loads(row["assessment"]))


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
RESERVED = {"assessment_id", "decision", "evaluation_date", "ruleset_version"}
free_objects = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in RESERVED), json_values, max_size=6
)
optional_text = st.none() | st.text(max_size=20)
callers = st.builds(
    Caller,
    channel=st.sampled_from(["cli", "api", "cds-hooks", "screening", "replay"]),
    service_id=optional_text,
    hook_instance=optional_text,
    issuer=optional_text,
    tenant=optional_text,
)


# ---------------------------------------------------------------- the tests


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    facts=free_objects,
    extra=free_objects,
    decision=st.text(max_size=30),
    evaluation_date=st.dates(),
    ruleset_version=st.text(max_size=30),
    ruleset_hash=st.text(max_size=64),
    caller=callers,
    record_id=st.text(min_size=1, max_size=64),
    raw=st.binary(max_size=64),
    created_at=st.datetimes(timezones=st.none() | st.just(UTC)),
    seq=st.integers(min_value=1, max_value=2**62),
    prev_hash=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_prepared_bytes_and_hash_are_the_old_ones_for_any_input(
    facts: dict[str, Any],
    extra: dict[str, Any],
    decision: str,
    evaluation_date: date,
    ruleset_version: str,
    ruleset_hash: str,
    caller: Caller,
    record_id: str,
    raw: bytes,
    created_at: datetime,
    seq: int,
    prev_hash: str,
) -> None:
    assessment = extra | {
        "decision": decision,
        "evaluation_date": evaluation_date.isoformat(),
        "ruleset_version": ruleset_version,
    }
    assert_same_as_old(facts, assessment, raw, caller, ruleset_hash, record_id, created_at, seq, prev_hash)


def test_prepared_bytes_and_hash_are_the_old_ones_for_the_examples() -> None:
    """The corpus: every example patient, assessed by the engine, as the models dump it."""
    engine = Engine()
    caller = Caller(
        channel="cds-hooks", service_id="ldn-candidacy", hook_instance="h", issuer="i", tenant="t"
    )
    for path in sorted((ROOT / "examples").glob("*.json")):
        facts = PatientFacts.model_validate_json(path.read_bytes())
        assessment = engine.assess(facts, ON).model_copy(update={"assessment_id": "a-" + path.stem[:60]})
        prepared = prepare_record(facts, assessment, path.read_bytes(), caller, engine.ruleset.content_hash)
        assert prepared.facts_json == old_compact_json(facts.model_dump(mode="json")), path.name
        assert_same_as_old(
            facts.model_dump(mode="json"),
            assessment.model_dump(mode="json"),
            path.read_bytes(),
            caller,
            engine.ruleset.content_hash,
            prepared.id,
            datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC),
            7,
            "ab" * 32,
        )


def test_string_escapes_match_the_standard_library_for_every_code_point() -> None:
    chunk: list[str] = []
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # lone surrogates: below
        chunk.append(chr(code))
        if len(chunk) == 4096 or code == 0x10FFFF:
            text = "".join(chunk) + '"\\/'
            assert json_string_bytes(text) == old_canonical_json(text).encode("utf-8"), hex(code)
            chunk = []
    with pytest.raises(UnicodeEncodeError):  # as before: a lone surrogate cannot be hashed
        old_canonical_json("a\ud800").encode("utf-8")
    with pytest.raises(UnicodeEncodeError):
        json_string_bytes("a\ud800")


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_stored_text_reads_back_exactly_as_json_loads_reads_it(value: Any) -> None:
    text = compact_json(value)
    assert same_json(load_json(text), json.loads(text))
    assert same_json(load_json(text.encode("utf-8")), json.loads(text))


# compact_json lets orjson write the text only where it is provably the standard library's text.
tricky_scalars = (
    json_scalars
    | st.floats()  # NaN and infinities: json refuses them, orjson would write null
    | st.floats(min_value=-1e-4, max_value=1e-4)  # spelled otherwise by orjson (0.00001, 1e-7)
    | st.sampled_from([":1e-5", ",0.00001", "[2e-7", "3f2e-4a", "\ud800", "10.00001"])
    | st.dates()  # orjson writes dates, json refuses them
    | st.tuples(st.integers(), st.text(max_size=3))
)
tricky_values = st.recursive(
    tricky_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4)
    ),
    max_leaves=25,
)


def _written(write: Any, value: Any) -> str | type[Exception]:
    try:
        return str(write(value))
    except (ValueError, TypeError) as exc:  # json's refusals: the same kind of error, as before
        return ValueError if isinstance(exc, ValueError) else TypeError


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=tricky_values)
def test_stored_text_is_the_standard_librarys_text_or_its_refusal(value: Any) -> None:
    assert _written(compact_json, value) == _written(old_compact_json, value)


@pytest.mark.parametrize(
    "value",
    [1e-05, -2.5e-07, [0.5, 1e-300], {"dose": 0.00004}, {"a": [1, (2, 3)]}, {"t": "x:1e-5"}, {1: "k"}],
)
def test_values_orjson_spells_otherwise_are_written_by_the_standard_library(value: Any) -> None:
    assert compact_json(value) == old_compact_json(value)


@pytest.mark.parametrize(
    "literal", ["123456789012345678901234567890", "-18446744073709551617", "1e-05", "2.5e-07", "[1e+16]"]
)
def test_numbers_orjson_would_read_or_write_differently_are_read_exactly(literal: str) -> None:
    assert same_json(load_json(literal), json.loads(literal))


def _load_old_log(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(OLD_LOG.read_text(encoding="utf-8"))
    return db


def test_a_log_written_by_the_old_code_verifies_reads_and_hashes_the_same(tmp_path: Path) -> None:
    db = _load_old_log(tmp_path)
    url = f"sqlite:///{db}"
    result = CliRunner().invoke(app, ["audit", "verify", "--database-url", url])
    assert result.exit_code == 0 and "intact: 4 records (2 feedback items)" in result.output, result.output

    raws = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p.read_bytes() for p in (ROOT / "examples").glob("*.json")
    }
    raws[hashlib.sha256("é".encode()).hexdigest()] = "é".encode()
    store = open_store(url, group_commit_max=1, group_commit_wait_ms=0)
    stored_rows = sqlite3.connect(db).execute(
        "SELECT id, facts, assessment, prev_hash, hash FROM assessments"
    )
    text = {r[0]: r[1:] for r in stored_rows}
    assert len(text) == 4
    for old in store.iter_all():
        facts_text, assessment_text, prev_hash, row_hash = text[old.id]
        assert same_json(old.facts, json.loads(facts_text)) and same_json(
            old.assessment, json.loads(assessment_text)
        )
        again = prepare_record(
            old.facts,
            old.assessment,
            raws[old.input_digest],
            old.caller,
            old.ruleset_hash,
            assessment_id=old.id,
        )
        assert (again.facts_json, again.assessment_json) == (facts_text, assessment_text)
        assert again.chain_hash(old.created_at, old.seq, prev_hash) == row_hash
        assert store.record(prepared=again).seq == old.seq  # a retry of an old record is recognised
    edge = store.get("old-edge-values")
    assert edge is not None and edge.facts["big"] == 10**30 and edge.facts["tiny"] == 1e-7
    store.close()


def test_the_new_code_appends_to_an_old_log_and_it_still_verifies(tmp_path: Path) -> None:
    db = _load_old_log(tmp_path)
    store = open_store(f"sqlite:///{db}", group_commit_max=1, group_commit_wait_ms=0)
    engine = Engine()
    facts = PatientFacts.model_validate_json((ROOT / "examples" / "candidate.json").read_bytes())
    new = store.record(
        prepared=prepare_record(
            facts, engine.assess(facts, ON), b"{}", Caller(channel="api"), engine.ruleset.content_hash
        )
    )
    assert new.seq == 5
    assert store.add_feedback(new.id, {"card": new.id, "outcome": "accepted", "outcomeTimestamp": "t"})
    store.close()
    result = CliRunner().invoke(app, ["audit", "verify", "--database-url", f"sqlite:///{db}"])
    assert result.exit_code == 0 and "intact: 5 records (3 feedback items)" in result.output, result.output
