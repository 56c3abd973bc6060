"""Code systems: one table that maps FHIR URIs, OIDs and short names to a canonical name.

EHRs and published value sets name the same code system in several ways: the FHIR URI, an older
or https variant of it, the HL7 OID (bare or as `urn:oid:`), or a short name. Every reader in the
project (the FHIR adapter, the value-set importer, the loader) goes through `canonical_system`, so a
code written one way matches a value-set row written another.
"""

from __future__ import annotations

from typing import NamedTuple


class CodeSystem(NamedTuple):
    uri: str  # the FHIR canonical URI, written on export (cards, value-set files)
    oid: str | None  # the HL7 OID (HL7 v3 / CDA / VSAC)
    aliases: tuple[str, ...]  # other URIs and short names seen in records and published value sets


# Sources: FHIR R4 terminology pages (https://hl7.org/fhir/R4/terminologies-systems.html) and the
# HL7 OID registry; the alternative URIs are the ones found in the published value sets imported
# into rules/valuesets (see /docs of the importer and rules/valuesets/*.meta.yaml).
SYSTEM_TABLE: dict[str, CodeSystem] = {
    "RxNorm": CodeSystem(
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "2.16.840.1.113883.6.88",
        ("https://www.nlm.nih.gov/research/umls/rxnorm", "rxnorm", "rxnorm-cui"),
    ),
    "SNOMED-CT": CodeSystem(
        "http://snomed.info/sct",
        "2.16.840.1.113883.6.96",
        ("https://snomed.info/sct", "snomed-ct", "snomed", "sct", "snomedct"),
    ),
    "ICD-10-CM": CodeSystem(
        "http://hl7.org/fhir/sid/icd-10-cm",
        "2.16.840.1.113883.6.90",
        ("https://hl7.org/fhir/sid/icd-10-cm", "icd-10-cm", "icd10cm", "icd-10"),
    ),
    "ICD-9-CM": CodeSystem(
        "http://hl7.org/fhir/sid/icd-9-cm",
        "2.16.840.1.113883.6.103",
        ("http://terminology.hl7.org/CodeSystem/icd9cm", "icd-9-cm", "icd9cm"),
    ),
    "LOINC": CodeSystem("http://loinc.org", "2.16.840.1.113883.6.1", ("https://loinc.org", "loinc")),
    "CPT": CodeSystem(
        "http://www.ama-assn.org/go/cpt",
        "2.16.840.1.113883.6.12",
        ("https://www.ama-assn.org/go/cpt", "cpt", "cpt-4"),
    ),
    "HCPCS": CodeSystem(
        "https://www.cms.gov/medicare/coding/hcpcsreleasecodesets",
        "2.16.840.1.113883.6.285",
        (
            "http://www.cms.gov/medicare/coding/hcpcsreleasecodesets",
            "http://terminology.hl7.org/CodeSystem/HCPCS",
            "urn:oid:2.16.840.1.113883.6.14",
            "hcpcs",
        ),
    ),
    "NDC": CodeSystem("http://hl7.org/fhir/sid/ndc", "2.16.840.1.113883.6.69", ("ndc",)),
    # Observation interpretation: positive/negative flags of lab results (read by the FHIR adapter).
    "v3-ObservationInterpretation": CodeSystem(
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "2.16.840.1.113883.5.83",
        ("http://hl7.org/fhir/v3/ObservationInterpretation",),
    ),
    "v2-0078": CodeSystem(
        "http://terminology.hl7.org/CodeSystem/v2-0078",
        "2.16.840.1.113883.12.78",
        ("http://hl7.org/fhir/v2/0078",),
    ),
}
INTERPRETATION_SYSTEMS = frozenset({"v2-0078", "v3-ObservationInterpretation"})
# Systems a value-set row may name (interpretation systems hold flags, not clinical concepts).
CODE_SYSTEMS: dict[str, tuple[str, ...]] = {
    name: (cs.uri, *cs.aliases) for name, cs in SYSTEM_TABLE.items() if name not in INTERPRETATION_SYSTEMS
}
CODE_SYSTEM_URIS: dict[str, str] = {name: cs.uri for name, cs in SYSTEM_TABLE.items()}

_LOOKUP: dict[str, str] = {}
for _name, _cs in SYSTEM_TABLE.items():
    for _alias in (_name, _cs.uri, *_cs.aliases):
        _LOOKUP[_alias.lower()] = _name
    if _cs.oid:
        _LOOKUP[_cs.oid] = _name
        _LOOKUP[f"urn:oid:{_cs.oid}"] = _name


def canonical_system(system: str | None) -> str | None:
    """Canonical short name of a code system given by name, URI or OID; None when not one we know."""
    if not system:
        return None
    return _LOOKUP.get(system.strip().rstrip("/").lower())


def canonical_code(system: str, code: str) -> str:
    """Normalise a code for matching: ICD-10-CM may arrive with or without its dot."""
    code = code.strip()
    if system == "ICD-10-CM":
        code = code.upper().replace(".", "")
        return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"
    return code
