"""Load and validate rules/ at start-up: any error stops the process with the file and rule named."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import yaml
from pydantic import ValidationError

from . import integrity
from .codes import CODE_SYSTEMS, canonical_code
from .provenance import SOURCE_SEPARATOR, ValueSetMeta
from .ruleschema import (
    DEFAULT_GRACE_PARAMETER,
    CautionOutcome,
    CriterionDef,
    CriterionOutcome,
    FindingDef,
    HardStopOutcome,
    Manifest,
    Parameter,
    ParameterContext,
    ParameterUse,
    Pattern,
    ReminderOutcome,
    Rule,
    RuleFile,
    _first_error,
)
from .vocabulary import (
    CONCLUSION_KINDS,
    FIELD_VALUES,
    FINDINGS_KINDS,
    INSTRUMENT_PREFIX,
    SCALE_ENDS,
    SET_FIELD_OF,
    Phase,
)

PHASE_OF_CONCERN: dict[str, Phase] = {
    "eligibility": "findings",
    "contraindications": "findings",
    "cautions": "findings",
    "therapy": "findings",
    "decision": "conclusions",
    "dosing": "conclusions",
    "monitoring": "conclusions",
    "follow_up": "conclusions",
    "orders": "findings",
}
MANIFEST = "ruleset.yaml"
_V = TypeVar("_V")
VALUESET_DIR = "valuesets"


class RulesetError(Exception):
    """A rule file is wrong. The message names the file (and rule) so an informaticist can fix it."""

    def __init__(self, file: str, message: str, rule_id: str | None = None) -> None:
        where = f"{file}" + (f", rule {rule_id}" if rule_id else "")
        super().__init__(f"{where}: {message}")
        self.file, self.rule_id, self.detail = file, rule_id, message


class ValueSetRow(NamedTuple):
    """One row of a rules/valuesets CSV (`source`: the ids of its sources, joined by "|")."""

    system: str
    code: str
    display: str
    match: str
    note: str
    source: str


class ValueSets:
    """Code lists by name; matches codes exactly or by prefix, and free text by keyword."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.rows: dict[str, list[ValueSetRow]] = {}
        self.meta: dict[str, ValueSetMeta] = {}  # provenance of each set (its NAME.meta.yaml)
        # Every process holds the code lists (~6,000 rows): one object per repeated value (system,
        # match, note, source; a code's set of value-set names) keeps them small.
        self._shared: dict[Any, Any] = {}
        self._exact: dict[tuple[str, str], frozenset[str]] = {}
        self._prefix: list[tuple[str, str, str]] = []
        self._keywords: dict[str, list[str]] = {}
        self._keyword_re: list[tuple[str, re.Pattern[str]]] = []
        self._code_cache: dict[tuple[str, str], frozenset[str]] = {}
        self._text_cache: dict[str, frozenset[str]] = {}
        # Ruleset parameters by name, set by load_ruleset: derive reads its windows from here.
        self.parameters: dict[str, int | float] = {}

    def parameter(self, name: str) -> int | float:
        try:
            return self.parameters[name]
        except KeyError:
            raise RulesetError(MANIFEST, f"parameter {name!r} is not defined") from None

    def add(self, name: str, row: dict[str, str]) -> None:
        self.names.add(name)
        one = self._one
        kept = ValueSetRow(
            one(row["system"]),
            row["code"],
            row["display"],
            one(row["match"]),
            one(row["note"]),
            one(row["source"]),
        )
        self.rows.setdefault(name, []).append(kept)
        system, code, match = kept.system, kept.code, kept.match
        if match == "keyword":
            self._keywords.setdefault(name, []).append(code.lower())
        elif match == "prefix":
            self._prefix.append((system, canonical_code(system, code).replace(".", ""), name))
        else:
            key = (system, canonical_code(system, code))
            self._exact[key] = one(self._exact.get(key, frozenset()) | {name})

    def _one(self, value: _V) -> _V:
        return cast(_V, self._shared.setdefault(value, value))

    def finish(self) -> None:
        self._shared.clear()
        self._code_cache.clear()
        self._text_cache.clear()
        self._keyword_re = [
            (name, re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, sorted(words))) + r")(?![a-z0-9])"))
            for name, words in sorted(self._keywords.items())
        ]

    def of_code(self, system: str, code: str) -> set[str]:
        # A population reuses a few hundred codes: remember the answer (value sets never change at run time).
        key = (system, code)
        if (hit := self._code_cache.get(key)) is None:
            hit = frozenset(self._of_code(system, code))
            if len(self._code_cache) < 100_000:  # bounded: codes come from outside
                self._code_cache[key] = hit
        return set(hit)

    def _of_code(self, system: str, code: str) -> set[str]:
        code = canonical_code(system, code)
        found = set(self._exact.get((system, code), ()))
        bare = code.replace(".", "")
        for p_system, prefix, name in self._prefix:
            if p_system == system and bare.startswith(prefix):
                found.add(name)
        return found

    def of_text(self, text: str) -> set[str]:
        if (hit := self._text_cache.get(text)) is None:
            low = text.lower()
            hit = frozenset(name for name, pattern in self._keyword_re if pattern.search(low))
            if len(self._text_cache) < 100_000:  # free text varies more than codes: keep the cache bounded
                self._text_cache[text] = hit
        return set(hit)


