"""Words shared by the pages: decisions and statuses said in words, and evidence links."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

# Colour is never the only signal: every decision and status has a label in capitals or words.
DECISION_LABELS: dict[str, str] = {
    "contraindicated": "CONTRAINDICATED",
    "on_therapy": "ON LDN THERAPY",
    "not_candidate": "NOT A CANDIDATE",
    "insufficient_information": "INSUFFICIENT INFORMATION",
    "candidate_with_cautions": "CANDIDATE WITH CAUTIONS",
    "candidate": "CANDIDATE",
}
DECISION_MEANINGS: dict[str, str] = {
    "contraindicated": "Do not start low-dose naltrexone now: at least one hard stop applies.",
    "on_therapy": "Already taking low-dose naltrexone: response, adverse effects and monitoring below.",
    "not_candidate": "Low-dose naltrexone is not indicated: a required criterion is shown not to be met.",
    "insufficient_information": "No recommendation yet: required information is missing (listed below).",
    "candidate_with_cautions": "Low-dose naltrexone may be offered, with the precautions listed below.",
    "candidate": "Low-dose naltrexone may be offered: a low-certainty option after standard care has failed.",
}
STATUS_LABELS: dict[str, str] = {
    "met": "Met",
    "not_met": "Not met",
    "unknown": "Unknown",
    "not_applicable": "Not applicable",
}


REMINDER_STATES: dict[str, str] = {
    "upcoming": "Upcoming",
    "due": "Due now",
    "overdue": "OVERDUE",
    "done": "Done",
}
RESPONSE_LABELS: dict[str, str] = {
    "substantial": "Substantial improvement",
    "important": "Important improvement",
    "not_important": "No important improvement",
    "too_early": "Too early to judge",
    "no_baseline": "No baseline",
    "not_measured": "Not measured since the start",
}
OVERALL_RESPONSE_LABELS: dict[str, str] = {
    "substantial_responder": "SUBSTANTIAL RESPONDER",
    "responder": "RESPONDER",
    "non_responder": "NON-RESPONDER",
    "too_early": "TOO EARLY TO JUDGE",
    "no_baseline": "NO BASELINE",
    "not_measured": "NOT MEASURED",
}


def label_of(table: dict[str, str], key: str) -> str:
    """The label of `key`, or the key itself in words when the engine has learnt a new one."""
    return table.get(key, key.replace("_", " "))


def decision_label(decision: str) -> str:
    return DECISION_LABELS.get(decision, decision.replace("_", " ").upper())


def status_label(status: str) -> str:
    return label_of(STATUS_LABELS, status)


def rule_anchor(rule_id: str) -> str:
    """The rulebook anchor of a rule; quoted so an odd stored id cannot break out of the URL."""
    return "rule-" + quote(rule_id, safe="-_.")


def evidence_link(evidence: Any) -> dict[str, str | None]:
    """Citation text plus one link a clinician can follow (PubMed, DOI or the given web address)."""
    href = label = None
    if evidence.pmid:
        href, label = (
            f"https://pubmed.ncbi.nlm.nih.gov/{quote(evidence.pmid, safe='')}/",
            f"PubMed {evidence.pmid}",
        )
    elif evidence.doi:
        href, label = f"https://doi.org/{quote(evidence.doi, safe='/:;()._-')}", f"doi:{evidence.doi}"
    elif evidence.url and evidence.url.lower().startswith(("https://", "http://")):
        # Never a javascript: or data: address; the host tells the clinician where the link goes.
        href, label = evidence.url, urlsplit(evidence.url).hostname or "source"
    return {"citation": evidence.citation, "grade": evidence.grade, "href": href, "label": label}
