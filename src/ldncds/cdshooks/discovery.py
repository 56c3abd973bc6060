"""The discovery document: one service per hook, each with the prefetch the rules need."""

from __future__ import annotations

from .models import Discovery, ServiceDefinition
from .prefetch import TEMPLATES

CANDIDACY = "ldn-candidacy"
ORDER_SELECT = "ldn-order-select"
ORDER_SIGN = "ldn-order-sign"

_USAGE = (
    "Needs prefetch or fhirAuthorization (to an allow-listed fhirServer) with read access to Patient, "
    "Condition, MedicationRequest and AllergyIntolerance (US Core); without them the service answers 412. "
    "MedicationStatement, MedicationDispense, MedicationAdministration, Procedure, ServiceRequest, "
    "Appointment and Observation are read when available; a missing or failed one is named in the answer."
)
_ORDER_CHECK = (
    "Checks draft medication orders against each other's blockade: a naltrexone order for a patient with a "
    "current opioid or another naltrexone hard stop (critical), an opioid order for a patient taking "
    "naltrexone (critical), and a naltrexone dose above the studied low-dose range (warning)."
)

SERVICES: dict[str, ServiceDefinition] = {
    CANDIDACY: ServiceDefinition(
        hook="patient-view",
        id=CANDIDACY,
        title="Low-dose naltrexone candidacy (chronic pain)",
        description=(
            "For adults with fibromyalgia or chronic low-back pain with radiculopathy: says whether low-dose "
            "naltrexone may be offered, names every hard stop (such as a current opioid) and caution with "
            "the record behind it, what is missing, and the titration and monitoring plan."
        ),
        prefetch=dict(TEMPLATES),
        usageRequirements=_USAGE,
    ),
    ORDER_SELECT: ServiceDefinition(
        hook="order-select",
        id=ORDER_SELECT,
        title="Naltrexone and opioid order check (on selection)",
        description=_ORDER_CHECK + " Only the selected orders are checked.",
        prefetch=dict(TEMPLATES),
        usageRequirements=_USAGE,
    ),
    ORDER_SIGN: ServiceDefinition(
        hook="order-sign",
        id=ORDER_SIGN,
        title="Naltrexone and opioid order check (before signing)",
        description=_ORDER_CHECK,
        prefetch=dict(TEMPLATES),
        usageRequirements=_USAGE,
    ),
}

DISCOVERY = Discovery(services=list(SERVICES.values()))
