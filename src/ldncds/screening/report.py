"""Screening report for a manager: why patients landed where they did, as JSON and as one HTML file.

`ReportBuilder.add(row)` is called for every screening row (counts only: no patient key is kept),
`summary()` gives the JSON-ready summary and `render_html(summary)` a self-contained page: inline
CSS and inline SVG charts, no script, no font, no image and no link to any other host, and a
Content-Security-Policy that would block one if it crept in. The page depends only on the summary,
so the same run gives the same file.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from html import escape
from typing import Any

from ldncds.engine import LoadedRuleset

from .patient import ScreeningRow
from .runner import ScreenSummary

DECISIONS = (
    "candidate",
    "candidate_with_cautions",
    "insufficient_information",
    "not_candidate",
    "contraindicated",
    "error",
)
COLOURS = {
    "candidate": "#2e7d32",
    "candidate_with_cautions": "#9e9d24",
    "insufficient_information": "#0277bd",
    "not_candidate": "#757575",
    "contraindicated": "#c62828",
    "error": "#6a1b9a",
}
NO_PATHWAY = "none established"
TOP = 12  # rows shown per "most often" chart; the JSON keeps them all
SCHEMA = "ldncds-screening-summary/1"


@dataclass
class ReportBuilder:
    """Accumulates counts per category while the rows stream past."""

    ruleset: LoadedRuleset | None = None
    decisions: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    not_met: Counter[str] = field(default_factory=Counter)
    hard_stops: Counter[str] = field(default_factory=Counter)
    cautions: Counter[str] = field(default_factory=Counter)
    incomplete: Counter[str] = field(default_factory=Counter)
    ages: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    paths: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, row: ScreeningRow) -> None:
        self.decisions[row.decision] += 1
        # Sets: a criterion listed twice for one patient is still one patient.
        self.unknown.update(set(row.unknown_criteria))
        self.not_met.update(set(row.not_met_criteria))
        self.hard_stops.update(set(row.hard_stops))
        self.cautions.update(set(row.cautions))
        self.incomplete.update(set(row.incomplete))
        self.ages[row.age_band][row.decision] += 1
        self.paths[" + ".join(row.pathways) or NO_PATHWAY][row.decision] += 1

    def summary(
        self, run: ScreenSummary, evaluation_date: date, recorded: int | None = None
    ) -> dict[str, Any]:
        """`recorded`: assessments written to the decision log (--record), None when not asked."""
        patients = sum(self.decisions.values())
        return {
            "schema": SCHEMA,
            "ruleset_version": run.ruleset_version,
            "evaluation_date": evaluation_date.isoformat(),
            "patients": patients,
            "lines": run.lines,
            "bad_lines": run.bad_lines,
            "ignored_files": list(run.ignored_files),
            "writes_decision_log": recorded is not None,
            "recorded_in_decision_log": recorded or 0,
            "decisions": {d: self.decisions[d] for d in _ordered(self.decisions, DECISIONS)},
            "unknown_criteria": self._ranked(self.unknown, "criteria", patients),
            "not_met_criteria": self._ranked(self.not_met, "criteria", patients),
            "hard_stops": self._ranked(self.hard_stops, "hard_stops", patients),
            "cautions": self._ranked(self.cautions, "cautions", patients),
            "incomplete_sections": dict(sorted(self.incomplete.items())),
            "age_bands": _mix(self.ages, key=_band_order),
            "pathways": _mix(self.paths, key=lambda name: (name == NO_PATHWAY, name)),
            "run": {"seconds": round(run.seconds, 2), "workers": run.workers, "backend": run.backend},
        }

    def _ranked(self, counts: Counter[str], kind: str, patients: int) -> list[dict[str, Any]]:
        """Most frequent first (ties by id, so the order is stable), with the ruleset's title."""
        titles = getattr(self.ruleset, kind, {}) if self.ruleset is not None else {}
        return [
            {
                "id": key,
                "title": getattr(titles.get(key), "title", key),
                "patients": n,
                "share": round(n / patients, 4) if patients else 0.0,
            }
            for key, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]


