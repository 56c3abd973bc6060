"""Read a FHIR Bulk Data export (a folder of NDJSON files) and index its lines by patient.

File names as bulk-data servers write them are all read: `Patient.ndjson`, `Patient.000.ndjson`,
`Patient.part-2.ndjson` and SMART's `1.Patient.ndjson`, each optionally gzip-compressed
(`.ndjson.gz`). When the folder holds the export's `manifest.json`, the manifest decides: the
files it lists under `output` are read with the type it gives, a listed file that is absent stops
the run (a missing part would look like "no records" for its patients), and anything else in the
folder is ignored and named. Gzip files are decompressed once into a private temporary folder,
because patients are read back by byte offset.

One streaming pass parses each line once, finds the patient it belongs to and keeps only where the
line is (file, byte offset, length, line number). Workers later read a patient's lines by offset,
so memory is bounded by the index and the largest patient, never by the files. A very large index
spills to a SQLite file in a temporary folder.

Nothing here logs patient ids: problems are reported by file and line number only.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sqlite3
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, Field

from ldncds.fhir.references import reference_id
from ldncds.jsontext import loads

# Resource types the rules read, and the path of the patient reference in each (through lists: an
# Appointment names its patients among its participants, and a group visit names several).
PATIENT_FIELDS: dict[str, str] = {
    "Condition": "subject",
    "MedicationRequest": "subject",
    "MedicationStatement": "subject",
    "MedicationDispense": "subject",
    "MedicationAdministration": "subject",
    "Procedure": "subject",
    "ServiceRequest": "subject",
    "Appointment": "participant.actor",
    "AllergyIntolerance": "patient",
    "Observation": "subject",
}
INDEXED_TYPES = ("Patient", "Medication", *PATIENT_FIELDS)
# `Patient.ndjson`, `Patient.000.ndjson`, `Patient.part-2.ndjson`, `1.Patient.ndjson`, and each `.gz`.
_FILE_NAME = re.compile(r"^(?:\d+\.)?(?P<type>[A-Za-z]+)(?:\.[^.]+)*\.ndjson(?P<gz>\.gz)?$")
MANIFEST = "manifest.json"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MEDICATION_REF = -1  # file id marking an index entry that points to a Medication, not to a line
DEFAULT_SPILL_AT = 4_000_000  # index entries held in memory before spilling to SQLite (~130 MB)


class BadLine(BaseModel):
    """A line that was skipped (or a resource dropped), located by file and line, never by content."""

    file: str = Field(description="File name inside the export folder.")
    line: int = Field(ge=1, description="1-based line number.")
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class ExportFiles:
    """The NDJSON files of an export that the rules can use, in a fixed order."""

    folder: Path
    files: tuple[Path, ...]  # readable plain NDJSON (a gzip file's decompressed copy)
    types: tuple[str, ...]  # resource type of each file (from its name or the manifest)
    ignored: tuple[str, ...] = ()  # other files: types the rules do not read, or not in the manifest
    manifest: bool = False  # the file list came from manifest.json
    scratch: tempfile.TemporaryDirectory | None = field(default=None, compare=False, repr=False)

    @property
    def present_types(self) -> frozenset[str]:
        return frozenset(self.types)

    def label(self, file_id: int) -> str:
        return self.files[file_id].name

    def close(self) -> None:
        """Remove decompressed copies now (they are also removed when this object is collected)."""
        if self.scratch is not None:
            self.scratch.cleanup()


class ManifestError(FileNotFoundError):
    """manifest.json cannot be used: unreadable, or it lists a file the folder lacks."""


def discover(folder: Path) -> ExportFiles:
    """Find the export's files; raises FileNotFoundError when there is nothing (or not all) to screen."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    listed = _manifest_files(folder)
    candidates = listed if listed is not None else _named_files(folder)
    files = [(path, rtype) for path, rtype in candidates if rtype in INDEXED_TYPES]
    ignored = [path.name for path, rtype in candidates if rtype not in INDEXED_TYPES]
    if listed is not None:
        ignored += _unlisted(folder, {path.name for path, _ in listed})
    if not files:
        raise FileNotFoundError(
            f"no bulk export files (Patient.ndjson, 1.Patient.ndjson, Patient.000.ndjson.gz...) in {folder}"
        )
    scratch, readable = _decompressed([path for path, _ in files])
    return ExportFiles(
        folder,
        tuple(readable),
        tuple(rtype for _, rtype in files),
        tuple(sorted(ignored)),
        manifest=listed is not None,
        scratch=scratch,
    )


def _named_files(folder: Path) -> list[tuple[Path, str]]:
    out = []
    for path in sorted(folder.iterdir()):
        match = _FILE_NAME.match(path.name)
        if match and path.is_file():
            out.append((path, match["type"]))
    return out


