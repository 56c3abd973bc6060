"""The LDN decision engine: knows neither FHIR nor HTTP.

from ldncds.engine import Engine, PatientFacts
assessment = Engine().assess(PatientFacts(...), evaluation_date)
"""

from .assess import Detail, Engine, default_rules_dir
from .assessment import (
    Assessment,
    Caution,
    CriterionResult,
    Explanation,
    FactCitation,
    HardStop,
    InstrumentResponse,
    MissingItem,
    MonitoringReminder,
    Note,
    ResultPoint,
    TherapyStatus,
    TitrationPlan,
)
from .codes import CODE_SYSTEM_URIS, CODE_SYSTEMS, INTERPRETATION_SYSTEMS, canonical_code, canonical_system
from .derive import derive
from .facts import DataNote, Medication, PatientFacts, earliest, latest
from .integrity import LOCK, write
from .loader import (
    META_SUFFIX,
    VALUESET_DIR,
    VALUESET_FIELDS,
    LoadedRuleset,
    RulesetError,
    ValueSetRow,
    ValueSets,
    content_hash,
    load_ruleset,
    load_valueset_meta,
)
from .matching import EngineError
from .provenance import SOURCE_SEPARATOR, ImportRecipe, Source, ValueSetMeta
from .ruleschema import (
    AdverseEffectOutcome,
    CautionOutcome,
    CriterionOutcome,
    DecisionOutcome,
    DoseAdjustmentOutcome,
    HardStopOutcome,
    NoteOutcome,
    Pattern,
    RecommendationOutcome,
    ReminderOutcome,
    ResponseOutcome,
    Rule,
    TherapyOutcome,
    TitrationOutcome,
)
from .scope import in_scope
from .valuespace import check
from .vocabulary import DECISIONS, Decision

__all__ = [
    "AdverseEffectOutcome",
    "Assessment",
    "CODE_SYSTEMS",
    "CODE_SYSTEM_URIS",
    "Caution",
    "CautionOutcome",
    "CriterionOutcome",
    "CriterionResult",
    "DECISIONS",
    "DataNote",
    "Decision",
    "DecisionOutcome",
    "Detail",
    "DoseAdjustmentOutcome",
    "Engine",
    "EngineError",
    "Explanation",
    "FactCitation",
    "HardStop",
    "HardStopOutcome",
    "INTERPRETATION_SYSTEMS",
    "ImportRecipe",
    "InstrumentResponse",
    "LOCK",
    "LoadedRuleset",
    "META_SUFFIX",
    "Medication",
    "MissingItem",
    "MonitoringReminder",
    "Note",
    "NoteOutcome",
    "PatientFacts",
    "Pattern",
    "RecommendationOutcome",
    "ReminderOutcome",
    "ResponseOutcome",
    "ResultPoint",
    "Rule",
    "RulesetError",
    "SOURCE_SEPARATOR",
    "Source",
    "TherapyOutcome",
    "TherapyStatus",
    "TitrationOutcome",
    "TitrationPlan",
    "VALUESET_DIR",
    "VALUESET_FIELDS",
    "ValueSetMeta",
    "ValueSetRow",
    "ValueSets",
    "canonical_code",
    "canonical_system",
    "check",
    "content_hash",
    "default_rules_dir",
    "derive",
    "earliest",
    "in_scope",
    "latest",
    "load_ruleset",
    "load_valueset_meta",
    "write",
]
