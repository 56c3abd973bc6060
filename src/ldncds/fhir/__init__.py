"""FHIR R4 input: turns prefetch sections, Bundles and bulk-export groups into engine `PatientFacts`."""

from ldncds.fhir.adapter import (
    MISSING,
    SECTION_TYPES,
    FhirInputError,
    MappingResult,
    Missing,
    facts_from_bundle,
    facts_from_ndjson_group,
    facts_from_resources,
)

__all__ = [
    "MISSING",
    "SECTION_TYPES",
    "FhirInputError",
    "MappingResult",
    "Missing",
    "facts_from_bundle",
    "facts_from_ndjson_group",
    "facts_from_resources",
]
