"""Test support for the decision store: a fresh database per test, on SQLite and (when available) PostgreSQL.

PostgreSQL comes from LDNCDS_TEST_POSTGRES_URL (see scripts/start_test_postgres.sh); each test gets
its own throw-away database on that server, so tests may run in parallel. Without a reachable server
the PostgreSQL variants are skipped, and the skip says why.

    from support.store import store_url  # noqa: F401  (a pytest fixture)

    def test_something(store_url: str) -> None: ...   # runs once on SQLite, once on PostgreSQL
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from ldncds.engine.assess import default_rules_dir
from ldncds.store.sql import normalise_url

ENV = "LDNCDS_TEST_POSTGRES_URL"


@functools.cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    url = os.environ.get(ENV)
    if not url:
        return f"{ENV} is not set (start a server with scripts/start_test_postgres.sh)"
    try:
        engine = sa.create_engine(normalise_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL at {ENV} is not reachable ({type(exc).__name__})"
    return None


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """CREATE a database named ldncds_t_<random> on the test server, yield its URL, DROP it after."""
    base = sa.make_url(normalise_url(os.environ[ENV]))
    name = f"ldncds_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{(folder / 'decisions.db').resolve()}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    with fresh_postgres_database() as url:
        yield url


def copy_rules(destination: Path) -> Path:
    """A private copy of the project's rules/ to edit in a test."""
    shutil.copytree(default_rules_dir(), destination)
    return destination


def edit_rule(rules_dir: Path, rule_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply `change` to the YAML of one rule (found by id) in a rules folder."""
    for path in sorted(rules_dir.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in (data or {}).get("rules", []) if isinstance(data, dict) else []:
            if rule.get("id") == rule_id:
                change(rule)
                path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
                return
    raise KeyError(f"no rule {rule_id} in {rules_dir}")


def set_opioid_washout(days: int) -> Callable[[dict[str, Any]], None]:
    """An edit for CONTRA-OPIOID-WASHOUT-01: the short-acting opioid washout becomes `days` days."""

    def change(rule: dict[str, Any]) -> None:
        rule["when"][0]["where"]["days_since_end"] = {"lt": days}
        rule["then"]["washout_days"] = days

    return change
