"""`ldncds audit verify|replay|export-gherkin|list` and `ldncds rules impact`."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ldncds.engine import DECISIONS, Engine, RulesetError, default_rules_dir, load_ruleset

from .gherkin import export_feature
from .impact import ImpactError, ImpactReport, Subject, baseline_rules, impact
from .impact import stored_population as stored_subjects
from .replay import ReplayResult, iter_replay
from .sql import SqlStore, StoreError, VerifyReport, open_store

# Ids must print whole: outside a terminal (pipes, files, CI logs) give tables room instead of folding.
_WIDE = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
console = Console(soft_wrap=True, width=_WIDE)
err = Console(stderr=True, soft_wrap=True, width=_WIDE)


def _print_table(table: Table) -> None:
    console.print(table)


audit_app = typer.Typer(
    help="Audit trail: verify the decision log, replay decisions, export scenarios.", no_args_is_help=True
)

DbOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="Decision log URL (default: LDNCDS_DATABASE_URL or data_dir)."),
]
RulesOpt = Annotated[Path | None, typer.Option("--rules", help="Rules folder (default: ./rules).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def register(app: typer.Typer, rules_app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    rules_app.command("impact")(rules_impact)


# ---------------------------------------------------------------------- helpers


def _database_url(url: str | None) -> str:
    if url:
        return url
    from ..settings import Settings

    return Settings().effective_database_url


def _site_today() -> date:
    """Today in the site's time zone (setting site_timezone), as the service would assess."""
    from ..settings import Settings

    return Settings().today()


def _open(url: str | None) -> SqlStore:
    """Open an existing log; exit 2 (not a traceback) when there is none or it cannot be reached."""
    try:
        return open_store(_database_url(url), create=False)
    except (StoreError, SQLAlchemyError, OSError) as exc:
        err.print(f"[red]Cannot open the decision log:[/red] {_short(exc)}")
        raise typer.Exit(2) from exc


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _engine(rules: Path | None, *, locked: bool = True, inherit: dict | None = None) -> Engine:
    try:
        rs = load_ruleset(rules or default_rules_dir(), check_lock=locked, inherit_parameters=inherit)
        return Engine(rs)
    except RulesetError as exc:
        err.print(f"[red]Rule files are invalid:[/red] {exc}")
        raise typer.Exit(2) from exc


# ---------------------------------------------------------------------- audit verify