def _ordered(counts: Counter[str], order: tuple[str, ...]) -> list[str]:
    return [d for d in order if counts[d]] + sorted(set(counts) - set(order))


def _band_order(band: str) -> tuple[int, str]:
    head = band.split("-", 1)[0]
    return (int(head), band) if head.isdigit() else (10**6, band)


def _mix(groups: dict[str, Counter[str]], key: Any) -> list[dict[str, Any]]:
    return [
        {"group": name, "patients": sum(c.values()), "decisions": {d: c[d] for d in _ordered(c, DECISIONS)}}
        for name, c in sorted(groups.items(), key=lambda item: key(item[0]))
    ]


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=False) + "\n"


# ---------------------------------------------------------------------------------------------------------
# SVG: horizontal bars, drawn in Python (no script); every text escaped.

BAR_H, GAP, LABEL_W, CHART_W = 22, 6, 300, 420
LABEL_CHARS = 44  # what fits in LABEL_W at 12px; the full title is in the table and the tooltip


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def _text(x: float, y: float, text: str, anchor: str = "start", weight: str = "normal") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-weight="{weight}">{escape(text)}</text>'
    )


def bar_chart(items: list[tuple[str, int, str]], total: int, title: str) -> str:
    """One bar per (label, count, colour), scaled to `total`; the count and share at the bar's end."""
    if not items:
        return f'<p class="none">{escape(title)}: none.</p>'
    height = len(items) * (BAR_H + GAP) + GAP
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {LABEL_W + CHART_W + 140} '
        f'{height}" width="{LABEL_W + CHART_W + 140}" height="{height}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, count, colour) in enumerate(items):
        y = GAP + i * (BAR_H + GAP)
        width = CHART_W * count / total if total else 0
        share = f"{count} ({100 * count / total:.1f}%)" if total else str(count)
        parts += [
            _text(LABEL_W - 8, y + BAR_H * 0.7, _short(label), anchor="end"),
            f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H}" fill="{colour}">'
            f"<title>{escape(label)}: {share}</title></rect>",
            _text(LABEL_W + width + 6, y + BAR_H * 0.7, share),
        ]
    parts.append("</svg>")
    return "".join(parts)


def stacked_chart(groups: list[dict[str, Any]], title: str) -> str:
    """One bar per group (age band, pathway), split by decision; a legend above."""
    if not groups:
        return f'<p class="none">{escape(title)}: none.</p>'
    biggest = max(g["patients"] for g in groups) or 1
    legend_h = 28
    height = legend_h + len(groups) * (BAR_H + GAP) + GAP
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {LABEL_W + CHART_W + 140} '
        f'{height}" width="{LABEL_W + CHART_W + 140}" height="{height}">',
        f"<title>{escape(title)}</title>",
    ]
    x = 0.0
    for decision in DECISIONS:
        parts += [
            f'<rect x="{x:.1f}" y="6" width="12" height="12" fill="{COLOURS[decision]}"/>',
            _text(x + 16, 16, decision.replace("_", " ")),
        ]
        x += 16 + 7.2 * len(decision) + 14
    for i, group in enumerate(groups):
        y = legend_h + GAP + i * (BAR_H + GAP)
        parts.append(_text(LABEL_W - 8, y + BAR_H * 0.7, _short(group["group"]), anchor="end"))
        x = float(LABEL_W)
        for decision, count in group["decisions"].items():
            width = CHART_W * count / biggest
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR_H}" '
                f'fill="{COLOURS.get(decision, "#000")}"><title>{escape(decision)}: {count}</title></rect>'
            )
            x += width
        parts.append(_text(x + 6, y + BAR_H * 0.7, str(group["patients"])))
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------------------
# HTML

