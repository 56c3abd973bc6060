"""The decision store: a tamper-evident log of every assessment, with replay, export and impact tools.

from ldncds.store import open_store, record_assessment
store = open_store(settings.effective_database_url)
stored = record_assessment(store, facts, assessment, raw_body, Caller(channel="api"),
                           engine.ruleset.content_hash)

The SQL store (SQLAlchemy) is imported on first use, so `ldncds.store.record` (prepare_record)
stays cheap to import in an engine worker process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .chain import ChainReport, Problem
from .interface import Caller, DecisionStore, DuplicateAssessmentError, StoredAssessment, StoreError
from .record import AssessmentText, PreparedRecord, assessment_text, prepare_record, record_assessment, seal

if TYPE_CHECKING:
    from .sql import SqlStore, VerifyReport, open_store

_FROM_SQL = frozenset({"SqlStore", "VerifyReport", "open_store"})

__all__ = [
    "AssessmentText",
    "Caller",
    "ChainReport",
    "DecisionStore",
    "DuplicateAssessmentError",
    "PreparedRecord",
    "Problem",
    "SqlStore",
    "StoreError",
    "StoredAssessment",
    "VerifyReport",
    "assessment_text",
    "open_store",
    "prepare_record",
    "record_assessment",
    "seal",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_SQL:
        from . import sql

        return getattr(sql, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
