"""The words rules may use: fact kinds and their fields, outcomes, statuses and decisions.

The rule schema validates every rule against this vocabulary, and `derive` produces exactly these
fields, so a typo in a rule file stops start-up instead of silently never matching.
"""

from __future__ import annotations

from typing import Literal

CriterionStatus = Literal["met", "not_met", "unknown", "not_applicable"]
Decision = Literal[
    "contraindicated",
    "on_therapy",
    "not_candidate",
    "insufficient_information",
    "candidate_with_cautions",
    "candidate",
]
DECISIONS: tuple[str, ...] = (
    "contraindicated",
    "on_therapy",
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
        # Days since the record was last dated (recorded or onset): how recent a status-less entry is.
        "days_since_recorded": "num",
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
        # Days taken up to the evaluation date (shortest the dates allow); absent when unknown.
        "trial_days": "num",
    },
    "procedure": {"value_sets": "set", "state": "str", "days_since": "num", "days_until": "num"},
    "allergy": {
        "value_sets": "set",
        "text_value_sets": "set",
        "active": "bool",
        "verification": "str",
        "type": "str",  # allergy | intolerance | unknown
        "criticality": "str",  # low | high | unable-to-assess | unknown
    },
    "observation": {
        "value_sets": "set",
        "usable": "bool",
        "days_since": "num",
        "value_num": "num",
        "result": "str",
        "latest_in": "set",
        # A usable negative result of the same test dated after this one (a positive screen is lifted).
        "later_negative": "bool",
    },
    # Naltrexone already taken (one fact, only when there is a current or past course).
    "therapy": {
        "status": "str",
        "daily_dose_mg": "num",
        "days_on_therapy": "num",
        "days_at_current_dose": "num",
        "days_since_end": "num",
    },
    # Change since baseline of one outcome instrument (value sets named instrument_*), while on therapy.
    "response": {
        "instrument": "str",
        "baseline_known": "bool",
        "followup_known": "bool",
        "change_abs": "num",
        "change_pct": "num",
        "days_on_therapy": "num",
        "days_at_current_dose": "num",
        "daily_dose_mg": "num",
    },
    # Conclusion phase: the combined findings, one fact each.
    "summary": {
        "hard_stops": "num",
        "not_met": "num",
        "unknown": "num",
        "cautions": "num",
        "on_therapy": "num",
    },
    "response_summary": {
        "evaluated": "num",
        "important": "num",
        "substantial": "num",
        "too_early": "num",
        "no_baseline": "num",
        "not_measured": "num",
    },
    "caution": {"caution": "str"},
    "decision": {"value": "str"},
}
SET_FIELD_OF = {"value_set": "value_sets", "text_value_set": "text_value_sets", "latest_in": "latest_in"}

FINDINGS_KINDS = (
    "patient",
    "record",
    "condition",
    "medication",
    "procedure",
    "allergy",
    "observation",
    "therapy",
    "response",
)
CONCLUSION_KINDS = ("summary", "patient", "caution", "decision", "response_summary")
ResponseStatus = Literal[
    "substantial", "important", "not_important", "too_early", "no_baseline", "not_measured"
]
OverallResponse = Literal[
    "substantial_responder", "responder", "non_responder", "too_early", "no_baseline", "not_measured"
]
