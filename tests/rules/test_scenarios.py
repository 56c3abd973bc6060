"""Runs the auditor scenarios in features/rules with pytest-bdd."""

from pytest_bdd import scenarios

from ldncds.bdd.steps import *  # noqa: F403

scenarios("../features/rules")