@dataclass(frozen=True)
class LoadedRule:
    rule: Rule
    file: str
    concern: str
    phase: Phase


@dataclass
class LoadedRuleset:
    directory: Path
    manifest: Manifest
    files: dict[str, RuleFile]
    rules: dict[str, LoadedRule]
    criteria: dict[str, CriterionDef]
    hard_stops: dict[str, FindingDef]
    cautions: dict[str, FindingDef]
    valuesets: ValueSets
    content_hash: str
    rule_order: list[str] = field(default_factory=list)
    parameters: dict[str, Parameter] = field(default_factory=dict)
    parameter_home: dict[str, str] = field(default_factory=dict)  # name -> file that defines it
    parameter_uses: list[ParameterUse] = field(default_factory=list)

    def parameter(self, name: str) -> int | float:
        """A parameter's value; an unknown name is a ruleset error (never a silent default)."""
        if name not in self.parameters:
            raise RulesetError(MANIFEST, f"parameter {name!r} is not defined (code needs it)")
        return self.parameters[name].value

    @property
    def version(self) -> str:
        """Human version plus a content hash of rules/: two different rule sets never share it."""
        return f"{self.manifest.version}+{self.content_hash[:12]}"

    def phase_rules(self, phase: Phase) -> list[LoadedRule]:
        return [self.rules[r] for r in self.rule_order if self.rules[r].phase == phase]


def content_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if "__pycache__" in rel or rel.startswith("."):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


# libyaml's parser with the same safe constructor: ~6x faster start-up. Where it refuses a file,
# the pure-Python parser decides, so an accepted file and every error message stay pyyaml's own.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def _yaml(path: Path, label: str) -> object:
    try:
        return parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesetError(label, f"cannot read YAML: {exc}") from exc


def parse_yaml(text: str) -> object:
    """`yaml.safe_load(text)`, parsed by libyaml when it is installed and accepts the text."""
    if _FAST_LOADER is not None:
        try:
            return yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 - CSafeLoader is the safe loader
        except yaml.YAMLError:
            pass  # the pure-Python parser below gives the error (or, if it differs, the result)
    return yaml.safe_load(text)


VALUESET_FIELDS = ["system", "code", "display", "match", "note"]
META_SUFFIX = ".meta.yaml"


def load_valuesets(directory: Path) -> ValueSets:
    """Every rules/valuesets/NAME.csv with its provenance sidecar NAME.meta.yaml (both required)."""
    sets = ValueSets()
    folder = directory / VALUESET_DIR
    csv_paths = sorted(folder.glob("*.csv"))
    for path in csv_paths:
        meta = load_valueset_meta(path)
        sets.meta[path.stem] = meta
        for row in _valueset_rows(path, meta):
            sets.add(path.stem, row)
    names = {p.stem for p in csv_paths}
    for meta_path in sorted(folder.glob(f"*{META_SUFFIX}")):
        if meta_path.name.removesuffix(META_SUFFIX) not in names:
            raise RulesetError(
                f"{VALUESET_DIR}/{meta_path.name}", "provenance of a value set that has no CSV file"
            )
    sets.finish()
    return sets