CSS = """
body{font:14px/1.45 system-ui,sans-serif;color:#222;margin:2em auto;max-width:62em;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}
td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.meta{color:#555}.none{color:#777}
svg.chart{display:block;max-width:100%;height:auto;font-size:12px}svg text{fill:#222}
.note{background:#f5f5f5;padding:.6em 1em;border-left:4px solid #999}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"


def _pct(n: int, total: int) -> str:
    return f"{100 * n / max(total, 1):.1f}%"


def _table(rows: list[dict[str, Any]], head: str, patients: int) -> str:
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{escape(r['title'])}</td><td><code>{escape(r['id'])}</code></td>"
        f'<td class="n">{r["patients"]}</td><td class="n">{_pct(r["patients"], patients)}</td></tr>'
        for r in rows
    )
    return f"<table><tr><th>{escape(head)}</th><th>id</th><th>patients</th><th>share</th></tr>{body}</table>"


def _ranked_section(summary: dict[str, Any], key: str, heading: str, colour: str, head: str) -> str:
    rows, patients = summary[key], summary["patients"]
    chart = bar_chart([(r["title"], r["patients"], colour) for r in rows[:TOP]], patients, heading)
    return f"<h2>{escape(heading)}</h2>{chart}{_table(rows, head, patients)}"


def _log_note(summary: dict[str, Any]) -> str:
    if summary["writes_decision_log"]:
        logged = (
            f"{summary['recorded_in_decision_log']} of these assessments were written to the decision log "
            "(channel <code>screening</code>, <code>--record</code>)."
        )
    else:
        logged = "These decisions are <strong>not</strong> written to the decision log."
    return (
        f'<p class="note">Screening is a population overview, not advice for a patient. {logged} '
        "Each patient's decision must be made again at the visit, with the record as it is then.</p>"
    )


def render_html(summary: dict[str, Any]) -> str:
    patients = summary["patients"]
    decisions = [(d.replace("_", " "), n, COLOURS.get(d, "#000")) for d, n in summary["decisions"].items()]
    decision_rows = "".join(
        f'<tr><td>{escape(d)}</td><td class="n">{n}</td><td class="n">{_pct(n, patients)}</td></tr>'
        for d, n in summary["decisions"].items()
    )
    incomplete = ", ".join(f"{escape(k)} {v}" for k, v in summary["incomplete_sections"].items()) or "none"
    ignored = ", ".join(escape(f) for f in summary["ignored_files"]) or "none"
    sections = [
        f'<h1>Screening report</h1><p class="meta">{patients} patients evaluated on '
        f"{escape(summary['evaluation_date'])} with ruleset "
        f"<code>{escape(summary['ruleset_version'])}</code>; "
        f"{summary['lines']} lines read, {summary['bad_lines']} reported unreadable and skipped.</p>",
        _log_note(summary),
        "<h2>Decisions</h2>",
        bar_chart(decisions, patients, "Patients by decision"),
        f"<table><tr><th>decision</th><th>patients</th><th>share</th></tr>{decision_rows}</table>",
        _ranked_section(
            summary, "unknown_criteria", "Criteria most often unknown", "#0277bd", "criterion (unknown)"
        ),
        _ranked_section(
            summary, "not_met_criteria", "Criteria most often not met", "#757575", "criterion (not met)"
        ),
        _ranked_section(summary, "hard_stops", "Hard stops by kind", "#c62828", "hard stop"),
        _ranked_section(summary, "cautions", "Cautions by kind", "#9e9d24", "caution"),
        "<h2>Age mix</h2>",
        stacked_chart(summary["age_bands"], "Patients by age band and decision"),
        "<h2>Pathway mix</h2>",
        stacked_chart(summary["pathways"], "Patients by qualifying pathway and decision"),
        f"<h2>Data quality</h2><p>Sections with unreadable records (patients): {incomplete}.</p>"
        f"<p>Files ignored: {ignored}.</p>",
    ]
    # Script content is raw text: with no "<" at all, no label can end or re-open the element.
    data = json.dumps(summary, sort_keys=True).replace("<", "\\u003c")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ldncds screening report — {escape(summary['evaluation_date'])}</title>"
        f"<style>{CSS}</style></head><body>{''.join(sections)}"
        f'<script type="application/json" id="summary">{data}</script></body></html>\n'
    )
