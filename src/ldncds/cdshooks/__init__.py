"""CDS Hooks 2.0.1 services over FHIR R4: discovery, patient-view candidacy cards, order checks, feedback.

Cards are built by pure functions (`cards`, `orders`) from engine output; `routes` holds the HTTP side.
"""
