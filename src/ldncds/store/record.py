"""Storing an engine assessment: the one helper every channel (CLI, JSON API, CDS Hooks) calls."""

from __future__ import annotations

import uuid

from ldncds.engine import Assessment, PatientFacts

from .interface import Caller, DecisionStore, StoredAssessment


def record_assessment(
    store: DecisionStore,
    facts: PatientFacts,
    assessment: Assessment,
    raw_input: bytes,
    caller: Caller,
    ruleset_hash: str,
) -> StoredAssessment:
    """Give the assessment an id (uuid4) if it has none, then store facts and output durably.

    Call it before the response is sent: when it returns, the record is committed.
    """
    if assessment.assessment_id is None:
        assessment.assessment_id = str(uuid.uuid4())
    return store.record(
        assessment_id=assessment.assessment_id,
        facts=facts.model_dump(mode="json"),
        assessment=assessment.model_dump(mode="json"),
        raw_input=raw_input,
        caller=caller,
        ruleset_hash=ruleset_hash,
    )
