"""The titration plan and monitoring reminders drawn as an inline SVG timeline.

Drawn in Python so the page needs no JavaScript: dates run left to right from 14 days before the
planned start to 12 months after it (wider if a reminder falls outside), dose steps form a stepped
band, and reminders are markers with labels in lanes that do not overlap. Every text and attribute
goes through `_el`, which escapes it, and the output depends only on the inputs (no random ids, no
locale), so it is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any

from markupsafe import Markup

from ldncds.engine import InstrumentResponse, MonitoringReminder, TitrationPlan

WIDTH = 960
LEFT, RIGHT = 90, 20
BAND_TOP, BAND_BOTTOM = 28, 128
AXIS_Y = 150
LANES_TOP = 196
LANE_HEIGHT = 36
CHAR_WIDTH = 6.4  # rough width of one character at font-size 11, for lane packing
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HALO: dict[str, Any] = {
    "font_size": 11,
    "font_weight": "bold",
    "stroke": "#fff",
    "stroke_width": 3,
    "paint_order": "stroke",
}
INK, DOSE_FILL, ABOVE_FILL, DOSE_LINE, FLAG, REMINDER = (
    "#222",
    "#8fbcd4",
    "#f4a259",
    "#1d4e6b",
    "#b02a1a",
    "#5b3f8c",
)


def _el(tag: str, text: str | None = None, children: str = "", **attrs: object) -> str:
    """One SVG element; attribute names use _ for -, every value and text is escaped."""
    attributes = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{escape(str(v), quote=True)}"' for k, v in attrs.items()
    )
    body = (escape(text, quote=True) if text is not None else "") + children
    return f"<{tag}{attributes}>{body}</{tag}>" if body else f"<{tag}{attributes}/>"


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    following = date(year + month // 12, month % 12 + 1, 1)
    return min(date(year, month, 1) + timedelta(days=day.day - 1), following - timedelta(days=1))


def due_text(r: MonitoringReminder) -> str:
    if r.due_from == r.due_by:
        return r.due_from.isoformat()
    return f"{r.due_from.isoformat()} to {r.due_by.isoformat()}"


@dataclass(frozen=True)
class _Scale:
    first: date
    last: date

    def x(self, day: date) -> float:
        span = max((self.last - self.first).days, 1)
        return round(LEFT + (day - self.first).days / span * (WIDTH - LEFT - RIGHT), 1)


@dataclass(frozen=True)
class _Marker:
    reminder: MonitoringReminder
    x0: float
    x1: float
    anchor_end: bool
    lane: int


def timeline_svg(
    plan: TitrationPlan | None,
    reminders: list[MonitoringReminder],
    start: date,
    *,
    started: bool = False,
    today: date | None = None,
    svg_id: str = "timeline",
) -> Markup | None:
    """The timeline as SVG markup, or None when there is neither a plan nor a reminder.

    `started`: the start is in the past (a patient on therapy), so it is labelled "Started";
    `today`: the evaluation date, drawn when it differs from the start so due and overdue show.
    """
    if plan is None and not reminders:
        return None
    scale = _Scale(
        min([start - timedelta(days=14), *(r.due_from for r in reminders)]),
        max([add_months(start, 12), *(r.due_by + timedelta(days=7) for r in reminders)]),
    )
    markers = _place(reminders, scale)
    height = LANES_TOP + max(max((m.lane for m in markers), default=0) + 1, 1) * LANE_HEIGHT
    # Without a plan there is no dose band: lift everything into its place.
    lift = 0 if plan else BAND_BOTTOM - BAND_TOP
    drawing = [
        *_axis(
            scale,
            start,
            height,
            "Started" if started else "Planned start",
            BAND_TOP - 14 if plan else AXIS_Y - 26,
        ),
        *(_today(scale, today, height) if today and today != start else []),
        *(_dose_band(plan, scale) if plan else []),
    ]
    if markers:
        drawing.append(_el("text", "Reminders", x=4, y=LANES_TOP - 8, font_size=11, font_weight="bold"))
        drawing += [_marker(m) for m in markers]
    parts = [
        _el("title", "Titration plan and monitoring timeline", id=f"{svg_id}-title"),
        _el("desc", describe(plan, reminders, start, started), id=f"{svg_id}-desc"),
        _el("g", children="\n".join(drawing), transform=f"translate(0 {-lift})")
        if lift
        else "\n".join(drawing),
    ]
    height -= lift
    svg = _el(
        "svg",
        children="\n" + "\n".join(parts) + "\n",
        xmlns="http://www.w3.org/2000/svg",
        id=svg_id,
        class_="timeline",
        role="img",
        viewBox=f"0 0 {WIDTH} {height}",
        width="100%",
        preserveAspectRatio="xMinYMin meet",
        aria_labelledby=f"{svg_id}-title {svg_id}-desc",
    )
    return Markup(svg)  # safe: built by _el, which escapes every value


def describe(
    plan: TitrationPlan | None, reminders: list[MonitoringReminder], start: date, started: bool = False
) -> str:
    """The same content in one sentence per item, for screen readers (the <desc>)."""
    out = [f"{'Started' if started else 'Planned start'} {start.isoformat()}."]
    if plan:
        out += [
            f"From {s.starts_on.isoformat()} (week {s.from_week}): {s.dose_mg:g} mg {s.timing}."
            for s in plan.steps
        ]
    out += [f"{r.explanation.title}: due {due_text(r)}{_state_words(r)}." for r in reminders]
    return " ".join(out)


def _state_words(r: MonitoringReminder) -> str:
    """How a reminder stands on the evaluation date, in words (empty while it is upcoming)."""
    if r.state == "overdue":
        return f" (OVERDUE by {r.days_overdue} days)" if r.days_overdue else " (OVERDUE)"
    return {"due": " (due now)", "done": " (done)"}.get(r.state, "")


def _today(scale: _Scale, today: date, height: int) -> list[str]:
    x = scale.x(today)
    return [
        _el("line", x1=x, y1=AXIS_Y - 6, x2=x, y2=height - 4, stroke=FLAG, stroke_width=1.5),
        _el("text", f"Evaluated {today.isoformat()}", x=x + 4, y=AXIS_Y - 8, font_size=10, fill=FLAG),
    ]


def _axis(scale: _Scale, start: date, height: int, start_label: str, top: float) -> list[str]:
    parts = [_el("line", x1=LEFT, y1=AXIS_Y, x2=WIDTH - RIGHT, y2=AXIS_Y, stroke=INK)]
    tick = date(scale.first.year, scale.first.month, 1)
    if tick < scale.first:
        tick = add_months(tick, 1)
    first = True
    while tick <= scale.last:
        x = scale.x(tick)
        label = MONTHS[tick.month - 1] + (f" {tick.year}" if tick.month == 1 or first else "")
        parts.append(_el("line", x1=x, y1=AXIS_Y, x2=x, y2=AXIS_Y + 5, stroke=INK))
        parts.append(_el("text", label, x=x, y=AXIS_Y + 18, font_size=10, text_anchor="middle"))
        tick, first = add_months(tick, 1), False
    x = scale.x(start)
    parts.append(_el("line", x1=x, y1=top, x2=x, y2=height - 4, stroke=INK, stroke_dasharray="4 3"))
    parts.append(
        _el(
            "text",
            f"{start_label} {start.isoformat()}",
            x=x + 4,
            y=top - 2,
            font_size=11,
            font_weight="bold",
        )
    )
    return parts


def _dose_band(plan: TitrationPlan, scale: _Scale) -> list[str]:
    top = max(plan.flag_above_mg, plan.target_mg, *(s.dose_mg for s in plan.steps)) * 1.15

    def y(mg: float) -> float:
        return round(BAND_BOTTOM - mg / top * (BAND_BOTTOM - BAND_TOP), 1)

    parts = [
        _el("text", "LDN dose", x=4, y=BAND_TOP + 12, font_size=11, font_weight="bold"),
        _el("text", "mg a day", x=4, y=BAND_TOP + 26, font_size=10),
    ]
    ends = [s.starts_on for s in plan.steps[1:]] + [scale.last]
    labels = []
    for step, end in zip(plan.steps, ends, strict=True):
        x0, x1, y0 = scale.x(step.starts_on), scale.x(end), y(step.dose_mg)
        flag = " (above the studied range)" if step.above_flag else ""
        tip = _el("title", f"{step.dose_mg:g} mg {step.timing} from {step.starts_on.isoformat()}{flag}")
        parts.append(
            _el(
                "rect",
                children=tip,
                class_="tl-dose",
                x=x0,
                y=y0,
                width=max(round(x1 - x0, 1), 1),
                height=round(BAND_BOTTOM - y0, 1),
                fill=ABOVE_FILL if step.above_flag else DOSE_FILL,
                stroke=DOSE_LINE,
            )
        )
        # Left of the riser, just under the step's top: free space while the dose climbs.
        labels.append(_el("text", f"{step.dose_mg:g} mg", x=x0 - 3, y=y0 + 11, text_anchor="end", **HALO))
    parts += labels  # drawn after every step, so no later step covers a label
    yf = y(plan.flag_above_mg)
    parts.append(_el("line", x1=LEFT, y1=yf, x2=WIDTH - RIGHT, y2=yf, stroke=FLAG, stroke_dasharray="6 4"))
    parts.append(
        _el(
            "text",
            f"above {plan.flag_above_mg:g} mg: outside the studied LDN range",
            x=WIDTH - RIGHT,
            y=yf - 4,
            font_size=10,
            text_anchor="end",
            fill=FLAG,
        )
    )
    parts.append(_el("line", x1=LEFT, y1=BAND_BOTTOM, x2=WIDTH - RIGHT, y2=BAND_BOTTOM, stroke=DOSE_LINE))
    return parts


def _place(reminders: list[MonitoringReminder], scale: _Scale) -> list[_Marker]:
    """Give each reminder the first lane where its label does not overlap the one before it."""
    lane_ends: list[float] = []
    out = []
    for r in sorted(reminders, key=lambda r: (r.due_from, r.due_by, r.id)):
        x0 = scale.x(r.due_from)
        x1 = max(scale.x(r.due_by), x0 + 6)
        width = len(r.explanation.title + _state_words(r)) * CHAR_WIDTH + 8
        anchor_end = x0 + width > WIDTH - RIGHT  # near the right edge the label runs leftwards
        left, right = (x1 - width, x1) if anchor_end else (x0, max(x0 + width, x1))
        lane = next((i for i, end in enumerate(lane_ends) if end < left), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(right)
        lane_ends[lane] = right + 6
        out.append(_Marker(r, x0, x1, anchor_end, lane))
    return out


def _marker(m: _Marker) -> str:
    r, y = m.reminder, LANES_TOP + m.lane * LANE_HEIGHT
    title = r.explanation.title + _state_words(r)
    # Done: hollow; overdue: red. The label says the state too, so colour is never the only signal.
    fill = {"done": "#fff", "overdue": FLAG}.get(r.state, REMINDER)
    stroke = FLAG if r.state == "overdue" else REMINDER
    children = "".join(
        [
            _el("title", f"{title}, due {due_text(r)}: {r.what}"),
            _el(
                "line",
                x1=m.x0,
                y1=AXIS_Y,
                x2=m.x0,
                y2=y,
                stroke=REMINDER,
                stroke_width=0.6,
                stroke_dasharray="2 2",
            ),
            _el("rect", x=m.x0, y=y, width=round(m.x1 - m.x0, 1), height=10, rx=2, fill=fill, stroke=stroke),
            _el(
                "text",
                title,
                x=m.x1 if m.anchor_end else m.x0,
                y=y + 23,
                font_size=11,
                text_anchor="end" if m.anchor_end else "start",
            ),
        ]
    )
    return _el("g", children=children, class_=f"tl-reminder tl-{r.state}")


# ------------------------------------------------------------------ response of one outcome measure

CHART_W, CHART_H = 640, 190
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 44, 470, 16, 150


def response_chart(response: InstrumentResponse, start: date, *, svg_id: str) -> Markup | None:
    """One outcome measure over time: its results, the therapy start, and the values that would
    count as a response (read from the rules), or None when nothing was measured."""
    if not response.series:
        return None
    days = [p.date for p in response.series] + [start]
    values = [p.value for p in response.series] + [t.value for t in response.thresholds]
    first, last = min(days) - timedelta(days=7), max(days) + timedelta(days=7)
    low, high = min(values), max(values)
    pad = max((high - low) * 0.12, 1.0)
    low, high = low - pad, high + pad

    def x(day: date) -> float:
        return round(
            PLOT_LEFT + (day - first).days / max((last - first).days, 1) * (PLOT_RIGHT - PLOT_LEFT), 1
        )

    def y(value: float) -> float:
        return round(PLOT_BOTTOM - (value - low) / (high - low) * (PLOT_BOTTOM - PLOT_TOP), 1)

    parts = [
        _el("title", f"{response.instrument} since baseline", id=f"{svg_id}-title"),
        _el("desc", _describe_response(response, start), id=f"{svg_id}-desc"),
        _el("line", x1=PLOT_LEFT, y1=PLOT_BOTTOM, x2=PLOT_RIGHT, y2=PLOT_BOTTOM, stroke=INK),
        _el("line", x1=PLOT_LEFT, y1=PLOT_TOP, x2=PLOT_LEFT, y2=PLOT_BOTTOM, stroke=INK),
        _el("text", f"{high - pad:g}", x=PLOT_LEFT - 4, y=y(high - pad) + 4, font_size=10, text_anchor="end"),
        _el("text", f"{low + pad:g}", x=PLOT_LEFT - 4, y=y(low + pad) + 4, font_size=10, text_anchor="end"),
        _el("text", first.isoformat(), x=PLOT_LEFT, y=PLOT_BOTTOM + 16, font_size=10),
        _el("text", last.isoformat(), x=PLOT_RIGHT, y=PLOT_BOTTOM + 16, font_size=10, text_anchor="end"),
        _el(
            "line", x1=x(start), y1=PLOT_TOP, x2=x(start), y2=PLOT_BOTTOM, stroke=INK, stroke_dasharray="4 3"
        ),
        _el(
            "text",
            f"LDN start {start.isoformat()}",
            x=x(start),
            y=PLOT_BOTTOM + 30,
            font_size=10,
            text_anchor="middle",
        ),
    ]
    label_y = -100.0
    for t in sorted(response.thresholds, key=lambda t: -t.value):  # top to bottom
        parts.append(
            _el(
                "line",
                x1=PLOT_LEFT,
                y1=y(t.value),
                x2=PLOT_RIGHT,
                y2=y(t.value),
                stroke=DOSE_LINE,
                stroke_dasharray="6 4",
            )
        )
        label_y = max(y(t.value) + 4, label_y + 12)  # close thresholds: labels stacked, not overprinted
        parts.append(_el("text", f"{t.label} (≤ {t.value:g})", x=PLOT_RIGHT + 6, y=label_y, font_size=10))
    points = " ".join(f"{x(p.date)},{y(p.value)}" for p in response.series)
    parts.append(_el("polyline", points=points, fill="none", stroke=REMINDER, stroke_width=2))
    for p in response.series:
        is_baseline = response.baseline is not None and p == response.baseline
        tip = _el(
            "title", f"{'Baseline ' if is_baseline else ''}{p.date.isoformat()}: {p.value:g} ({p.source})"
        )
        if is_baseline:
            parts.append(_el("text", "baseline", x=x(p.date) + 8, y=y(p.value) - 6, font_size=10))
        parts.append(
            _el(
                "circle",
                children=tip,
                cx=x(p.date),
                cy=y(p.value),
                r=5 if is_baseline else 3.5,
                fill="#fff" if is_baseline else REMINDER,
                stroke=REMINDER,
                stroke_width=2,
            )
        )
    svg = _el(
        "svg",
        children="\n" + "\n".join(parts) + "\n",
        xmlns="http://www.w3.org/2000/svg",
        id=svg_id,
        class_="response-chart",
        role="img",
        viewBox=f"0 0 {CHART_W} {CHART_H}",
        width="100%",
        preserveAspectRatio="xMinYMin meet",
        aria_labelledby=f"{svg_id}-title {svg_id}-desc",
    )
    return Markup(svg)  # safe: built by _el, which escapes every value


def _describe_response(response: InstrumentResponse, start: date) -> str:
    out = [f"LDN started {start.isoformat()}."]
    out += [f"{p.date.isoformat()}: {p.value:g}." for p in response.series]
    out += [f"Response threshold {t.label}: {t.value:g} or lower." for t in response.thresholds]
    return " ".join(out)
