"""`ldncds db current` / `ldncds db upgrade`: migrations as their own step, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.store import open_store
from ldncds.store.migrate import head_revision
from support.store import store_url  # noqa: F401  (a pytest fixture: SQLite, and PostgreSQL when available)

runner = CliRunner()


def db(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["db", *args])
    return result.exit_code, result.output


def test_current_on_a_missing_log_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none' / 'ldncds.db'}"
    code, out = db("current", "--database-url", url)
    assert code == 2 and "no decision log" in out
    assert not (tmp_path / "none").exists()


def test_current_says_an_unmigrated_database_needs_an_upgrade(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()
    code, out = db("current", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}", "--json")
    assert code == 1
    assert json.loads(out) | {"database": None} == {
        "database": None,
        "current": None,
        "head": head_revision(),
        "up_to_date": False,
    }


def test_upgrade_then_current_then_upgrade_again(store_url: str) -> None:  # noqa: F811
    assert db("current", "--database-url", store_url)[0] in (1, 2)  # empty: no schema (or no file)
    code, out = db("upgrade", "--database-url", store_url, "--json")
    assert code == 0 and json.loads(out)["changed"] is True and json.loads(out)["to"] == head_revision()
    code, out = db("current", "--database-url", store_url, "--json")
    assert code == 0 and json.loads(out)["up_to_date"]
    code, out = db("upgrade", "--database-url", store_url, "--json")
    assert code == 0 and json.loads(out)["changed"] is False


def test_upgrade_creates_a_new_log_that_the_service_then_opens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code, out = db("upgrade", "--database-url", url)
    assert code == 0 and f"schema none -> {head_revision()}" in out
    assert db("current", "--database-url", url)[0] == 0
    open_store(url, create=False).close()


def test_the_password_never_appears_in_the_output() -> None:
    code, out = db("current", "--database-url", "postgresql://ldncds:s3cret-pw@127.0.0.1:1/ldncds")
    assert code == 2 and "s3cret-pw" not in out and "***" in out
