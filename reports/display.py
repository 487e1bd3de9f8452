"""How the dashboard shows the figures of ``reports.selectors``: headline cards with their change against
the previous period, table rows, chart series (with their text alternative) and the heat map.

Rounding happens here once, for the page, the CSV export and the weekly email alike: counts as they are,
percentages to one decimal, NPS as an integer, CES to one decimal, durations in whole seconds (shown to
people as "2 h 5 min").
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from tickets.models import SLATimer, Ticket

from .selectors import FRT_BUCKETS, HOUR, SLA_KINDS

Link = Callable[..., str | None]  # link(figure, **filter changes) -> the URL of the tickets behind it


# --- numbers --------------------------------------------------------------------------------------


def rounded(kind: str, value):
    """The one rounding of a figure: what the page shows and the CSV holds."""
    if value is None:
        return None
    if kind == "duration":
        return round(value)
    if kind in ("percent", "score"):
        return round(value, 1)
    return int(value)  # count, points (NPS)


def duration_text(seconds) -> str:
    """ "45 s", "12 min", "2 h 5 min", "3 d 4 h"."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return _("%(count)d s") % {"count": seconds}
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("%(count)d min") % {"count": minutes}
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        text = _("%(count)d h") % {"count": hours}
        return f"{text} {_('%(count)d min') % {'count': minutes}}" if minutes else text
    days, hours = divmod(round(seconds / HOUR), 24)
    text = _("%(count)d d") % {"count": days}
    return f"{text} {_('%(count)d h') % {'count': hours}}" if hours else text


def value_text(kind: str, value) -> str:
    value = rounded(kind, value)
    if value is None:
        return "—"
    if kind == "duration":
        return duration_text(value)
    if kind == "percent":
        return f"{number_format(value, 1)} %"
    if kind == "score":
        return number_format(value, 1)
    return number_format(value, force_grouping=True)


@dataclass
class Change:
    text: str
    direction: str = ""  # "up", "down" or "" (no change, or nothing to compare)
    tone: str = "neutral"  # "good", "bad", "neutral"
    previous: str = ""


def change(kind: str, current, previous, *, better: str | None) -> Change:
    """The change against the previous period: a percentage for counts and durations, points for
    percentages and NPS, the difference for CES; ``better`` is "up", "down" or None."""
    current, previous = rounded(kind, current), rounded(kind, previous)
    if previous is None:
        return Change(_("No previous value"))
    shown = value_text(kind, previous)
    if current is None:
        return Change(_("No value in this period"), previous=shown)
    diff = current - previous
    if kind in ("count", "duration"):
        if previous == 0:
            text = _("from 0") if diff else _("No change")
        else:
            text = f"{number_format(abs(100 * diff / previous), 0)} %"
            diff = 0 if text == "0 %" else diff
    elif kind == "score":
        diff = round(diff, 1)
        text = number_format(abs(diff), 1)
    else:
        diff = round(diff, 1)
        text = _("%(points)s pts") % {"points": number_format(abs(diff), 0 if kind == "points" else 1)}
    if not diff:
        return Change(_("No change"), previous=shown)
    direction = "up" if diff > 0 else "down"
    tone = "neutral" if better is None else "good" if direction == better else "bad"
    return Change(text, direction, tone, shown)


# --- headline cards -------------------------------------------------------------------------------


@dataclass
class Card:
    key: str
    label: str
    value: str
    url: str | None
    change: Change | None
    notes: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class FigureSpec:
    key: str  # the key in dashboard_figures (durations: without the time base)
    label: str
    kind: str
    figure: str | None  # the tickets behind it (figure_ticket_ids)
    better: str | None = None
    group: str = ""


