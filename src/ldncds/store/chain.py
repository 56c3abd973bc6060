"""The hash chain that makes the decision log tamper-evident, and its verification.

Each record has a sequence number (1, 2, ...), the hash of the record before it (`prev_hash`; the
first record points to GENESIS) and its own hash = sha256(canonical JSON of its content + prev_hash).
Editing a record breaks its hash; deleting or reordering records breaks the links. The chain head
(last seq and hash) is kept in its own row, so deleting the newest records shows too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

GENESIS = "0" * 64

ProblemKind = Literal["edited", "deleted", "reordered", "head"]


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8, no NaN. Stable across databases."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chain_hash(content: dict[str, Any], prev_hash: str) -> str:
    return sha256_hex(canonical_json(content).encode("utf-8") + prev_hash.encode("ascii"))


def utc_text(moment: datetime) -> str:
    """Timestamps as hashed: UTC, microseconds, 'Z'. A naive value (SQLite) is read as UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ChainRow:
    """One stored record as the verifier sees it. `content(seq)` rebuilds the hashed content."""

    seq: int
    id: str
    prev_hash: str
    hash: str
    content: Callable[[int], dict[str, Any]]

    def hash_ok(self, seq: int | None = None) -> bool:
        return chain_hash(self.content(self.seq if seq is None else seq), self.prev_hash) == self.hash


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    seq: int
    record_id: str | None
    detail: str

    def __str__(self) -> str:
        who = f"seq {self.seq}" + (f", id {self.record_id}" if self.record_id else "")
        return f"{self.kind}: {who}: {self.detail}"


@dataclass
class ChainReport:
    chain: str
    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


class Lookup:
    """Finds other rows by hash when a break has to be explained (only then: verification streams)."""

    def __init__(
        self,
        by_hash: Callable[[str], tuple[int, str] | None],
        by_prev_hash: Callable[[str], tuple[int, str] | None],
    ) -> None:
        self.by_hash, self.by_prev_hash = by_hash, by_prev_hash


def verify_chain(
    chain: str,
    rows: Iterable[ChainRow],
    head: tuple[int, str],
    lookup: Lookup,
    max_problems: int = 20,
) -> ChainReport:
    """Walk the rows in seq order; report edits, deletions and reorderings, first one first."""
    report = ChainReport(chain=chain, head_seq=head[0], head_hash=head[1])
    expected_seq, expected_prev = 1, GENESIS
    last: ChainRow | None = None
    for row in rows:
        report.records += 1
        problem = _check(row, expected_seq, expected_prev, last, lookup)
        if problem:
            report.problems.append(problem)
            if len(report.problems) >= max_problems:
                return report
        expected_seq, expected_prev, last = row.seq + 1, row.hash, row
    if (problem := _check_head(head, last)) is not None:
        report.problems.append(problem)
    return report


def _check(
    row: ChainRow, expected_seq: int, expected_prev: str, last: ChainRow | None, lookup: Lookup
) -> Problem | None:
    if row.seq != expected_seq:
        return _gap(row, expected_seq, expected_prev, lookup)
    if not row.hash_ok():
        return _bad_hash(row, lookup)
    if row.prev_hash != expected_prev:
        return _bad_link(row, last, lookup)
    return None


def _gap(row: ChainRow, expected_seq: int, expected_prev: str, lookup: Lookup) -> Problem:
    moved = lookup.by_prev_hash(expected_prev)
    if moved and moved[0] != row.seq:
        return Problem(
            "reordered",
            expected_seq,
            moved[1],
            f"the record written as seq {expected_seq} is stored at seq {moved[0]}",
        )
    missing = str(expected_seq) if row.seq == expected_seq + 1 else f"{expected_seq} to {row.seq - 1}"
    return Problem(
        "deleted",
        expected_seq,
        None,
        f"record seq {missing} is missing (the next present record is seq {row.seq}, id {row.id})",
    )


def _bad_hash(row: ChainRow, lookup: Lookup) -> Problem:
    # A record whose content hashes correctly under another seq was moved, not edited.
    for written_seq in _linked_positions(row, lookup):
        if written_seq != row.seq and row.hash_ok(written_seq):
            return Problem(
                "reordered",
                row.seq,
                row.id,
                f"this record was written as seq {written_seq}; the order of records was changed",
            )
    return Problem("edited", row.seq, row.id, "the stored content no longer matches its hash")


def _linked_positions(row: ChainRow, lookup: Lookup) -> list[int]:
    positions = []
    if (follower := lookup.by_prev_hash(row.hash)) is not None:
        positions.append(follower[0] - 1)
    if row.prev_hash == GENESIS:
        positions.append(1)
    elif (before := lookup.by_hash(row.prev_hash)) is not None:
        positions.append(before[0] + 1)
    return positions


def _bad_link(row: ChainRow, last: ChainRow | None, lookup: Lookup) -> Problem:
    before = lookup.by_hash(row.prev_hash)
    if before is not None and before[0] != row.seq - 1:
        return Problem(
            "reordered",
            row.seq,
            row.id,
            f"this record follows seq {before[0]} (id {before[1]}), not seq {row.seq - 1}",
        )
    if last is None:
        return Problem("edited", row.seq, row.id, "the first record does not start the chain")
    # The previous record's content and hash were both rewritten: it is the edited one.
    return Problem(
        "edited",
        last.seq,
        last.id,
        f"its hash was rewritten (seq {row.seq}, id {row.id}, recorded a different one)",
    )


def _check_head(head: tuple[int, str], last: ChainRow | None) -> Problem | None:
    head_seq, head_hash = head
    last_seq, last_hash = (last.seq, last.hash) if last else (0, GENESIS)
    if head_seq > last_seq:
        missing = str(head_seq) if head_seq == last_seq + 1 else f"{last_seq + 1} to {head_seq}"
        return Problem(
            "deleted",
            last_seq + 1,
            None,
            f"record seq {missing} is missing: the log ends at seq {last_seq}, its head says {head_seq}",
        )
    if head_seq < last_seq:
        return Problem(
            "head",
            head_seq + 1,
            None,
            f"records after seq {head_seq} were added outside the store (the head says {head_seq})",
        )
    if head_hash != last_hash:
        return Problem(
            "edited",
            last_seq,
            last.id if last else None,
            "the last record's hash differs from the one the chain head kept",
        )
    return None