def _manifest_files(folder: Path) -> list[tuple[Path, str]] | None:
    """`output` entries of manifest.json as (local file, type); None when there is no manifest."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_bytes())
        outputs = manifest["output"]
        entries = [(str(item["type"]), _local_name(str(item["url"]))) for item in outputs]
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: not a bulk-data manifest ({type(exc).__name__}: {exc})") from exc
    missing = sorted({name for _, name in entries if not (folder / name).is_file()})
    if missing:
        raise ManifestError(f"{path} lists files that are not in {folder}: {', '.join(missing)}")
    # One file listed twice (a server retrying) is read once.
    return sorted({(folder / name, rtype) for rtype, name in entries}, key=lambda item: item[0].name)


def _local_name(url: str) -> str:
    """The file an output URL names, inside the export folder (never a path outside it)."""
    name = Path(unquote(urlparse(url).path)).name
    if not name or name in (".", ".."):
        raise ValueError(f"output url {url!r} names no file")
    return name


def _unlisted(folder: Path, listed: set[str]) -> list[str]:
    return [
        p.name
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST and p.name not in listed
    ]


def _decompressed(paths: list[Path]) -> tuple[tempfile.TemporaryDirectory | None, list[Path]]:
    """Plain copies of the gzip files (same names, so bad-line reports name the file as delivered)."""
    if not any(_is_gzip(p) for p in paths):
        return None, paths
    scratch = tempfile.TemporaryDirectory(prefix="ldncds-export-")
    out = []
    for path in paths:
        if not _is_gzip(path):
            out.append(path)
            continue
        target = Path(scratch.name) / path.name
        try:
            with gzip.open(path, "rb") as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            scratch.cleanup()
            raise FileNotFoundError(f"{path.name}: cannot decompress ({type(exc).__name__}: {exc})") from exc
        out.append(target)
    return scratch, out


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def patient_keys(resource: dict[str, Any]) -> list[str]:
    """The patients a resource belongs to, in order: Patient.id, its subject/patient reference, or
    each Patient among an Appointment's participants (practitioners and rooms are not patients)."""
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        rid = resource.get("id")
        return [rid] if isinstance(rid, str) and _FHIR_ID.match(rid) else []
    path = PATIENT_FIELDS.get(rtype) if isinstance(rtype, str) else None
    keys: list[str] = []
    for ref in _at(resource, path.split(".")) if path else []:
        key = reference_id(ref.get("reference"), "Patient") if isinstance(ref, dict) else None
        if key and key not in keys:
            keys.append(key)
    return keys


def patient_key(resource: dict[str, Any]) -> str | None:
    """The one patient a resource belongs to; None when it names none, or several."""
    keys = patient_keys(resource)
    return keys[0] if len(keys) == 1 else None


def _at(value: Any, path: list[str]) -> list[Any]:
    """The values at a dotted path, through lists (FHIR repeats an element as a JSON list)."""
    if isinstance(value, list):
        return [found for item in value for found in _at(item, path)]
    if not path:
        return [value]
    return _at(value.get(path[0]), path[1:]) if isinstance(value, dict) else []


def medication_refs(resource: dict[str, Any]) -> list[str]:
    """Ids of Medication resources a MedicationRequest/Statement points to (contained ones excluded)."""
    ref = resource.get("medicationReference")
    if isinstance(ref, dict) and (mid := reference_id(ref.get("reference"), "Medication")):
        return [mid]
    return []


# ---------------------------------------------------------------------------------------------------------
# The index: per patient, entries of four integers (file id, byte offset, length, line number).