GROUPS = {
    "volume": gettext_lazy("Volume"),
    "frt": gettext_lazy("First response time"),
    "resolution": gettext_lazy("Resolution time"),
    "surveys": gettext_lazy("Satisfaction"),
    "sla": gettext_lazy("SLA compliance"),
}
SLA_LABELS = {
    SLATimer.Kind.FIRST_RESPONSE: gettext_lazy("First response target"),
    SLATimer.Kind.NEXT_RESPONSE: gettext_lazy("Next response target"),
    SLATimer.Kind.RESOLUTION: gettext_lazy("Resolution target"),
}
STATS = {"median": gettext_lazy("Median"), "mean": gettext_lazy("Mean"), "p90": gettext_lazy("90th percentile")}
SURVEY_LABELS = {"csat": gettext_lazy("CSAT"), "nps": gettext_lazy("NPS"), "ces": gettext_lazy("CES")}

FIGURE_SPECS = [
    FigureSpec("created", gettext_lazy("Tickets created"), "count", "created", None, "volume"),
    FigureSpec("resolved", gettext_lazy("Tickets solved"), "count", "resolved", "up", "volume"),
    FigureSpec("backlog", gettext_lazy("Backlog at the end"), "count", "backlog", "down", "volume"),
    FigureSpec("reopen_rate", gettext_lazy("Reopen rate"), "percent", "reopened", "down", "volume"),
    FigureSpec(
        "awaiting_first_response",
        gettext_lazy("Awaiting a first response now"),
        "count",
        "awaiting_first_response",
        None,
        "volume",
    ),
    *[FigureSpec(f"frt_{stat}", label, "duration", "frt", "down", "frt") for stat, label in STATS.items()],
    *[
        FigureSpec(f"resolution_{stat}", label, "duration", "resolution", "down", "resolution")
        for stat, label in STATS.items()
    ],
    FigureSpec("csat", gettext_lazy("CSAT (satisfied)"), "percent", "csat", "up", "surveys"),
    FigureSpec("nps", gettext_lazy("NPS"), "points", "nps", "up", "surveys"),
    FigureSpec("ces", gettext_lazy("CES (ease, 1–7)"), "score", "ces", "up", "surveys"),
    *[
        FigureSpec(f"sla_{kind}_compliance", SLA_LABELS[kind], "percent", f"sla_{kind}_breached", "up", "sla")
        for kind in SLA_KINDS
    ],
]
FIGURES = {
    "created": gettext_lazy("Tickets created"),
    "resolved": gettext_lazy("Tickets solved"),
    "reopened": gettext_lazy("Solved tickets that were reopened"),
    "frt": gettext_lazy("Tickets with a first response"),
    "resolution": gettext_lazy("Tickets solved (resolution time)"),
    "backlog": gettext_lazy("Unresolved tickets at the end of the period"),
    "awaiting_first_response": gettext_lazy("Tickets awaiting a first response now"),
    "csat": gettext_lazy("Tickets with a CSAT answer"),
    "nps": gettext_lazy("Tickets with an NPS answer"),
    "ces": gettext_lazy("Tickets with a CES answer"),
    "csat_sent": gettext_lazy("Tickets sent a CSAT survey"),
    "nps_sent": gettext_lazy("Tickets sent an NPS survey"),
    "ces_sent": gettext_lazy("Tickets sent a CES survey"),
}


def figure_label(figure: str) -> str:
    """What a figure of ``figure_ticket_ids`` counts, for the tickets page ("" for an unknown one)."""
    if figure in ("sla_met", "sla_breached"):
        return _("SLA targets met") if figure == "sla_met" else _("SLA targets breached")
    if figure.startswith("sla_"):
        kind, _sep, outcome = figure.removeprefix("sla_").rpartition("_")
        if kind in SLA_LABELS and outcome in ("met", "breached"):
            template = _("%(target)s met") if outcome == "met" else _("%(target)s breached")
            return template % {"target": SLA_LABELS[kind]}
        return ""
    return str(FIGURES.get(figure, ""))


def figure_key(spec: FigureSpec, business: bool) -> str:
    if business and spec.kind == "duration":
        prefix, stat = spec.key.rsplit("_", 1)
        return f"{prefix}_business_{stat}"
    return spec.key


