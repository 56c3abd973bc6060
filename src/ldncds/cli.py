"""ldncds command line: assess a patient, check and list rules, and the commands of each adapter."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from ldncds.engine import (
    Assessment,
    Engine,
    EngineError,
    FactCitation,
    PatientFacts,
    RulesetError,
    TherapyStatus,
    TitrationPlan,
    default_rules_dir,
    load_ruleset,
)

_EXTRA_FOR = {"scenarios": ("pytest_bdd", "audit")}  # subcommand -> (module it runs, extra installing it)

app = typer.Typer(help="ldncds: low-dose naltrexone decision support.", no_args_is_help=True)
rules_app = typer.Typer(help="Inspect and check the rule files.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
console = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, even piped


def _version(value: bool) -> None:
    """`ldncds --version`: the package version and the ruleset version the rules folder gives."""
    if not value:
        return
    from . import __version__

    try:
        ruleset = load_ruleset(default_rules_dir()).version
    except (RulesetError, OSError) as exc:
        ruleset = f"unavailable ({type(exc).__name__}: {exc})"
    console.print(f"ldncds {__version__}\nruleset {ruleset}", highlight=False)
    raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show package and ruleset version."),
    ] = False,
) -> None:
    """ldncds: low-dose naltrexone decision support."""
    need = _EXTRA_FOR.get(ctx.invoked_subcommand or "")
    if need and importlib.util.find_spec(need[0]) is None:
        command, extra = ctx.invoked_subcommand, need[1]
        err.print(f"ldncds {command} needs the '{extra}' extra: pip install 'ldncds[{extra}]'", markup=False)
        raise typer.Exit(2)


RulesOpt = Annotated[Path | None, typer.Option("--rules", help="Rules folder (default: ./rules).")]

_STATUS_STYLE = {"met": "green", "not_met": "red", "unknown": "yellow", "not_applicable": "dim"}
_DECISION_STYLE = {
    "candidate": "bold green",
    "candidate_with_cautions": "bold yellow",
    "insufficient_information": "bold cyan",
    "not_candidate": "bold",
    "contraindicated": "bold red",
    "on_therapy": "bold blue",
}


def _load(rules: Path | None):  # noqa: ANN202
    try:
        return load_ruleset(rules or default_rules_dir())
    except RulesetError as exc:
        err.print(f"[red]Rule files are invalid:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def assess(
    facts_file: Annotated[Path, typer.Argument(help="Patient facts as JSON (see examples/).")],
    on: Annotated[
        str | None, typer.Option("--date", help="Evaluation date YYYY-MM-DD (default today).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full assessment as JSON.")] = False,
    rules: RulesOpt = None,
    store: Annotated[
        bool, typer.Option(help="Record the assessment in the audit store (default on).")
    ] = True,
) -> None:
    """Assess one patient, record it in the audit store, and explain the decision."""
    try:
        raw = facts_file.read_bytes()
        facts = PatientFacts.model_validate_json(raw)
        evaluation_date = date.fromisoformat(on) if on else _site_today()
    except (OSError, ValidationError, ValueError) as exc:
        err.print(f"[red]Cannot read {facts_file}:[/red] {exc}")
        raise typer.Exit(2) from exc
    engine = Engine(_load(rules))
    try:
        result = engine.assess(facts, evaluation_date)
    except EngineError as exc:
        err.print(f"[red]No advice: the rule engine failed ({exc}).[/red]")
        raise typer.Exit(3) from exc
    if store:
        _record(facts, result, raw, engine)
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2, exclude_none=True) + "\n")
        return
    print_assessment(result)


def _record(facts: PatientFacts, result: Assessment, raw: bytes, engine: Engine) -> None:
    """Store before showing: an assessment that cannot be recorded is not shown (no advice)."""
    from .settings import Settings
    from .store import Caller, StoreError, open_store, record_assessment

    settings = Settings()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        record_assessment(
            open_store(settings.effective_database_url),
            facts,
            result,
            raw,
            Caller(channel="cli"),
            engine.ruleset.content_hash,
        )
    except (StoreError, OSError) as exc:
        err.print(f"[red]No advice: the assessment could not be recorded ({type(exc).__name__}).[/red]")
        raise typer.Exit(3) from exc


def print_assessment(a: Assessment) -> None:
    """Human-readable assessment: every decision, including follow-up of a patient already on LDN."""
    # A decision added later must still print (plainly) rather than crash after the record is stored.
    style = _DECISION_STYLE.get(a.decision, "bold")
    console.print(f"[{style}]{a.decision.upper()}[/] — {a.reason}")
    console.print(
        f"Evaluated {a.evaluation_date} with ruleset {a.ruleset_version}; decided by {a.explanation.rule_id}"
    )
    if a.assessment_id:
        console.print(f"Assessment {a.assessment_id} (recorded in the audit store)")
    _print_criteria(a)
    _print_findings(a)
    if a.therapy:
        _print_therapy(a.therapy)
    _print_missing(a)
    if a.plan:
        _print_plan(a.plan)
    if a.reminders:
        _print_reminders(a)


def _print_criteria(a: Assessment) -> None:
    table = Table(title="Criteria", show_lines=False)
    # Sources and rule ids are never cut with an ellipsis (80 columns, pipes): they fold instead.
    table.add_column("criterion", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("facts and sources", overflow="fold", ratio=1)
    table.add_column("rule", overflow="fold", min_width=_widest_rule(a))
    for c in a.criteria:
        facts = "; ".join(_fact_label(f) for e in c.explanations for f in e.facts) or (c.missing or c.basis)
        rules_used = "\n".join(e.rule_id for e in c.explanations) or "default"
        style = _STATUS_STYLE.get(c.status, "")
        table.add_row(c.title, f"[{style}]{c.status}[/]" if style else c.status, facts, rules_used)
    console.print(table)


def _fact_label(f: FactCitation) -> str:
    # A result is shown with its value (e.g. the eGFR that made NSAIDs contraindicated).
    if f.kind == "observation" and f.detail:
        return f"{f.display} ({f.detail}) [{f.source}]"
    return f"{f.display} [{f.source}]"


def _print_findings(a: Assessment) -> None:
    for h in a.hard_stops:
        when = f"; earliest start {h.earliest_start}" if h.earliest_start else ""
        console.print(
            f"[red]Hard stop[/red] {h.title}: {h.culprit.display} [{h.culprit.source}]{when} "
            f"({', '.join(e.rule_id for e in h.explanations)})"
        )
    for c in a.cautions:
        culprits = ", ".join(f"{f.display} [{f.source}]" for f in c.culprits)
        console.print(
            f"[yellow]Caution[/yellow] {c.title}: {culprits} ({', '.join(e.rule_id for e in c.explanations)})"
        )
    for alert in a.alerts:
        console.print(f"[bold red]ALERT[/bold red] {alert}")
    for n in a.notes:
        console.print(f"Note: {n.text} ({n.explanation.rule_id})")
    for d in a.data_notes:
        # A record that could not be read is named, never dropped silently.
        console.print(f"[magenta]Record note[/magenta] ({d.severity}) {d.source}: {d.reason}")


def _print_therapy(t: TherapyStatus) -> None:
    dose = f"{t.daily_dose_mg:g} mg/day" if t.daily_dose_mg is not None else "dose not recorded"
    since = f", this dose since {t.dose_since}" if t.dose_since else ""
    console.print(
        f"On naltrexone: {dose} [{t.source}]; started {t.start_date} "
        f"(week {t.weeks_on_therapy}{since}) ({t.explanation.rule_id})"
    )
    if t.response_status:
        console.print(f"Response: {t.response_status}")
    for i in t.instruments:
        change = ""
        if i.baseline and i.latest:
            change = f": {i.baseline.value:g} ({i.baseline.date}) -> {i.latest.value:g} ({i.latest.date})"
        console.print(f"  - {i.instrument}: {i.status}{change}")
    if t.recommendation:
        rule = f" ({t.recommendation_explanation.rule_id})" if t.recommendation_explanation else ""
        console.print(f"Recommendation: {t.recommendation}{rule}")
    for ae in t.adverse_effects:
        serious = "[red]serious[/red] " if ae.serious else ""
        console.print(
            f"Adverse effect {serious}{ae.id}: {ae.culprit.display} [{ae.culprit.source}] — {ae.action} "
            f"({ae.explanation.rule_id})"
        )


def _print_missing(a: Assessment) -> None:
    if a.missing:
        console.print("[cyan]Missing:[/cyan]")
        for m in a.missing:
            console.print(f"  - {m.criterion}: {m.what}")
    if a.counterfactuals:
        console.print("What would change this decision:")
        for text in a.counterfactuals:
            console.print(f"  - {text}")


def _print_plan(plan: TitrationPlan) -> None:
    console.print(f"Titration plan ({plan.explanation.rule_id}), start {plan.start_date}:")
    for s in plan.steps:
        flag = " [red](above studied range)[/red]" if s.above_flag else ""
        console.print(f"  - from {s.starts_on} (week {s.from_week}): {s.dose_mg:g} mg {s.timing}{flag}")
    for adj in plan.adjustments:
        console.print(f"  - {adj.text} ({adj.explanation.rule_id})")


def _print_reminders(a: Assessment) -> None:
    table = Table(title="Monitoring reminders")
    table.add_column("due", overflow="fold")
    table.add_column("state", overflow="fold")
    table.add_column("what", overflow="fold", ratio=1)
    table.add_column("rule", overflow="fold", min_width=_widest_rule(a))
    for r in a.reminders:
        due = str(r.due_from) if r.due_from == r.due_by else f"{r.due_from} to {r.due_by}"
        state = f"{r.state} by {r.days_overdue} days" if r.days_overdue else r.state
        table.add_row(due, state, r.what, r.explanation.rule_id)
    console.print(table)


def _widest_rule(a: Assessment) -> int:
    return max((len(r) for r in a.rules_fired), default=8)


@rules_app.command("check")
def rules_check(
    rules: RulesOpt = None,
    scenarios: Annotated[
        bool, typer.Option("--scenarios", help="Also replay every Gherkin scenario against these rules.")
    ] = False,
) -> None:
    """Validate every rule file, value set, lock and threshold split; exit 2 naming the file and rule."""
    from .gate import GateError, check_ruleset

    try:
        rs, report = check_ruleset(rules or default_rules_dir(), scenarios=scenarios)
    except GateError as exc:
        err.print(f"[red]Rule files are invalid:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(
        f"[green]OK[/green] {len(rs.rules)} rules, {len(rs.valuesets.names)} value sets, "
        f"{len(rs.parameters)} parameters, ruleset {rs.version}"
    )
    for line in report:
        console.print(line)


@rules_app.command("lock")
def rules_lock(rules: RulesOpt = None) -> None:
    """Record each rule file's rule ids and each value set's size and hash in rules/ruleset.lock."""
    from ldncds.engine import LOCK, write

    directory = (rules or default_rules_dir()).resolve()
    try:
        rs = load_ruleset(directory, check_lock=False)  # only a valid ruleset is worth locking
    except RulesetError as exc:
        err.print(f"[red]Rule files are invalid:[/red] {exc}")
        raise typer.Exit(2) from exc
    changes = write(directory, rs.files, rs.valuesets)
    for line in changes:
        console.print(f"  {line}", markup=False, soft_wrap=True)
    console.print(f"{LOCK}: {len(changes)} change(s) recorded" if changes else f"{LOCK}: no change")


@rules_app.command("list")
def rules_list(rules: RulesOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List every rule with its file, version and title."""
    rs = _load(rules)
    if as_json:
        rows = [
            {"id": r.rule.id, "version": r.rule.version, "file": r.file, "title": r.rule.title}
            for r in rs.rules.values()
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"{rs.manifest.title} — {rs.version}")
    for col in ("id", "version", "file", "title"):
        table.add_column(col)
    for r in rs.rules.values():
        table.add_row(r.rule.id, r.rule.version, r.file, r.rule.title)
    console.print(table)


def _site_today() -> date:
    """The default evaluation date: today in the site's time zone (setting site_timezone)."""
    from .settings import Settings

    try:
        return Settings().today()
    except ValidationError as exc:
        err.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


config_app = typer.Typer(help="Service configuration (LDNCDS_* settings).", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("docs")
def config_docs(
    output: Annotated[Path | None, typer.Option(help="Write here (e.g. docs/configuration.md).")] = None,
) -> None:
    """Every setting, its environment variable, default and meaning (docs/configuration.md)."""
    from .settings import configuration_markdown

    text = configuration_markdown()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


# Each package adds its own commands (serve, audit, screen, synth, scenarios...) through register(app),
# listed explicitly: a package that fails to import is an error, never a silently missing command.
def _register_commands() -> None:
    from . import db_commands
    from .api import commands as api_commands
    from .bdd import commands as bdd_commands
    from .pages import commands as pages_commands
    from .screening import commands as screening_commands
    from .store import commands as store_commands
    from .terminology import commands as terminology_commands

    for module in (
        bdd_commands,
        api_commands,
        store_commands,
        screening_commands,
        pages_commands,
        db_commands,
        terminology_commands,
    ):
        module.register(app, rules_app)


_register_commands()
