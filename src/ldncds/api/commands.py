"""`ldncds serve`: the HTTP service with embedded defaults (SQLite store in ./data, rules from ./rules)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError


def register(app: typer.Typer, rules_app: typer.Typer) -> None:
    app.command()(serve)


def _check_rules(rules_dir: Path, *, scenarios: bool) -> None:
    """Before the store is touched: the same checks and the same one-line error as `rules check`."""
    from ldncds.gate import GateError, check_ruleset

    try:
        _, report = check_ruleset(rules_dir, scenarios=scenarios)
    except GateError as exc:
        typer.echo(f"Rule files are invalid: {exc}", err=True)
        raise typer.Exit(2) from exc
    for line in report:
        typer.echo(f"rules: {line}", err=True)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes (default 1).")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback bind without JWT issuers.")
    ] = False,
    engine_processes: Annotated[
        int | None,
        typer.Option(
            help="Engine worker processes per server process (default CPUs / workers; 0: in the server)."
        ),
    ] = None,
    skip_scenarios: Annotated[
        bool,
        typer.Option(
            "--skip-scenarios",
            help="Start without replaying the Gherkin scenarios (the other rule checks still run).",
        ),
    ] = False,
) -> None:
    """Serve the CDS Hooks services and the JSON API (uvicorn), once the rules pass every check."""
    import uvicorn

    from ldncds.service.security import check_bind
    from ldncds.settings import Settings

    # Options go through the environment so every server process (--workers) reads the same settings.
    overrides = {
        "HOST": host,
        "PORT": port,
        "WORKERS": workers,
        "ENGINE_PROCESSES": engine_processes,
        "INSECURE": "true" if insecure else None,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"LDNCDS_{name}"] = str(value)
    try:
        settings = Settings()
        check_bind(settings)
    except (ValidationError, RuntimeError) as exc:
        typer.echo(f"Cannot start: {exc}", err=True)
        raise typer.Exit(2) from exc
    _check_rules(settings.rules_dir, scenarios=not skip_scenarios)
    uvicorn.run(
        "ldncds.api.app:serve_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        server_header=False,
        root_path=settings.root_path,  # behind a proxy that strips a path prefix (docs/operations.md)
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
