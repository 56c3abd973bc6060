"""Rule matching: the durable_rules production engine and a plain-Python oracle of the same rules.

Both take one phase's rules and a list of engine facts and return the firings, i.e. which rule
matched which facts. Everything clinical (what a firing means) happens elsewhere, once, so the
two can be compared decision for decision.

durable_rules has sharp edges (see shared/engine/durable-rules.md); this module is where they are
blunted: no background dispatcher, a catch-all sink rule so no fact goes unhandled, a fresh
session per evaluation that is always deleted, an error check after every call that fails closed,
a lock around the C core, and no in-engine negation (absence is precomputed as data or decided in
a later phase).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from durable import engine as durable_engine

from .loader import LoadedRule, LoadedRuleset
from .ruleschema import DecisionOutcome, Pattern
from .vocabulary import SET_FIELD_OF, Phase


class EngineError(RuntimeError):
    """The rule engine failed: the assessment must not produce advice."""


@dataclass(frozen=True, order=True)
class Firing:
    rule_id: str
    fact_ids: tuple[str, ...]


def derived_fact(rule: LoadedRule) -> dict[str, Any] | None:
    """Facts a rule adds for later rules of the same phase (positive chaining only)."""
    if isinstance(rule.rule.then, DecisionOutcome):
        value = rule.rule.then.decision
        return {"kind": "decision", "id": f"decision:{value}", "value": value}
    return None


# ---------------------------------------------------------------- plain-Python oracle


def _test(fact: dict[str, Any], name: str, test: Any) -> bool:
    if name in SET_FIELD_OF:
        members = fact.get(SET_FIELD_OF[name])
        if members is None:
            return False
        if isinstance(test, dict):
            if "any_of" in test:
                return any(v in members for v in test["any_of"])
            return all(v in members for v in test["all_of"])
        return test in members
    if not isinstance(test, dict):
        return name in fact and fact[name] == test
    for op, ref in test.items():
        if op == "exists":
            if (name in fact) != ref:
                return False
            continue
        if name not in fact:
            return False
        value = fact[name]
        ok = {
            "eq": lambda v, r: v == r,
            "ne": lambda v, r: v != r,
            "lt": lambda v, r: v < r,
            "lte": lambda v, r: v <= r,
            "gt": lambda v, r: v > r,
            "gte": lambda v, r: v >= r,
            "in": lambda v, r: v in r,
        }[op](value, ref)
        if not ok:
            return False
    return True


def pattern_matches(pattern: Pattern, fact: dict[str, Any]) -> bool:
    return fact.get("kind") == pattern.fact and all(_test(fact, k, t) for k, t in pattern.where.items())


class OracleMatcher:
    """Plain-Python evaluation of the same rules: the test oracle and the benchmark floor."""

    def __init__(self, ruleset: LoadedRuleset) -> None:
        self.phases = {p: ruleset.phase_rules(p) for p in ("findings", "conclusions")}

    def run(self, phase: Phase, facts: Sequence[dict[str, Any]]) -> list[Firing]:
        facts = list(facts)
        fired: set[Firing] = set()
        changed = True
        while changed:  # to a fixpoint, for rules that derive facts
            changed = False
            for lr in self.phases[phase]:
                for ids in self._matches(lr.rule.when, facts):
                    firing = Firing(lr.rule.id, ids)
                    if firing in fired:
                        continue
                    fired.add(firing)
                    if (new := derived_fact(lr)) and all(f["id"] != new["id"] for f in facts):
                        facts.append(new)
                        changed = True
        return sorted(fired)

    @staticmethod
    def _matches(patterns: list[Pattern], facts: list[dict[str, Any]]) -> Iterable[tuple[str, ...]]:
        candidates = [[f for f in facts if pattern_matches(p, f)] for p in patterns]
        for combo in itertools.product(*candidates):
            ids = tuple(f["id"] for f in combo)
            if len(set(ids)) == len(ids):  # one fact never fills two patterns (as in durable_rules)
                yield ids


# ---------------------------------------------------------------- durable_rules


def _compile_test(name: str, test: Any) -> dict[str, Any]:
    if name in SET_FIELD_OF:
        field = SET_FIELD_OF[name]

        def member(v: str) -> dict[str, Any]:
            return {"$iany": {field: {"$i": v}}}

        if isinstance(test, dict):
            key, values = next(iter(test.items()))
            return {"$or" if key == "any_of" else "$and": [member(v) for v in values]}
        return member(test)
    if not isinstance(test, dict):
        return {name: test}
    parts: list[dict[str, Any]] = []
    for op, ref in test.items():
        if op == "eq":
            parts.append({name: ref})
        elif op == "in":
            parts.append({"$or": [{name: v} for v in ref]})
        elif op == "exists":
            parts.append({"$ex" if ref else "$nex": {name: 1}})
        else:
            parts.append({f"${'neq' if op == 'ne' else op}": {name: ref}})
    return parts[0] if len(parts) == 1 else {"$and": parts}


def compile_phase(rules: list[LoadedRule]) -> dict[str, Any]:
    """The durable_rules JSON ruleset of one phase: one entry per rule plus the sink."""
    out: dict[str, Any] = {}
    for index, lr in enumerate(rules):
        patterns = []
        for i, p in enumerate(lr.rule.when):
            # Every pattern starts with a positive equality on kind: a negative-only pattern
            # would match the session state document and loop forever.
            cond = [{"kind": p.fact}] + [_compile_test(k, t) for k, t in p.where.items()]
            patterns.append({f"p{i}": {"$and": cond}})
        out[lr.rule.id] = {"all": patterns, "pri": 1 + index, "run": f"rule:{lr.rule.id}"}
    # Lowest priority catch-all: every fact is handled, so one unmatched fact cannot abort a batch.
    out["__sink__"] = {"all": [{"p0": {"$ex": {"kind": 1}}}], "pri": 100000, "run": "sink:"}
    return out


class _Host(durable_engine.Host):
    """A durable_rules host without the background dispatcher (which crashes the process)."""

    def __init__(self, actions: dict[str, Any]) -> None:
        self._actions = actions
        super().__init__()

    def _run(self) -> None:  # noqa: D401 - disable the timer thread
        return None

    def get_action(self, action_name: str) -> Any:
        return self._actions[action_name]


class DurableMatcher:
    """Production matcher. One host, rules compiled once; each evaluation in its own session."""

    def __init__(self, ruleset: LoadedRuleset) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._names = {p: f"ldncds_{p}" for p in ("findings", "conclusions")}
        actions: dict[str, Any] = {"sink:": self._sink}
        definitions: dict[str, Any] = {}
        for phase in ("findings", "conclusions"):
            rules = ruleset.phase_rules(phase)  # type: ignore[arg-type]
            for lr in rules:
                actions[f"rule:{lr.rule.id}"] = self._action(lr)
            definitions[self._names[phase]] = compile_phase(rules)
        self.definitions = json.loads(json.dumps(definitions))  # kept for inspection, never mutated
        self._host = _Host(actions)
        self._host.set_rulesets(copy.deepcopy(self.definitions))  # set_rulesets mutates its input

    def _action(self, lr: LoadedRule) -> Any:
        rule_id, width, derive = lr.rule.id, len(lr.rule.when), derived_fact(lr)

        def act(c: Any) -> None:
            try:
                ids = tuple(getattr(c, f"p{i}")._d["id"] for i in range(width))
                self._local.trace.append(Firing(rule_id, ids))
                if derive and derive["id"] not in self._local.derived:
                    self._local.derived.add(derive["id"])
                    c.assert_fact(dict(derive))
            except Exception as exc:  # an action error must fail the evaluation, never vanish
                self._local.errors.append(f"{rule_id}: {type(exc).__name__}")

        return act

    @staticmethod
    def _sink(c: Any) -> None:
        return None

    def run(self, phase: Phase, facts: Sequence[dict[str, Any]]) -> list[Firing]:
        sid = uuid.uuid4().hex
        name = self._names[phase]
        with self._lock:
            self._local.trace, self._local.errors, self._local.derived = [], [], set()
            try:
                self._host.assert_facts(name, [dict(f, sid=sid) for f in facts])
                state = self._host.get_state(name, sid)
            except Exception as exc:
                raise EngineError(f"rule engine failed in phase {phase}: {type(exc).__name__}") from exc
            finally:
                # Always delete the session: live sessions leak memory and are capped at 1,024.
                with contextlib.suppress(Exception):
                    self._host.delete_state(name, sid)
            if "exception" in state:
                raise EngineError(f"rule action failed in phase {phase}")
            if self._local.errors:
                raise EngineError(f"rule action failed in phase {phase}: {self._local.errors[0]}")
            return sorted(set(self._local.trace))
