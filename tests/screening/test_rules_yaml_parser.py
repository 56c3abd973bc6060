"""The rule loader's fast YAML parser reads every rules file exactly as `yaml.safe_load` does.

Loading the rules is the start-up of every screening run (and of the service); libyaml makes it
about six times faster. It must not change what a file means, nor the error a broken file gets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ldncds.engine import RulesetError, default_rules_dir, load_ruleset
from ldncds.engine.loader import parse_yaml

RULES = Path(default_rules_dir())
FILES = sorted(RULES.rglob("*.yaml"))
# Texts where parsers are known to be touchy; libyaml may refuse, pyyaml then decides.
TRICKY = [
    "a: 1\nb: [1, 2.5, .inf, -.nan, 0x1f, 0o17, 1_000]\n",
    "when: 2026-03-01\nflag: yes\nnull_value: ~\n",
    "text: |\n  line one\n  line two\n",
    "key: 'quoted: value'\nother: \"\\u00e9\"\n",
    "a: \u0085next\n",  # NEL inside a plain scalar
    "- &x {a: 1}\n- *x\n",
]


def test_libyaml_is_used() -> None:
    assert getattr(yaml, "__with_libyaml__", False), "the fast path would silently never run"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(RULES).as_posix())
def test_every_rules_file_reads_as_safe_load(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert parse_yaml(text) == yaml.safe_load(text)


def _outcome(parse: Callable[[str], object], text: str) -> tuple[str, str]:
    try:
        return "value", repr(parse(text))
    except yaml.YAMLError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_texts_read_as_safe_load(text: str) -> None:
    assert _outcome(parse_yaml, text) == _outcome(yaml.safe_load, text)


def test_a_broken_file_gets_pyyamls_own_message() -> None:
    text = "rules:\n  - id: A\n    when: [unclosed\n"
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError) as got:
        parse_yaml(text)
    assert str(got.value) == str(expected.value)


def test_the_loader_names_the_broken_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ruleset.yaml").write_text("name: x\nfiles: [a.yaml\n", encoding="utf-8")
    with pytest.raises(RulesetError) as exc:
        load_ruleset(rules)
    assert "ruleset.yaml" in str(exc.value) and "cannot read YAML" in str(exc.value)
