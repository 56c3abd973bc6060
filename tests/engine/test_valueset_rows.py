"""Value-set rows as every process holds them: read-only tuples whose repeated values are one object.

Each engine worker holds the ~6,000 code-list rows; sharing the repeated strings (system, match,
note, source) and each code's set of value-set names is what keeps them near 5 MiB, not 9.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from ldncds.engine import ValueSetRow
from ldncds.engine.loader import ValueSets, load_valuesets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sets() -> ValueSets:
    return load_valuesets(ROOT / "rules")


def test_rows_are_tuples_of_the_csv_columns_with_their_sources(sets: ValueSets) -> None:
    rows = [row for name in sets.names for row in sets.rows[name]]
    assert len(rows) > 5000
    assert all(isinstance(row, ValueSetRow) and row.source and row.code.strip() for row in rows)
    assert {row.match for row in rows} == {"exact", "prefix", "keyword"}


def test_equal_repeated_values_are_one_object(sets: ValueSets) -> None:
    by_value: dict[tuple[str, str], set[int]] = defaultdict(set)
    for name in sets.names:
        for row in sets.rows[name]:
            for column in ("system", "match", "note", "source"):
                by_value[(column, getattr(row, column))].add(id(getattr(row, column)))
    assert [value for value, ids in by_value.items() if len(ids) > 1] == []


def test_codes_of_the_same_value_sets_share_one_membership_set(sets: ValueSets) -> None:
    memberships = list(sets._exact.values())
    assert all(isinstance(m, frozenset) for m in memberships)
    assert len({id(m) for m in memberships}) == len(set(memberships)) < len(memberships) / 10


def test_sharing_changes_no_answer(sets: ValueSets) -> None:
    row = next(r for r in sets.rows["opioid_agonists"] if r.match == "exact")
    assert "opioid_agonists" in sets.of_code(row.system, row.code)
    found = sets.of_code(row.system, row.code)
    found.add("something else")  # a caller's set is its own: the shared membership is unchanged
    assert "something else" not in sets.of_code(row.system, row.code)