def headline_rows(figures: dict, *, business: bool) -> list[dict]:
    """Every headline figure, rounded, with the previous period's: for the CSV and the weekly email."""
    current, previous = figures["current"], figures["previous"]
    rows = []
    for spec in FIGURE_SPECS:
        key = figure_key(spec, business)
        label = str(spec.label) if spec.group in ("volume", "surveys") else f"{GROUPS[spec.group]}: {spec.label}"
        rows.append(
            {
                "key": key,
                "label": label,
                "kind": spec.kind,
                "better": spec.better,
                "current": rounded(spec.kind, current[key]),
                "previous": rounded(spec.kind, previous[key]),
                "current_text": value_text(spec.kind, current[key]),
                "previous_text": value_text(spec.kind, previous[key]),
                "change": change(spec.kind, current[key], previous[key], better=spec.better),
            }
        )
    return rows


def headline_groups(figures: dict, *, business: bool, link: Link) -> list[tuple[str, list[Card]]]:
    current = figures["current"]
    groups: dict[str, list[Card]] = {name: [] for name in GROUPS}
    for row, spec in zip(headline_rows(figures, business=business), FIGURE_SPECS, strict=True):
        notes = []
        if spec.key == "reopen_rate":
            notes.append(
                (
                    _("%(reopened)s of %(resolved)s solved")
                    % {"reopened": current["reopened"], "resolved": current["resolved"]},
                    link("reopened"),
                )
            )
        elif spec.key in ("frt_median", "resolution_median"):
            count = current[f"{spec.figure}_count"]
            notes.append((_("%(count)s tickets") % {"count": count}, link(spec.figure)))
        elif spec.group == "surveys":
            answers, rate = current[f"{spec.key}_answers"], current[f"{spec.key}_response_rate"]
            notes.append((_("%(count)s answers") % {"count": answers}, link(spec.key)))
            notes.append((_("Response rate %(rate)s") % {"rate": value_text("percent", rate)},
                          link(f"{spec.key}_sent")))  # fmt: skip
        elif spec.group == "sla":
            kind = spec.key.removeprefix("sla_").removesuffix("_compliance")
            notes.append((_("%(count)s met") % {"count": current[f"sla_{kind}_met"]}, link(f"sla_{kind}_met")))
            notes.append((_("%(count)s breached") % {"count": current[f"sla_{kind}_breached"]},
                          link(f"sla_{kind}_breached")))  # fmt: skip
        compare = spec.key != "awaiting_first_response"
        groups[spec.group].append(Card(row["key"], str(spec.label), row["current_text"], link(spec.figure),
                                       row["change"] if compare else None, notes))  # fmt: skip
    return [(str(GROUPS[name]), cards) for name, cards in groups.items()]


def is_empty(figures: dict) -> bool:
    """Nothing happened in the period and nothing is unresolved: the page says so instead of zeros."""
    current = figures["current"]
    counted = [
        "created",
        "resolved",
        "frt_count",
        "backlog",
        "csat_answers",
        "nps_answers",
        "ces_answers",
        "csat_sent",
        "nps_sent",
        "ces_sent",
    ] + [f"sla_{kind}_{outcome}" for kind in SLA_KINDS for outcome in ("met", "breached")]
    return not any(current[key] for key in counted)


# --- tables ---------------------------------------------------------------------------------------

