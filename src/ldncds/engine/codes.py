"""Code systems: one place that maps FHIR URIs and short names to a canonical name."""

from __future__ import annotations

CODE_SYSTEMS: dict[str, tuple[str, ...]] = {
    "ICD-10-CM": ("http://hl7.org/fhir/sid/icd-10-cm", "icd-10-cm", "icd10cm", "icd-10"),
    "SNOMED-CT": ("http://snomed.info/sct", "snomed-ct", "snomed", "sct"),
    "RxNorm": ("http://www.nlm.nih.gov/research/umls/rxnorm", "rxnorm"),
    "LOINC": ("http://loinc.org", "loinc"),
    "CPT": ("http://www.ama-assn.org/go/cpt", "cpt"),
    "HCPCS": (
        "https://www.cms.gov/medicare/coding/hcpcsreleasecodesets",
        "http://www.cms.gov/medicare/coding/hcpcsreleasecodesets",
        "hcpcs",
    ),
}
CODE_SYSTEM_URIS: dict[str, str] = {name: aliases[0] for name, aliases in CODE_SYSTEMS.items()}

_LOOKUP: dict[str, str] = {}
for _name, _aliases in CODE_SYSTEMS.items():
    _LOOKUP[_name.lower()] = _name
    for _alias in _aliases:
        _LOOKUP[_alias.lower()] = _name


def canonical_system(system: str | None) -> str | None:
    """Canonical short name of a code system, or None when it is not one the rules know."""
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
