"""The decision store on SQLAlchemy: embedded SQLite by default, PostgreSQL (psycopg 3) by URL.

Every write is one transaction that appends to a hash chain while holding the chain's lock
(SQLite: BEGIN IMMEDIATE; PostgreSQL: the chain-head row FOR UPDATE), and returns only after
COMMIT, i.e. once the record is on disk (SQLite WAL with synchronous=FULL; PostgreSQL's default
synchronous_commit). With group commit on (setting store_group_commit_max), concurrent writers of
one process share that transaction (group.py).

The write statements are compiled once per dialect from SQLAlchemy Core and run on the DB-API
cursor; nothing just written is read back (the StoredAssessment is built from what was written).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.pool import PoolProxiedConnection, StaticPool

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
from .group import GroupCommitter, Refused
from .interface import (
    Caller,
    DuplicateAssessmentError,
    ForeignRecordError,
    Scope,
    StoredAssessment,
    StoreError,
)
from .record import PreparedRecord, assessment_content, load_json, prepare_record
from .tables import assessments, chain_head, feedback, jwt_seen

__all__ = [
    "DuplicateAssessmentError",
    "SqlStore",
    "StoreError",
    "VerifyReport",
    "assessment_content",
    "feedback_content",
    "feedback_key",
    "normalise_url",
    "open_store",
]

_T = TypeVar("_T")
_PAGE = 500
_SQLITE_BUSY_TIMEOUT_S = 60
_READINESS_BUSY_TIMEOUT_MS = 2000
_JTI_PURGE_EVERY = 256  # claims between deletions of expired jti rows
_CALLER_FIELDS = ("channel", "service_id", "hook_instance", "issuer")


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


def open_store(
    url: str,
    *,
    create: bool = True,
    group_commit_max: int | None = None,
    group_commit_wait_ms: float | None = None,
) -> SqlStore:
    """Open the decision log at `url`, creating it (or migrating it to the newest schema) as needed.

    With create=False a missing log is an error (StoreError) instead of a new, empty one: auditors
    must not be told "intact: 0 records" about a mistyped path. Group commit comes from the
    settings (store_group_commit_max, store_group_commit_wait_ms) unless given here.
    """
    parsed = sa.make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        on_disk = parsed.database not in (None, "", ":memory:")
        if not create and on_disk and not Path(str(parsed.database)).exists():
            raise StoreError(f"no decision log at {parsed.database}")
        engine, memory = _sqlite_engine(parsed)
    elif parsed.get_backend_name() == "postgresql":
        engine, memory = sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=40), False
    else:
        raise StoreError(f"unsupported database URL scheme {parsed.drivername!r} (use sqlite or postgresql)")
    size, wait_ms = _group_commit(group_commit_max, group_commit_wait_ms)
    store = SqlStore(engine, memory=memory, group_commit_max=size, group_commit_wait_ms=wait_ms)
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


def _group_commit(size: int | None, wait_ms: float | None) -> tuple[int, float]:
    if size is None or wait_ms is None:
        from ldncds.settings import Settings

        settings = Settings()
        size = settings.store_group_commit_max if size is None else size
        wait_ms = settings.store_group_commit_wait_ms if wait_ms is None else wait_ms
    return size, wait_ms


def _sqlite_engine(url: sa.URL) -> tuple[sa.Engine, bool]:
    memory = url.database in (None, "", ":memory:")
    if memory:
        engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(str(url.database)).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
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

    def __init__(
        self,
        engine: sa.Engine,
        *,
        memory: bool = False,
        group_commit_max: int = 1,
        group_commit_wait_ms: float = 0.0,
    ) -> None:
        self.engine = engine
        self._memory = memory
        self._claims = 0
        self.writer = engine.execution_options(ldncds_write=True)
        self._sql = _statements(engine.dialect)
        # One shared in-memory connection cannot hold two transactions at once: take turns.
        self._guard: contextlib.AbstractContextManager[Any] = threading.RLock() if memory else _NoGuard()
        # On-disk SQLite: writers in this process queue on a lock instead of SQLite's busy-wait with
        # sleeps, which is unfair under load (p99 write latency 1.8 s -> 0.2 s at 20 concurrent clients).
        sqlite_file = engine.dialect.name == "sqlite" and not memory
        self._write_guard: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if sqlite_file else _NoGuard()
        )
        self.group: GroupCommitter | None = None
        if group_commit_max > 1:
            self.group = GroupCommitter(
                self._write_works, max_size=group_commit_max, max_wait_s=group_commit_wait_ms / 1000
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

    @overload
    def record(self, *, prepared: PreparedRecord) -> StoredAssessment: ...

    @overload
    def record(
        self,
        *,
        assessment_id: str,
        facts: Mapping[str, Any] | str | bytes,
        assessment: Mapping[str, Any] | str | bytes,
        raw_input: bytes,
        caller: Caller,
        ruleset_hash: str,
    ) -> StoredAssessment: ...

    def record(self, *, prepared: PreparedRecord | None = None, **fields: Any) -> StoredAssessment:
        """Append one assessment to the log (prepared, or the fields prepare_record takes); returns
        after COMMIT (durable)."""
        if prepared is None:
            prepared = prepare_record(
                fields["facts"],
                fields["assessment"],
                fields["raw_input"],
                fields["caller"],
                fields["ruleset_hash"],
                assessment_id=fields["assessment_id"],
            )
        stored: StoredAssessment = self._submit(_AssessmentWrite(prepared))
        return stored

    def append(self, prepared: PreparedRecord) -> int:
        """record(prepared=...) for a caller that needs no StoredAssessment back (the services):
        the same append and COMMIT, without building the record's values; returns its seq."""
        seq: int = self._submit(_AssessmentWrite(prepared, stored=False))
        return seq

    def append_all(self, prepared: Sequence[PreparedRecord]) -> list[int | Exception]:
        """append() for several records in one transaction and one COMMIT (a group commit by a single
        writer): each record's seq, or its own refusal (a duplicate id of other content); if the
        transaction fails, this raises and none of them is stored."""
        outcomes = self._write_works([_AssessmentWrite(p, stored=False) for p in prepared])
        return [o.error if isinstance(o, Refused) else o for o in outcomes]

    def add_feedback(self, card_uuid: str, item: dict[str, Any], *, caller: Caller | None = None) -> bool:
        """Append CDS Hooks feedback; False when the same item was already recorded (idempotent).

        The sender's issuer and tenant are kept with it. Feedback on an assessment of another
        issuer or tenant is refused (ForeignRecordError), never attached to that record.
        """
        owner = (caller.issuer, caller.tenant) if caller is not None else (None, None)
        write = _FeedbackWrite(card_uuid, canonical_json(item), feedback_key(card_uuid, item), owner)
        added: bool = self._submit(write)
        return added

    def _submit(self, write: _Write) -> Any:
        """Write alone, or in the next group when group commit is on; a write's own refusal raises here."""
        if self.group is not None:
            return self.group.submit(write)
        outcome = self._write_works([write])[0]
        if isinstance(outcome, Refused):
            raise outcome.error
        return outcome

    def _write_works(self, writes: Sequence[_Write]) -> list[Any]:
        """Append `writes` in one transaction on a pooled DB-API connection, with _write's failure
        handling (no SQLAlchemy Connection per write: the statements are compiled already)."""
        for attempt in (1, 2):
            with self._write_guard, self._guard:
                raw = self.engine.raw_connection()
                try:
                    return _Tx(raw, self._sql, self.engine.dialect).run(writes)
                except sa.exc.IntegrityError:
                    raise
                except sa.exc.DBAPIError:
                    self._discard(raw)
                    if attempt == 2:
                        raise
                finally:
                    raw.close()  # back to the pool, rolled back if the transaction did not commit
        raise AssertionError("unreachable")

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

    def _write(self, work: Callable[[sa.Connection], _T]) -> _T:
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

    def _discard(self, conn: sa.Connection | PoolProxiedConnection) -> None:
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