DIMENSION_LABELS = {
    "agent": gettext_lazy("Agent"),
    "queue": gettext_lazy("Queue"),
    "channel": gettext_lazy("Channel"),
    "organization": gettext_lazy("Organization"),
}
TABLE_TITLES = {
    "agent": gettext_lazy("By agent"),
    "queue": gettext_lazy("By queue"),
    "channel": gettext_lazy("By channel"),
    "organization": gettext_lazy("By organization"),
}
NO_KEY = {"agent": gettext_lazy("Unassigned"), "organization": gettext_lazy("No organization")}
# (column, its header, kind, the figure behind it): what the page shows of each row.
TABLE_COLUMNS = [
    ("created", gettext_lazy("Created"), "count", "created"),
    ("resolved", gettext_lazy("Solved"), "count", "resolved"),
    ("reopen_rate", gettext_lazy("Reopen rate"), "percent", "reopened"),
    ("frt_median", gettext_lazy("FRT median"), "duration", "frt"),
    ("resolution_median", gettext_lazy("Resolution median"), "duration", "resolution"),
    ("csat", gettext_lazy("CSAT"), "percent", "csat"),
    ("sla_compliance", gettext_lazy("SLA compliance"), "percent", "sla_breached"),
    ("backlog", gettext_lazy("Backlog"), "count", "backlog"),
]
# What the CSV holds of each row (durations in seconds).
CSV_COLUMNS = [
    ("created", "count"), ("resolved", "count"), ("reopened", "count"), ("reopen_rate", "percent"),
    ("frt_count", "count"), ("frt_median", "duration"), ("frt_mean", "duration"), ("frt_p90", "duration"),
    ("resolution_count", "count"), ("resolution_median", "duration"), ("resolution_mean", "duration"),
    ("resolution_p90", "duration"), ("csat_answers", "count"), ("csat", "percent"),
    ("sla_met", "count"), ("sla_breached", "count"), ("sla_compliance", "percent"),
    *[(f"sla_{kind}_{stat}", "percent" if stat == "compliance" else "count")
      for kind in SLA_KINDS for stat in ("met", "breached", "compliance")],
    ("backlog", "count"),
]  # fmt: skip


def _row_value(row: dict, column: str, business: bool):
    if business and column.startswith(("frt_", "resolution_")) and not column.endswith("_count"):
        prefix, stat = column.rsplit("_", 1)
        column = f"{prefix}_business_{stat}"
    return row.get(column)


def key_name(dimension: str, key, names: dict) -> str:
    if key is None:
        return str(NO_KEY[dimension])
    if dimension == "channel":
        return str(dict(Ticket.Channel.choices).get(key, key))
    return names[dimension].get(key, str(key))


def table_rows(dimension: str, rows: list[dict], *, names: dict, business: bool, link: Link,
               linkable: Callable[[str, object], bool]) -> list[dict]:  # fmt: skip
    """The page's rows: the name, then (text, url) per column; numbers link to their tickets when the
    viewer may open that cut (``linkable``)."""
    out = []
    for row in rows:
        key, cells = row["key"], []
        may = key is not None and linkable(dimension, key)
        for column, _header, kind, figure in TABLE_COLUMNS:
            value = _row_value(row, column, business)
            url = link(figure, **{dimension: key}) if may and value is not None else None
            cells.append((value_text(kind, value), url))
        out.append({"name": key_name(dimension, key, names), "cells": cells})
    return out


def table_csv(dimension: str, rows: list[dict], *, names: dict, business: bool) -> list[list]:
    header = [str(DIMENSION_LABELS[dimension]), "key", *[column for column, _kind in CSV_COLUMNS]]
    body = [
        [
            key_name(dimension, row["key"], names),
            "" if row["key"] is None else row["key"],
            *[rounded(kind, _row_value(row, column, business)) for column, kind in CSV_COLUMNS],
        ]
        for row in rows
    ]
    return [header, *body]


# --- charts ---------------------------------------------------------------------------------------


def _day(day) -> str:
    return date_format(day, "j M")


def _week(week) -> str:
    return _("Week of %(day)s") % {"day": date_format(week, "j M")}


def _hours(seconds):
    return None if seconds is None else round(seconds / HOUR, 1)


def _bucket(low, high) -> str:
    if high is None:
        return _("%(low)s or more") % {"low": duration_text(low)}
    return _("%(low)s to %(high)s") % {"low": duration_text(low), "high": duration_text(high)}


