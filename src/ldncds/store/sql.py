"""The decision store on SQLAlchemy: embedded SQLite by default, PostgreSQL (psycopg 3) by URL.

Every write is one transaction that appends to a hash chain while holding the chain's lock
(SQLite: BEGIN IMMEDIATE; PostgreSQL: the chain-head row FOR UPDATE), and returns only after
COMMIT, i.e. once the record is on disk (SQLite WAL with synchronous=FULL; PostgreSQL's default
synchronous_commit).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from . import migrate
from .chain import (
    ChainReport,
    ChainRow,
    Lookup,
    canonical_json,
    chain_hash,
    sha256_hex,
    utc_text,
    verify_chain,
)
from .interface import Caller, ForeignRecordError, Scope, StoredAssessment
from .tables import assessments, chain_head, feedback, jwt_seen

_PAGE = 500
_SQLITE_BUSY_TIMEOUT_S = 60
_READINESS_BUSY_TIMEOUT_MS = 2000
_JTI_PURGE_EVERY = 256  # claims between deletions of expired jti rows
_CALLER_FIELDS = ("channel", "service_id", "hook_instance", "issuer")


class StoreError(RuntimeError):
    """The decision log cannot do what was asked (the message says why; it never holds patient data)."""


class DuplicateAssessmentError(StoreError):
    """An assessment id was recorded before with different content."""


@dataclass
class VerifyReport:
    """Both chains checked; `problems` lists the first problem of each chain first."""

    url: str
    chains: list[ChainReport] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return all(c.intact for c in self.chains)

    @property
    def records(self) -> int:
        return sum(c.records for c in self.chains if c.chain == "assessments")


def normalise_url(url: str) -> str:
    """postgres:// and postgresql:// mean psycopg 3 here (the driver we ship)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def open_store(url: str, *, create: bool = True) -> SqlStore:
    """Open the decision log at `url`, creating it (or migrating it to the newest schema) as needed.

    With create=False a missing log is an error (StoreError) instead of a new, empty one: auditors
    must not be told "intact: 0 records" about a mistyped path.
    """
    parsed = sa.make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        on_disk = parsed.database not in (None, "", ":memory:")
        if not create and on_disk and not Path(parsed.database).exists():  # type: ignore[arg-type]
            raise StoreError(f"no decision log at {parsed.database}")
        engine, memory = _sqlite_engine(parsed)
    elif parsed.get_backend_name() == "postgresql":
        engine, memory = sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=40), False
    else:
        raise StoreError(f"unsupported database URL scheme {parsed.drivername!r} (use sqlite or postgresql)")
    store = SqlStore(engine, memory=memory)
    try:
        revision = migrate.current_revision(engine)
        if not create and revision is None:
            raise StoreError(f"no decision log in {store.url}")
        if revision != migrate.head_revision():  # read-only users can verify an up-to-date log
            migrate.upgrade(store.writer)
    except Exception:
        engine.dispose()
        raise
    return store


