"""Bring a database to the newest schema with the Alembic migrations shipped in this package."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "ldncds_schema_version"
# Any constant will do: it only has to be the same in every process that migrates this database.
_PG_MIGRATION_LOCK = 0x4C444E43  # "LDNC"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(writer: sa.Engine) -> None:
    """Migrate to head inside one write transaction, so processes starting together take turns.

    `writer` must begin write transactions (SQLite: BEGIN IMMEDIATE); on PostgreSQL an advisory
    lock does the same. DDL is transactional on both, so a failed migration leaves nothing half done.
    """
    cfg = alembic_config()
    with writer.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