# ---------------------------------------------------------------------- prebuilt write statements


@dataclass(frozen=True)
class _Compiled:
    """One Core statement compiled for one dialect: its SQL text, how to bind each parameter and,
    for a SELECT, how to read each column (e.g. SQLite keeps timestamps as text)."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    processors: tuple[Callable[[Any], Any] | None, ...]
    columns: tuple[str, ...] = ()
    readers: tuple[Callable[[Any], Any] | None, ...] = ()

    @classmethod
    def of(cls, statement: sa.ClauseElement, dialect: sa.Dialect) -> _Compiled:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, sa.sql.compiler.SQLCompiler)
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
        binds = compiled.binds
        processors = tuple(binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        selected = list(statement.selected_columns) if isinstance(statement, sa.Select) else []
        return cls(
            compiled.string,
            names,
            positional,
            processors,
            tuple(str(c.key) for c in selected),
            tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in selected),
        )

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        bound = [
            values[n] if p is None else p(values[n]) for n, p in zip(self.names, self.processors, strict=True)
        ]
        return tuple(bound) if self.positional else dict(zip(self.names, bound, strict=True))

    def read(self, row: Sequence[Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        return {
            name: value if read is None else read(value)
            for name, read, value in zip(self.columns, self.readers, row, strict=True)
        }


@dataclass(frozen=True)
class _Statements:
    """Every statement of the write path, compiled once per dialect (no per-write SQL compilation)."""

    insert_assessment: _Compiled
    insert_feedback: _Compiled
    lock_head: _Compiled
    move_head: _Compiled
    card_owner: _Compiled
    assessment_by_id: _Compiled
    begin: str | None  # SQLite: take the write lock up front; PostgreSQL begins by itself


_COMPILED: dict[tuple[str, str, str], _Statements] = {}


def _statements(dialect: sa.Dialect) -> _Statements:
    """The write statements for this kind of dialect (the compiled text depends on nothing else here)."""
    key = (dialect.name, str(dialect.driver), str(dialect.paramstyle))
    if key not in _COMPILED:  # a race compiles twice, to the same text
        _COMPILED[key] = _compile_statements(dialect)
    return _COMPILED[key]


def _compile_statements(dialect: sa.Dialect) -> _Statements:
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite_dialect.insert
    head = sa.select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.chain == sa.bindparam("chain"))
    if dialect.name == "postgresql":
        head = head.with_for_update()  # SQLite: BEGIN IMMEDIATE already holds the write lock
    move = (
        chain_head.update()
        .where(chain_head.c.chain == sa.bindparam("chain_name"))
        .values(seq=sa.bindparam("seq"), hash=sa.bindparam("hash"))
    )
    owner = sa.select(assessments.c.issuer, assessments.c.tenant).where(
        assessments.c.id == sa.bindparam("card_uuid")
    )
    return _Statements(
        insert_assessment=_Compiled.of(
            insert(assessments).on_conflict_do_nothing(index_elements=["id"]), dialect
        ),
        insert_feedback=_Compiled.of(
            insert(feedback).on_conflict_do_nothing(index_elements=["dedupe_key"]), dialect
        ),
        lock_head=_Compiled.of(head, dialect),
        move_head=_Compiled.of(move, dialect),
        card_owner=_Compiled.of(owner, dialect),
        assessment_by_id=_Compiled.of(
            sa.select(assessments).where(assessments.c.id == sa.bindparam("id")), dialect
        ),
        begin="BEGIN IMMEDIATE" if dialect.name == "sqlite" else None,
    )


class _Tx:
    """One write transaction on a pooled DB-API connection, and the chain heads it holds locked."""

    def __init__(self, raw: PoolProxiedConnection, sql: _Statements, dialect: sa.Dialect) -> None:
        self.raw, self.sql, self.dialect = raw, sql, dialect
        self.cursor = raw.cursor()
        self._error: type[Exception] = dialect.loaded_dbapi.Error
        self._heads: dict[str, tuple[int, str]] = {}
        self._moved: set[str] = set()

    def run(self, writes: Sequence[_Write]) -> list[Any]:
        """Lock the heads the writes need (one fixed order: no deadlock), append, move the heads, COMMIT."""
        try:
            if self.sql.begin is not None:
                self._driver(self.sql.begin, lambda: self.cursor.execute(str(self.sql.begin)))
            for chain in sorted({w.chain for w in writes}):
                row = self.execute(self.sql.lock_head, {"chain": chain}).fetchone()
                if row is None:
                    raise StoreError(f"the decision log has no {chain} chain head")
                self._heads[chain] = (int(row[0]), str(row[1]))
            outcomes = [self._one(w) for w in writes]
            for chain in sorted(self._moved):
                seq, hash_ = self._heads[chain]
                self.execute(self.sql.move_head, {"seq": seq, "hash": hash_, "chain_name": chain})
            self._driver("COMMIT", self.raw.commit)
            return outcomes
        finally:
            self.cursor.close()

    def _one(self, write: _Write) -> Any:
        try:
            return write.apply(self)
        except (DuplicateAssessmentError, ForeignRecordError) as exc:  # this write's own refusal
            return Refused(exc)

    def execute(self, statement: _Compiled, values: Mapping[str, Any]) -> Any:
        return self._driver(
            statement.sql, lambda: self.cursor.execute(statement.sql, statement.params(values))
        )

    def _driver(self, sql: str, call: Callable[[], _T]) -> _T:
        """A driver error becomes SQLAlchemy's (IntegrityError, OperationalError ...), as a Connection
        would raise it, but without the parameters (patient data) in its message."""
        try:
            return call()
        except self._error as exc:
            raise sa.exc.DBAPIError.instance(
                sql, None, exc, self._error, hide_parameters=True, dialect=self.dialect
            ) from exc

    def head(self, chain: str) -> tuple[int, str]:
        return self._heads[chain]

    def advance(self, chain: str, seq: int, hash_: str) -> None:
        self._heads[chain] = (seq, hash_)
        self._moved.add(chain)


class _Write:
    """One caller's append to one chain (a group commit runs several in one transaction)."""

    chain: str

    def apply(self, tx: _Tx) -> Any:
        raise NotImplementedError