def _sqlite_engine(url: sa.URL) -> tuple[sa.Engine, bool]:
    memory = url.database in (None, "", ":memory:")
    if memory:
        engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
        # Connections are cheap; writers queue on SQLite's lock, not on the pool (the web server has
        # up to 40 worker threads).
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_TIMEOUT_S},
            pool_size=8,
            max_overflow=40,
        )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_S * 1000}")
        if not memory:
            _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives power loss
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the database's write lock up front: appends to the chain happen one at a time.
        write = conn.get_execution_options().get("ldncds_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine, memory


def _enable_wal(cursor: Any) -> None:
    """Switch a new database file to WAL once. Changing the journal mode ignores the busy timeout, so
    several processes or threads creating the same new log at once retry instead of failing."""
    for attempt in range(100):
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == 99:
                raise
            time.sleep(0.05)


class SqlStore:
    """The DecisionStore of interface.py on a SQL database. Thread-safe; share one per process."""

    def __init__(self, engine: sa.Engine, *, memory: bool = False) -> None:
        self.engine = engine
        self._memory = memory
        self._claims = 0
        self.writer = engine.execution_options(ldncds_write=True)
        # One shared in-memory connection cannot hold two transactions at once: take turns.
        self._guard: contextlib.AbstractContextManager[Any] = threading.RLock() if memory else _NoGuard()
        # On-disk SQLite: writers in this process queue on a lock instead of SQLite's busy-wait with
        # sleeps, which is unfair under load (p99 write latency 1.8 s -> 0.2 s at 20 concurrent clients).
        sqlite_file = engine.dialect.name == "sqlite" and not memory
        self._write_guard: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if sqlite_file else _NoGuard()
        )

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ writing

    def record(
        self,
        *,
        assessment_id: str,
        facts: dict[str, Any],
        assessment: dict[str, Any],
        raw_input: bytes,
        caller: Caller,
        ruleset_hash: str,
    ) -> StoredAssessment:
        """Append one assessment to the log; returns after COMMIT (durable)."""
        row = _new_assessment_row(assessment_id, facts, assessment, raw_input, caller, ruleset_hash)
        return self._write(lambda conn: self._append_assessment(conn, dict(row)))

    def _append_assessment(self, conn: sa.Connection, row: dict[str, Any]) -> StoredAssessment:
        seq, prev_hash = _lock_head(conn, "assessments")
        existing = conn.execute(sa.select(assessments).where(assessments.c.id == row["id"])).first()
        if existing is not None:
            return _same_or_fail(existing._mapping, row)
        row |= {"seq": seq + 1, "prev_hash": prev_hash, "created_at": datetime.now(UTC)}
        row["hash"] = chain_hash(assessment_content(row, row["seq"]), prev_hash)
        conn.execute(assessments.insert().values(**row))
        _move_head(conn, "assessments", row["seq"], row["hash"])
        return _stored(row, [])

    def add_feedback(self, card_uuid: str, item: dict[str, Any], *, caller: Caller | None = None) -> bool:
        """Append CDS Hooks feedback; False when the same item was already recorded (idempotent).

        The sender's issuer and tenant are kept with it. Feedback on an assessment of another
        issuer or tenant is refused (ForeignRecordError), never attached to that record.
        """
        key = feedback_key(card_uuid, item)
        owner = (caller.issuer, caller.tenant) if caller is not None else (None, None)
        return self._write(lambda conn: self._append_feedback(conn, card_uuid, item, key, owner))

    def _append_feedback(
        self, conn: sa.Connection, card_uuid: str, item: dict[str, Any], key: str, owner: tuple[Any, Any]
    ) -> bool:
        if owner[0] is not None:
            card = conn.execute(
                sa.select(assessments.c.issuer, assessments.c.tenant).where(assessments.c.id == card_uuid)
            ).first()
            if card is not None and (card.issuer, card.tenant) != owner:
                raise ForeignRecordError(card_uuid)
        seq, prev_hash = _lock_head(conn, "feedback")
        seen = conn.execute(sa.select(feedback.c.id).where(feedback.c.dedupe_key == key)).first()
        if seen is not None:
            return False
        row = {
            "id": str(uuid.uuid4()),
            "seq": seq + 1,
            "received_at": datetime.now(UTC),
            "card_uuid": card_uuid,
            "dedupe_key": key,
            "item": canonical_json(item),
            "prev_hash": prev_hash,
            "issuer": owner[0],
            "tenant": owner[1],
        }
        row["hash"] = chain_hash(feedback_content(row, row["seq"]), prev_hash)
        conn.execute(feedback.insert().values(**row))
        _move_head(conn, "feedback", row["seq"], row["hash"])
        return True

    def claim_jti(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
        """Mark a JWT id used until `expires_at`, for every process sharing this store; False if in use."""
        self._claims += 1
        purge = self._claims % _JTI_PURGE_EVERY == 1

        def claim(conn: sa.Connection) -> bool:
            if purge:
                conn.execute(jwt_seen.delete().where(jwt_seen.c.expires_at <= now))
            where = (jwt_seen.c.issuer == issuer) & (jwt_seen.c.jti == jti)
            held = conn.execute(sa.select(jwt_seen.c.expires_at).where(where)).scalar_one_or_none()
            if held is not None and held > now:
                return False
            if held is not None:
                conn.execute(jwt_seen.update().where(where).values(expires_at=expires_at))
            else:
                conn.execute(jwt_seen.insert().values(issuer=issuer, jti=jti, expires_at=expires_at))
            return True

        try:
            return self._write(claim)
        except sa.exc.IntegrityError:  # PostgreSQL: another process inserted the same jti first
            return False

    def check_writable(self) -> None:
        """Start a write transaction and roll it back: raises when the log cannot be written now."""
        with self._guard, self.writer.connect() as conn:
            try:
                _readiness_write(conn)
            except sa.exc.DBAPIError:
                self._discard(conn)
                raise

    # ------------------------------------------------------------------ write resilience

    def _write(self, work: Any) -> Any:
        """Run `work(conn)` in one write transaction. A connection whose write failed is discarded, with
        the rest of the pool: connections opened while the database was read-only stay read-only, so
        keeping them would fail every later write. One retry on a fresh connection, because the failed
        transaction was rolled back and the database may be writable again."""
        for attempt in (1, 2):
            with self._write_guard, self._guard, self.writer.connect() as conn:
                try:
                    with conn.begin():
                        return work(conn)
                except sa.exc.IntegrityError:
                    raise
                except sa.exc.DBAPIError:
                    self._discard(conn)
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _discard(self, conn: sa.Connection) -> None:
        if self._memory:
            return  # the one in-memory connection is the database itself
        conn.invalidate()
        self.engine.pool.dispose()  # idle pooled connections may have been opened read-only too

    # ------------------------------------------------------------------ reading

    def get(self, assessment_id: str, *, scope: Scope | None = None) -> StoredAssessment | None:
        """The assessment with its feedback; None when unknown or outside `scope` (same answer)."""
        with self._guard, self.engine.connect() as conn:
            row = conn.execute(sa.select(assessments).where(assessments.c.id == assessment_id)).first()
            if row is None or (scope is not None and not scope.owns(row.issuer, row.tenant)):
                return None
            owner = (row.issuer, row.tenant)
            return _stored(row._mapping, _feedback_items(conn, assessment_id, owner))

    def feedback_for_card(self, card_uuid: str) -> list[dict[str, Any]]:
        with self._guard, self.engine.connect() as conn:
            return _feedback_items(conn, card_uuid, None)

    def list(
        self,
        *,
        decision: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        ruleset_version: str | None = None,
        limit: int = 100,
        offset: int = 0,
        scope: Scope | None = None,
    ) -> list[StoredAssessment]:
        """Newest first, without feedback (get() has it). Dates filter the evaluation date, ends included;
        `scope` keeps only the caller's own issuer and tenant (unless it is an auditor's)."""
        query = sa.select(assessments).order_by(assessments.c.seq.desc()).limit(limit).offset(offset)
        if scope is not None and not scope.audit:
            query = query.where(assessments.c.issuer == scope.issuer, _same_tenant(assessments, scope.tenant))
        if decision is not None:
            query = query.where(assessments.c.decision == decision)
        if date_from is not None:
            query = query.where(assessments.c.evaluation_date >= date_from)
        if date_to is not None:
            query = query.where(assessments.c.evaluation_date <= date_to)
        if ruleset_version is not None:
            query = query.where(assessments.c.ruleset_version == ruleset_version)
        with self._guard, self.engine.connect() as conn:
            return [_stored(r._mapping, []) for r in conn.execute(query)]

    def count(self) -> int:
        with self._guard, self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(assessments)).scalar_one())

    def iter_all(self) -> Iterator[StoredAssessment]:
        """Every assessment, oldest first, a page at a time (no feedback attached)."""
        after = 0
        while True:
            query = (
                sa.select(assessments)
                .where(assessments.c.seq > after)
                .order_by(assessments.c.seq)
                .limit(_PAGE)
            )
            with self._guard, self.engine.connect() as conn:
                page = [r._mapping for r in conn.execute(query)]
            if not page:
                return
            yield from (_stored(r, []) for r in page)
            after = page[-1]["seq"]

    # ------------------------------------------------------------------ verification

    def verify(self, max_problems: int = 20) -> VerifyReport:
        """Check both hash chains in one consistent snapshot of the database."""
        report = VerifyReport(url=self.url)
        with self._guard, self._snapshot() as conn:
            for name, table, content in (
                ("assessments", assessments, assessment_content),
                ("feedback", feedback, feedback_content),
            ):
                head = conn.execute(
                    sa.select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.chain == name)
                ).one()
                rows = _chain_rows(conn, table, content)
                report.chains.append(
                    verify_chain(name, rows, (head.seq, head.hash), _lookup(conn, table), max_problems)
                )
        return report

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sa.Connection]:
        if self.dialect == "postgresql":
            repeatable = self.engine.execution_options(isolation_level="REPEATABLE READ")
            with repeatable.begin() as conn:
                yield conn
        else:
            with self.engine.begin() as conn:  # SQLite: a read transaction sees one snapshot
                yield conn


