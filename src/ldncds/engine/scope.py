"""Is a patient one the rules have something to say about? The patient-view gate, asked of the engine.

The same derivation and the same rules as the assessment answer it, so the gate and the assessment
cannot disagree: a current naltrexone course (what makes a patient `on_therapy`), or a rule of the
criterion that decides the pathway (the qualifying pain diagnosis) firing from a condition record,
or an unreadable condition whose codes are in a value set those rules read (the answer then says the
diagnosis is unknown and names the record: never silence).
It uses the plain-Python evaluator of the rules (tested decision for decision against durable_rules),
so it runs wherever a loaded ruleset is, also beside the engine's worker processes. No code list here.
"""

from __future__ import annotations

import threading
from datetime import date

from .derive import Derived, derive, memberships
from .facts import PatientFacts
from .loader import LoadedRule, LoadedRuleset
from .matching import OracleMatcher
from .ruleschema import CriterionOutcome, TherapyOutcome

__all__ = ["in_scope"]


class _Scope:
    def __init__(self, ruleset: LoadedRuleset) -> None:
        self.ruleset = ruleset
        # The criteria whose rules name a pathway are the qualifying pain diagnosis.
        self.criteria = frozenset(
            lr.rule.then.criterion
            for lr in ruleset.rules.values()
            if isinstance(lr.rule.then, CriterionOutcome) and lr.rule.then.pathway
        )
        # Only the rules whose firing can open the gate are evaluated (a fraction of the findings).
        self.matcher = OracleMatcher(ruleset, keep=self._opens_gate)
        # The value sets the pathway rules read conditions by: an unreadable condition in one of
        # them may be the qualifying diagnosis.
        self.pathway_sets = frozenset(
            name
            for lr in ruleset.rules.values()
            if isinstance(lr.rule.then, CriterionOutcome) and lr.rule.then.criterion in self.criteria
            for pattern in lr.rule.when
            if pattern.fact == "condition"
            for name in _named_sets(pattern.where.get("value_set"))
        )

    def _opens_gate(self, lr: LoadedRule) -> bool:
        then = lr.rule.then
        return isinstance(then, TherapyOutcome) or (
            isinstance(then, CriterionOutcome) and then.criterion in self.criteria
        )

    def __call__(self, derived: Derived) -> bool:
        if any(f["kind"] == "therapy" and f.get("status") == "current" for f in derived.facts):
            return True  # full-dose naltrexone too: the assessment has to say it is not LDN
        for firing in self.matcher.run("findings", derived.facts):
            then = self.ruleset.rules[firing.rule_id].rule.then
            if isinstance(then, TherapyOutcome):
                return True
            if isinstance(then, CriterionOutcome) and then.criterion in self.criteria:
                refs = (derived.refs.get(i) for i in firing.fact_ids)
                if any(ref is not None and ref.kind == "condition" for ref in refs):
                    return True
        sets = self.ruleset.valuesets
        return any(
            note.severity == "unreadable" and self.pathway_sets.intersection(memberships(note.codes, sets))
            for note in derived.notes
        )


def _named_sets(test: object) -> list[str]:
    """The value sets a `value_set:` test names (one name, or any_of / all_of lists)."""
    if isinstance(test, str):
        return [test]
    if isinstance(test, dict):
        return [name for names in test.values() if isinstance(names, list) for name in names]
    return []


_SCOPES: dict[int, _Scope] = {}
_LOCK = threading.Lock()


def in_scope(facts: PatientFacts, evaluation_date: date, ruleset: LoadedRuleset) -> bool:
    """True when the patient gets a patient-view card: the engine would follow them up on LDN, or
    the eligibility rules read one of their condition records as (possibly) the qualifying pain."""
    return derived_in_scope(derive(facts, evaluation_date, ruleset.valuesets), ruleset)


def derived_in_scope(derived: Derived, ruleset: LoadedRuleset) -> bool:
    """`in_scope` of facts already derived with this ruleset's value sets (the engine reuses them)."""
    with _LOCK:
        scope = _SCOPES.get(id(ruleset))
        if scope is None or scope.ruleset is not ruleset:
            if len(_SCOPES) >= 8:  # a few rulesets per process at most (tests load more)
                _SCOPES.clear()
            scope = _SCOPES[id(ruleset)] = _Scope(ruleset)
    return scope(derived)
