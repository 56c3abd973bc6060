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

# Value sets of outcome instruments are named instrument_*; each has a scale, parameters
# <name>_scale_min and <name>_scale_max (loader checks), and one response fact on therapy.
INSTRUMENT_PREFIX = "instrument_"
SCALE_ENDS = ("_scale_min", "_scale_max")

# kind -> field -> type ("num", "str", "bool", "set")
FACT_FIELDS: dict[str, dict[str, str]] = {
    "patient": {
        "age_min": "num",
        "age_max": "num",
        "sex": "str",
        "birth_date_known": "bool",
        "death_date_after_evaluation": "bool",
    },
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
        # The onset is later than the date the condition was recorded (a data error to correct).
        "onset_after_recorded": "bool",
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
        # The value (in value_unit), when exact; value_max / value_min: the most / least it can be
        # (the value itself, or the bound of a '<15' / '>60' result).
        "value_num": "num",
        "value_max": "num",
        "value_min": "num",
        "value_unit": "str",  # UCUM, one spelling per unit (engine.units); as written when unknown
        "result": "str",
        "latest_in": "set",
        # Value sets this is the newest result of, whatever its status (preliminary included): a
        # preliminary result newer than every final one may caution, never qualify.
        "newest_in": "set",
        # Value sets the coded answer is in (e.g. a LOINC answer code of PHQ-9 item 9).
        "answer_sets": "set",
        # A value was read: a number, a qualitative result, or a coded answer in a value set.
        "value_read": "bool",
        # A usable negative result of the same test dated after this one (a positive screen is lifted).
        "later_negative": "bool",
        # Instrument value sets (instrument_*) whose scale the value falls outside: not a score.
        "off_scale_in": "set",
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
        "baseline_value": "num",  # the baseline score itself (at the scale's floor: nothing to reduce)
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
SET_FIELD_OF = {
    "value_set": "value_sets",
    "text_value_set": "text_value_sets",
    "latest_in": "latest_in",
    "answer_in": "answer_sets",
    "newest_in": "newest_in",
    "off_scale_in": "off_scale_in",
}

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

# ---------------------------------------------------------------- typed rules
# The unit of every numeric field, so a rule can only compare it with a number or with a parameter
# of the same unit (`days_since_end: {lt: washout_short_days}`). None: the unit depends on the
# instrument or lab (e.g. observation value_num), so any numeric parameter may be compared.
UNITS = (
    "days",
    "years",
    "mg/day",
    "percent",
    "points",
    "count",
    "score",
    "mL/min/1.73m2",
    "mg/L",
    "weeks",
    "U/L",
)
FIELD_UNITS: dict[str, str | None] = {
    "age_min": "years",
    "age_max": "years",
    "duration_days_min": "days",
    "duration_days_max": "days",
    "days_since_start": "days",
    "days_since_end": "days",
    "days_since_recorded": "days",
    "trial_days": "days",
    "days_since": "days",
    "days_until": "days",
    "days_on_therapy": "days",
    "days_at_current_dose": "days",
    "daily_dose_mg": "mg/day",
    "change_pct": "percent",
    "change_abs": None,
    "value_num": None,
    "value_max": None,
    "value_min": None,
}
COUNT_KINDS = ("summary", "response_summary")  # every numeric field of these kinds is a count

# Enumerations: the only values derive produces for each text field (a rule testing any other value
# could never match). "@cautions" and "@instruments" are checked against the loaded ruleset instead
# (the caution ids it defines, the value sets named instrument_*).
SECTION_NAMES = ("conditions", "medications", "procedures", "allergies", "observations")
FIELD_VALUES: dict[tuple[str, str], tuple[str, ...] | str] = {
    ("patient", "sex"): ("female", "male", "other", "unknown"),
    ("record", "section"): SECTION_NAMES,
    ("condition", "clinical"): ("current", "not_current", "unknown", "contradictory"),
    ("condition", "verification"): ("confirmed", "possible"),
    ("condition", "duration_basis"): ("none", "onset", "recorded"),
    ("medication", "exposure"): ("current", "ended", "none", "planned", "unknown", "entered_in_error"),
    ("procedure", "state"): ("done", "planned", "not_done", "unknown"),
    ("allergy", "verification"): ("unconfirmed", "confirmed", "unknown"),
    ("allergy", "type"): ("allergy", "intolerance", "unknown"),
    ("allergy", "criticality"): ("low", "high", "unable-to-assess", "unknown"),
    ("observation", "result"): ("positive", "negative"),
    ("therapy", "status"): ("current", "stopped"),
    ("response", "instrument"): "@instruments",
    ("caution", "caution"): "@cautions",
    ("decision", "value"): DECISIONS,
}


def field_unit(kind: str, name: str) -> str | None:
    """The unit a numeric field is counted in (None: any unit)."""
    return "count" if kind in COUNT_KINDS else FIELD_UNITS.get(name)


def yaml_key(field: str) -> str:
    """The key a rule writes for a fact field (value_set for the value_sets field)."""
    return next((k for k, f in SET_FIELD_OF.items() if f == field), field)


# Fields derive leaves out for a given value of another field (unknown, never zero): a condition
# with no date has no duration; one dated only by its recorded date has no upper bound.
FIELD_ABSENT_WHEN: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("condition", "duration_basis", "none"): ("duration_days_min", "duration_days_max"),
    ("condition", "duration_basis", "recorded"): ("duration_days_max",),
    # Only an ended exposure has an end to count from.
    **{("medication", "exposure", e): ("days_since_end",) for e in ("current", "none", "planned", "unknown")},
}