@audit_app.command("verify")
def audit_verify(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Check the hash chain: exit 0 when intact, 1 naming the first edited, deleted or reordered record."""
    store = _open(database_url)
    try:
        report = store.verify()
    finally:
        store.close()
    if as_json:
        sys.stdout.write(_verify_json(report) + "\n")
    else:
        _print_verify(report)
    if not report.intact:
        raise typer.Exit(1)


def _print_verify(report: VerifyReport) -> None:
    if report.intact:
        chains = {c.chain: c for c in report.chains}
        console.print(
            f"[green]intact: {report.records} records[/green] "
            f"({chains['feedback'].records} feedback items) in {report.url}"
        )
        head = chains["assessments"]
        console.print(f"chain head: seq {head.head_seq}, hash {head.head_hash}")
        return
    console.print(f"[bold red]TAMPERED[/bold red]: the decision log at {report.url} was changed")
    for chain in report.chains:
        for i, problem in enumerate(chain.problems):
            label = "first problem" if i == 0 else "then"
            console.print(f"  {chain.chain}, {label}: {problem}")


def _verify_json(report: VerifyReport) -> str:
    import json

    return json.dumps(
        {
            "intact": report.intact,
            "records": report.records,
            "url": report.url,
            "chains": [
                {
                    "chain": c.chain,
                    "records": c.records,
                    "head_seq": c.head_seq,
                    "head_hash": c.head_hash,
                    "problems": [
                        {"kind": p.kind, "seq": p.seq, "id": p.record_id, "detail": p.detail}
                        for p in c.problems
                    ],
                }
                for c in report.chains
            ],
        },
        indent=2,
    )


# ---------------------------------------------------------------------- audit replay


@audit_app.command("replay")
def audit_replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Assessment id(s) to replay.")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every stored assessment.")] = False,
    rules: RulesOpt = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decide stored records again; exit 0 when every one comes out identical, 1 otherwise."""
    if bool(ids) == replay_all:
        err.print("[red]Give assessment id(s) or --all (not both).[/red]")
        raise typer.Exit(2)
    engine = _engine(rules)
    store = _open(database_url)
    results: list[ReplayResult] = []
    try:
        for result in iter_replay(store, engine, None if replay_all else ids):
            results.append(result)
            if not as_json:
                _print_replay(result)
    finally:
        store.close()
    if as_json:
        sys.stdout.write("[" + ",\n".join(r.model_dump_json(indent=2) for r in results) + "]\n")
    else:
        _print_replay_summary(results, engine)
    if not all(r.identical for r in results):
        raise typer.Exit(1)


def _print_replay(r: ReplayResult) -> None:
    where = f"seq {r.seq}, " if r.seq is not None else ""
    if r.error:
        console.print(f"[red]not replayed[/red] {where}{r.assessment_id}: {r.error}")
    elif r.identical:
        console.print(
            f"[green]identical[/green] {where}{r.assessment_id}: {r.stored_decision} on {r.evaluation_date}"
        )
    else:
        console.print(
            f"[bold red]different[/bold red] {where}{r.assessment_id} on {r.evaluation_date}: "
            f"{r.stored_decision} -> {r.replayed_decision}"
        )
        for line in r.differences:
            console.print(f"    {line}", markup=False)


def _print_replay_summary(results: list[ReplayResult], engine: Engine) -> None:
    others = [r for r in results if r.seq is not None and not r.same_rules]
    if others:
        versions = ", ".join(sorted({r.stored_ruleset_version or "?" for r in others}))
        err.print(
            f"[yellow]warning:[/yellow] {len(others)} record(s) were decided by another ruleset "
            f"({versions}); replayed with {engine.version} from {engine.ruleset.directory}"
        )
    same = sum(r.identical for r in results)
    console.print(f"{same} identical, {len(results) - same} different or not replayed")


# ---------------------------------------------------------------------- audit export-gherkin


@audit_app.command("export-gherkin")
def audit_export_gherkin(
    assessment_id: Annotated[str, typer.Argument(help="The stored assessment to export.")],
    out: Annotated[Path | None, typer.Option("-o", "--output", help="Write here (default: stdout).")] = None,
    database_url: DbOpt = None,
) -> None:
    """Write a .feature scenario that reproduces a stored decision (run it with `ldncds scenarios`)."""
    store = _open(database_url)
    try:
        stored = store.get(assessment_id)
    finally:
        store.close()
    if stored is None:
        err.print(f"[red]No assessment {assessment_id} in the decision log.[/red]")
        raise typer.Exit(1)
    text = export_feature(stored)
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text, encoding="utf-8")
    err.print(f"wrote {out}")


# ---------------------------------------------------------------------- audit list


