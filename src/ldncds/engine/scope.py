"""Is this patient in scope of the patient-view card? An engine question, so the gate and the
assessment can never disagree.

In scope: a naltrexone course the engine counts as current (coded or named in text, an order
completed on paper whose supply runs past today), or a condition that is current or of unknown
status in a value set the rules of the ruleset's `in_scope_criteria` test (rules/ruleset.yaml).
Facts are read by `derive`, exactly as the rules read them.
"""

from __future__ import annotations

from datetime import date

from .derive import derive, therapy_course
from .facts import PatientFacts
from .loader import LoadedRuleset, ValueSets
from .ruleschema import CriterionOutcome
from .vocabulary import SET_FIELD_OF

# A condition whose status is not recorded still earns a card: the card says what is missing.
_SHOWN_CLINICAL = ("current", "unknown")


def scope_value_sets(rs: LoadedRuleset) -> frozenset[str]:
    """Value sets of the condition patterns of the rules deciding the in-scope criteria."""
    wanted = set(rs.manifest.in_scope_criteria)
    names: set[str] = set()
    for lr in rs.rules.values():
        then = lr.rule.then
        if not isinstance(then, CriterionOutcome) or then.criterion not in wanted:
            continue
        for pattern in lr.rule.when:
            test = pattern.where.get("value_set") if pattern.fact == "condition" else None
            if test is not None:
                names |= set(next(iter(test.values()))) if isinstance(test, dict) else {test}
    return frozenset(names)


def in_scope(facts: PatientFacts, on: date, valuesets: ValueSets) -> bool:
    """True when the engine would assess this patient's pain or follow their naltrexone."""
    course = therapy_course(facts, on, valuesets)
    if course is not None and course.current is not None:
        return True  # already on naltrexone: follow-up is always in scope
    derived = derive(PatientFacts(conditions=facts.conditions or []), on, valuesets)
    return any(
        f["kind"] == "condition"
        and f.get("clinical") in _SHOWN_CLINICAL
        and set(f.get(SET_FIELD_OF["value_set"], ())) & valuesets.scope_sets
        for f in derived.facts
    )
