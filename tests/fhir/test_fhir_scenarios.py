"""Runs features/fhir_records.feature: FHIR resources through the prefetch reader, adapter and engine."""

from pytest_bdd import scenarios

from ldncds.bdd.steps import *  # noqa: F403

scenarios("fhir_records.feature")
