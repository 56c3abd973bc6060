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

from ldncds.engine import LoadedRuleset, RulesetError, default_rules_dir, load_ruleset
from ldncds.settings import Settings

from .bulk import BadLine
from .output import RowWriter, progress_for, summary_line, summary_table
from .patient import PatientOutcome, ScreeningRow
from .report import ReportBuilder, render_html, summary_json
from .runner import ScreenOptions, default_workers, screen_export
from .synth import CODINGS, generate_population

err = Console(stderr=True)
SHOWN_BAD_LINES = 50


def _parse_date(value: str | None) -> date:
    if value is None:
        return Settings().today()  # the site's calendar date (site_timezone), as the service uses
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint="--date") from exc


def screen(
    path: Annotated[
        Path,
        typer.Argument(
            help="Folder of a FHIR Bulk Data export (Type.ndjson, 1.Type.ndjson, .gz, manifest.json)."
        ),
    ],
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
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write a self-contained HTML report (counts and charts) here."),
    ] = None,
    summary_out: Annotated[
        Path | None, typer.Option("--summary", help="Write the report's summary as JSON here.")
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record", help="Also write each patient's assessment to the decision log (channel screening)."
        ),
    ] = False,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Decision log for --record (default: settings).")
    ] = None,
) -> None:
    """Screen every patient of a bulk export: one decision line per patient, sorted by patient id."""
    evaluation_date = _parse_date(on)
    fmt = fmt or ("csv" if out is not None and out.suffix.lower() == ".csv" else "ndjson")
    ruleset = _titles(rules)  # loaded once: the report's titles, the decision log and every worker
    options = ScreenOptions(
        evaluation_date=evaluation_date,
        rules_dir=rules,
        ruleset=ruleset,
        workers=workers or default_workers(),
        backend=engine,
        scheduler=scheduler,
        keep=record,
    )
    shown = {"count": 0}
    with ExitStack() as stack:
        stream = (
            sys.stdout if out is None else stack.enter_context(out.open("w", encoding="utf-8", newline=""))
        )
        writer = RowWriter(stream, fmt)
        builder = ReportBuilder(ruleset)
        recorder = _Recorder(database_url, ruleset) if record else None

        def on_row(row: ScreeningRow) -> None:
            builder.add(row)
            writer.write(row)

        bad_stream = stack.enter_context(bad_lines.open("w", encoding="utf-8")) if bad_lines else None

        def on_bad(bad: BadLine) -> None:
            shown["count"] += 1
            if bad_stream is not None:
                bad_stream.write(bad.model_dump_json() + "\n")
            if shown["count"] <= SHOWN_BAD_LINES:
                err.print(f"[yellow]skipped[/yellow] {bad}", markup=True, highlight=False)

        try:
            with progress_for(err) as on_progress:
                summary = screen_export(
                    path, options, on_row, on_bad, on_progress, recorder.record if recorder else None
                )
        except FileNotFoundError as exc:
            err.print(f"[red]Cannot screen:[/red] {exc}")
            raise typer.Exit(2) from exc
        except RulesetError as exc:
            err.print(f"[red]Rule files are invalid:[/red] {exc}")
            raise typer.Exit(2) from exc
        except RecordError as exc:
            err.print(f"[red]Stopped: {exc}.[/red] The rows written so far are all in the decision log.")
            raise typer.Exit(3) from exc
    if shown["count"] > SHOWN_BAD_LINES:
        hint = f" (all in {bad_lines})" if bad_lines else " (use --bad-lines FILE to keep them all)"
        err.print(f"... and {shown['count'] - SHOWN_BAD_LINES} more skipped lines{hint}")
    if summary.ignored_files:
        names = ", ".join(summary.ignored_files)
        err.print(f"ignored files (types the rules do not read, or not listed in manifest.json): {names}")
    console = err if out is None else Console()
    console.print(summary_table(summary))
    console.print(summary_line(summary), highlight=False)
    data = builder.summary(summary, evaluation_date, recorded=recorder.recorded if recorder else None)
    _write_report(data, report, summary_out, console)
    if recorder is not None:
        console.print(recorder.line(), highlight=False)
    if summary.decisions.get("error"):
        raise typer.Exit(3)  # some patients got no advice: say so in the exit status too


class RecordError(RuntimeError):
    """An assessment could not be written to the decision log: the run stops (no unrecorded rows)."""


class _Recorder:
    """--record: each assessment goes to the decision log before its row is written."""

    def __init__(self, database_url: str | None, ruleset: LoadedRuleset | None) -> None:
        self.ruleset = ruleset
        from sqlalchemy.exc import SQLAlchemyError

        from ldncds.settings import Settings
        from ldncds.store import StoreError, open_store

        settings = Settings()
        try:
            if database_url is None and settings.database_url is None:
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.store = open_store(database_url or settings.effective_database_url)
        except (StoreError, OSError, SQLAlchemyError, ModuleNotFoundError) as exc:
            err.print(f"[red]Cannot open the decision log for --record:[/red] {type(exc).__name__}")
            raise typer.Exit(2) from exc
        self.recorded = self.not_recorded = 0

    def record(self, outcome: PatientOutcome) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from ldncds.store import Caller, StoreError, record_assessment

        if outcome.kept is None:  # an error, or a decision the partial-data guard changed
            self.not_recorded += 1
            return
        facts, assessment, raw = outcome.kept
        if self.ruleset is None or assessment.ruleset_version != self.ruleset.version:
            raise RecordError("the rules changed while screening; nothing more is recorded")
        try:
            record_assessment(
                self.store, facts, assessment, raw, Caller(channel="screening"), self.ruleset.content_hash
            )
        except (StoreError, OSError, SQLAlchemyError) as exc:
            raise RecordError(f"the decision log could not be written ({type(exc).__name__})") from exc
        outcome.row.assessment_id = assessment.assessment_id
        self.recorded += 1

    def line(self) -> str:
        line = f"decision log: {self.recorded} assessments recorded (channel screening)"
        if self.not_recorded:
            line += f"; {self.not_recorded} not recorded (no advice given, or unreadable records)"
        return line


def _titles(rules: Path | None) -> LoadedRuleset | None:
    """The ruleset, or None when broken: screen_export then loads it again and reports the error."""
    try:
        return load_ruleset(rules or default_rules_dir())
    except (RulesetError, OSError):
        return None


def _write_report(data: dict, report: Path | None, summary_out: Path | None, console: Console) -> None:
    for path, text in ((summary_out, summary_json(data)), (report, render_html(data) if report else "")):
        if path is None:
            continue
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            err.print(f"[red]Cannot write {path}:[/red] {exc}")
            raise typer.Exit(2) from exc
        console.print(f"wrote {path}", highlight=False)


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