class _AssessmentWrite(_Write):
    chain = "assessments"

    def __init__(self, prepared: PreparedRecord, *, stored: bool = True) -> None:
        self.prepared, self.want_stored = prepared, stored

    def apply(self, tx: _Tx) -> StoredAssessment | int:
        p = self.prepared
        last_seq, prev_hash = tx.head(self.chain)
        seq, created_at = last_seq + 1, datetime.now(UTC)
        row_hash = p.chain_hash(created_at, seq, prev_hash)
        row = p.row() | {"seq": seq, "created_at": created_at, "prev_hash": prev_hash, "hash": row_hash}
        if tx.execute(tx.sql.insert_assessment, row).rowcount == 0:  # this id is in the log already
            found = tx.execute(tx.sql.assessment_by_id, {"id": p.id}).fetchone()
            existing = tx.sql.assessment_by_id.read(found)
            if existing is None:
                raise StoreError(f"assessment {p.id} was neither stored nor found")
            same = _same_or_fail(existing, p)
            return same if self.want_stored else same.seq
        tx.advance(self.chain, seq, row_hash)
        return p.stored(seq, created_at) if self.want_stored else seq


class _FeedbackWrite(_Write):
    chain = "feedback"

    def __init__(
        self, card_uuid: str, item_json: str, key: str, owner: tuple[str | None, str | None]
    ) -> None:
        self.card_uuid, self.item_json, self.key, self.owner = card_uuid, item_json, key, owner

    def apply(self, tx: _Tx) -> bool:
        if self.owner[0] is not None:
            card = tx.execute(tx.sql.card_owner, {"card_uuid": self.card_uuid}).fetchone()
            if card is not None and (card[0], card[1]) != self.owner:
                raise ForeignRecordError(self.card_uuid)
        last_seq, prev_hash = tx.head(self.chain)
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "seq": last_seq + 1,
            "received_at": datetime.now(UTC),
            "card_uuid": self.card_uuid,
            "dedupe_key": self.key,
            "item": self.item_json,
            "prev_hash": prev_hash,
            "issuer": self.owner[0],
            "tenant": self.owner[1],
        }
        row["hash"] = chain_hash(feedback_content(row, row["seq"]), prev_hash)
        if tx.execute(tx.sql.insert_feedback, row).rowcount == 0:  # the same feedback was recorded before
            return False
        tx.advance(self.chain, row["seq"], row["hash"])
        return True