class _NoGuard(contextlib.AbstractContextManager[None]):
    def __exit__(self, *exc: object) -> None:
        return None


# ---------------------------------------------------------------------- rows and hashed content


def _new_assessment_row(
    assessment_id: str,
    facts: dict[str, Any],
    assessment: dict[str, Any],
    raw_input: bytes,
    caller: Caller,
    ruleset_hash: str,
) -> dict[str, Any]:
    if not assessment_id or len(assessment_id) > 64:
        raise ValueError("assessment_id: required, at most 64 characters")
    stated = assessment.get("assessment_id")
    if stated not in (None, assessment_id):
        raise ValueError("assessment.assessment_id differs from assessment_id")
    try:
        decision = str(assessment["decision"])
        evaluation_date = date.fromisoformat(str(assessment["evaluation_date"]))
        ruleset_version = str(assessment["ruleset_version"])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"assessment: missing or invalid field {exc}") from exc
    return {
        "id": assessment_id,
        "channel": caller.channel,
        "service_id": caller.service_id,
        "hook_instance": caller.hook_instance,
        "issuer": caller.issuer,
        "tenant": caller.tenant,
        "evaluation_date": evaluation_date,
        "ruleset_version": ruleset_version,
        "ruleset_hash": ruleset_hash,
        "decision": decision,
        "input_digest": sha256_hex(raw_input),
        # Field order kept as the models write it (readable exports); the hash covers this exact text.
        "facts": _compact_json(facts),
        "assessment": _compact_json(assessment),
    }


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def assessment_content(row: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """What an assessment's hash covers: every stored field (facts and output as stored JSON text)."""
    return {
        "id": row["id"],
        "seq": seq,
        "created_at": utc_text(row["created_at"]),
        "caller": _hashed_caller(row),
        "evaluation_date": row["evaluation_date"].isoformat(),
        "ruleset_version": row["ruleset_version"],
        "ruleset_hash": row["ruleset_hash"],
        "decision": row["decision"],
        "input_digest": row["input_digest"],
        "facts": row["facts"],
        "assessment": row["assessment"],
    }


def _hashed_caller(row: Mapping[str, Any]) -> dict[str, Any]:
    # The tenant (schema 0002) is hashed only when there is one: records written before keep their hash.
    caller = {k: row[k] for k in _CALLER_FIELDS}
    return caller | ({"tenant": row["tenant"]} if row.get("tenant") is not None else {})


def feedback_content(row: Mapping[str, Any], seq: int) -> dict[str, Any]:
    content = {
        "id": row["id"],
        "seq": seq,
        "received_at": utc_text(row["received_at"]),
        "card_uuid": row["card_uuid"],
        "dedupe_key": row["dedupe_key"],
        "item": row["item"],
    }
    # Sender (schema 0002), hashed only when known, so feedback stored before keeps its hash.
    sender = {k: row[k] for k in ("issuer", "tenant") if row.get(k) is not None}
    return content | sender


def feedback_key(card_uuid: str, item: dict[str, Any]) -> str:
    """The same card, outcome, accepted suggestions, override reason and timestamp is the same feedback.

    The override reason (its coding and the clinician's comment) is part of the key, so a second
    override with another reason at the same instant is kept. Feedback without one keys exactly as
    before, so a retry of feedback stored by an older version is still recognised.
    """
    suggestions = item.get("acceptedSuggestions") or []
    ids = sorted(str(s.get("id")) for s in suggestions if isinstance(s, dict))
    key: dict[str, Any] = {
        "card": card_uuid,
        "outcome": item.get("outcome"),
        "suggestions": ids,
        "timestamp": item.get("outcomeTimestamp"),
    }
    if reason := _override_reason(item.get("overrideReason")):
        key["override_reason"] = reason
    return sha256_hex(canonical_json(key).encode("utf-8"))


def _override_reason(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    coding = value.get("reason") if isinstance(value.get("reason"), dict) else {}
    reason = {k: coding.get(k) for k in ("system", "code") if coding.get(k) is not None}
    if value.get("userComment") is not None:
        reason["comment"] = value["userComment"]
    return reason or None


def _stored(row: Mapping[str, Any], items: list[dict[str, Any]]) -> StoredAssessment:
    created = row["created_at"]
    return StoredAssessment(
        id=row["id"],
        seq=row["seq"],
        created_at=created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC),
        caller=Caller(**{k: row[k] for k in _CALLER_FIELDS}, tenant=row.get("tenant")),
        evaluation_date=row["evaluation_date"],
        ruleset_version=row["ruleset_version"],
        ruleset_hash=row["ruleset_hash"],
        decision=row["decision"],
        input_digest=row["input_digest"],
        facts=json.loads(row["facts"]),
        assessment=json.loads(row["assessment"]),
        feedback=items,
    )


def _same_tenant(table: sa.Table, tenant: str | None) -> sa.ColumnElement[bool]:
    return table.c.tenant.is_(None) if tenant is None else table.c.tenant == tenant


def _feedback_items(
    conn: sa.Connection, card_uuid: str, owner: tuple[Any, Any] | None
) -> list[dict[str, Any]]:
    """Feedback on a card; with `owner`, only what that issuer and tenant (or an unauthenticated
    caller, JWT off) sent: another tenant's feedback never shows on a record."""
    query = sa.select(feedback.c.item).where(feedback.c.card_uuid == card_uuid).order_by(feedback.c.seq)
    if owner is not None and owner[0] is not None:
        mine = (feedback.c.issuer == owner[0]) & _same_tenant(feedback, owner[1])
        query = query.where(sa.or_(feedback.c.issuer.is_(None), mine))
    return [json.loads(item) for item in conn.execute(query).scalars()]


def _readiness_write(conn: sa.Connection) -> None:
    """Begin a write transaction and change a row (rolled back): a connection, or a file, that is
    read-only fails here (BEGIN IMMEDIATE alone succeeds on a read-only SQLite connection). A lock
    held by another writer means the log is being written, so it counts as writable."""
    if conn.dialect.name == "postgresql":
        with conn.begin():
            if conn.execute(sa.text("SELECT current_setting('transaction_read_only')")).scalar() == "on":
                raise StoreError("the database is read-only")
            conn.execute(sa.text("SELECT pg_is_in_recovery()"))
        return
    raw = conn.connection.driver_connection
    raw.execute(f"PRAGMA busy_timeout={_READINESS_BUSY_TIMEOUT_MS}")
    try:
        with conn.begin() as tx:  # BEGIN IMMEDIATE: takes the write lock
            same_seq = chain_head.update().where(chain_head.c.chain == "assessments")
            conn.execute(same_seq.values(seq=chain_head.c.seq))
            tx.rollback()
    except sa.exc.OperationalError as exc:
        if "locked" not in str(exc.orig):
            raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_S * 1000}")


