"""docs/configuration.md is generated from Settings and must match it (regenerate: `ldncds config docs`)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.settings import Settings, configuration_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_configuration_doc_matches_settings() -> None:
    assert DOC.read_text(encoding="utf-8") == configuration_markdown(), (
        "docs/configuration.md is out of date: run `ldncds config docs --output docs/configuration.md`"
    )


def test_every_setting_is_documented_with_its_variable_and_meaning() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"| `{name}` | `LDNCDS_{name.upper()}` |" in text


def test_the_cli_regenerates_the_doc(tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    result = CliRunner().invoke(app, ["config", "docs", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == configuration_markdown()
