"""Rule matching: the durable_rules production engine and a plain-Python oracle of the same rules.

Both take one phase's rules and a list of engine facts and return the firings, i.e. which rule
matched which facts. Everything clinical (what a firing means) happens elsewhere, once, so the
two can be compared decision for decision.

durable_rules has sharp edges (unmaintained: https://github.com/jruizgit/rules); this module is where they are
blunted: no background dispatcher, a catch-all sink rule so no fact goes unhandled, a fresh
session per evaluation that is always deleted, an error check after every call that fails closed,
a lock around the C core, and no in-engine negation (absence is precomputed as data or decided in
a later phase).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as dre
import orjson

from ldncds.jsontext import loads

from .loader import LoadedRule, LoadedRuleset
from .ruleschema import DecisionOutcome, Pattern
from .vocabulary import SET_FIELD_OF, Phase

SINK = "__sink__"
_SINK_MESSAGE = '{"' + SINK + '"'


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
        compare: dict[str, Callable[[Any, Any], bool]] = {
            "eq": lambda v, r: v == r,
            "ne": lambda v, r: v != r,
            "lt": lambda v, r: v < r,
            "lte": lambda v, r: v <= r,
            "gt": lambda v, r: v > r,
            "gte": lambda v, r: v >= r,
            "in": lambda v, r: v in r,
        }
        ok = compare[op](value, ref)
        if not ok:
            return False
    return True


def pattern_matches(pattern: Pattern, fact: dict[str, Any]) -> bool:
    return fact.get("kind") == pattern.fact and all(_test(fact, k, t) for k, t in pattern.where.items())


class OracleMatcher:
    """Plain-Python evaluation of the same rules: the test oracle and the benchmark floor."""

    def __init__(self, ruleset: LoadedRuleset, keep: Callable[[LoadedRule], bool] | None = None) -> None:
        """All rules of each phase, or only those `keep` selects and the rules whose derived facts
        they read (so a subset fires exactly as those rules fire in the whole phase)."""
        self.phases = {p: _closed_subset(ruleset.phase_rules(p), keep) for p in ("findings", "conclusions")}

    def run(self, phase: Phase, facts: Sequence[dict[str, Any]]) -> list[Firing]:
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for fact in facts:
            by_kind.setdefault(fact.get("kind"), []).append(fact)  # type: ignore[arg-type]
        fired: set[Firing] = set()
        changed = True
        while changed:  # to a fixpoint, for rules that derive facts
            changed = False
            for lr in self.phases[phase]:
                for ids in self._matches(lr.rule.when, by_kind):
                    firing = Firing(lr.rule.id, ids)
                    if firing in fired:
                        continue
                    fired.add(firing)
                    new = derived_fact(lr)
                    if new and all(f["id"] != new["id"] for f in by_kind.get(new["kind"], ())):
                        by_kind.setdefault(new["kind"], []).append(new)
                        changed = True
        return sorted(fired)

    @staticmethod
    def _matches(
        patterns: list[Pattern], by_kind: dict[str, list[dict[str, Any]]]
    ) -> Iterable[tuple[str, ...]]:
        candidates = [[f for f in by_kind.get(p.fact, ()) if pattern_matches(p, f)] for p in patterns]
        for combo in itertools.product(*candidates):
            ids = tuple(f["id"] for f in combo)
            if len(set(ids)) == len(ids):  # one fact never fills two patterns (as in durable_rules)
                yield ids


def _closed_subset(rules: list[LoadedRule], keep: Callable[[LoadedRule], bool] | None) -> list[LoadedRule]:
    """`rules` in order, restricted to those `keep` selects plus, transitively, every rule deriving a
    fact kind that a selected rule's patterns read."""
    if keep is None:
        return rules
    chosen = {lr.rule.id for lr in rules if keep(lr)}
    while True:
        read = {p.fact for lr in rules if lr.rule.id in chosen for p in lr.rule.when}
        feeding = {lr.rule.id for lr in rules if (new := derived_fact(lr)) and new["kind"] in read}
        if feeding <= chosen:
            return [lr for lr in rules if lr.rule.id in chosen]
        chosen |= feeding


# ---------------------------------------------------------------- durable_rules


def member_property(field: str, value: str) -> str:
    """The property that says "`value` is in the set `field`" in the facts the C core reads.

    Set membership is sent as one true property per member, not as the list itself: the C core
    indexes a node's children by property name and shares equality tests between rules, but it
    never shares an `$iany` test, so a fact with a list visited one list test per rule that reads
    the list (sixty for a medication). With one property per member it visits only the rules that
    test the sets it is in.
    """
    if not _MEMBER_NAME.fullmatch(value):
        raise EngineError(f"{value!r} cannot name a set member for the rule engine")
    return f"{field}__{value}"


