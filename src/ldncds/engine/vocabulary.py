"""The words rules may use: fact kinds and their fields, outcomes, statuses and decisions.

The rule schema validates every rule against this vocabulary, and `derive` produces exactly these
fields, so a typo in a rule file stops start-up instead of silently never matching.
"""

from __future__ import annotations

from typing import Literal

CriterionStatus = Literal["met", "not_met", "unknown", "not_applicable"]
Decision = Literal[
    "contraindicated", "not_candidate", "insufficient_information", "candidate_with_cautions", "candidate"
]
DECISIONS: tuple[str, ...] = (
    "contraindicated",
    "not_candidate",
    "insufficient_information",
    "candidate_with_cautions",
    "candidate",
)
Phase = Literal["findings", "conclusions"]

# kind -> field -> type ("num", "str", "bool", "set")
FACT_FIELDS: dict[str, dict[str, str]] = {
    "patient": {"age_min": "num", "age_max": "num", "sex": "str", "birth_date_known": "bool"},
    "record": {"section": "str", "available": "bool", "complete": "bool"},
    "condition": {
        "value_sets": "set",
        "clinical": "str",
        "verification": "str",
        "duration_days_min": "num",
        "duration_days_max": "num",
        "duration_basis": "str",
    },
    "medication": {
        "value_sets": "set",
        "text_value_sets": "set",
        "identified": "bool",
        "exposure": "str",
        "is_order": "bool",
        "days_since_start": "num",
        "days_since_end": "num",
        "daily_dose_mg": "num",
    },
    "procedure": {"value_sets": "set", "state": "str", "days_since": "num", "days_until": "num"},
    "allergy": {"value_sets": "set", "text_value_sets": "set", "active": "bool", "verification": "str"},
    "observation": {
        "value_sets": "set",
        "usable": "bool",
        "days_since": "num",
        "value_num": "num",
        "result": "str",
        "latest_in": "set",
    },
    # Conclusion phase: the combined findings, one fact each.
    "summary": {"hard_stops": "num", "not_met": "num", "unknown": "num", "cautions": "num"},
    "caution": {"caution": "str", "days_until": "num"},
    "decision": {"value": "str"},
}
SET_FIELD_OF = {"value_set": "value_sets", "text_value_set": "text_value_sets", "latest_in": "latest_in"}

FINDINGS_KINDS = ("patient", "record", "condition", "medication", "procedure", "allergy", "observation")
CONCLUSION_KINDS = ("summary", "patient", "caution", "decision")
