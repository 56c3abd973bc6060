"""The FHIR Bundle request body both HTTP packages accept (api's /assessments, CDS Hooks draftOrders)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _In(BaseModel):
    model_config = ConfigDict(extra="allow")


class BundleEntry(_In):
    fullUrl: str | None = None
    resource: dict[str, Any] | None = None


class FhirBundle(_In):
    """A FHIR R4 Bundle; its resources are validated by the FHIR adapter, which names any bad field."""

    resourceType: Literal["Bundle"]
    type: str | None = None
    entry: list[BundleEntry] | None = None
