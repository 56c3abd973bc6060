"""The LDN decision engine: knows neither FHIR nor HTTP.

from ldncds.engine import Engine, PatientFacts
assessment = Engine().assess(PatientFacts(...), evaluation_date)
"""

from .assess import Engine, default_rules_dir
from .assessment import Assessment
from .facts import PatientFacts
from .loader import LoadedRuleset, RulesetError, load_ruleset
from .matching import EngineError
from .scope import in_scope

__all__ = [
    "Assessment",
    "Engine",
    "EngineError",
    "LoadedRuleset",
    "PatientFacts",
    "RulesetError",
    "default_rules_dir",
    "in_scope",
    "load_ruleset",
]
