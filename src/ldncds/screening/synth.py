"""A seeded synthetic population as a FHIR R4 bulk export (`Type.000.ndjson`), for tests and benchmarks.

Each patient follows one clinical story ("profile") chosen with realistic weights: candidates,
candidates with cautions, opioid and other hard stops (including patients still inside an opioid
washout), records with gaps (insufficient information) and patients outside the evidence (not
candidates), plus background conditions, medications, procedures, observations and allergies
that the rules do not act on. Codes are real and come from rules/valuesets (`CODES` names the value
set of each; a test checks every one). Same seed, count and date give byte-identical files.
Nobody here is a real person.

Medications are coded the way EHRs send them (`coding="realistic"`, the default): mostly
product-level RxNorm (SCD/SBD, e.g. "duloxetine 60 MG Delayed Release Oral Capsule"), some at
ingredient level, and some opioids as text only. `coding="ingredient"` gives the old
ingredient-only shape and `coding="product"` product codes only; the clinical stories and patient
ids do not depend on the coding (it draws from its own random stream), so the three shapes of one
seed describe the same patients and must get the same decisions.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from random import Random
from typing import Any, Literal

Coding = Literal["realistic", "product", "ingredient"]
CODINGS: tuple[str, ...] = ("realistic", "product", "ingredient")

SYSTEM = {
    "ICD-10-CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "SNOMED-CT": "http://snomed.info/sct",
    "RxNorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "LOINC": "http://loinc.org",
}
RESOURCE_TYPES = (
    "Patient",
    "Condition",
    "MedicationRequest",
    "Procedure",
    "AllergyIntolerance",
    "Observation",
)


@dataclass(frozen=True)
class Code:
    system: str  # short name, a key of SYSTEM
    code: str
    display: str
    value_set: str | None  # the rules' value set it belongs to (None: background, in no value set)
    products: tuple[tuple[str, str], ...] = ()  # RxNorm products (code, display) of this ingredient


def _drug(value_set: str, code: str, display: str, *products: tuple[str, str]) -> Code:
    """An ingredient-level RxNorm code with product codes of it (each in the same value set)."""
    return Code("RxNorm", code, display, value_set, tuple(products))


def _codes(value_set: str | None, system: str, *pairs: tuple[str, str]) -> list[Code]:
    return [Code(system, code, display, value_set) for code, display in pairs]


# Every code below is in the named rules/valuesets/<value_set>.csv (checked by tests/test_synth.py),
# or, for value_set None, in none of them.
CODES: dict[str, list[Code]] = {
    "fibromyalgia": _codes("fibromyalgia", "ICD-10-CM", ("M79.7", "Fibromyalgia"))
    + _codes("fibromyalgia", "SNOMED-CT", ("203082005", "Fibromyalgia (disorder)")),
    "lumbar_radiculopathy": _codes(
        "lumbar_radiculopathy",
        "ICD-10-CM",
        ("M54.16", "Radiculopathy, lumbar region"),
        ("M54.17", "Radiculopathy, lumbosacral region"),
        ("M51.16", "Intervertebral disc disorders with radiculopathy, lumbar region"),
        ("M54.41", "Lumbago with sciatica, right side"),
    )
    + _codes("lumbar_radiculopathy", "SNOMED-CT", ("23056005", "Sciatica (disorder)")),
    "low_back_pain": _codes(
        "low_back_pain",
        "ICD-10-CM",
        ("M54.50", "Low back pain, unspecified"),
        ("M54.59", "Other low back pain"),
    ),
    "chronic_pain": _codes(
        "chronic_pain", "ICD-10-CM", ("G89.29", "Other chronic pain"), ("G89.4", "Chronic pain syndrome")
    ),
    "physical_therapy": _codes(
        "physical_therapy",
        "CPT",
        ("97110", "Therapeutic exercises"),
        ("97161", "Physical therapy evaluation, low complexity"),
        ("97140", "Manual therapy techniques"),
    ),
    "epidural_steroid_injection": _codes(
        "epidural_steroid_injection_lumbar",
        "CPT",
        ("64483", "Transforaminal epidural injection, lumbar or sacral, single level"),
        ("62323", "Interlaminar epidural injection, lumbar or sacral, with imaging guidance"),
    ),
    "nsaids": [
        _drug(
            "nsaids",
            "5640",
            "ibuprofen",
            ("197807", "ibuprofen 800 MG Oral Tablet"),
            ("310965", "Ibuprofen 200 MG Oral Tablet"),
            ("206905", "Ibuprofen 400 MG Oral Tablet [Ibu]"),
        ),
        _drug(
            "nsaids",
            "7258",
            "naproxen",
            ("198014", "naproxen 500 MG Oral Tablet"),
            ("849574", "Naproxen sodium 220 MG Oral Tablet"),
        ),
    ],
    "neuropathic_agents": [
        _drug(
            "neuropathic_agents",
            "25480",
            "gabapentin",
            ("310431", "gabapentin 300 MG Oral Capsule"),
            ("310432", "gabapentin 400 MG Oral Capsule"),
        ),
        _drug(
            "neuropathic_agents",
            "72625",
            "duloxetine",
            ("596934", "duloxetine 60 MG Delayed Release Oral Capsule"),
            ("596926", "duloxetine 20 MG Delayed Release Oral Capsule"),
        ),
        _drug(
            "neuropathic_agents",
            "704",
            "amitriptyline",
            ("856845", "amitriptyline hydrochloride 50 MG Oral Tablet"),
        ),
    ],
    "opioid_short": [
        _drug("opioid_agonists", "10689", "tramadol", ("835603", "tramadol hydrochloride 50 MG Oral Tablet")),
        _drug(
            "opioid_agonists", "7804", "oxycodone", ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
        ),
        _drug(
            "opioid_agonists",
            "5489",
            "hydrocodone",
            ("856980", "acetaminophen 300 MG / hydrocodone bitartrate 10 MG Oral Tablet"),
        ),
    ],
    "opioid_long": [
        _drug(
            "opioid_long_acting", "6813", "methadone", ("864706", "methadone hydrochloride 10 MG Oral Tablet")
        ),
        _drug(
            "opioid_long_acting",
            "1819",
            "buprenorphine",
            ("904870", "168 HR buprenorphine 0.01 MG/HR Transdermal System"),
        ),
    ],
    "opioid_maintenance": [
        _drug(
            "opioid_maintenance",
            "1819",
            "buprenorphine",
            ("1010600", "buprenorphine 2 MG / naloxone 0.5 MG Sublingual Film"),
        )
    ],
    "naltrexone": _codes("naltrexone", "RxNorm", ("7243", "naltrexone")),
    "long_term_opioid_use": _codes(
        "long_term_opioid_use", "ICD-10-CM", ("Z79.891", "Long term (current) use of opiate analgesic")
    ),
    "acute_hepatitis_liver_failure": _codes(
        "acute_hepatitis_liver_failure",
        "ICD-10-CM",
        ("K72.00", "Acute and subacute hepatic failure without coma"),
    ),
    "opiate_urine_screen": _codes(
        "opiate_urine_screen", "LOINC", ("19295-5", "Opiates [Presence] in Urine by Screen method")
    ),
    "hashimoto_hypothyroidism": _codes(
        "hashimoto_hypothyroidism", "ICD-10-CM", ("E06.3", "Autoimmune thyroiditis")
    ),
    "thyroid_replacement": [
        _drug(
            "thyroid_replacement",
            "10582",
            "levothyroxine",
            ("966222", "levothyroxine sodium 0.075 MG Oral Tablet"),
            ("966247", "levothyroxine sodium 0.05 MG Oral Tablet [Synthroid]"),
        )
    ],
    "ckd_stage_4_5": _codes(
        "ckd_stage_4_5", "SNOMED-CT", ("431857002", "Chronic kidney disease stage 4 (disorder)")
    ),
    "depression": _codes(
        "depression", "ICD-10-CM", ("F32.9", "Major depressive disorder, single episode, unspecified")
    ),
    "organ_transplant_status": _codes(
        "organ_transplant_status", "ICD-10-CM", ("Z94.0", "Kidney transplant status")
    ),
    "immunosuppressants": [
        _drug(
            "immunosuppressants",
            "42316",
            "tacrolimus",
            ("198377", "tacrolimus 1 MG Oral Capsule"),
            ("1664463", "24 HR tacrolimus 1 MG Extended Release Oral Tablet [Envarsus]"),
        )
    ],
    "opioid_antidiarrheals": [
        _drug(
            "opioid_antidiarrheals",
            "6468",
            "loperamide",
            ("978010", "loperamide hydrochloride 2 MG Oral Tablet"),
        )
    ],
    "instrument_phq9": _codes(
        "instrument_phq9",
        "LOINC",
        ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
    ),
    "instrument_pain_nrs": _codes(
        "instrument_pain_nrs",
        "LOINC",
        ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    ),
    # Background: real codes the rules do not act on (several as seen in the Synthea sample).
    "other_condition": _codes(
        None,
        "SNOMED-CT",
        ("59621000", "Essential hypertension (disorder)"),
        ("15777000", "Prediabetes (finding)"),
        ("40055000", "Chronic sinusitis (disorder)"),
        ("239872002", "Osteoarthritis of hip (disorder)"),
        ("444814009", "Viral sinusitis (disorder)"),
        ("55822004", "Hyperlipidemia (disorder)"),
    ),
    "knee_osteoarthritis": _codes(None, "SNOMED-CT", ("239873007", "Osteoarthritis of knee (disorder)")),
    "other_medication": _codes(
        None,
        "RxNorm",
        ("314076", "lisinopril 10 MG Oral Tablet"),
        ("197361", "amlodipine 5 MG Oral Tablet"),
        ("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"),
        ("313782", "acetaminophen 325 MG Oral Tablet"),
    ),
    "other_procedure": _codes(
        None,
        "SNOMED-CT",
        ("430193006", "Medication Reconciliation (procedure)"),
        ("171207006", "Depression screening (procedure)"),
        ("710824005", "Assessment of health and social care needs (procedure)"),
    ),
    "other_observation": _codes(None, "LOINC", ("29463-7", "Body weight"), ("8867-4", "Heart rate")),
    "other_allergy": _codes(
        None, "SNOMED-CT", ("442571000124108", "Tree nut (substance)"), ("256259004", "Pollen (substance)")
    ),
}

# (profile, weight, intended decision). Weights give roughly 20% candidates, 10% with cautions,
# 25% contraindicated (half of them by opioids still inside their washout), 25% insufficient
# information and 20% not candidates.
PROFILES: list[tuple[str, float, str]] = [
    ("candidate", 0.20, "candidate"),
    ("caution", 0.10, "candidate_with_cautions"),
    ("opioid_current", 0.07, "contraindicated"),
    ("opioid_washout_short", 0.06, "contraindicated"),
    ("opioid_washout_long", 0.04, "contraindicated"),
    ("other_hard_stop", 0.08, "contraindicated"),
    ("gap", 0.25, "insufficient_information"),
    ("outside_evidence", 0.20, "not_candidate"),
]
_CAUTIONS = ("thyroid", "renal", "depression", "phq9", "transplant", "antidiarrheal", "surgery")
_HARD_STOPS = ("maintenance", "allergy", "urine_screen", "long_term_use", "liver")
_GAPS = (
    "no_pt",
    "no_neuropathic",
    "no_birth_date",
    "generic_chronic_pain",
    "no_esi",
    "provisional",
    "no_nsaid",
    "stopped_trial",
)
_OUTSIDE = ("axial_back_pain", "knee_oa", "under_18", "recent_onset")
_FAMILY = (
    "Rivera",
    "Okafor",
    "Lindqvist",
    "Nguyen",
    "Kowalski",
    "Haddad",
    "Moreau",
    "Tanaka",
    "Silva",
    "Byrne",
)
_GIVEN = ("Alex", "Sam", "Robin", "Jordan", "Kim", "Maria", "Ahmed", "Li", "Noa", "Elena", "Tomas", "Priya")


@dataclass
class SynthSummary:
    patients: int = 0
    resources: Counter[str] = field(default_factory=Counter)
    profiles: Counter[str] = field(default_factory=Counter)
    intended: Counter[str] = field(default_factory=Counter)


class _Patient:
    """Builds one patient's resources; every random draw goes through the population's Random."""

    def __init__(
        self, rng: Random, on: date, coding: Coding = "realistic", coding_rng: Random | None = None
    ) -> None:
        self.rng, self.on = rng, on
        # How a drug is coded draws from its own stream: the story is the same whatever the coding.
        self.coding, self.coding_rng = coding, coding_rng or Random(0)
        self.id = self.uid()
        self.ref = {"reference": f"Patient/{self.id}"}
        self.out: dict[str, list[dict[str, Any]]] = {t: [] for t in RESOURCE_TYPES}

    # ---------------------------------------------------------------- helpers
    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def ago(self, low: int, high: int) -> date:
        return self.on - timedelta(days=self.rng.randint(low, high))

    def instant(self, day: date) -> str:
        return (
            f"{day.isoformat()}T{self.rng.randint(7, 18):02d}:{self.rng.choice((0, 15, 30, 45)):02d}:00-05:00"
        )

    def pick(self, group: str) -> Code:
        return self.rng.choice(CODES[group])

    def drug_concept(self, code: Code) -> dict[str, Any]:
        """medicationCodeableConcept as EHRs send it: product, ingredient or (opioids) text only."""
        if not code.products or self.coding == "ingredient":
            return self.concept(code)
        draw = self.coding_rng.random()
        product_code, display = self.coding_rng.choice(code.products)
        product = Code(code.system, product_code, display, code.value_set)
        if self.coding == "product" or draw < 0.7:
            return self.concept(product)
        if (
            draw < 0.9
            or not (code.value_set or "").startswith("opioid_")
            or code.value_set == "opioid_antidiarrheals"
        ):
            return self.concept(code)
        return {"text": display}  # an uncoded opioid entry: blocks by its name

    @staticmethod
    def concept(code: Code) -> dict[str, Any]:
        return {
            "coding": [{"system": SYSTEM[code.system], "code": code.code, "display": code.display}],
            "text": code.display,
        }

    # ---------------------------------------------------------------- resources
    def patient(self, *, age: int | None, sex: str | None = None) -> None:
        sex = sex or self.rng.choice(("female", "male"))
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.id,
            "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
            "identifier": [
                {
                    "system": "urn:oid:2.16.840.1.113883.19.5.99999",
                    "value": f"SYN{self.rng.randrange(10**9):09d}",
                }
            ],
            "name": [
                {"use": "official", "family": self.rng.choice(_FAMILY), "given": [self.rng.choice(_GIVEN)]}
            ],
            "gender": sex,
        }
        if age is not None:
            resource["birthDate"] = (
                self.on - timedelta(days=365 * age + self.rng.randint(10, 340))
            ).isoformat()
        self.out["Patient"].append(resource)

    def condition(
        self,
        code: Code,
        *,
        onset: date | None,
        status: str = "active",
        verification: str = "confirmed",
        recorded: date | None = None,
    ) -> None:
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self.uid(),
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": verification,
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                            "display": "Problem List Item",
                        }
                    ]
                }
            ],
            "code": self.concept(code),
            "subject": self.ref,
        }
        if onset is not None:
            resource["onsetDateTime"] = self.instant(onset)
        recorded = recorded or onset
        if recorded is not None:
            resource["recordedDate"] = self.instant(recorded)
        if status == "resolved" and onset is not None:
            resource["abatementDateTime"] = self.instant(
                min(self.on - timedelta(days=1), onset + timedelta(days=20))
            )
        self.out["Condition"].append(resource)

    def medication(
        self,
        code: Code,
        *,
        start: date,
        end: date | None,
        dose_mg: float | None = None,
        status: str | None = None,
    ) -> None:
        """An order: active when `end` is None, else `status` (stopped or completed when not given)
        with the planned end date."""
        bounds: dict[str, str] = {"start": start.isoformat()}
        if end is not None:
            bounds["end"] = end.isoformat()
        dosage: dict[str, Any] = {
            "sequence": 1,
            "text": "as directed",
            "timing": {"repeat": {"boundsPeriod": bounds, "frequency": 1, "period": 1, "periodUnit": "d"}},
        }
        if dose_mg is not None:
            dosage["doseAndRate"] = [
                {
                    "doseQuantity": {
                        "value": dose_mg,
                        "unit": "mg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mg",
                    }
                }
            ]
        self.out["MedicationRequest"].append(
            {
                "resourceType": "MedicationRequest",
                "id": self.uid(),
                "status": status or ("active" if end is None else self.rng.choice(("stopped", "completed"))),
                "intent": "order",
                "medicationCodeableConcept": self.drug_concept(code),
                "subject": self.ref,
                "authoredOn": self.instant(start),
                "dosageInstruction": [dosage],
            }
        )

    def procedure(
        self, code: Code, *, when: date, status: str = "completed", category: Code | None = None
    ) -> None:
        resource: dict[str, Any] = {"resourceType": "Procedure", "id": self.uid(), "status": status}
        if category is not None:
            resource["category"] = self.concept(category)
        resource |= {"code": self.concept(code), "subject": self.ref}
        if status == "completed":
            resource["performedPeriod"] = {"start": self.instant(when), "end": self.instant(when)}
        else:
            resource["performedDateTime"] = self.instant(when)
        self.out["Procedure"].append(resource)

    def observation(self, code: Code, *, when: date, value: dict[str, Any], category: str = "survey") -> None:
        self.out["Observation"].append(
            {
                "resourceType": "Observation",
                "id": self.uid(),
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": category,
                            }
                        ]
                    }
                ],
                "code": self.concept(code),
                "subject": self.ref,
                "effectiveDateTime": self.instant(when),
                **value,
            }
        )

    def allergy(self, code: Code) -> None:
        self.out["AllergyIntolerance"].append(
            {
                "resourceType": "AllergyIntolerance",
                "id": self.uid(),
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                            "code": "active",
                        }
                    ]
                },
                "verificationStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                            "code": "confirmed",
                        }
                    ]
                },
                "type": "allergy",
                "category": ["medication" if code.system == "RxNorm" else "environment"],
                "criticality": "low",
                "code": self.concept(code),
                "patient": self.ref,
                "recordedDate": self.instant(self.ago(200, 4000)),
            }
        )


# ---------------------------------------------------------------------------------------------------------
# Clinical stories


def _background(p: _Patient) -> None:
    """What most charts carry besides the pain story: none of it matters to the rules."""
    rng = p.rng
    heavy = rng.random() < 0.03  # a few long charts, as in real exports
    for _ in range(rng.randint(0, 3) + (rng.randint(10, 30) if heavy else 0)):
        status = rng.choice(("active", "resolved", "resolved"))
        p.condition(p.pick("other_condition"), onset=p.ago(200, 6000), status=status)
    for _ in range(rng.randint(0, 2) + (rng.randint(5, 20) if heavy else 0)):
        start = p.ago(30, 3000)
        p.medication(
            p.pick("other_medication"),
            start=start,
            end=None if rng.random() < 0.4 else start + timedelta(days=rng.randint(10, 25)),
        )
    for _ in range(rng.randint(0, 2)):
        p.procedure(p.pick("other_procedure"), when=p.ago(10, 2000))
    p.observation(p.pick("instrument_pain_nrs"), when=p.ago(1, 60), value={"valueInteger": rng.randint(4, 9)})
    if rng.random() < 0.5:
        p.observation(
            CODES["other_observation"][0],
            when=p.ago(1, 200),
            category="vital-signs",
            value={
                "valueQuantity": {
                    "value": rng.randint(50, 110),
                    "unit": "kg",
                    "system": "http://unitsofmeasure.org",
                    "code": "kg",
                }
            },
        )
    if rng.random() < 0.15:
        p.allergy(p.pick("other_allergy"))


def _pain_story(
    p: _Patient,
    *,
    pathway: str | None = None,
    skip: frozenset[str] = frozenset(),
    neuropathic_stopped: bool = False,
) -> str:
    """An eligible pain history (diagnosis > 90 days, PT, NSAID, neuropathic agent, ESI if radicular)."""
    rng = p.rng
    pathway = pathway or ("fibromyalgia" if rng.random() < 0.6 else "radiculopathy")
    onset = p.ago(120, 3000)
    dx = p.pick("fibromyalgia" if pathway == "fibromyalgia" else "lumbar_radiculopathy")
    if "diagnosis" not in skip:
        p.condition(dx, onset=onset)
    if "pt" not in skip:
        p.procedure(p.pick("physical_therapy"), when=p.ago(45, 110))  # a course begun > 6 weeks ago
    if "nsaid" not in skip:
        start = p.ago(60, 400)
        end = start + timedelta(days=rng.randint(14, 45))
        p.medication(p.pick("nsaids"), start=start, end=end, status="completed")
    if "neuropathic" not in skip:
        # A trial is a completed course: a stopped order records no stop day (the "stopped_trial" gap).
        status = "stopped" if neuropathic_stopped else "completed"
        start = p.ago(60, 400)
        p.medication(
            p.pick("neuropathic_agents"),
            start=start,
            end=start + timedelta(days=rng.randint(30, 120)),
            dose_mg=rng.choice((300.0, 60.0, 25.0)),
            status=status,
        )
    if pathway == "radiculopathy" and "esi" not in skip:
        p.procedure(p.pick("epidural_steroid_injection"), when=p.ago(40, 300))
    if rng.random() < 0.2:  # an opioid course long finished: its washout has passed
        end = p.ago(60, 900)
        p.medication(p.pick("opioid_short"), start=end - timedelta(days=rng.randint(3, 10)), end=end)
    return pathway


def _candidate(p: _Patient) -> str:
    p.patient(age=p.rng.randint(22, 78))
    _pain_story(p)
    return "candidate"


def _caution(p: _Patient) -> str:
    kind = p.rng.choice(_CAUTIONS)
    p.patient(age=p.rng.randint(22, 78))
    _pain_story(p)
    if kind == "thyroid":
        p.condition(p.pick("hashimoto_hypothyroidism"), onset=p.ago(400, 5000))
        p.medication(p.pick("thyroid_replacement"), start=p.ago(300, 3000), end=None, dose_mg=0.1)
    elif kind == "renal":
        p.condition(p.pick("ckd_stage_4_5"), onset=p.ago(200, 3000))
    elif kind == "depression":
        p.condition(p.pick("depression"), onset=p.ago(100, 3000))
    elif kind == "phq9":
        p.observation(
            p.pick("instrument_phq9"), when=p.ago(5, 120), value={"valueInteger": p.rng.randint(10, 19)}
        )
    elif kind == "transplant":
        p.condition(p.pick("organ_transplant_status"), onset=p.ago(400, 4000))
        p.medication(p.pick("immunosuppressants"), start=p.ago(300, 3000), end=None, dose_mg=1.0)
    elif kind == "antidiarrheal":
        p.medication(p.pick("opioid_antidiarrheals"), start=p.ago(1, 10), end=None, dose_mg=2.0)
    else:  # planned surgery within 30 days
        surgery = Code("SNOMED-CT", "387713003", "Surgical procedure (procedure)", "surgical_procedure")
        p.procedure(
            p.pick("other_procedure"),
            when=p.on + timedelta(days=p.rng.randint(3, 25)),
            status="preparation",
            category=surgery,
        )
    return f"caution:{kind}"


def _opioid_current(p: _Patient) -> str:
    p.patient(age=p.rng.randint(22, 85))
    _pain_story(p)
    p.medication(
        p.pick("opioid_short"), start=p.ago(3, 200), end=None, dose_mg=p.rng.choice((50.0, 5.0, 10.0))
    )
    return "opioid:current"


def _opioid_washout_short(p: _Patient) -> str:
    p.patient(age=p.rng.randint(22, 85))
    _pain_story(p)
    end = p.ago(0, 6)  # ended less than 7 days ago: earliest start = end + 7 days
    p.medication(p.pick("opioid_short"), start=end - timedelta(days=p.rng.randint(3, 20)), end=end)
    return "opioid:washout_short"


def _opioid_washout_long(p: _Patient) -> str:
    p.patient(age=p.rng.randint(22, 85))
    _pain_story(p)
    end = p.ago(0, 13)  # long-acting, ended less than 14 days ago
    p.medication(p.pick("opioid_long"), start=end - timedelta(days=p.rng.randint(20, 200)), end=end)
    return "opioid:washout_long"


def _other_hard_stop(p: _Patient) -> str:
    kind = p.rng.choice(_HARD_STOPS)
    p.patient(age=p.rng.randint(22, 80))
    _pain_story(p)
    if kind == "maintenance":
        p.medication(p.pick("opioid_maintenance"), start=p.ago(30, 900), end=None, dose_mg=8.0)
    elif kind == "allergy":
        p.allergy(p.pick("naltrexone"))
    elif kind == "urine_screen":
        positive = {
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": SYSTEM["SNOMED-CT"],
                        "code": "10828004",
                        "display": "Positive (qualifier value)",
                    }
                ]
            }
        }
        p.observation(p.pick("opiate_urine_screen"), when=p.ago(0, 10), value=positive, category="laboratory")
    elif kind == "long_term_use":
        p.condition(p.pick("long_term_opioid_use"), onset=p.ago(200, 2000))
    else:
        p.condition(p.pick("acute_hepatitis_liver_failure"), onset=p.ago(5, 60))
    return f"hard_stop:{kind}"


def _gap(p: _Patient) -> str:
    kind = p.rng.choice(_GAPS)
    p.patient(age=None if kind == "no_birth_date" else p.rng.randint(22, 80))
    if kind == "generic_chronic_pain":
        _pain_story(p, skip=frozenset({"diagnosis"}))
        p.condition(p.pick("chronic_pain"), onset=p.ago(200, 3000))
    elif kind == "provisional":
        _pain_story(p, pathway="fibromyalgia", skip=frozenset({"diagnosis"}))
        p.condition(p.pick("fibromyalgia"), onset=p.ago(200, 3000), verification="provisional")
    else:
        skip = {
            "no_pt": "pt",
            "no_neuropathic": "neuropathic",
            "no_esi": "esi",
            "no_nsaid": "nsaid",
        }.get(kind, "")
        pathway = "radiculopathy" if kind == "no_esi" else None
        _pain_story(p, pathway=pathway, skip=frozenset({skip}), neuropathic_stopped=kind == "stopped_trial")
    return f"gap:{kind}"


def _outside(p: _Patient) -> str:
    kind = p.rng.choice(_OUTSIDE)
    if kind == "under_18":
        p.patient(age=p.rng.randint(13, 16))
        _pain_story(p, pathway="fibromyalgia")
    elif kind == "recent_onset":
        p.patient(age=p.rng.randint(22, 80))
        _pain_story(p, pathway="fibromyalgia", skip=frozenset({"diagnosis"}))
        p.condition(p.pick("fibromyalgia"), onset=p.ago(10, 60))
    else:
        p.patient(age=p.rng.randint(22, 80))
        _pain_story(p, skip=frozenset({"diagnosis"}))
        p.condition(
            p.pick("low_back_pain" if kind == "axial_back_pain" else "knee_osteoarthritis"),
            onset=p.ago(200, 3000),
        )
    return f"outside:{kind}"


_STORIES: dict[str, Callable[[_Patient], str]] = {
    "candidate": _candidate,
    "caution": _caution,
    "opioid_current": _opioid_current,
    "opioid_washout_short": _opioid_washout_short,
    "opioid_washout_long": _opioid_washout_long,
    "other_hard_stop": _other_hard_stop,
    "gap": _gap,
    "outside_evidence": _outside,
}


def _choose_profile(rng: Random) -> tuple[str, str]:
    draw, total = rng.random(), 0.0
    for name, weight, intended in PROFILES:
        total += weight
        if draw < total:
            return name, intended
    return PROFILES[-1][0], PROFILES[-1][2]


def generate_population(
    count: int, out_dir: Path, *, seed: int = 0, on: date, coding: Coding = "realistic"
) -> SynthSummary:
    """Write `count` patients as `Type.000.ndjson` files in out_dir (created if needed)."""
    if count < 0:
        raise ValueError("count must be 0 or more")
    if coding not in CODINGS:
        raise ValueError(f"coding must be one of {', '.join(CODINGS)}")
    coding_rng = Random(f"coding:{seed}")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = Random(seed)
    summary = SynthSummary()
    handles = {
        t: (out_dir / f"{t}.000.ndjson").open("w", encoding="utf-8", newline="\n") for t in RESOURCE_TYPES
    }
    try:
        for _ in range(count):
            patient = _Patient(rng, on, coding, coding_rng)
            profile, intended = _choose_profile(rng)
            summary.profiles[_STORIES[profile](patient)] += 1
            summary.intended[intended] += 1
            _background(patient)
            for rtype, resources in patient.out.items():
                for resource in resources:
                    handles[rtype].write(
                        json.dumps(resource, separators=(",", ":"), ensure_ascii=False) + "\n"
                    )
                summary.resources[rtype] += len(resources)
            summary.patients += 1
    finally:
        for handle in handles.values():
            handle.close()
    return summary
