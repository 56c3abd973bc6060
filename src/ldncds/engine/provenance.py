"""Where each value set's codes came from: the `valuesets/NAME.meta.yaml` sidecar of NAME.csv.

Every value set names its sources (a published ValueSet by canonical URL or OID, a file, or the
hand-curated clinical pack) and each CSV row names the source(s) it came from in its `source`
column (several joined with `|`). A file written before the column existed takes `default_source`
for every row. The loader refuses a value set whose provenance is missing or does not add up, so a
code can never arrive in a rule without a recorded origin.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SourceKind = Literal["curated", "fhir-valueset", "ahrq-valueset-db", "csv"]
SOURCE_SEPARATOR = "|"


class ImportRecipe(BaseModel):
    """How rows were taken from a source, so a refresh can repeat it (`ldncds valuesets diff`)."""

    model_config = ConfigDict(extra="forbid")

    system: str | None = None  # CSV sources without a system column: the system of every row
    systems: list[str] | None = None  # keep only these code systems (canonical names)
    where: dict[str, str] | None = None  # CSV sources: keep rows whose column equals the value
    include_display: str | None = None  # regular expression a display must match
    exclude_display: str | None = None  # regular expression a display must not match
    exclude_codes: list[str] | None = None  # codes judged wrong for this set (reason in the note)
    subtract: list[str] | None = None  # files whose codes are removed (e.g. PDDI-CDS *-exclude.xml)
    note: str | None = None  # note written on every imported row


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: SourceKind
    title: str = Field(min_length=1)
    url: str | None = None  # canonical URL of a published ValueSet, or a web page
    oid: str | None = Field(default=None, pattern=r"^[0-2](\.\d+)+$")
    version: str | None = None
    date: str | None = None  # ValueSet.date / expansion timestamp / retrieval date
    file: str | None = None  # path of the imported file, relative to the sources folder
    includes: list[str] | None = None  # files of the value sets it includes (compose.include.valueSet)
    repository: str | None = None  # owner/name@commit the file was published in
    licence: str | None = None
    recipe: ImportRecipe | None = None

    @field_validator("date", "version", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # YAML reads 2023-05-25 as a date and 20230314 as an int: provenance keeps them as written.
        return (
            value.isoformat() if isinstance(value, _dt.date) else (str(value) if value is not None else None)
        )

    @model_validator(mode="after")
    def _locatable(self) -> Source:
        if not (self.url or self.oid or self.file):
            raise ValueError(f"source {self.id!r} needs a url, an oid or a file")
        return self


class ValueSetMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    description: str | None = None
    policy: str | None = None  # what was deliberately left out or split off, and why
    default_source: str | None = None
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> ValueSetMeta:
        ids = [s.id for s in self.sources]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate source id")
        if self.default_source is not None and self.default_source not in ids:
            raise ValueError(f"default_source {self.default_source!r} is not a declared source")
        return self

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)

    def row_sources(self, cell: str | None) -> list[str]:
        """Source ids of a row's `source` cell (the default source when the cell is empty)."""
        ids = [part.strip() for part in (cell or "").split(SOURCE_SEPARATOR) if part.strip()]
        return ids or ([self.default_source] if self.default_source else [])
