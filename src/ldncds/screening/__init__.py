"""Population screening over FHIR Bulk Data exports, and a synthetic population generator.

from ldncds.screening import ScreenOptions, screen_export, generate_population
"""

from .bulk import BadLine, ExportFiles, PatientIndex, build_index, discover, patient_key, patient_keys
from .patient import ScreeningRow, engine_for
from .runner import ScreenOptions, ScreenSummary, default_workers, screen_export
from .synth import SynthSummary, generate_population

__all__ = [
    "BadLine",
    "ExportFiles",
    "PatientIndex",
    "ScreenOptions",
    "ScreenSummary",
    "ScreeningRow",
    "SynthSummary",
    "build_index",
    "default_workers",
    "discover",
    "engine_for",
    "generate_population",
    "patient_key",
    "patient_keys",
    "screen_export",
]
