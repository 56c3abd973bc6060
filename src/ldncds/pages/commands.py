"""`ldncds rules docs OUT_DIR`: the rulebook as static HTML (same template as /rulebook)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..engine import RulesetError, default_rules_dir, load_ruleset
from .rulebook import export_rulebook


def register(app: typer.Typer, rules_app: typer.Typer) -> None:
    @rules_app.command("docs")
    def rules_docs(
        out_dir: Annotated[Path, typer.Argument(help="Folder to write index.html and the stylesheet into.")],
        rules: Annotated[
            Path | None, typer.Option("--rules", help="Rules folder (default: ./rules).")
        ] = None,
        features: Annotated[
            Path | None,
            typer.Option("--features", help="Gherkin features folder (default: beside the rules)."),
        ] = None,
    ) -> None:
        """Write the rulebook (every rule in plain language, catalogues, value sets) as static HTML."""
        try:
            ruleset = load_ruleset(rules or default_rules_dir())
        except RulesetError as exc:
            Console(stderr=True).print(f"[red]Rule files are invalid:[/red] {exc}")
            raise typer.Exit(2) from exc
        written = export_rulebook(ruleset, out_dir, features)
        Console().print(f"Wrote the rulebook for ruleset {ruleset.version}: " + ", ".join(map(str, written)))
