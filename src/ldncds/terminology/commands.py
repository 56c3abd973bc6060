"""`ldncds valuesets import` and `ldncds valuesets diff`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ldncds.engine import (
    VALUESET_DIR,
    ImportRecipe,
    LoadedRuleset,
    RulesetError,
    default_rules_dir,
    load_ruleset,
)

from .importer import ImportError_, SetDiff, existing, import_sources, merge, refresh_plans
from .report import format_diff, format_skipped

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

RulesOpt = Annotated[Path | None, typer.Option("--rules", help="Rules folder (default: ./rules).")]
RootOpt = Annotated[
    Path | None,
    typer.Option("--sources-root", help="Folder the source files are recorded relative to (for refresh)."),
]


def _ruleset(rules_dir: Path) -> LoadedRuleset | None:
    try:
        return load_ruleset(rules_dir)
    except RulesetError as exc:  # the diff is still useful; say why rules are not listed
        err.print(f"[yellow]rules not loaded, affected rules not listed:[/yellow] {exc}")
        return None


def _print(diffs: list[SetDiff], rules_dir: Path, limit: int) -> None:
    rs = _ruleset(rules_dir)
    features = rules_dir.resolve().parent / "features"
    for diff in diffs:
        for line in format_diff(diff, rs, features if features.is_dir() else None, limit=limit):
            out.print(line, markup=False)


def register(app: typer.Typer, rules_app: typer.Typer) -> None:  # noqa: ARG001 - adapter interface
    vs_app = typer.Typer(help="Import published value sets with provenance; show what a refresh changes.")
    app.add_typer(vs_app, name="valuesets")

    @vs_app.command("import")
    def import_cmd(
        sources: Annotated[
            list[Path], typer.Argument(help="ValueSet JSON/XML, Bundles, AHRQ lists, CSV, folders.")
        ],
        into: Annotated[str, typer.Option("--into", help="Value set name: writes rules/valuesets/NAME.csv.")],
        rules: RulesOpt = None,
        sources_root: RootOpt = None,
        system: Annotated[
            str | None, typer.Option(help="Code system of a CSV without a system column.")
        ] = None,
        systems: Annotated[
            list[str] | None, typer.Option("--only-system", help="Keep only this system.")
        ] = None,
        where: Annotated[list[str] | None, typer.Option(help="CSV: keep rows with COLUMN=VALUE.")] = None,
        include_display: Annotated[
            str | None, typer.Option(help="Keep displays matching this regex.")
        ] = None,
        exclude_display: Annotated[
            str | None, typer.Option(help="Drop displays matching this regex.")
        ] = None,
        exclude_code: Annotated[list[str] | None, typer.Option(help="Drop this code (judged wrong).")] = None,
        subtract: Annotated[
            list[str] | None, typer.Option(help="Remove the codes of this value-set file.")
        ] = None,
        note: Annotated[str | None, typer.Option(help="Note written on every new row.")] = None,
        source_id: Annotated[str | None, typer.Option(help="Id of the source in the meta file.")] = None,
        prune: Annotated[bool, typer.Option(help="Remove rows this source no longer lists.")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff, write nothing.")] = False,
    ) -> None:
        """Import value sets into rules/valuesets/NAME.csv (+ NAME.meta.yaml); curated rows are kept."""
        rules_dir = rules or default_rules_dir()
        recipe = ImportRecipe(
            system=system,
            systems=systems or None,
            where=dict(w.split("=", 1) for w in where) if where else None,
            include_display=include_display,
            exclude_display=exclude_display,
            exclude_codes=exclude_code or None,
            subtract=subtract or None,
            note=note,
        )
        try:
            diff, skipped = import_sources(
                sources,
                into,
                rules_dir,
                recipe,
                root=sources_root,
                source_id=source_id,
                prune=prune,
                write=not dry_run,
            )
        except (ImportError_, RulesetError) as exc:
            err.print(f"[red]Import failed, nothing written:[/red] {exc}")
            raise typer.Exit(2) from exc
        for line in format_skipped(skipped):
            err.print(line, markup=False)
        _print([diff], rules_dir, limit=20)
        if not dry_run:
            out.print(f"wrote {rules_dir / VALUESET_DIR / into}.csv and its .meta.yaml", markup=False)

    @vs_app.command("diff")
    def diff_cmd(
        sources: Annotated[list[Path] | None, typer.Argument(help="Files to compare (with --into).")] = None,
        into: Annotated[str | None, typer.Option("--into", help="Value set the files would go into.")] = None,
        rules: RulesOpt = None,
        sources_root: RootOpt = None,
        name: Annotated[list[str] | None, typer.Option("--set", help="Refresh only this value set.")] = None,
        source_id: Annotated[
            str | None, typer.Option(help="Compare the files as a new version of this recorded source.")
        ] = None,
        limit: Annotated[int, typer.Option(min=0, help="Rows listed per set and sign (0: every row).")] = 20,
    ) -> None:
        """What an import (SOURCE... --into NAME) or a refresh of every imported source would change."""
        rules_dir = rules or default_rules_dir()
        try:
            if sources:
                if not into:
                    raise ImportError_("give --into NAME with the source files")
                diff, skipped = import_sources(
                    sources,
                    into,
                    rules_dir,
                    _recipe_of(rules_dir, into, source_id),
                    root=sources_root,
                    source_id=source_id,
                    write=False,
                )
                diffs = [diff]
            else:
                if sources_root is None:
                    raise ImportError_(
                        "a refresh needs --sources-root (the folder the sources are recorded in)"
                    )
                diffs, skipped = _refresh(rules_dir, sources_root, name)
        except (ImportError_, RulesetError) as exc:
            err.print(f"[red]Diff failed:[/red] {exc}")
            raise typer.Exit(2) from exc
        for line in format_skipped(skipped):
            err.print(line, markup=False)
        changed = [d for d in diffs if d.added or d.removed or d.unlinked]
        _print(changed, rules_dir, limit)
        out.print(f"{len(changed)} of {len(diffs)} imported value sets would change", markup=False)


def _recipe_of(rules_dir: Path, name: str, source_id: str | None) -> ImportRecipe | None:
    """The recipe recorded for a source, so a new version is filtered as the old one was."""
    if source_id is None:
        return None
    _, meta = existing(rules_dir, name)
    source = meta.source(source_id) if meta else None
    if source is None:
        raise ImportError_(f"value set {name} has no source {source_id!r}")
    return source.recipe


def _refresh(rules_dir: Path, root: Path, only: list[str] | None) -> tuple[list[SetDiff], list]:  # noqa: ANN401
    diffs: list[SetDiff] = []
    skipped: list = []
    for csv_path in sorted((rules_dir / VALUESET_DIR).glob("*.csv")):
        if only and csv_path.stem not in only:
            continue
        plans, bad = refresh_plans(rules_dir, csv_path.stem, root)
        skipped += bad
        if plans:
            rows, meta = existing(rules_dir, csv_path.stem)
            diffs.append(merge(csv_path.stem, rows, meta, plans)[2])
    return diffs, skipped
