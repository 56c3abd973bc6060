"""Hypothesis strategies for random but clinically shaped patients, built from the rules' own value sets."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from hypothesis import strategies as st

from ldncds.engine import PatientFacts, ValueSetRow, load_ruleset

ROOT = Path(__file__).resolve().parents[2]
ON = date(2026, 3, 1)


@lru_cache(maxsize=1)
def _rows() -> dict[str, list[ValueSetRow]]:
    return load_ruleset(ROOT / "rules").valuesets.rows


def _codes(*names: str) -> st.SearchStrategy[dict[str, str]]:
    rows = [r for n in names for r in _rows()[n] if r.match == "exact"][:400]
    return st.sampled_from(rows).map(lambda r: {"system": r.system, "code": r.code, "display": r.display})


def _keywords(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([r.code for r in _rows()[name] if r.match == "keyword"])


OTHER = st.just({"system": "SNOMED-CT", "code": "44054006", "display": "Diabetes mellitus type 2"})
OTHER_DRUG = st.just({"system": "RxNorm", "code": "860975", "display": "metformin 500 MG Oral Tablet"})
# A code no value set can read: SNOMED or NDC drug codes are not what the medication lists hold.
UNREADABLE_DRUG = st.sampled_from(
    [
        {"system": "SNOMED-CT", "code": "412307009", "display": "Drug product"},
        {"system": "http://hl7.org/fhir/sid/ndc", "code": "0093-0058-01", "display": "Tab 58"},
    ]
)


def _day(lo: int, hi: int) -> st.SearchStrategy[str | None]:
    """A date lo..hi days before ON (negative = after), sometimes partial, sometimes missing."""
    full = st.integers(lo, hi).map(lambda d: (ON - timedelta(days=d)).isoformat())
    return st.one_of(full, full.map(lambda s: s[:7]), st.none())


@st.composite
def conditions(draw: st.DrawFn) -> dict:
    coding = draw(
        st.one_of(
            _codes("fibromyalgia", "lumbar_radiculopathy", "radiculopathy_generic"),
            _codes("low_back_pain", "chronic_pain", "chronic_low_back_pain"),
            _codes(
                "pregnancy",
                "breastfeeding",
                "ckd_stage_4_5",
                "depression",
                "suicidality",
                "hashimoto_hypothyroidism",
            ),
            _codes(
                "opioid_withdrawal",
                "opioid_use_disorder_active",
                "opioid_use_disorder_remission",
                "acute_hepatitis_liver_failure",
                "long_term_opioid_use",
            ),
            _codes("organ_transplant_status", "opioid_maintenance_condition"),
            _codes(
                "ae_vivid_dreams", "ae_headache", "ae_gi_upset", "ae_dizziness", "drug_induced_liver_injury"
            ),
            OTHER,
        )
    )
    body = {
        "source": f"Condition/c{draw(st.integers(0, 10**6))}",
        "codes": [coding],
        "clinical_status": draw(
            st.sampled_from([None, "active", "active", "active", "resolved", "remission"])
        ),
        "verification_status": draw(
            st.sampled_from([None, "confirmed", "confirmed", "provisional", "refuted"])
        ),
        "onset": draw(_day(-10, 3000)),
        "recorded_date": draw(_day(0, 3000)),
        # Encounter diagnoses often come without a clinical status (None above).
        "category": draw(st.sampled_from([[], ["problem-list-item"], ["encounter-diagnosis"]])),
    }
    if draw(st.integers(0, 9)) == 0:
        body["abatement"] = draw(_day(0, 400))
        body["abated"] = True
    elif draw(st.integers(0, 19)) == 0:
        body["abated"] = True  # abatementString: abated on a day not given (active + abated: contradictory)
    return body


@st.composite
def medications(draw: st.DrawFn) -> dict:
    kind = draw(st.integers(0, 9))
    body: dict = {"source": f"MedicationRequest/m{draw(st.integers(0, 10**6))}"}
    if kind == 0:
        body["text"] = draw(_keywords("opioid_agonists")) + " 5 mg"
    elif kind == 1:
        body["text"] = "gabapentin 300 mg"
    elif kind == 2 and draw(st.booleans()):
        pass  # unidentifiable: no code, no text
    else:
        body["codes"] = [
            draw(
                st.one_of(
                    _codes("opioid_agonists", "opioid_long_acting", "opioid_maintenance"),
                    _codes("nsaids", "aspirin", "neuropathic_agents", "naltrexone"),
                    _codes("immunosuppressants", "thyroid_replacement", "opioid_antidiarrheals"),
                    _codes(
                        "buprenorphine_depot",
                        "buprenorphine_analgesic",
                        "naltrexone_full_dose",
                        "naltrexone_depot",
                        "naltrexone_combination",
                    ),
                    OTHER_DRUG,
                    UNREADABLE_DRUG,
                )
            )
        ]
    body["status"] = draw(
        st.sampled_from(
            [
                None,
                "active",
                "completed",
                "stopped",
                "on-hold",
                "cancelled",
                "unknown",
                "draft",
                "intended",
                "entered-in-error",
            ]
        )
    )
    body["start"] = draw(_day(-5, 900))
    body["end"] = draw(st.one_of(st.none(), _day(-20, 60)))
    # How the record and its end are known (a stopped order's end is only an upper bound).
    body["record"] = draw(st.sampled_from([None, "request", "statement", "dispense", "administration"]))
    body["end_basis"] = (
        draw(st.sampled_from([None, "recorded", "supply", "dispense"])) if body["end"] else None
    )
    body["daily_dose_mg"] = draw(st.one_of(st.none(), st.sampled_from([1.5, 4.5, 6.0, 50.0, 81.0, 1950.0])))
    return body


@st.composite
def procedures(draw: st.DrawFn) -> dict:
    coding = draw(
        st.one_of(
            _codes(
                "physical_therapy",
                "epidural_steroid_injection_lumbar",
                "epidural_steroid_injection_cervical_thoracic",
                "esi_lookalike_exclude",
            ),
            _codes("surgical_procedure", "ckd_stage_4_5", "organ_transplant_status"),
        )
    )
    return {
        "source": f"Procedure/p{draw(st.integers(0, 10**6))}",
        "codes": [coding],
        "status": draw(st.sampled_from([None, "completed", "preparation", "not-done", "in-progress"])),
        "performed": draw(_day(-40, 2000)),
    }


@st.composite
def allergies(draw: st.DrawFn) -> dict:
    body: dict = {"source": f"AllergyIntolerance/a{draw(st.integers(0, 10**6))}"}
    if draw(st.booleans()):
        body["codes"] = [draw(_codes("naltrexone", "naloxone", "nsaids"))]
    else:
        body["text"] = draw(st.sampled_from(["naltrexone", "penicillin", "peanuts"]))
    body["clinical_status"] = draw(st.sampled_from([None, "active", "resolved"]))
    body["type"] = draw(st.sampled_from([None, "allergy", "intolerance"]))
    body["criticality"] = draw(st.sampled_from([None, "low", "high", "unable-to-assess"]))
    return body


@st.composite
def observations(draw: st.DrawFn) -> dict:
    coding = draw(
        st.one_of(
            _codes("opiate_urine_screen", "lab_pregnancy_test", "lab_egfr", "instrument_phq9", "phq9_item9"),
            _codes(
                "instrument_pain_nrs", "instrument_odi", "instrument_promis_pain_interference", "lab_liver"
            ),
        )
    )
    return {
        "source": f"Observation/o{draw(st.integers(0, 10**6))}",
        "codes": [coding],
        "status": draw(st.sampled_from([None, "final", "preliminary", "amended"])),
        "effective": draw(_day(-2, 400)),
        "value_num": draw(
            st.one_of(st.none(), st.sampled_from([0.0, 1.0, 4.0, 7.5, 9.0, 14.0, 24.0, 50.0, 160.0]))
        ),
        "result": draw(st.sampled_from([None, "positive", "negative"])),
    }


def _section(strategy: st.SearchStrategy[dict], max_size: int) -> st.SearchStrategy[list[dict] | None]:
    return st.one_of(st.lists(strategy, max_size=max_size), st.none())


@st.composite
def patients(draw: st.DrawFn) -> PatientFacts:
    body = {
        "source": "Patient/generated",
        "birth_date": draw(st.one_of(_day(5000, 30000), st.none())),
        "sex": draw(st.sampled_from([None, "female", "male"])),
        "conditions": draw(st.one_of(st.lists(conditions(), min_size=1, max_size=4), st.none())),
        "medications": draw(_section(medications(), 6)),
        "procedures": draw(_section(procedures(), 3)),
        "allergies": draw(st.one_of(st.just([]), _section(allergies(), 2))),
        "observations": draw(_section(observations(), 3)),
        "incomplete": draw(st.sampled_from([[], [], ["medications"]])),
    }
    # Unique sources, as in a real chart (the explanation cites them).
    for section in ("conditions", "medications", "procedures", "allergies", "observations"):
        for i, item in enumerate(body[section] or []):
            item["source"] = f"{item['source'].split('/')[0]}/{section}-{i}"
    return PatientFacts.model_validate(body)
