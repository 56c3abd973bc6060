"""Writers for screening rows (NDJSON, CSV), the summary table and progress reporting.

Progress and summaries carry counts only: never a patient key.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from typing import IO, Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .patient import ScreeningRow
from .runner import ScreenSummary

OutputFormat = Literal["ndjson", "csv"]
CSV_COLUMNS = list(ScreeningRow.model_fields)
DECISION_ORDER = (
    "candidate",
    "candidate_with_cautions",
    "insufficient_information",
    "not_candidate",
    "contraindicated",
    "error",
)


class RowWriter:
    """Writes one line per patient to an open text stream."""

    def __init__(self, stream: IO[str], fmt: OutputFormat) -> None:
        self.stream, self.fmt = stream, fmt
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(CSV_COLUMNS)

    def write(self, row: ScreeningRow) -> None:
        if self._csv is None:
            self.stream.write(row.model_dump_json() + "\n")
            return
        data = row.model_dump(mode="json")
        self._csv.writerow(
            [
                ";".join(v) if isinstance(v, list) else ("" if v is None else v)
                for v in (data[c] for c in CSV_COLUMNS)
            ]
        )


def summary_table(summary: ScreenSummary) -> Table:
    table = Table(title=f"Screening summary — ruleset {summary.ruleset_version}")
    table.add_column("decision")
    table.add_column("patients", justify="right")
    table.add_column("share", justify="right")
    names = [d for d in DECISION_ORDER if d in summary.decisions]
    names += sorted(set(summary.decisions) - set(names))
    for name in names:
        count = summary.decisions[name]
        table.add_row(name, str(count), f"{100 * count / max(1, summary.patients):.1f}%")
    table.add_row(
        "[bold]total[/bold]", f"[bold]{summary.patients}[/bold]", "100.0%" if summary.patients else "-"
    )
    return table


def summary_line(summary: ScreenSummary) -> str:
    return (
        f"{summary.patients} patients from {summary.lines} lines, {summary.bad_lines} reported bad; "
        f"{summary.seconds:.1f} s ({summary.patients_per_second:.0f} patients/s, "
        f"{summary.workers} worker(s), {summary.backend})"
    )


class PlainProgress:
    """Periodic one-line progress on a non-terminal stderr (e.g. CI logs)."""

    def __init__(self, stream: IO[str] | None = None, every_seconds: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every_seconds
        self.started = self.last = time.monotonic()

    def __enter__(self) -> Callable[[int, int], None]:
        return self.update

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every and done < total:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        self.stream.write(
            f"screening: {done}/{total} patients ({100 * done / max(total, 1):.0f}%), {rate:.0f} patients/s\n"
        )
        self.stream.flush()


class RichProgress:
    """A progress bar on a terminal: patients done of total, percent, elapsed time and ETA."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("screening"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task("screening", total=None)

    def __enter__(self) -> Callable[[int, int], None]:
        self._progress.start()
        return self.update

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)


def progress_for(console: Console) -> PlainProgress | RichProgress:
    """A bar when the console (stderr) is a terminal, plain periodic lines otherwise (CI logs)."""
    return RichProgress(console) if console.is_terminal else PlainProgress(console.file)