def charts(data: dict, *, business: bool) -> list[dict]:
    """The charts, each with what Chart.js draws (``reports.js``) and what its text alternative shows: a
    caption, the first column's header, labels, and series of {"label", "values"}."""
    basis = "business_" if business else ""
    hours = pgettext_lazy("unit", "hours")
    times = data["times"]
    weeks = sorted({row["week"] for rows in times.values() for row in rows})
    by_week = {name: {row["week"]: row for row in rows} for name, rows in times.items()}
    channels = data["channels"]
    charts = [
        {"id": "volume", "type": "bar", "title": _("Created and solved per day"), "axis": _("Day"),
         "labels": [_day(row["day"]) for row in data["volume"]],
         "series": [{"label": _("Created"), "values": [row["created"] for row in data["volume"]]},
                    {"label": _("Solved"), "values": [row["resolved"] for row in data["volume"]]}]},
        {"id": "backlog", "type": "line", "title": _("Backlog at the end of each day"), "axis": _("Day"),
         "labels": [_day(row["day"]) for row in data["backlog"]],
         "series": [{"label": _("Unresolved tickets"), "values": [row["backlog"] for row in data["backlog"]]}]},
        {"id": "times", "type": "line", "title": _("Response and resolution times per week (medians)"),
         "axis": _("Week"), "unit": str(hours), "labels": [_week(week) for week in weeks],
         "series": [{"label": f"{label} ({hours})",
                     "values": [_hours(by_week[name].get(week, {}).get(f"{basis}median")) for week in weeks]}
                    for name, label in (("frt", _("First response")), ("resolution", _("Resolution")))]},
        {"id": "surveys", "type": "line", "title": _("CSAT and NPS per week"), "axis": _("Week"),
         "labels": [_week(row["week"]) for row in data["surveys"]],
         "series": [{"label": _("CSAT %"), "values": [rounded("percent", row["csat"]) for row in data["surveys"]]},
                    {"label": _("NPS"), "values": [row["nps"] for row in data["surveys"]]}]},
        {"id": "frt_distribution", "type": "bar", "title": _("How long first responses took"),
         "axis": _("First response time"), "labels": [_bucket(low, high) for low, high in FRT_BUCKETS],
         "series": [{"label": _("Tickets"), "values": [row["count"] for row in data["frt_distribution"]]}]},
        {"id": "channels", "type": "bar", "horizontal": True, "title": _("Tickets created by channel"),
         "axis": _("Channel"), "labels": [key_name("channel", key, {}) for key in channels],
         "series": [{"label": _("Tickets"), "values": list(channels.values())}]},
    ]  # fmt: skip
    for chart in charts:
        chart["rows"] = [
            [label, *[series["values"][n] for series in chart["series"]]] for n, label in enumerate(chart["labels"])
        ]
        chart["empty"] = not any(value for series in chart["series"] for value in series["values"])
    return charts


def chart_json(charts: list[dict]) -> list[dict]:
    """What ``static/js/reports.js`` needs of the charts (through ``json_script``)."""
    keys = ("id", "type", "horizontal", "labels", "series")
    return [{key: chart[key] for key in keys if key in chart} for chart in charts if not chart["empty"]]


A_MONDAY = date(2024, 1, 1)


def heatmap(grid: list[list[int]]) -> list[dict]:
    """Per weekday (its name and short name in the active language), its 24 hours as (count, level 0–4)
    for the CSS heat map."""
    top = max(map(max, grid)) or 1
    rows = []
    for number, row in enumerate(grid):
        day = A_MONDAY + timedelta(days=number)
        rows.append(
            {
                "day": date_format(day, "l"),
                "short": date_format(day, "D"),
                "hours": [(n, math.ceil(4 * n / top)) for n in row],
            }
        )
    return rows


def period_text(start, end) -> str:
    last = end - timedelta(days=1)
    if start == last:
        return date_format(start, "DATE_FORMAT")
    return f"{date_format(start, 'DATE_FORMAT')} – {date_format(last, 'DATE_FORMAT')}"