_MEMBER_NAME = re.compile(r"[A-Za-z0-9_]+")


def _members_of(test: Any) -> list[str]:
    """The members a set test names: one, or its any_of / all_of list."""
    return list(next(iter(test.values()))) if isinstance(test, dict) else [test]


def _compile_test(name: str, test: Any) -> dict[str, Any]:
    if name in SET_FIELD_OF:
        field = SET_FIELD_OF[name]

        def member(v: str) -> dict[str, Any]:
            return {member_property(field, v): True}

        members = [member(v) for v in _members_of(test)]
        if isinstance(test, dict):
            return {"$or" if "any_of" in test else "$and": members}
        return members[0]
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
        out[lr.rule.id] = {"all": patterns, "pri": 1 + index}
    # Lowest priority catch-all: every fact is handled, so one unmatched fact cannot abort a batch.
    out[SINK] = {"all": [{"p0": {"$ex": {"kind": 1}}}], "pri": 100000}
    return out


class DurableMatcher:
    """Production matcher on durable_rules' C core. Rules compiled once; each evaluation in its own session.

    It drives the C engine directly instead of through durable.engine.Host: no background dispatcher
    (which crashes the process), no Python action objects whose exceptions are swallowed into the
    session state, and no JSON round trip of the state document per firing. Firings are read from
    the engine's own action queue and recorded here.
    """

    def __init__(self, ruleset: LoadedRuleset) -> None:
        self._lock = threading.Lock()
        self._handles: dict[str, int] = {}
        self._width: dict[str, int] = {}
        self._derive: dict[str, dict[str, Any]] = {}
        self._needs_codes: dict[str, frozenset[str]] = {}
        self._reads: dict[str, dict[str, frozenset[str]]] = {}
        self._members: dict[str, dict[tuple[str, str], str]] = {}
        self._sessions = (
            itertools.count()
        )  # session ids: unique in this process, sessions never outlive a run
        self.definitions: dict[str, Any] = {}
        for phase in ("findings", "conclusions"):
            rules = ruleset.phase_rules(phase)
            self._needs_codes[phase] = _kinds_needing_codes(rules)
            self._members[phase] = _members_tested(rules)
            self._reads[phase] = fields_read(rules)
            for lr in rules:
                self._width[lr.rule.id] = len(lr.rule.when)
                if (new := derived_fact(lr)) is not None:
                    self._derive[lr.rule.id] = new
            definition = compile_phase(rules)
            self.definitions[phase] = definition
            self._handles[phase] = dre.create_ruleset(f"ldncds_{phase}", fact_text(definition))

    def run(self, phase: Phase, facts: Sequence[dict[str, Any]]) -> list[Firing]:
        facts = [self._members_as_properties(phase, f) for f in self.sent(phase, facts)]
        if not facts:
            return []  # nothing can match; never hand the C core an empty batch
        handle = self._handles[phase]
        with self._lock:  # the C core is not re-entrant; one evaluation at a time per process
            sid = f"s{next(self._sessions)}"
            try:
                code, state_handle = dre.assert_facts(handle, fact_text([dict(f, sid=sid) for f in facts]))
                if code != 0:
                    raise EngineError(f"rule engine refused the facts in phase {phase} (code {code})")
                return sorted(set(self._drain(handle, state_handle, sid)))
            except EngineError:
                raise
            except Exception as exc:
                raise EngineError(f"rule engine failed in phase {phase}: {type(exc).__name__}") from exc
            finally:
                # Always delete the session: live sessions leak memory and are capped at 1,024.
                with contextlib.suppress(Exception):
                    dre.delete_state(handle, sid)

    def sent(self, phase: Phase, facts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """What the C core needs of these facts to fire exactly as on the whole facts (less to parse).

        Every pattern starts with an equality on kind, and the sink records nothing: a fact of a kind
        no rule of the phase reads cannot change a firing, nor can a fact in no value set where every
        pattern of its kind tests one, nor a field no pattern tests (kept: kind, id and every tested
        field that is present, so `exists` tests see the same facts).
        """
        reads, needs = self._reads[phase], self._needs_codes[phase]
        out = []
        for fact in facts:
            kind = fact["kind"]
            fields = reads.get(kind)
            if fields is None or (
                kind in needs and not (fact.get("value_sets") or fact.get("text_value_sets"))
            ):
                continue
            out.append({name: value for name, value in fact.items() if name in fields})
        return out

    def _members_as_properties(self, phase: Phase, fact: dict[str, Any]) -> dict[str, Any]:
        """The fact with each set field replaced by one property per member the phase tests."""
        tested = self._members[phase]
        out: dict[str, Any] = {}
        for name, value in fact.items():
            if name in _SET_FIELDS:
                out.update((p, True) for v in value or () if (p := tested.get((name, v))) is not None)
            else:
                out[name] = value
        return out

    def _drain(self, handle: int, state_handle: int, sid: str) -> list[Firing]:
        firings: list[Firing] = []
        derived: set[str] = set()
        started = dre.start_action_for_state(handle, state_handle)
        message = started[1] if started else None
        while message:
            if message.startswith(_SINK_MESSAGE):  # the catch-all fired: nothing to record
                message = dre.complete_and_start_action(handle, state_handle)
                continue
            for rule_id, match in loads(message.encode()).items():
                if rule_id == SINK:
                    continue
                ids = tuple(match[f"p{i}"]["id"] for i in range(self._width[rule_id]))
                firings.append(Firing(rule_id, ids))
                new = self._derive.get(rule_id)
                if new is not None and new["id"] not in derived:
                    derived.add(new["id"])
                    code, _ = dre.assert_fact(handle, fact_text(dict(new, sid=sid)))
                    if code not in (0, 3):
                        raise EngineError(f"derived fact refused by the rule engine (code {code})")
            message = dre.complete_and_start_action(handle, state_handle)
        return firings


def fact_text(value: Any) -> str:
    """JSON text the C core reads as `value`: orjson's text (ten times faster) where it spells the
    value `json.dumps` spells, else `json.dumps`' text, with every exponent given a fraction.

    orjson writes NaN and Infinity as null (json.dumps: NaN, which the core refuses: no advice),
    writes UTF-8 where json.dumps escapes, and refuses an integer beyond 64 bits; text that is ASCII
    and holds no `null` is therefore the same value. Its floats may differ in spelling only (1e16
    for 1e+16), which `_with_fractions` makes one spelling the core reads right.
    """
    try:
        raw = orjson.dumps(value)
        text = raw.decode() if raw.isascii() and b"null" not in raw else json.dumps(value)
    except orjson.JSONEncodeError:
        text = json.dumps(value)
    return _with_fractions(text) if _DIGIT_THEN_EXPONENT.search(text) else text


# The C core misreads a number whose exponent follows the integer part (1e-07, 1e+16, 2E5): it
# fires on a wrong value (an eGFR of 1e-07 read as above 30) or crashes the process. With a
# fraction (1.0e-07) it reads the number right. Python writes such floats outside 1e-4..1e16.
_DIGIT_THEN_EXPONENT = re.compile(r"[0-9][eE]")  # cheap test: most texts have no exponent at all
_STRING_OR_NUMBER = re.compile(r'"(?:[^"\\]|\\.)*"|(-?[0-9]+)(\.[0-9]+)?([eE][-+]?[0-9]+)?')


def _with_fractions(text: str) -> str:
    """JSON text with `.0` before every exponent that has no fraction; strings are left as they are."""

    def spell(token: re.Match[str]) -> str:
        whole, fraction, exponent = token.groups()
        if whole is None or fraction is not None or exponent is None:
            return token[0]
        return f"{whole}.0{exponent}"

    return _STRING_OR_NUMBER.sub(spell, text)


def fields_read(rules: list[LoadedRule]) -> dict[str, frozenset[str]]:
    """For each fact kind these rules read: the fields their patterns test, with kind and id."""
    fields: dict[str, set[str]] = {}
    for lr in rules:
        for p in lr.rule.when:
            fields.setdefault(p.fact, {"kind", "id"}).update(SET_FIELD_OF.get(name, name) for name in p.where)
    return {kind: frozenset(names) for kind, names in fields.items()}


_SET_FIELDS = frozenset(SET_FIELD_OF.values())


def _members_tested(rules: list[LoadedRule]) -> dict[tuple[str, str], str]:
    """(set field, member) -> its property, for every member these rules' patterns test."""
    tested: dict[tuple[str, str], str] = {}
    for lr in rules:
        for p in lr.rule.when:
            for name, test in p.where.items():
                if name in SET_FIELD_OF:
                    field = SET_FIELD_OF[name]
                    tested.update(((field, v), member_property(field, v)) for v in _members_of(test))
    return tested


def _kinds_needing_codes(rules: list[LoadedRule]) -> frozenset[str]:
    """Fact kinds for which every pattern of these rules tests a value set (coded or by name)."""
    tests: dict[str, list[bool]] = {}
    for lr in rules:
        for p in lr.rule.when:
            tests.setdefault(p.fact, []).append("value_set" in p.where or "text_value_set" in p.where)
    return frozenset(kind for kind, needs in tests.items() if all(needs))