class _SqliteSpill:
    """Index entries in a temporary SQLite file, read back grouped and sorted by patient key."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ldncds-index-")
        self._db = sqlite3.connect(Path(self._dir.name) / "index.sqlite")
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE entry (key TEXT NOT NULL, file INTEGER, offset INTEGER,"
            " length INTEGER, line INTEGER);"
        )
        self._pending: list[tuple[str, int, int, int, int]] = []
        self._indexed = False

    def add(self, key: str, entry: tuple[int, int, int, int]) -> None:
        self._pending.append((key, *entry))
        if len(self._pending) >= 50_000:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT INTO entry VALUES (?, ?, ?, ?, ?)", self._pending)
            self._pending.clear()

    def count_keys(self) -> int:
        self.flush()
        return self._db.execute("SELECT COUNT(DISTINCT key) FROM entry").fetchone()[0]

    def groups(self) -> Iterator[tuple[str, list[tuple[int, int, int, int]]]]:
        self.flush()
        if not self._indexed:
            self._db.execute("CREATE INDEX entry_key ON entry (key)")
            self._indexed = True
        rows = self._db.execute("SELECT key, file, offset, length, line FROM entry ORDER BY key, rowid")
        key: str | None = None
        entries: list[tuple[int, int, int, int]] = []
        for row in rows:
            if row[0] != key:
                if key is not None:
                    yield key, entries
                key, entries = row[0], []
            entries.append(row[1:])
        if key is not None:
            yield key, entries

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


@dataclass
class PatientIndex:
    """Where each patient's lines are. Sorted iteration gives a deterministic output order."""

    export: ExportFiles
    spill_at: int = DEFAULT_SPILL_AT
    entries: int = 0
    lines: int = 0
    bad: list[BadLine] = field(default_factory=list)
    _memory: dict[str, array] = field(default_factory=dict)
    _spill: _SqliteSpill | None = None
    _medication_serial: dict[str, int] = field(default_factory=dict)
    _medication_entry: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)

    @property
    def spilled(self) -> bool:
        return self._spill is not None

    def add(self, key: str, entry: tuple[int, int, int, int]) -> None:
        self.entries += 1
        if self._spill is not None:
            self._spill.add(key, entry)
            return
        self._memory.setdefault(key, array("q")).extend(entry)
        if self.entries >= self.spill_at:
            self._spill_to_disk()

    def _spill_to_disk(self) -> None:
        spill = _SqliteSpill()
        for key, flat in self._memory.items():
            for i in range(0, len(flat), 4):
                spill.add(key, (flat[i], flat[i + 1], flat[i + 2], flat[i + 3]))
        self._memory.clear()
        self._spill = spill

    def medication_serial(self, medication_id: str) -> int:
        return self._medication_serial.setdefault(medication_id, len(self._medication_serial))

    def add_medication(self, medication_id: str, entry: tuple[int, int, int, int]) -> None:
        self._medication_entry.setdefault(self.medication_serial(medication_id), entry)

    def patient_count(self) -> int:
        return self._spill.count_keys() if self._spill is not None else len(self._memory)

    def groups(self) -> Iterator[tuple[str, list[tuple[int, int, int, int]]]]:
        """(patient key, line entries) sorted by key; Medication references resolved to their lines."""
        if self._spill is not None:
            raw: Iterator[tuple[str, Any]] = self._spill.groups()
        else:
            raw = ((key, _unflatten(self._memory[key])) for key in sorted(self._memory))
        for key, entries in raw:
            yield key, self._resolve(entries)

    def _resolve(self, entries: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        lines = [e for e in entries if e[0] != MEDICATION_REF]
        seen: set[int] = set()
        for file_id, serial, _, _ in entries:
            if file_id == MEDICATION_REF and serial not in seen:
                seen.add(serial)
                if (target := self._medication_entry.get(serial)) is not None:
                    lines.append(target)  # an unresolved reference stays for the adapter to report
        return lines

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None


def _unflatten(flat: array) -> list[tuple[int, int, int, int]]:
    return [(flat[i], flat[i + 1], flat[i + 2], flat[i + 3]) for i in range(0, len(flat), 4)]


def build_index(export: ExportFiles, *, spill_at: int = DEFAULT_SPILL_AT) -> PatientIndex:
    """One streaming pass over every file; unreadable lines go to `index.bad`, never stop the pass."""
    index = PatientIndex(export, spill_at=spill_at)
    for file_id, path in enumerate(export.files):
        with path.open("rb") as fh:
            offset = 0
            for line_no, raw in enumerate(fh, start=1):
                length = len(raw)
                if raw.strip():
                    index.lines += 1
                    _index_line(index, file_id, line_no, offset, length, raw)
                offset += length
    return index


def _index_line(
    index: PatientIndex, file_id: int, line_no: int, offset: int, length: int, raw: bytes
) -> None:
    def bad(reason: str) -> None:
        index.bad.append(BadLine(file=index.export.label(file_id), line=line_no, reason=reason))

    try:
        resource = loads(raw)
    except ValueError:  # includes invalid UTF-8
        bad("invalid JSON")
        return
    if not isinstance(resource, dict):
        bad("not a JSON object")
        return
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        bad("no resourceType")
        return
    if rtype != index.export.types[file_id]:  # a bulk export file holds one type
        bad(f"a {rtype} resource in the {index.export.types[file_id]} file")
        return
    entry = (file_id, offset, length, line_no)
    if rtype == "Medication":
        mid = resource.get("id")
        if isinstance(mid, str) and _FHIR_ID.match(mid):
            index.add_medication(mid, entry)
        else:
            bad("Medication without a valid id: nothing can refer to it")
        return
    keys = patient_keys(resource)
    if not keys:
        where = "id" if rtype == "Patient" else PATIENT_FIELDS[rtype] + ".reference"
        bad(f"no patient reference ({rtype}.{where} missing or not a Patient reference)")
        return
    for key in keys:  # a group appointment is read with each of its patients' records
        index.add(key, entry)
        for mid in medication_refs(resource):
            index.add(key, (MEDICATION_REF, index.medication_serial(mid), 0, 0))


# ---------------------------------------------------------------------------------------------------------
# Reading lines back


@dataclass(frozen=True, slots=True)
class RawLine:
    """One resource as bytes, with where it came from (for bad-line reports)."""

    file: str
    line: int
    data: bytes


class LineReader:
    """Reads lines by offset; keeps one descriptor per file (one reader per process)."""

    def __init__(self, files: Sequence[str | Path]) -> None:
        self.files = [str(f) for f in files]
        self._names = [os.path.basename(f) for f in self.files]
        self._fds: dict[int, int] = {}

    def read(self, entries: list[tuple[int, int, int, int]]) -> list[RawLine]:
        out = []
        for file_id, offset, length, line in entries:
            fd = self._fds.get(file_id)
            if fd is None:
                fd = self._fds[file_id] = os.open(self.files[file_id], os.O_RDONLY)
            out.append(RawLine(self._names[file_id], line, os.pread(fd, length, offset)))
        return out

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