# ---------------------------------------------------------------------- rows and hashed content


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
    given = value.get("reason")
    coding: dict[str, Any] = given if isinstance(given, dict) else {}
    reason = {k: coding.get(k) for k in ("system", "code") if coding.get(k) is not None}
    if value.get("userComment") is not None:
        reason["comment"] = value["userComment"]
    return reason or None


def _stored(row: Mapping[Any, Any], items: list[dict[str, Any]]) -> StoredAssessment:
    """A StoredAssessment from a row as read (a RowMapping: keys are names or columns) or a dict."""
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
        facts=load_json(row["facts"]),
        assessment=load_json(row["assessment"]),
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
    return [load_json(item) for item in conn.execute(query).scalars()]


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
    if raw is None:
        raise StoreError("the database connection was closed")
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


def _same_or_fail(existing: Mapping[Any, Any], prepared: PreparedRecord) -> StoredAssessment:
    """A retried record() of the same assessment is answered from the log, not stored twice."""
    written = prepared.row()
    compared = ("input_digest", "facts", "assessment", "channel", "issuer", "tenant")
    if not all(existing[k] == written[k] for k in compared):
        raise DuplicateAssessmentError(
            f"assessment {prepared.id} was already recorded with different content"
        )
    return _stored(existing, [])


def _chain_rows(
    conn: sa.Connection, table: sa.Table, content: Callable[[Mapping[str, Any], int], dict[str, Any]]
) -> Iterator[ChainRow]:
    after: int | None = None
    while True:
        query = sa.select(table).order_by(table.c.seq).limit(_PAGE)
        if after is not None:
            query = query.where(table.c.seq > after)
        page = [r._asdict() for r in conn.execute(query)]
        if not page:
            return
        for r in page:
            yield ChainRow(
                seq=r["seq"],
                id=r["id"],
                prev_hash=r["prev_hash"],
                hash=r["hash"],
                content=functools.partial(content, r),
            )
        after = page[-1]["seq"]


def _lookup(conn: sa.Connection, table: sa.Table) -> Lookup:
    def find(column: sa.Column[Any]) -> Any:
        def by(value: str) -> tuple[int, str] | None:
            hit = conn.execute(sa.select(table.c.seq, table.c.id).where(column == value).limit(1)).first()
            return (int(hit.seq), str(hit.id)) if hit else None

        return by

    return Lookup(by_hash=find(table.c.hash), by_prev_hash=find(table.c.prev_hash))
