"""docs/configuration.md is generated from Settings: every setting documented, and the file in sync."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ldncds.cli import app
from ldncds.settings import Settings, configuration_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_has_a_meaning() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_the_configuration_doc_lists_every_setting_and_its_env_var() -> None:
    text = DOC.read_text()
    for name in Settings.model_fields:
        assert f"| `{name}` | `LDNCDS_{name.upper()}` |" in text


def test_the_configuration_doc_is_what_ldncds_config_docs_prints() -> None:
    result = CliRunner().invoke(app, ["config", "docs"])
    assert result.exit_code == 0, result.output
    assert result.stdout == configuration_markdown()
    assert DOC.read_text() == result.stdout, "run: ldncds config docs > docs/configuration.md"
