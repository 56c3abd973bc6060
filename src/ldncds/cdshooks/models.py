"""CDS Hooks 2.0.1 wire models.

Inbound models allow extra fields (clients may send `extension` or 3.0 fields). Outbound models forbid
them and reject empty strings and lists, so with `exclude_none` nothing null or empty is ever sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from ldncds.service.bundle import FhirBundle

Text = Annotated[str, StringConstraints(min_length=1)]
FhirId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]
FhirBaseUrl = Annotated[str, StringConstraints(pattern=r"^https?://[\x21-\x7e]+$", max_length=2048)]
Indicator = Literal["info", "warning", "critical"]
SUMMARY_MAX = 139  # the spec says "fewer than 140 characters"

# ---------------------------------------------------------------------------------------------- outbound


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Coding(_Out):
    system: Text
    code: Text
    display: Text | None = None


class OverrideReason(Coding):
    display: Text  # required for override reasons: the clinician picks it by name


class Source(_Out):
    label: Text
    url: Text | None = None
    topic: Coding | None = None


class Link(_Out):
    label: Text
    url: Text
    type: Literal["absolute", "smart"]


class Action(_Out):
    type: Literal["create", "update", "delete"]
    description: Text
    resource: dict[str, Any] | None = Field(default=None, min_length=1)
    resourceId: Text | None = None


class Suggestion(_Out):
    label: Text
    uuid: Text | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = Field(default=None, min_length=1)


class Card(_Out):
    uuid: Text
    summary: Annotated[str, StringConstraints(min_length=1, max_length=SUMMARY_MAX)]
    detail: Text | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = Field(default=None, min_length=1)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[OverrideReason] | None = Field(default=None, min_length=1)
    links: list[Link] | None = Field(default=None, min_length=1)
    extension: dict[str, Any] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _selection_behavior_with_suggestions(self) -> Card:
        if self.suggestions and not self.selectionBehavior:
            raise ValueError("selectionBehavior is required when a card has suggestions")
        return self


class CardsResponse(_Out):
    cards: list[Card] = Field(description="No advice is an empty list.")


class ServiceDefinition(_Out):
    hook: Text
    title: Text
    description: Text
    id: Text
    prefetch: dict[str, str] | None = Field(default=None, min_length=1)
    usageRequirements: Text | None = None


class Discovery(_Out):
    services: list[ServiceDefinition]


class FeedbackReceipt(_Out):
    received: int = Field(description="Feedback items in the request.")
    recorded: int = Field(description="Items new to the store (the others were already recorded).")


# ---------------------------------------------------------------------------------------------- inbound


class _In(BaseModel):
    model_config = ConfigDict(extra="allow")


class FhirAuthorization(_In):
    access_token: Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]+$")]  # it goes into an HTTP header
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None


class PatientViewContext(_In):
    userId: Text = Field(examples=["Practitioner/prac-77"])
    patientId: FhirId = Field(examples=["pt-1001"])
    encounterId: str | None = None


class OrderSignContext(PatientViewContext):
    draftOrders: FhirBundle = Field(description="A Bundle of the draft orders (FHIR R4).")


class OrderSelectContext(OrderSignContext):
    selections: list[Text] = Field(min_length=1, examples=[["MedicationRequest/103"]])


PrefetchValue = dict[str, Any] | None


class _HookRequest(_In):
    hookInstance: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    fhirServer: FhirBaseUrl | None = None
    fhirAuthorization: FhirAuthorization | None = None
    prefetch: dict[str, PrefetchValue] | None = Field(
        default=None,
        description="Key -> FHIR resource or Bundle; null means the client looked and found nothing.",
    )

    @model_validator(mode="after")
    def _server_for_token(self) -> _HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required when fhirAuthorization is sent")
        return self


class PatientViewRequest(_HookRequest):
    hook: Literal["patient-view"]
    context: PatientViewContext


class OrderSelectRequest(_HookRequest):
    hook: Literal["order-select"]
    context: OrderSelectContext


class OrderSignRequest(_HookRequest):
    hook: Literal["order-sign"]
    context: OrderSignContext


HookRequest = PatientViewRequest | OrderSelectRequest | OrderSignRequest


class FeedbackCoding(_In):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class OverrideReasonFeedback(_In):
    reason: FeedbackCoding | None = None
    userComment: str | None = None


class AcceptedSuggestion(_In):
    id: Text


class FeedbackItem(_In):
    card: Text = Field(description="The card's uuid.")
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReasonFeedback | None = None
    outcomeTimestamp: datetime

    @field_validator("outcomeTimestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # RFC 3339 UTC is required; a missing zone is read as UTC rather than refused.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class FeedbackRequest(_In):
    feedback: list[FeedbackItem]
