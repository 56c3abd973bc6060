"""Storing an engine assessment: the one helper every channel (CLI, JSON API, CDS Hooks) calls.

A write has a pure part and a database part. `prepare_record` does the pure part: the JSON text of
the facts and of the assessment (serialised once, exactly as the log stores and hashes it), the
digest of the raw input, the checks, and the canonical bytes the chain hash covers, except for the
three values only the append knows (time, sequence number, previous hash). It imports neither
SQLAlchemy nor the engine, so an engine worker process can run it. `DecisionStore.record(prepared=...)`
appends a PreparedRecord; `record_assessment` is the two in one.

Entry points:

    prepared = prepare_record(facts, assessment, raw_input, caller, ruleset_hash)
    stored = store.record(prepared=prepared)          # in the process holding the store
    stored = record_assessment(store, facts, assessment, raw_input, caller, ruleset_hash)  # both

    text = assessment_text(facts, assessment)         # where the engine ran (a worker process)
    store.append(seal(text, raw_input, caller, ruleset_hash))  # the server: nothing parsed again

`facts` and `assessment` may each be the pydantic model (PatientFacts / Assessment), its
`model_dump(mode="json")` dict, or that dict already serialised as JSON text (str or UTF-8 bytes),
e.g. by a worker process, so the server does not dump the models again. Text is stored as given:
produce it with `compact_json(model.model_dump(mode="json"))`, the spelling the log has always used
(fields in the model's order, no spaces, UTF-8), and it must be a JSON object. For a
dict or text the assessment id is `assessment_id=` or the one inside the assessment (they must
agree); an Assessment model without an id is given a new uuid4, set on the model.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, get_args

import orjson
from pydantic import BaseModel

from .chain import canonical_json, sha256_hex, utc_text
from .interface import Caller, DecisionStore, StoredAssessment

if TYPE_CHECKING:
    from ldncds.engine import Assessment, PatientFacts

JsonInput = Mapping[str, Any] | str | bytes
_CALLER_FIELDS = ("channel", "service_id", "hook_instance", "issuer")
_MAX_ID = 64


# Where orjson's spelling can differ from the standard library's: a number below 1e-4 in magnitude
# (orjson writes 0.00001 and 1e-7, json 1e-05 and 1e-07). Found by substring search (a regex scan
# costs more than the dump), then the number token around it; a hit inside a string only means the
# standard library writes the text, which is slower, never different.
_SMALL_NUMBER_MARKS = (b"e-", b"0.0000")
_NUMBER_BYTES = frozenset(b"-.0123456789")
_BEFORE_NUMBER = frozenset(b":,[")


def _may_spell_otherwise(text: bytes) -> bool:
    for mark in _SMALL_NUMBER_MARKS:
        at = text.find(mark)
        while at != -1:
            start = at
            while start > 0 and text[start - 1] in _NUMBER_BYTES:
                start -= 1
            if (start < at or mark != b"e-") and (start == 0 or text[start - 1] in _BEFORE_NUMBER):
                return True
            at = text.find(mark, at + 1)
    return False


def compact_json(value: Any) -> str:
    """The stored (and hashed) text of facts and assessments: field order kept, no spaces, no NaN.

    The text is the standard library's (`json.dumps` with these options): records written before
    hash the same, and a retry of an old record is recognised as the same. orjson writes it when
    that is provably the same text: its output reads back equal to `value` (so no NaN or infinity
    became null, no tuple, date or dataclass was converted) and has no number that json spells
    otherwise; anything orjson refuses (a lone surrogate, an integer beyond 64 bits, a non-string
    key) goes to the standard library, which decides as before."""
    try:
        fast = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        fast = None
    if fast is not None and not _may_spell_otherwise(fast) and _reads_back(fast, value):
        return fast.decode("utf-8")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _reads_back(text: bytes, value: Any) -> bool:
    """orjson reads `text` back equal to `value`: it converted nothing json would refuse or spell
    otherwise (NaN -> null, a tuple, a date, a dataclass or an Enum's value are all unequal)."""
    try:
        return bool(orjson.loads(text) == value)
    except orjson.JSONDecodeError:
        return False


def _model_json(model: BaseModel, dumped: dict[str, Any]) -> str:
    """`compact_json(dumped)` of a model's JSON-mode dump, without its read-back and number scan.

    A JSON-mode dump holds only JSON values, so orjson's text reads back unequal only where a float
    is NaN or infinite, and is spelled otherwise than json's only where a float is below 1e-4 in
    magnitude (repr writes those with "e-"). The model's float fields say whether any is: found
    from the field types, so most of an assessment (explanations, citations) is never visited."""
    if _plain_floats(model):
        try:
            return orjson.dumps(dumped).decode("utf-8")
        except orjson.JSONEncodeError:
            pass  # an integer beyond 64 bits, a lone surrogate: compact_json decides
    return compact_json(dumped)


def _plain_floats(value: Any) -> bool:
    """No float in `value` is NaN, infinite or spelled with an exponent below zero (False: unsure)."""
    if isinstance(value, BaseModel):
        fields = _float_fields(type(value))
        return fields is not None and all(_plain_floats(getattr(value, name)) for name in fields)
    if isinstance(value, float):
        return math.isfinite(value) and "e-" not in repr(value)
    if value is None or isinstance(value, str | int | date):  # bool is an int; datetime a date
        return True
    if isinstance(value, list | tuple):
        return all(_plain_floats(v) for v in value)
    if isinstance(value, dict):
        return all(_plain_floats(v) for v in value.values())
    return False  # any other object: compact_json decides


_FLOAT_FIELDS: dict[type[BaseModel], tuple[str, ...] | None] = {}


def _float_fields(cls: type[BaseModel]) -> tuple[str, ...] | None:
    """The fields of `cls` whose type can hold a float (directly, in a model, list or dict, or Any);
    None when a serializer or computed field could write a value the fields do not hold."""
    if cls not in _FLOAT_FIELDS:
        _FLOAT_FIELDS[cls] = None  # while it is worked out: a model that contains itself is unsure
        decorators = cls.__pydantic_decorators__
        if not (decorators.field_serializers or decorators.model_serializers or cls.model_computed_fields):
            fields = cls.model_fields.items()
            _FLOAT_FIELDS[cls] = tuple(name for name, f in fields if _may_hold_float(f.annotation))
    return _FLOAT_FIELDS[cls]


def _may_hold_float(annotation: Any) -> bool:
    if isinstance(annotation, float) or annotation is Any or annotation is object:
        return True  # a float Literal value, or a field that takes anything
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return _float_fields(annotation) != ()
        if issubclass(annotation, float):
            return True
    return any(_may_hold_float(arg) for arg in get_args(annotation))


def load_json(text: str | bytes) -> Any:
    """Parse stored JSON text exactly as json.loads would, with orjson where that is provably the same.

    orjson reads integers beyond 64 bits as floats; when its reading writes back to the very same
    text, every number was read exactly, otherwise the standard library reads it."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    try:
        value = orjson.loads(raw)
        if orjson.dumps(value) == raw:
            return value
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        pass  # e.g. a lone surrogate escape: the standard library decides
    return json.loads(raw)


def json_string_bytes(text: str) -> bytes:
    """`canonical_json(text).encode()`: the JSON string literal of `text`, as the chain hash covers it.

    orjson escapes strings byte for byte as the standard library (tested over every code point);
    a string it refuses (a lone surrogate) fails in the standard library's UTF-8 encoding, as before."""
    try:
        return orjson.dumps(text)
    except orjson.JSONEncodeError:
        return json.dumps(text, ensure_ascii=False).encode("utf-8")


def hashed_caller(row: Mapping[str, Any]) -> dict[str, Any]:
    """The caller as hashed; the tenant (schema 0002) only when set, so older records keep their hash."""
    caller = {k: row[k] for k in _CALLER_FIELDS}
    return caller | ({"tenant": row["tenant"]} if row.get("tenant") is not None else {})


def assessment_content(row: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """What an assessment's hash covers: every stored field (facts and output as stored JSON text).

    This is the definition the verifier uses; PreparedRecord.chain_hash computes the same bytes
    without building this dict again (tests compare the two)."""
    return {
        "id": row["id"],
        "seq": seq,
        "created_at": utc_text(row["created_at"]),
        "caller": hashed_caller(row),
        "evaluation_date": row["evaluation_date"].isoformat(),
        "ruleset_version": row["ruleset_version"],
        "ruleset_hash": row["ruleset_hash"],
        "decision": row["decision"],
        "input_digest": row["input_digest"],
        "facts": row["facts"],
        "assessment": row["assessment"],
    }


@dataclass(frozen=True, slots=True)
class PreparedRecord:
    """An assessment ready to append: what the log stores, and the hashed bytes around the append's values.

    Picklable (plain values and bytes), so a worker process may prepare it and hand it over."""

    id: str
    caller: Caller
    evaluation_date: date
    ruleset_version: str
    ruleset_hash: str
    decision: str
    input_digest: str
    facts_json: str
    assessment_json: str
    hashed_head: bytes  # canonical bytes up to the created_at value
    hashed_middle: bytes  # canonical bytes from after created_at up to the seq value
    # The JSON values of the two texts, when the preparer had them; else read from the text on demand.
    facts_value: dict[str, Any] | None = field(default=None, compare=False)
    assessment_value: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def facts(self) -> dict[str, Any]:
        if self.facts_value is None:
            object.__setattr__(self, "facts_value", load_json(self.facts_json))
        return self.facts_value  # type: ignore[return-value]

    @property
    def assessment(self) -> dict[str, Any]:
        if self.assessment_value is None:
            object.__setattr__(self, "assessment_value", load_json(self.assessment_json))
        return self.assessment_value  # type: ignore[return-value]

    def chain_hash(self, created_at: datetime, seq: int, prev_hash: str) -> str:
        """sha256 of canonical_json(assessment_content(row, seq)) + prev_hash, over the prepared bytes."""
        created = json_string_bytes(utc_text(created_at))
        tail = b"%d}" % seq + prev_hash.encode("ascii")
        return sha256_hex(b"".join((self.hashed_head, created, self.hashed_middle, tail)))

    def row(self) -> dict[str, Any]:
        """The stored columns this record fixes (the append adds seq, created_at and the chain links)."""
        return {
            "id": self.id,
            "channel": self.caller.channel,
            "service_id": self.caller.service_id,
            "hook_instance": self.caller.hook_instance,
            "issuer": self.caller.issuer,
            "tenant": self.caller.tenant,
            "evaluation_date": self.evaluation_date,
            "ruleset_version": self.ruleset_version,
            "ruleset_hash": self.ruleset_hash,
            "decision": self.decision,
            "input_digest": self.input_digest,
            "facts": self.facts_json,
            "assessment": self.assessment_json,
        }

    def stored(self, seq: int, created_at: datetime) -> StoredAssessment:
        """The StoredAssessment of this record once appended: built from what was written, not read back."""
        return StoredAssessment(
            id=self.id,
            seq=seq,
            created_at=created_at,
            caller=self.caller,
            evaluation_date=self.evaluation_date,
            ruleset_version=self.ruleset_version,
            ruleset_hash=self.ruleset_hash,
            decision=self.decision,
            input_digest=self.input_digest,
            facts=self.facts,
            assessment=self.assessment,
        )


@dataclass(frozen=True, slots=True)
class AssessmentText:
    """An assessment and its facts in the log's spelling, with the fields the log indexes: what the
    place that ran the engine hands to the place holding the store (picklable). `seal` adds the
    caller and the input digest without parsing anything again."""

    id: str
    decision: str
    evaluation_date: date
    ruleset_version: str
    facts_json: str
    assessment_json: str


def assessment_text(
    facts: PatientFacts | JsonInput, assessment: Assessment | JsonInput, *, assessment_id: str | None = None
) -> AssessmentText:
    """Serialise and check one assessment (ValueError names what is wrong)."""
    return _text(facts, assessment, assessment_id)[0]


def _text(
    facts: Any, assessment: Any, assessment_id: str | None
) -> tuple[AssessmentText, dict[str, Any], dict[str, Any]]:
    if isinstance(assessment, BaseModel):
        assessment_id = _model_id(assessment, assessment_id)
    facts_json, facts_value = _json_part(facts, "facts")
    assessment_json, assessment_value = _json_part(assessment, "assessment")
    record_id = _checked_id(assessment_id, assessment_value)
    try:
        text = AssessmentText(
            id=record_id,
            decision=str(assessment_value["decision"]),
            evaluation_date=date.fromisoformat(str(assessment_value["evaluation_date"])),
            ruleset_version=str(assessment_value["ruleset_version"]),
            facts_json=facts_json,
            assessment_json=assessment_json,
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"assessment: missing or invalid field {exc}") from exc
    return text, facts_value, assessment_value


def prepare_record(
    facts: PatientFacts | JsonInput,
    assessment: Assessment | JsonInput,
    raw_input: bytes,
    caller: Caller,
    ruleset_hash: str,
    *,
    assessment_id: str | None = None,
) -> PreparedRecord:
    """Serialise, check and pre-hash one assessment (no database). ValueError names what is wrong."""
    text, facts_value, assessment_value = _text(facts, assessment, assessment_id)
    return seal(text, raw_input, caller, ruleset_hash, facts_value, assessment_value)


def seal(
    text: AssessmentText,
    raw_input: bytes,
    caller: Caller,
    ruleset_hash: str,
    facts_value: dict[str, Any] | None = None,
    assessment_value: dict[str, Any] | None = None,
) -> PreparedRecord:
    """The PreparedRecord of a serialised assessment: the input digest, the caller and the canonical
    bytes the chain hash covers around the append's own values."""
    digest = sha256_hex(raw_input)
    head = b"".join(
        (
            b'{"assessment":',
            json_string_bytes(text.assessment_json),
            b',"caller":',
            canonical_json(hashed_caller(caller.model_dump())).encode("utf-8"),
            b',"created_at":',
        )
    )
    middle = b"".join(
        (
            b',"decision":',
            json_string_bytes(text.decision),
            b',"evaluation_date":',
            json_string_bytes(text.evaluation_date.isoformat()),
            b',"facts":',
            json_string_bytes(text.facts_json),
            b',"id":',
            json_string_bytes(text.id),
            b',"input_digest":',
            json_string_bytes(digest),
            b',"ruleset_hash":',
            json_string_bytes(ruleset_hash),
            b',"ruleset_version":',
            json_string_bytes(text.ruleset_version),
            b',"seq":',
        )
    )
    return PreparedRecord(
        id=text.id,
        caller=caller,
        evaluation_date=text.evaluation_date,
        ruleset_version=text.ruleset_version,
        ruleset_hash=ruleset_hash,
        decision=text.decision,
        input_digest=digest,
        facts_json=text.facts_json,
        assessment_json=text.assessment_json,
        hashed_head=head,
        hashed_middle=middle,
        facts_value=facts_value,
        assessment_value=assessment_value,
    )


def _model_id(assessment: BaseModel, given: str | None) -> str:
    """An Assessment model keeps (or is given) its id before it is serialised: the stored text has it."""
    current = getattr(assessment, "assessment_id", None)
    if current is None:
        current = given or str(uuid.uuid4())
        assessment.assessment_id = current  # type: ignore[attr-defined]
    return str(current)


def _json_part(value: Any, name: str) -> tuple[str, dict[str, Any]]:
    """(stored text, its JSON value). A model's dump is JSON-native already; anything else is the
    value its text reads back as, so the caller gets exactly what a later read returns."""
    if isinstance(value, BaseModel):
        dumped = value.model_dump(mode="json")
        return _model_json(value, dumped), dumped
    if isinstance(value, str | bytes):
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        try:
            parsed = load_json(text)
        except ValueError as exc:
            raise ValueError(f"{name}: not valid JSON text") from exc
    elif isinstance(value, Mapping):
        text = compact_json(value)
        parsed = load_json(text)
    else:
        raise ValueError(f"{name}: expected a model, a JSON object or its text, got {type(value).__name__}")
    if not isinstance(parsed, dict):
        raise ValueError(f"{name}: expected a JSON object")
    return text, parsed


def _checked_id(given: str | None, assessment: Mapping[str, Any]) -> str:
    stated = assessment.get("assessment_id")
    record_id = given if given is not None else stated
    if not isinstance(record_id, str) or not record_id or len(record_id) > _MAX_ID:
        raise ValueError(f"assessment_id: required, at most {_MAX_ID} characters")
    if stated not in (None, record_id):
        raise ValueError("assessment.assessment_id differs from assessment_id")
    return record_id


def record_assessment(
    store: DecisionStore,
    facts: PatientFacts | JsonInput,
    assessment: Assessment | JsonInput,
    raw_input: bytes,
    caller: Caller,
    ruleset_hash: str,
) -> StoredAssessment:
    """Give the assessment an id (uuid4) if it has none, then store facts and output durably.

    Call it before the response is sent: when it returns, the record is committed.
    """
    return store.record(prepared=prepare_record(facts, assessment, raw_input, caller, ruleset_hash))
