"""The decision store: a tamper-evident log of every assessment, with replay, export and impact tools.

from ldncds.store import open_store, record_assessment
store = open_store(settings.effective_database_url)
stored = record_assessment(store, facts, assessment, raw_body, Caller(channel="api"),
                           engine.ruleset.content_hash)
"""

from .chain import ChainReport, Problem
from .interface import Caller, DecisionStore, StoredAssessment
from .record import record_assessment
from .sql import DuplicateAssessmentError, SqlStore, StoreError, VerifyReport, open_store

__all__ = [
    "Caller",
    "ChainReport",
    "DecisionStore",
    "DuplicateAssessmentError",
    "Problem",
    "SqlStore",
    "StoreError",
    "StoredAssessment",
    "VerifyReport",
    "open_store",
    "record_assessment",
]