def load_valueset_meta(csv_path: Path) -> ValueSetMeta:
    """The provenance sidecar of a value-set CSV; missing or invalid is a load error naming the file."""
    meta_path = csv_path.with_name(csv_path.stem + META_SUFFIX)
    label = f"{VALUESET_DIR}/{meta_path.name}"
    if not meta_path.is_file():
        raise RulesetError(
            f"{VALUESET_DIR}/{csv_path.name}",
            f"no provenance: {label} is missing (where do its codes come from?)",
        )
    try:
        return ValueSetMeta.model_validate(_yaml(meta_path, label))
    except ValidationError as exc:
        raise RulesetError(label, _first_error(exc)) from exc


def _valueset_rows(path: Path, meta: ValueSetMeta) -> list[dict[str, str]]:
    label = f"{VALUESET_DIR}/{path.name}"
    allowed_systems = set(CODE_SYSTEMS) | {"text"}
    declared = {s.id for s in meta.sources}
    rows: list[dict[str, str]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames not in (VALUESET_FIELDS, [*VALUESET_FIELDS, "source"]):
            raise RulesetError(label, "header must be system,code,display,match,note[,source]")
        for line, row in enumerate(reader, start=2):
            if row["system"] not in allowed_systems:
                raise RulesetError(label, f"line {line}: unknown code system {row['system']!r}")
            if row["match"] not in {"exact", "prefix", "keyword"}:
                raise RulesetError(label, f"line {line}: match must be exact, prefix or keyword")
            if (row["match"] == "keyword") != (row["system"] == "text"):
                raise RulesetError(label, f"line {line}: keyword matching is only for system 'text'")
            if not row["code"].strip():
                raise RulesetError(label, f"line {line}: empty code")
            ids = meta.row_sources(row.get("source"))
            if not ids:
                raise RulesetError(label, f"line {line}: no source (and the meta file has no default_source)")
            if unknown := [i for i in ids if i not in declared]:
                raise RulesetError(
                    label, f"line {line}: source {unknown[0]!r} is not declared in its meta file"
                )
            row["source"] = SOURCE_SEPARATOR.join(ids)
            rows.append(row)
    return rows


def load_ruleset(
    directory: str | Path,
    *,
    check_lock: bool = True,
    inherit_parameters: dict[str, Parameter] | None = None,
) -> LoadedRuleset:
    """Load and validate a rules folder.

    check_lock=False is for `rules lock` itself and for comparing rulesets (`rules impact`: a
    baseline from an older revision may predate the lock). inherit_parameters fills parameters a
    baseline from before parameters lacks, from the current rules, so only rule edits differ.
    """
    directory = Path(directory).resolve()
    if not (directory / MANIFEST).is_file():
        raise RulesetError(MANIFEST, f"not found in {directory}")
    try:
        manifest = Manifest.model_validate(_yaml(directory / MANIFEST, MANIFEST))
    except ValidationError as exc:
        raise RulesetError(MANIFEST, _first_error(exc)) from exc
    valuesets = load_valuesets(directory)
    raw = {name: _yaml(directory / name, name) for name in manifest.files}
    parameters, home = _parameters(manifest, raw, inherit_parameters or {})
    context = ParameterContext(parameters)
    files: dict[str, RuleFile] = {}
    for name, data in raw.items():
        try:
            files[name] = RuleFile.model_validate(data, context=context)
        except ValidationError as exc:
            raise RulesetError(name, _first_error(exc), _rule_id_at(data, exc)) from exc
    listed = {p.name for p in directory.glob("*.yaml")} - {MANIFEST}
    if stray := sorted(listed - set(manifest.files)):
        raise RulesetError(MANIFEST, f"rule files not listed in 'files': {stray}")
    ruleset = _link(directory, manifest, files, valuesets)
    ruleset.parameters, ruleset.parameter_home, ruleset.parameter_uses = parameters, home, context.uses
    valuesets.parameters = {n: p.value for n, p in parameters.items()}
    _check_references(ruleset)
    _check_washouts(ruleset)
    _check_instrument_scales(ruleset)
    if check_lock:  # last, so a specific error (duplicate id, unknown field) is named first
        integrity.check(directory, files, valuesets)
    return ruleset


def _parameters(
    manifest: Manifest, raw: dict[str, object], inherit: dict[str, Parameter]
) -> tuple[dict[str, Parameter], dict[str, str]]:
    """Every parameter of the ruleset (ruleset.yaml and each concern file), names unique."""
    found, home = dict(manifest.parameters), dict.fromkeys(manifest.parameters, MANIFEST)
    for name, data in raw.items():
        section = data.get("parameters") if isinstance(data, dict) else None
        if section is None:
            continue
        if not isinstance(section, dict):
            raise RulesetError(name, "parameters: write name: {value, unit, meaning, source}")
        for key, spec in section.items():
            try:
                param = Parameter.model_validate(spec)
            except ValidationError as exc:
                raise RulesetError(name, f"parameters.{key}.{_first_error(exc)}") from exc
            if key in found:
                raise RulesetError(name, f"parameter {key!r} is already defined in {home[key]}")
            found[key], home[key] = param, name
    for key, param in inherit.items():
        if key not in found:
            found[key], home[key] = param, "(inherited from the current rules)"
    if DEFAULT_GRACE_PARAMETER not in found:
        raise RulesetError(
            MANIFEST, f"parameters: {DEFAULT_GRACE_PARAMETER!r} is required (reminder default)"
        )
    return found, home


def _check_washouts(rs: LoadedRuleset) -> None:
    """A washout told to the clinician must be the washout the rule tests (one number, two uses)."""
    for rule_id, lr in rs.rules.items():
        then = lr.rule.then
        if not isinstance(then, HardStopOutcome) or then.washout_days is None:
            continue
        tested = [
            p.where["days_since_end"] for p in lr.rule.when if isinstance(p.where.get("days_since_end"), dict)
        ]
        bounds = [t["lt"] for t in tested if "lt" in t] + [t["lte"] + 1 for t in tested if "lte" in t]
        if bounds != [then.washout_days]:
            raise RulesetError(
                lr.file,
                f"washout_days {then.washout_days} does not match the days_since_end test {tested} "
                "(name the same parameter in both)",
                rule_id,
            )


def _check_instrument_scales(rs: LoadedRuleset) -> None:
    """Every outcome instrument names its scale, so a result off it is never read as a score."""
    for name in sorted(n for n in rs.valuesets.names if n.startswith(INSTRUMENT_PREFIX)):
        low, high = (rs.parameters.get(f"{name}{end}") for end in SCALE_ENDS)
        if low is None or high is None or low.value >= high.value:
            raise RulesetError(
                MANIFEST, f"instrument {name!r} needs parameters {name}_scale_min < {name}_scale_max"
            )


def _rule_id_at(data: object, exc: ValidationError) -> str | None:
    loc = exc.errors()[0]["loc"]
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and isinstance(data, dict):
        try:
            return str(data["rules"][loc[1]].get("id"))
        except (KeyError, IndexError, AttributeError, TypeError):
            return None
    return None


def _link(
    directory: Path, manifest: Manifest, files: dict[str, RuleFile], valuesets: ValueSets
) -> LoadedRuleset:
    rules: dict[str, LoadedRule] = {}
    criteria: dict[str, CriterionDef] = {}
    hard_stops: dict[str, FindingDef] = {}
    cautions: dict[str, FindingDef] = {}
    for name, rf in files.items():
        for catalog, items in ((criteria, rf.criteria), (hard_stops, rf.hard_stops), (cautions, rf.cautions)):
            for item in items:
                if item.id in catalog:
                    raise RulesetError(name, f"duplicate definition {item.id!r}")
                catalog[item.id] = item  # type: ignore[assignment]
        for rule in rf.rules:
            if rule.id in rules:
                raise RulesetError(name, f"duplicate rule id (also in {rules[rule.id].file})", rule.id)
            rules[rule.id] = LoadedRule(rule, name, rf.concern, PHASE_OF_CONCERN[rf.concern])
    # Deterministic agenda: phase, then file order in the manifest, then the order written.
    order = [r for phase in ("findings", "conclusions") for r in rules if rules[r].phase == phase]
    return LoadedRuleset(
        directory,
        manifest,
        files,
        rules,
        criteria,
        hard_stops,
        cautions,
        valuesets,
        content_hash(directory),
        order,
    )


Fail = Callable[[str], None]  # raises RulesetError naming the file and the rule


def _check_references(rs: LoadedRuleset) -> None:
    """Every name a rule uses exists: fact kinds of its phase, value sets, criteria, findings, pathways."""
    for rule_id, lr in rs.rules.items():
        fail = _failer(lr.file, rule_id)
        for pattern in lr.rule.when:
            _check_pattern(rs, lr, pattern, fail)
        if check := _OUTCOME_CHECKS.get(type(lr.rule.then)):
            check(rs, lr.rule, fail)
        _check_dynamic_words(rs, lr.rule, fail)
    _check_pathways(rs)


def _check_pattern(rs: LoadedRuleset, lr: LoadedRule, pattern: Pattern, fail: Fail) -> None:
    kinds = FINDINGS_KINDS if lr.phase == "findings" else CONCLUSION_KINDS
    if pattern.fact not in kinds:
        fail(f"a {lr.concern} rule cannot read {pattern.fact!r} facts (allowed: {list(kinds)})")
    for vs in _value_sets_named(pattern):
        if vs not in rs.valuesets.names:
            fail(f"unknown value set {vs!r}")


def _value_sets_named(pattern: Pattern) -> Iterator[str]:
    """The value sets a pattern tests membership of (`latest_in` names them only as words)."""
    for key, test in pattern.where.items():
        if key in SET_FIELD_OF and key not in ("latest_in", "newest_in"):
            yield from (next(iter(test.values())) if isinstance(test, dict) else [test])


def _check_criterion(rs: LoadedRuleset, rule: Rule, fail: Fail) -> None:
    out = cast(CriterionOutcome, rule.then)
    if out.criterion not in rs.criteria:
        fail(f"unknown criterion {out.criterion!r}")
    if out.status == "met" and rule.uses_text_matches():
        fail("a text match may block a recommendation but never qualify one")


def _check_hard_stop(rs: LoadedRuleset, rule: Rule, fail: Fail) -> None:
    out = cast(HardStopOutcome, rule.then)
    if out.hard_stop not in rs.hard_stops:
        fail(f"unknown hard stop {out.hard_stop!r}")


def _check_caution(rs: LoadedRuleset, rule: Rule, fail: Fail) -> None:
    out = cast(CautionOutcome, rule.then)
    if out.caution not in rs.cautions:
        fail(f"unknown caution {out.caution!r}")


def _check_reminder(rs: LoadedRuleset, rule: Rule, fail: Fail) -> None:
    out = cast(ReminderOutcome, rule.then)
    if out.done_when and out.done_when not in rs.valuesets.names:
        fail(f"unknown value set {out.done_when!r} in done_when")


# What each kind of outcome names that must exist (outcome types are distinct classes).
_OUTCOME_CHECKS: dict[type, Callable[[LoadedRuleset, Rule, Fail], None]] = {
    CriterionOutcome: _check_criterion,
    HardStopOutcome: _check_hard_stop,
    CautionOutcome: _check_caution,
    ReminderOutcome: _check_reminder,
}


def _check_pathways(rs: LoadedRuleset) -> None:
    pathways = {r.rule.then.pathway for r in rs.rules.values() if isinstance(r.rule.then, CriterionOutcome)}
    for crit in rs.criteria.values():
        for p in crit.applies_to_pathways or []:
            if p not in pathways:
                raise RulesetError("eligibility", f"criterion {crit.id}: unknown pathway {p!r}")


def _check_dynamic_words(rs: LoadedRuleset, rule: Rule, fail: Fail) -> None:
    """Words whose list is the ruleset itself: caution ids, instrument value sets."""
    known = {
        "@cautions": set(rs.cautions),
        "@instruments": {n for n in rs.valuesets.names if n.startswith("instrument_")},
    }
    for pattern in rule.when:
        for key, test in pattern.where.items():
            allowed = FIELD_VALUES.get((pattern.fact, key))
            if not isinstance(allowed, str):
                continue
            values = test.get("in", [test.get("eq")]) if isinstance(test, dict) else [test]
            for value in values:
                if value is not None and value not in known[allowed]:
                    fail(f"{key}: {value!r} is not one of {sorted(known[allowed])}")


def _failer(file: str, rule_id: str) -> Fail:
    def fail(message: str) -> None:
        raise RulesetError(file, message, rule_id)

    return fail
