"""`ldncds screen` (population screening of a bulk export) and `ldncds synth` (synthetic population)."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from ldncds.engine import RulesetError

from .bulk import BadLine
from .output import RowWriter, progress_for, summary_line, summary_table
from .runner import ScreenOptions, default_workers, screen_export
from .synth import CODINGS, generate_population

err = Console(stderr=True)
SHOWN_BAD_LINES = 50


def _parse_date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint="--date") from exc


def screen(
    path: Annotated[Path, typer.Argument(help="Folder of a FHIR Bulk Data export (Type.NNN.ndjson files).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write decisions here (default: standard output).")
    ] = None,
    fmt: Annotated[
        Literal["ndjson", "csv"] | None,
        typer.Option("--format", help="ndjson or csv (default: from --out's suffix, else ndjson)."),
    ] = None,
    on: Annotated[
        str | None, typer.Option("--date", help="Evaluation date YYYY-MM-DD (default today).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes (default: all cores).")
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Rules folder (default: ./rules).")] = None,
    engine: Annotated[
        Literal["local", "dask"], typer.Option("--engine", help="local processes, or a Dask cluster.")
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster).")
    ] = None,
    bad_lines: Annotated[
        Path | None, typer.Option("--bad-lines", help="Also write every skipped line here (NDJSON).")
    ] = None,
) -> None:
    """Screen every patient of a bulk export: one decision line per patient, sorted by patient id."""
    evaluation_date = _parse_date(on)
    fmt = fmt or ("csv" if out is not None and out.suffix.lower() == ".csv" else "ndjson")
    options = ScreenOptions(
        evaluation_date=evaluation_date,
        rules_dir=rules,
        workers=workers or default_workers(),
        backend=engine,
        scheduler=scheduler,
    )
    shown = {"count": 0}
    with ExitStack() as stack:
        stream = (
            sys.stdout if out is None else stack.enter_context(out.open("w", encoding="utf-8", newline=""))
        )
        writer = RowWriter(stream, fmt)
        bad_stream = stack.enter_context(bad_lines.open("w", encoding="utf-8")) if bad_lines else None

        def on_bad(bad: BadLine) -> None:
            shown["count"] += 1
            if bad_stream is not None:
                bad_stream.write(bad.model_dump_json() + "\n")
            if shown["count"] <= SHOWN_BAD_LINES:
                err.print(f"[yellow]skipped[/yellow] {bad}", markup=True, highlight=False)

        try:
            with progress_for(err) as on_progress:
                summary = screen_export(path, options, writer.write, on_bad, on_progress)
        except FileNotFoundError as exc:
            err.print(f"[red]Cannot screen:[/red] {exc}")
            raise typer.Exit(2) from exc
        except RulesetError as exc:
            err.print(f"[red]Rule files are invalid:[/red] {exc}")
            raise typer.Exit(2) from exc
    if shown["count"] > SHOWN_BAD_LINES:
        hint = f" (all in {bad_lines})" if bad_lines else " (use --bad-lines FILE to keep them all)"
        err.print(f"... and {shown['count'] - SHOWN_BAD_LINES} more skipped lines{hint}")
    if summary.ignored_files:
        err.print(f"ignored files of types the rules do not read: {', '.join(summary.ignored_files)}")
    console = err if out is None else Console()
    console.print(summary_table(summary))
    console.print(summary_line(summary), highlight=False)
    if summary.decisions.get("error"):
        raise typer.Exit(3)  # some patients got no advice: say so in the exit status too


def synth(
    count: Annotated[int, typer.Argument(min=0, help="Number of patients.")],
    out_dir: Annotated[Path, typer.Argument(help="Folder to write Type.000.ndjson files into.")],
    seed: Annotated[int, typer.Option("--seed", help="Same seed, count and date: byte-identical files.")] = 0,
    on: Annotated[
        str | None, typer.Option("--date", help="Dates are relative to this day (default today).")
    ] = None,
    coding: Annotated[
        str,
        typer.Option(
            help="realistic (products, some ingredients, some text), product, or ingredient (old shape)."
        ),
    ] = "realistic",
) -> None:
    """Write a synthetic FHIR R4 bulk export with a realistic mix of LDN decision paths."""
    if coding not in CODINGS:
        raise typer.BadParameter(f"--coding must be one of {', '.join(CODINGS)}")
    summary = generate_population(count, out_dir, seed=seed, on=_parse_date(on), coding=coding)  # type: ignore[arg-type]
    table = Table(title=f"{summary.patients} synthetic patients in {out_dir}")
    table.add_column("intended decision")
    table.add_column("patients", justify="right")
    for name, value in sorted(summary.intended.items()):
        table.add_row(name, str(value))
    table.caption = ", ".join(f"{n} {t}" for t, n in sorted(summary.resources.items()))
    Console().print(table)


def register(app: typer.Typer, rules_app: typer.Typer) -> None:  # noqa: ARG001 - same signature for all adapters
    app.command("screen")(screen)
    app.command("synth")(synth)