@audit_app.command("list")
def audit_list(
    decision: Annotated[str | None, typer.Option(help=f"One of {', '.join(DECISIONS)}.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Evaluated on or after YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Evaluated on or before YYYY-MM-DD.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    database_url: DbOpt = None,
) -> None:
    """List stored assessments, newest first (ids to replay or export)."""
    if decision is not None and decision not in DECISIONS:
        err.print(f"[red]--decision must be one of {', '.join(DECISIONS)}[/red]")
        raise typer.Exit(2)
    try:
        start = date.fromisoformat(date_from) if date_from else None
        end = date.fromisoformat(date_to) if date_to else None
    except ValueError as exc:
        err.print(f"[red]Dates are YYYY-MM-DD:[/red] {exc}")
        raise typer.Exit(2) from exc
    store = _open(database_url)
    try:
        rows = store.list(decision=decision, date_from=start, date_to=end, limit=limit)
    finally:
        store.close()
    header = ("seq", "id", "stored", "evaluated", "decision", "ruleset", "channel")
    cells = [
        (
            str(r.seq),
            r.id,
            r.created_at.isoformat(timespec="seconds"),
            str(r.evaluation_date),
            r.decision,
            r.ruleset_version,
            r.caller.channel,
        )
        for r in rows
    ]
    # An auditor copies ids and versions from here: never cut them. A terminal too narrow for the
    # table (or a pipe) gets one record per line instead.
    if console.width < sum(max(len(c) for c in col) for col in zip(header, *cells, strict=True)) + 22:
        console.print(f"Decision log ({len(rows)} shown)", soft_wrap=True)
        for row in cells:
            console.print("  ".join(row), soft_wrap=True, highlight=False)
        return
    table = Table(title=f"Decision log ({len(rows)} shown)")
    for col in header:
        table.add_column(col, no_wrap=True)
    for row in cells:
        table.add_row(*row)
    _print_table(table)


# ---------------------------------------------------------------------- rules impact


def rules_impact(
    baseline: Annotated[str, typer.Option("--baseline", help="Rules folder or git revision to compare to.")],
    population: Annotated[
        Path | None, typer.Option("--population", help="FHIR bulk export folder (Type.NNN.ndjson).")
    ] = None,
    stored: Annotated[bool, typer.Option("--stored", help="Use the stored decision log.")] = False,
    rules: RulesOpt = None,
    on: Annotated[str | None, typer.Option("--date", help="Evaluation date for an export.")] = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How decisions would move from a baseline ruleset to the current one, over a population."""
    if (population is None) == (not stored):
        err.print("[red]Give --population FOLDER or --stored (one of them).[/red]")
        raise typer.Exit(2)
    try:
        evaluation_date = date.fromisoformat(on) if on else _site_today()
    except ValueError as exc:
        err.print(f"[red]--date must be YYYY-MM-DD:[/red] {exc}")
        raise typer.Exit(2) from exc
    current_dir = rules or default_rules_dir()
    # A proposed edit is compared before it is locked; an old revision may predate the lock.
    current = _engine(current_dir, locked=False)
    try:
        with baseline_rules(baseline, current_dir) as (baseline_dir, label):
            base = _engine(baseline_dir, locked=False, inherit=current.ruleset.parameters)
            report = _impact_over(
                base, current, label, str(current_dir), population, evaluation_date, database_url
            )
    except ImpactError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        print_impact(report)


def _impact_over(
    base: Engine,
    current: Engine,
    baseline_label: str,
    current_label: str,
    population: Path | None,
    on: date,
    database_url: str | None,
) -> ImpactReport:
    labels: dict[str, Any] = {"baseline_label": baseline_label, "current_label": current_label}
    if population is not None:
        from ldncds.screening.population import export_population  # read as screening reads it

        skipped: list[str] = []
        subjects: list[Subject] = list(export_population(population, on, skipped))
        report = impact(
            base, current, subjects, population=f"export {population}", evaluation_date=on, **labels
        )
        report.skipped = skipped
        return report
    store = _open(database_url)
    try:
        subjects_iter = stored_subjects(store.iter_all())
        return impact(base, current, subjects_iter, population=f"decision log {store.url}", **labels)
    finally:
        store.close()


def print_impact(report: ImpactReport) -> None:
    console.print(
        f"Baseline {report.baseline.version} ({report.baseline.label}) -> "
        f"current {report.current.version} ({report.current.label})"
    )
    when = f" on {report.evaluation_date}" if report.evaluation_date else " each at its own evaluation date"
    console.print(f"Population: {report.population}, {report.evaluated} patients{when}")
    if report.rule_changes:
        console.print("Rules changed: " + ", ".join(f"{c.rule_id} ({c.change})" for c in report.rule_changes))
    elif report.baseline.content_hash != report.current.content_hash:
        console.print("Rules changed: no rule text; value sets or definitions differ")
    if not report.transitions:
        console.print(f"[green]No decision changes[/green] ({report.evaluated} patients)")
    else:
        # One line per fact, never a table: ids and rule names print whole when piped or 80 wide.
        console.print(f"Decision changes: {report.changed} of {report.evaluated} patients")
        for t in report.transitions:
            console.print(f"  {t.from_decision} -> {t.to_decision}: {t.patients} patient(s)")
            console.print(f"    examples: {', '.join(t.examples) or '-'}", markup=False)
            for r in t.rules:
                only = " only" if r.fired_under != "both" else ""
                console.print(f"    rule {r.rule_id} ({r.fired_under}{only}: {r.patients})", markup=False)
    if report.unchanged:
        console.print("Unchanged: " + ", ".join(f"{d} {n}" for d, n in report.unchanged.items()))
    for line in report.skipped[:20]:
        err.print(f"[yellow]skipped[/yellow] {line}")
