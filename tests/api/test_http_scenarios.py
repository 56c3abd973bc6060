"""Runs features/cds_hooks.feature (the HTTP contract) with the shared step library.

The steps live in ldncds.bdd.steps_http so `ldncds scenarios` replays this file for auditors too.
"""

from pytest_bdd import scenarios

from ldncds.bdd.steps import *  # noqa: F403

scenarios("cds_hooks.feature")
