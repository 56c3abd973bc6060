"""The JSON API's work (`POST /api/v1/assessments`), run where the engine runs (service/worklet.py).

The body is read from the raw request bytes, which the server has validated already: a FHIR Bundle
is mapped (an unreadable one is a 400 naming its path), native facts are validated as FastAPI did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ldncds.engine import Engine, PatientFacts
from ldncds.fhir import FhirInputError, facts_from_bundle
from ldncds.fhir.adapter import Validation
from ldncds.jsontext import loads
from ldncds.service.errors import ApiError
from ldncds.service.worklet import Outcome, assess, json_bytes, record_of


@dataclass(frozen=True, slots=True)
class BodyTask:
    raw: bytes  # the request body as received
    bundle: bool  # a FHIR Bundle (else native PatientFacts)
    on: date  # the evaluation date
    validation: Validation | None = None  # setting fhir_validation of the server (None: this process's)
    site_timezone: str | None = None  # setting site_timezone of the server (None: this process's)


def assess_body(engine: Engine, task: BodyTask) -> Outcome:
    """The full explained assessment of one patient, with its id, as the 201 body."""
    content = loads(task.raw)  # the value json.loads gives (FastAPI validated that)
    if task.bundle:
        try:  # not strict: an invalid record is named, its section incomplete
            facts = facts_from_bundle(
                content, strict=False, validation=task.validation, site_timezone=task.site_timezone
            ).facts
        except FhirInputError as exc:
            raise ApiError(
                400, f"Unreadable FHIR data: {exc.message}", expression=exc.path or "body"
            ) from None
    else:
        facts = PatientFacts.model_validate(content)
    assessment = assess(engine, facts, task.on)
    record = record_of(facts, assessment)
    return Outcome(json_bytes(assessment.model_dump(mode="json", exclude_none=True)), record)
