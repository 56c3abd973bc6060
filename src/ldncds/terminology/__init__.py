"""Terminology: import published value sets into rules/valuesets with provenance, and diff them.

Reads FHIR ValueSet JSON/XML (and Bundles of them), AHRQ value-set lists and CSV code lists
(`readers`), plans and merges an import without ever dropping a hand-curated row (`importer`), and
reports what an import or a refresh would change and which rules and scenarios it touches
(`report`). Commands: `ldncds valuesets import` and `ldncds valuesets diff`.
"""
