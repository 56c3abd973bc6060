"""`ldncds db upgrade` and `ldncds db current`: the decision log's schema migrations as their own step.

The service still brings an empty or older log up to date when it starts (one process at a time), so
the two-command quick start needs no setup. In a deployment run `ldncds db upgrade` first, as its own
step with a database role allowed to change the schema: a failed migration is then seen on its own,
before any server starts, and the servers can run with a role that may only read and write rows.
Exit codes: 0 up to date (or upgraded), 1 `current` found the schema behind, 2 no log or unreachable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console

db_app = typer.Typer(help="Decision-log schema migrations (Alembic).", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Decision log URL (default: LDNCDS_DATABASE_URL or SQLite in data dir)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _url(url: str | None) -> str:
    if url:
        return url
    from .settings import Settings

    return Settings().effective_database_url


def _current(url: str) -> str | None:
    """The schema revision at `url` (None: no schema yet). Never creates anything."""
    from .store import migrate
    from .store.sql import normalise_url

    parsed = sa.make_url(normalise_url(url))
    on_disk = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if on_disk and not Path(parsed.database).exists():  # type: ignore[arg-type]
        raise FileNotFoundError(f"no decision log at {parsed.database}")
    engine = sa.create_engine(parsed)
    try:
        return migrate.current_revision(engine)
    finally:
        engine.dispose()


def _safe(url: str) -> str:
    """The URL without its password, for output."""
    from .store.sql import normalise_url

    return sa.make_url(normalise_url(url)).render_as_string(hide_password=True)


def _fail(message: str, exc: BaseException) -> typer.Exit:
    err.print(f"[red]{message}:[/red] {type(exc).__name__}: {exc}")
    return typer.Exit(2)


@db_app.command("current")
def db_current(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Show the log's schema revision and whether it is the newest; exit 1 when an upgrade is due."""
    from .store import migrate

    url = _url(database_url)
    try:
        current = _current(url)
    except (FileNotFoundError, sa.exc.SQLAlchemyError, ModuleNotFoundError) as exc:
        raise _fail(f"Cannot read the decision log at {_safe(url)}", exc) from exc
    head = migrate.head_revision()
    report = {"database": _safe(url), "current": current, "head": head, "up_to_date": current == head}
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
    elif current == head:
        console.print(f"{report['database']}: schema {current} (head), up to date")
    else:
        console.print(
            f"{report['database']}: schema {current or 'none'}, newest {head}: run `ldncds db upgrade`"
        )
    if current != head:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Create the decision log or migrate it to the newest schema (safe to run again: a no-op)."""
    from .store import StoreError, migrate, open_store

    url = _url(database_url)
    try:
        before = _current(url)
    except FileNotFoundError:
        before = None  # a new SQLite file: open_store creates it
    except (sa.exc.SQLAlchemyError, ModuleNotFoundError) as exc:
        raise _fail(f"Cannot reach the decision log at {_safe(url)}", exc) from exc
    try:
        store = open_store(url)  # migrates inside one write transaction (see store.migrate.upgrade)
    except (StoreError, sa.exc.SQLAlchemyError, OSError) as exc:
        raise _fail(f"Migration failed at {_safe(url)} (nothing was changed)", exc) from exc
    store.close()
    head = migrate.head_revision()
    report = {"database": _safe(url), "from": before, "to": head, "changed": before != head}
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
    elif before == head:
        console.print(f"{report['database']}: already at schema {head}, nothing to do")
    else:
        console.print(f"{report['database']}: schema {before or 'none'} -> {head}")


def register(app: typer.Typer, rules_app: typer.Typer) -> None:  # noqa: ARG001 - same signature for all adapters
    app.add_typer(db_app, name="db")
