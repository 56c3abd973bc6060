"""A bulk export as the population of `ldncds rules impact`: read exactly as screening reads it.

The same discovery (file names, gzip, manifest.json), the same index by patient (an Appointment
belongs to each patient taking part) and the same mapping, which drops a resource that fails
validation and marks its section incomplete. So a rule change is measured on the facts screening
would decide from. Subjects are labelled by their number in patient-key order, never by id.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from ldncds.store.impact import ImpactError, Subject

from .bulk import LineReader, build_index, discover
from .patient import prepare_safely


def export_population(folder: Path, on: date, skipped: list[str] | None = None) -> Iterator[Subject]:
    """One subject per patient of the export, in patient-key order; what could not be read goes to
    `skipped` (file:line: reason)."""
    skipped = skipped if skipped is not None else []
    try:
        export = discover(folder)
    except FileNotFoundError as exc:  # also an unusable manifest.json
        raise ImpactError(f"{folder}: {exc}") from exc
    try:
        index = build_index(export)
        reader = LineReader(export.files)
        try:
            skipped += [str(bad) for bad in index.bad]
            present = export.present_types
            for number, (key, entries) in enumerate(index.groups(), start=1):
                prepared = prepare_safely(key, reader.read(entries), present)
                skipped += [str(bad) for bad in prepared.bad]
                label = f"patient #{number} of the export"
                if prepared.facts is None:
                    error = f"No advice: {prepared.failure or 'not mapped'}"
                    yield Subject(label, None, on, error=error, prefer_resource_id=True)
                else:
                    yield Subject(label, prepared.facts, on, prefer_resource_id=True)
        finally:
            reader.close()
            index.close()
    finally:
        export.close()
