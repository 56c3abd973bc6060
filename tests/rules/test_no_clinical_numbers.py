"""No clinical threshold in src/: every number a decision compares with lives in rules/ (a parameter).

The scan reads the code (ast, not text, so comments and prose are free) for numbers in comparisons,
in time spans (timedelta(days=...)), in pydantic bounds and in UPPER_CASE constants. Each number
found must be on the allow-list below, with the reason it is not clinical. Adding a clinical
number to src/ fails this test; the fix is a parameter in rules/ruleset.yaml.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "ldncds"
_KEYWORDS = {"days", "weeks", "hours", "ge", "le", "gt", "lt"}

# Packages with no clinical logic at all (transport, storage, FHIR parsing, synthetic data,
# drawing): their numbers are sizes, timeouts, HTTP codes and layout.
NOT_CLINICAL_PACKAGES = {
    "api": "HTTP service: timeouts, limits, status codes",
    "service": "HTTP service core: timeouts, limits, status codes",
    "store": "decision log: pool sizes, pagination, SQL limits, migration ids",
    "fhir": "FHIR parsing: date formats, identifier lengths",
    "screening": "bulk screening and the synthetic population generator's own distribution",
    "pages/svg.py": "timeline drawing: pixel sizes and padding days around the schedule",
    "pages/web.py": "HTTP caching",
}
# (file, number): why it is not a clinical threshold.
ALLOWED: dict[tuple[str, float], str] = {
    ("engine/facts.py", 100000): "input plausibility bound (a dose above 100 g is a unit error)",
    ("engine/loader.py", 100000): "cache size bound",
    ("leanstart.py", 100000): "garbage collector threshold (net allocations) while a worker job runs",
    ("engine/loader.py", 2): "error location depth",
    (
        "engine/ruleschema.py",
        50,
    ): "schema plausibility bound: a titration step above a 50 mg tablet is a typo",
    ("engine/valuespace.py", 20000): "search size bound of the coverage check",
    ("engine/valuespace.py", 2): "a min/max pair of fields",
    ("engine/codes.py", 3): "ICD-10 code format (a dot after the third character)",
    ("bdd/conformance.py", 140): "CDS Hooks 2.0: a card summary has fewer than 140 characters",
    ("cdshooks/models.py", 139): "CDS Hooks 2.0: a card summary has fewer than 140 characters",
    ("cdshooks/fetch.py", 200): "HTTP status",
    ("cdshooks/fetch.py", 50): "fetch bound: medication references read one by one per request",
    ("cdshooks/drafts.py", 5): "card wording: how many unreadable draft orders are named before 'and N more'",
    ("engine/assess.py", 0.85): "wording similarity above which two counterfactual texts are one bullet",
    ("engine/scope.py", 8): "cache size: loaded rulesets kept per process",
    ("settings.py", 1024): "byte-size lower bounds of the request and response limits",
    ("settings.py", 4): "lower bound of the JSON depth limit",
    ("settings.py", 100): "lower bound of the JSON value-count limit",
    ("settings.py", 256): "upper bound of the decision log's group-commit size setting",
    ("settings.py", 50): "upper bound of the decision log's group-commit wait, in milliseconds",
    ("bdd/steps.py", 30): "scenario date arithmetic: a birthday a month before the evaluation date",
    ("bdd/steps_http.py", 200): "HTTP status",
    ("bdd/steps_http.py", 412): "HTTP status",
    ("bdd/steps_http.py", 4.5): "the fixture's own dose, asserted before the scenario uses it",
    ("pages/rulebook.py", 40): "page layout: value sets longer than this are folded",
    ("pages/rulebook.py", 4): "cache size",
}


def _numbers(node: ast.AST) -> Iterator[float]:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        yield node.value
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield from (-n for n in _numbers(node.operand))


def _is_bound(node: ast.AST) -> bool:
    return isinstance(node, ast.keyword) and node.arg in _KEYWORDS


def _is_constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Assign) and all(
        isinstance(t, ast.Name) and t.id.isupper() for t in node.targets
    )


def _found(path: Path) -> Iterator[tuple[int, float]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        values: list[float] = []
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                values += _numbers(side)
        elif _is_bound(node) or _is_constant(node):
            values += _numbers(node.value)  # type: ignore[attr-defined]
        yield from ((node.lineno, v) for v in values if v not in (0, 1, -1))


def _skipped(rel: str) -> bool:
    return any(rel == p or rel.startswith(p + "/") for p in NOT_CLINICAL_PACKAGES)


def clinical_numbers(src: Path = SRC) -> list[str]:
    out = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if _skipped(rel):
            continue
        out += [f"{rel}:{line}: {value:g}" for line, value in _found(path) if (rel, value) not in ALLOWED]
    return out


def test_no_clinical_threshold_in_src() -> None:
    found = clinical_numbers()
    assert not found, (
        "numbers in src/ that look like clinical thresholds; move each to a parameter in "
        f"rules/ruleset.yaml (or allow-list it here with the reason it is not clinical): {found}"
    )


def test_the_scan_finds_a_threshold_written_in_code(tmp_path: Path) -> None:
    # The scan itself works: the two constants derive.py used to hold would be found.
    pkg = tmp_path / "engine"
    pkg.mkdir()
    (pkg / "derive.py").write_text(
        "from datetime import timedelta\n"
        "BASELINE_WINDOW_DAYS = 90\n"
        "def gap(days):\n"
        "    return days <= 14 or timedelta(days=7)\n"
    )
    assert clinical_numbers(tmp_path) == [
        "engine/derive.py:2: 90",
        "engine/derive.py:4: 14",
        "engine/derive.py:4: 7",
    ]


def test_the_allow_list_has_no_stale_entries() -> None:
    # An entry nobody needs any more would hide a clinical number added later with the same value.
    present = {
        (path.relative_to(SRC).as_posix(), value) for path in SRC.rglob("*.py") for _, value in _found(path)
    }
    assert sorted(set(ALLOWED) - present) == []
