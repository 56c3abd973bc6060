"""What the rest of ldncds needs from the decision store (implemented in ldncds.store)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from pydantic import BaseModel, Field

Channel = Literal["cli", "api", "cds-hooks", "screening", "replay"]


class Caller(BaseModel):
    """Who asked: never patient data."""

    channel: Channel
    service_id: str | None = None
    hook_instance: str | None = None
    issuer: str | None = None
    tenant: str | None = Field(default=None, description="The JWT `tenant` claim, when the caller sent one.")


class Scope(BaseModel):
    """Whose records a caller may see: its issuer and tenant, or every record when `audit` is set.

    `None` instead of a Scope means "not scoped": the CLI, and the service with JWT off.
    """

    issuer: str
    tenant: str | None = None
    audit: bool = False

    def owns(self, issuer: str | None, tenant: str | None) -> bool:
        return self.audit or (issuer == self.issuer and tenant == self.tenant)


if TYPE_CHECKING:
    from .record import PreparedRecord


class StoreError(RuntimeError):
    """The decision log cannot do what was asked (the message says why; it never holds patient data)."""


class DuplicateAssessmentError(StoreError):
    """An assessment id was recorded before with different content."""


class ForeignRecordError(LookupError):
    """The record belongs to another issuer or tenant (answered like an unknown record)."""


class StoredAssessment(BaseModel):
    id: str
    seq: int
    created_at: datetime
    caller: Caller
    evaluation_date: date
    ruleset_version: str
    ruleset_hash: str
    decision: str
    input_digest: str = Field(description="sha256 of the raw input as received.")
    facts: dict[str, Any] = Field(description="The mapped PatientFacts (JSON).")
    assessment: dict[str, Any] = Field(description="The full Assessment (JSON).")
    feedback: list[dict[str, Any]] = Field(default_factory=list)


class DecisionStore(Protocol):
    @overload
    def record(self, *, prepared: PreparedRecord) -> StoredAssessment: ...

    @overload
    def record(
        self,
        *,
        assessment_id: str,
        facts: Mapping[str, Any] | str | bytes,
        assessment: Mapping[str, Any] | str | bytes,
        raw_input: bytes,
        caller: Caller,
        ruleset_hash: str,
    ) -> StoredAssessment: ...

    def record(self, **fields: Any) -> StoredAssessment:
        """Durably store before the response is sent (commit returns only when it is on disk).

        Either a PreparedRecord (record.prepare_record) or the fields prepare_record takes."""
        ...

    def append(self, prepared: PreparedRecord) -> int:
        """record(prepared=...) without building a StoredAssessment: durable on return; its seq."""
        ...

    def append_all(self, prepared: Sequence[PreparedRecord]) -> list[int | Exception]:
        """append() of several in one transaction: each one's seq or own refusal; a failed
        transaction raises (none stored)."""
        ...

    def get(self, assessment_id: str, *, scope: Scope | None = None) -> StoredAssessment | None:
        """None when unknown, or when it belongs to a caller outside `scope`."""
        ...

    def list(
        self,
        *,
        decision: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        ruleset_version: str | None = None,
        limit: int = 100,
        offset: int = 0,
        scope: Scope | None = None,
    ) -> list[StoredAssessment]: ...

    def add_feedback(self, card_uuid: str, item: dict[str, Any], *, caller: Caller | None = None) -> bool:
        """Idempotent: False when this feedback was already recorded. Unknown cards are kept too.

        ForeignRecordError when the card is an assessment of another issuer or tenant than `caller`'s.
        """
        ...

    def claim_jti(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
        """Record a JWT id as used until `expires_at`; False when it is already used and not expired."""
        ...

    def check_writable(self) -> None:
        """Raise unless a write transaction can start now (readiness)."""
        ...