def _same_or_fail(existing: Mapping[str, Any], row: dict[str, Any]) -> StoredAssessment:
    """A retried record() of the same assessment is answered from the log, not stored twice."""
    compared = ("input_digest", "facts", "assessment", "channel", "issuer", "tenant")
    same = all(existing[k] == row[k] for k in compared)
    if not same:
        raise DuplicateAssessmentError(f"assessment {row['id']} was already recorded with different content")
    return _stored(existing, [])


def _lock_head(conn: sa.Connection, chain: str) -> tuple[int, str]:
    query = sa.select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.chain == chain)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # SQLite: BEGIN IMMEDIATE already holds the write lock
    head = conn.execute(query).one()
    return int(head.seq), str(head.hash)


def _move_head(conn: sa.Connection, chain: str, seq: int, hash_: str) -> None:
    conn.execute(chain_head.update().where(chain_head.c.chain == chain).values(seq=seq, hash=hash_))


def _chain_rows(conn: sa.Connection, table: sa.Table, content: Any) -> Iterator[ChainRow]:
    after: int | None = None
    while True:
        query = sa.select(table).order_by(table.c.seq).limit(_PAGE)
        if after is not None:
            query = query.where(table.c.seq > after)
        page = [dict(r._mapping) for r in conn.execute(query)]
        if not page:
            return
        for r in page:
            yield ChainRow(
                seq=r["seq"],
                id=r["id"],
                prev_hash=r["prev_hash"],
                hash=r["hash"],
                content=lambda seq, r=r: content(r, seq),
            )
        after = page[-1]["seq"]


def _lookup(conn: sa.Connection, table: sa.Table) -> Lookup:
    def find(column: sa.Column[Any]) -> Any:
        def by(value: str) -> tuple[int, str] | None:
            hit = conn.execute(sa.select(table.c.seq, table.c.id).where(column == value).limit(1)).first()
            return (int(hit.seq), str(hit.id)) if hit else None

        return by

    return Lookup(by_hash=find(table.c.hash), by_prev_hash=find(table.c.prev_hash))
