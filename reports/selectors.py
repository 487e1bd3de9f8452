"""The figures of the owners' dashboard (issue 8), computed in SQL over the report facts (``reports.models``)
with the definitions of ../shared/METRICS.md, and the tickets behind each figure.

Attribution (METRICS.md, "Periods and filters"): "created" by creation, FRT by the first response, resolution
and reopen rate by the final resolution, a survey answer by when it was given (its response rate: the
surveys sent in the period, and how many of those have an answer), an SLA target met by its event and
breached by its due time (a running target past due is breached now), backlog at the end of each day.
Agent: the assignee at the final resolution (the current one while unresolved), at the first response for
FRT. Team and organization are read through the queue and the customer (as they are now); a segment by
``customers.segments.segment_condition``.

Durations are in seconds, percentages from 0 to 100 (None when there is nothing to divide by); medians and
the 90th percentile interpolate as Postgres ``percentile_cont``, which computes them.

These SQL selectors are the reference: the dashboard page, its figures' CSV and the API read the same values
from the in-memory engine (``reports.engine``; ``dashboard_figures`` and ``dashboard`` go through it), and
tests/test_report_engine.py holds the two equal.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.contrib.postgres.fields import ArrayField
from django.db.models import Aggregate, Avg, Count, FloatField, Q, QuerySet
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, Trunc, TruncDate
from django.utils import timezone

from customers.models import Customer, Organization, Segment
from customers.segments import segment_condition
from tickets.models import Queue, SLATimer
from tickets.surveys.models import Survey

from .models import SLAFact, SpanFact, SurveyFact, TicketFact

SLA_KINDS = [SLATimer.Kind.FIRST_RESPONSE, SLATimer.Kind.NEXT_RESPONSE, SLATimer.Kind.RESOLUTION]
SURVEY_KINDS = [Survey.Kind.CSAT, Survey.Kind.NPS, Survey.Kind.CES]
HOUR = 3600
# FRT distribution buckets: [low, high) in seconds, the last one open-ended.
FRT_BUCKETS = [(0, HOUR), (HOUR, 4 * HOUR), (4 * HOUR, 8 * HOUR), (8 * HOUR, 24 * HOUR), (24 * HOUR, 72 * HOUR),
               (72 * HOUR, None)]  # fmt: skip


class Percentiles(Aggregate):
    """``percentile_cont(ARRAY[fractions]) WITHIN GROUP (ORDER BY expression)``: exact, interpolating linearly;
    several percentiles from one sort."""

    function = "percentile_cont"
    template = "%(function)s(ARRAY[%(fractions)s]::float8[]) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = ArrayField(FloatField())

    def __init__(self, expression, fractions: tuple[float, ...], **extra):
        super().__init__(expression, fractions=", ".join(str(float(f)) for f in fractions), **extra)


# The percentiles every duration gets, under these names (``_durations``; ``_named`` unpacks them).
PERCENTILES = (("median", 0.5), ("p90", 0.9))
_PERCENTILES_KEY = "percentiles"


def _named(row: dict) -> dict:
    """A row with ``<prefix>percentiles`` arrays turned into ``<prefix>median``, ``<prefix>p90``."""
    out = {}
    for key, value in row.items():
        if key.endswith(_PERCENTILES_KEY):
            prefix = key.removesuffix(_PERCENTILES_KEY)
            out |= {f"{prefix}{name}": (value[i] if value else None) for i, (name, _f) in enumerate(PERCENTILES)}
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Period:
    """The local dates [start, end) in the viewer's time zone."""

    start: date
    end: date
    time_zone: str = "UTC"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def bounds(self) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start, datetime.min.time(), tzinfo=self.tz),
                datetime.combine(self.end, datetime.min.time(), tzinfo=self.tz))  # fmt: skip

    def previous(self) -> "Period":
        """The period of the same length just before."""
        return Period(self.start - (self.end - self.start), self.start, self.time_zone)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days)]


@dataclass(frozen=True)
class ReportFilters:
    queue: int | None = None
    team: int | None = None
    agent: int | None = None
    channel: str | None = None
    priority: str | None = None
    organization: int | None = None
    segment: Segment | None = None  # with its custom_field loaded when it has one

    def q(self, *, agent_field: str | None = "agent") -> Q:
        """The condition on any fact table; ``agent_field`` None leaves the agent out."""
        q = Q()
        if self.queue:
            q &= Q(queue_id=self.queue)
        if self.team:
            q &= Q(queue_id__in=Queue.objects.filter(team_id=self.team).values("pk"))
        if self.channel:
            q &= Q(channel=self.channel)
        if self.priority:
            q &= Q(priority=self.priority)
        if self.organization:
            q &= Q(customer_id__in=Customer.objects.filter(organization_id=self.organization).values("pk"))
        if self.segment is not None:
            q &= Q(customer_id__in=Customer.objects.filter(segment_condition(self.segment)).values("pk"))
        if self.agent and agent_field:
            q &= Q(**{f"{agent_field}_id": self.agent})
        return q

    def agent_q(self, agent_field: str = "agent") -> Q:
        return Q(**{f"{agent_field}_id": self.agent}) if self.agent else Q()


NO_FILTERS = ReportFilters()


def _in(field: str, start: datetime, end: datetime) -> Q:
    return Q(**{f"{field}__gte": start, f"{field}__lt": end})


def _pct(part, whole) -> float | None:
    return 100.0 * part / whole if whole else None


def _nps(promoters: int, detractors: int, answers: int) -> int | None:
    """% of 9–10 minus % of 0–6, rounded half away from zero to an integer."""
    if not answers:
        return None
    return int(Decimal(100 * (promoters - detractors) / answers).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _durations(prefix: str, field: str, condition: Q) -> dict:
    """Count, mean, median and p90 of a duration column, calendar and business (``<field>_seconds`` and
    ``<field>_business_seconds``)."""
    out = {f"{prefix}count": Count("pk", filter=condition)}
    for basis, column in (("", f"{field}_seconds"), ("business_", f"{field}_business_seconds")):
        out[f"{prefix}{basis}mean"] = Avg(column, filter=condition)
        out[f"{prefix}{basis}{_PERCENTILES_KEY}"] = Percentiles(
            column, tuple(f for _name, f in PERCENTILES), filter=condition
        )
    return out


def _breached(now: datetime) -> Q:
    """An SLA target missed: breached, or still running past its due time."""
    return Q(met=False) | Q(met__isnull=True, at__lte=now)


def _backlog_at(instant: datetime) -> Q:
    return Q(opened_at__lt=instant) & (Q(resolved_at__isnull=True) | Q(resolved_at__gte=instant))


# --- headline figures ---------------------------------------------------------------------------


def dashboard_figures(*, period: Period, filters: ReportFilters = NO_FILTERS, now: datetime | None = None) -> dict:
    """Every headline figure for the period and the one before it (``dashboard_figures_sql``), computed by the
    in-memory engine (``reports.engine``) over the facts as they are now: the same dict, in milliseconds."""
    from . import engine

    return engine.dashboard_figures(period=period, filters=filters, now=now)


def dashboard_figures_sql(*, period: Period, filters: ReportFilters = NO_FILTERS, now: datetime | None = None) -> dict:
    """Every headline figure for the period and the one before it: ``{"current": {...}, "previous": {...}}``
    with the same keys (five queries, whatever the number of tickets). The reference that the engine's
    ``dashboard_figures`` equals (tests/test_report_engine.py).

    Keys: created, resolved, reopened, reopen_rate; frt_count, frt_mean/median/p90 and
    frt_business_mean/median/p90; the same for resolution_; csat_/nps_/ces_ answers, sent, sent_answered,
    response_rate, and csat_positive + csat (%), nps_promoters + nps_detractors + nps, ces (mean); for each SLA
    target sla_<kind>_met/_breached/_compliance (%); backlog (at the period's end, or now if sooner) and
    awaiting_first_response (now, current period only)."""
    now = now or timezone.now()
    periods = {"current": period.bounds(), "previous": period.previous().bounds()}
    first, last = periods["previous"][0], periods["current"][1]
    out = {name: {} for name in periods}

    # 1. tickets: volume, FRT, resolution
    aggregates = {}
    for name, (start, end) in periods.items():
        resolved = _in("resolved_at", start, end) & filters.agent_q()
        aggregates |= {
            f"{name}__created": Count("pk", filter=_in("created_at", start, end) & filters.agent_q()),
            f"{name}__resolved": Count("pk", filter=resolved),
            f"{name}__reopened": Count("pk", filter=resolved & Q(reopened=True)),
            **_durations(f"{name}__frt_", "frt", _in("first_response_at", start, end) & filters.agent_q("frt_agent")),
            **_durations(f"{name}__resolution_", "resolution", resolved),
        }
    rows = TicketFact.objects.filter(
        filters.q(agent_field=None)
        & (filters.agent_q() | filters.agent_q("frt_agent"))
        & (_in("created_at", first, last) | _in("first_response_at", first, last) | _in("resolved_at", first, last))
    ).aggregate(**aggregates)
    rows = _named(rows)
    for key, value in rows.items():
        name, figure = key.split("__")
        out[name][figure] = value
    for figures in out.values():
        figures["reopen_rate"] = _pct(figures["reopened"], figures["resolved"])

    # 2. surveys
    aggregates = {}
    for name, (start, end) in periods.items():
        for kind in SURVEY_KINDS:
            answered = Q(kind=kind) & _in("answered_at", start, end)
            sent = Q(kind=kind) & _in("sent_at", start, end)
            aggregates |= {
                f"{name}__{kind}_answers": Count("pk", filter=answered),
                f"{name}__{kind}_sent": Count("pk", filter=sent),
                f"{name}__{kind}_sent_answered": Count("pk", filter=sent & Q(answered_at__isnull=False)),
            }
        aggregates |= {
            f"{name}__csat_positive": Count("pk", filter=Q(kind="csat", score__gte=4) & _in("answered_at", start, end)),
            f"{name}__nps_promoters": Count("pk", filter=Q(kind="nps", score__gte=9) & _in("answered_at", start, end)),
            f"{name}__nps_detractors": Count("pk", filter=Q(kind="nps", score__lte=6) & _in("answered_at", start,
                                                                                            end)),
            f"{name}__ces": Avg("score", filter=Q(kind="ces") & _in("answered_at", start, end)),
        }  # fmt: skip
    rows = SurveyFact.objects.filter(
        filters.q() & (_in("sent_at", first, last) | _in("answered_at", first, last))
    ).aggregate(**aggregates)
    for key, value in rows.items():
        name, figure = key.split("__")
        out[name][figure] = value
    for figures in out.values():
        for kind in SURVEY_KINDS:
            figures[f"{kind}_response_rate"] = _pct(figures[f"{kind}_sent_answered"], figures[f"{kind}_sent"])
        figures["csat"] = _pct(figures["csat_positive"], figures["csat_answers"])
        figures["nps"] = _nps(figures["nps_promoters"], figures["nps_detractors"], figures["nps_answers"])

    # 3. SLA
    aggregates = {}
    breached = _breached(now)
    for name, (start, end) in periods.items():
        for kind in SLA_KINDS:
            within = Q(kind=kind) & _in("at", start, end)
            aggregates |= {
                f"{name}__sla_{kind}_met": Count("pk", filter=within & Q(met=True)),
                f"{name}__sla_{kind}_breached": Count("pk", filter=within & breached),
            }
    rows = SLAFact.objects.filter(filters.q() & _in("at", first, last)).aggregate(**aggregates)
    for key, value in rows.items():
        name, figure = key.split("__")
        out[name][figure] = value
    for figures in out.values():
        for kind in SLA_KINDS:
            met, missed = figures[f"sla_{kind}_met"], figures[f"sla_{kind}_breached"]
            figures[f"sla_{kind}_compliance"] = _pct(met, met + missed)

    # 4. backlog at the end of each period (now, if sooner)
    instants = {name: min(end, now) for name, (_start, end) in periods.items()}
    rows = SpanFact.objects.filter(
        filters.q() & _backlog_at(max(instants.values())) | filters.q() & _backlog_at(min(instants.values()))
    ).aggregate(**{name: Count("pk", filter=_backlog_at(instant)) for name, instant in instants.items()})
    for name, value in rows.items():
        out[name]["backlog"] = value

    # 5. awaiting a first response, now
    out["current"]["awaiting_first_response"] = _awaiting(filters).count()
    out["previous"]["awaiting_first_response"] = None
    return out


def _awaiting(filters: ReportFilters) -> QuerySet:
    return TicketFact.objects.filter(filters.q(), first_response_at__isnull=True, resolved_at__isnull=True,
                                     opened_by_agent=False)  # fmt: skip


# --- series -------------------------------------------------------------------------------------


def volume_per_day(*, period: Period, filters: ReportFilters = NO_FILTERS) -> list[dict]:
    """Created and resolved tickets per local day: [{"day", "created", "resolved"}] (two queries)."""
    start, end = period.bounds()
    counts = {day: {"day": day, "created": 0, "resolved": 0} for day in period.days()}
    for field, key in (("created_at", "created"), ("resolved_at", "resolved")):
        rows = (TicketFact.objects.filter(filters.q(), _in(field, start, end))
                .annotate(day=TruncDate(field, tzinfo=period.tz)).order_by().values("day")
                .annotate(n=Count("pk")).values_list("day", "n"))  # fmt: skip
        for day, n in rows:
            counts[day][key] = n
    return list(counts.values())


def backlog_per_day(*, period: Period, filters: ReportFilters = NO_FILTERS, now: datetime | None = None) -> list[dict]:
    """Unresolved tickets at the end of each local day of the period, up to today: [{"day", "backlog"}]
    (three queries: the backlog at the start, then the spans opened and resolved per day)."""
    now = now or timezone.now()
    start, end = period.bounds()
    q = filters.q()
    backlog = SpanFact.objects.filter(q & _backlog_at(start)).count()
    deltas = dict.fromkeys(period.days(), 0)
    for field, sign in (("opened_at", 1), ("resolved_at", -1)):
        rows = (SpanFact.objects.filter(q, _in(field, start, end))
                .annotate(day=TruncDate(field, tzinfo=period.tz)).order_by().values("day")
                .annotate(n=Count("pk")).values_list("day", "n"))  # fmt: skip
        for day, n in rows:
            deltas[day] += sign * n
    today = timezone.localtime(now, period.tz).date()
    series = []
    for day, delta in deltas.items():
        if day > today:
            break
        backlog += delta
        series.append({"day": day, "backlog": backlog})
    return series


def _week(field: str, period: Period):
    return Trunc(field, "week", tzinfo=period.tz)


def times_per_week(*, period: Period, filters: ReportFilters = NO_FILTERS) -> dict[str, list[dict]]:
    """FRT (by the week of the first response) and resolution time (by the week of the final resolution),
    per local week starting Monday: {"frt": [{"week", "count", "mean", "median", "p90", "business_mean",
    ...}], "resolution": [...]} (two queries)."""
    start, end = period.bounds()
    out = {}
    for name, at, agent_field in (("frt", "first_response_at", "frt_agent"), ("resolution", "resolved_at", "agent")):
        rows = (TicketFact.objects.filter(filters.q(agent_field=agent_field), _in(at, start, end))
                .annotate(week=_week(at, period)).order_by("week").values("week")
                .annotate(**_durations("", name, Q())))  # fmt: skip
        out[name] = [{**_named(row), "week": timezone.localtime(row["week"], period.tz).date()} for row in rows]
    return out


def surveys_per_week(*, period: Period, filters: ReportFilters = NO_FILTERS) -> list[dict]:
    """CSAT % and NPS per local week of the answers: [{"week", "csat_answers", "csat", "nps_answers",
    "nps"}] (one query)."""
    start, end = period.bounds()
    rows = (SurveyFact.objects.filter(filters.q(), _in("answered_at", start, end), kind__in=["csat", "nps"])
            .annotate(week=_week("answered_at", period)).order_by("week").values("week")
            .annotate(csat_answers=Count("pk", filter=Q(kind="csat")),
                      csat_positive=Count("pk", filter=Q(kind="csat", score__gte=4)),
                      nps_answers=Count("pk", filter=Q(kind="nps")),
                      nps_promoters=Count("pk", filter=Q(kind="nps", score__gte=9)),
                      nps_detractors=Count("pk", filter=Q(kind="nps", score__lte=6))))  # fmt: skip
    return [{"week": timezone.localtime(row["week"], period.tz).date(), "csat_answers": row["csat_answers"],
             "csat": _pct(row["csat_positive"], row["csat_answers"]), "nps_answers": row["nps_answers"],
             "nps": _nps(row["nps_promoters"], row["nps_detractors"], row["nps_answers"])} for row in rows]  # fmt: skip


def frt_distribution(*, period: Period, filters: ReportFilters = NO_FILTERS, business: bool = False) -> list[dict]:
    """How many first responses of the period took [low, high) seconds, per ``FRT_BUCKETS`` (one query)."""
    start, end = period.bounds()
    column = "frt_business_seconds" if business else "frt_seconds"

    def bucket(low, high):
        return Q(**{f"{column}__gte": low}) & (Q(**{f"{column}__lt": high}) if high is not None else Q())

    counts = TicketFact.objects.filter(filters.q(agent_field="frt_agent"), _in("first_response_at", start, end)).aggregate(
        **{f"b{n}": Count("pk", filter=bucket(low, high)) for n, (low, high) in enumerate(FRT_BUCKETS)}
    )  # fmt: skip
    return [{"low": low, "high": high, "count": counts[f"b{n}"]} for n, (low, high) in enumerate(FRT_BUCKETS)]


def created_by_channel(*, period: Period, filters: ReportFilters = NO_FILTERS) -> dict[str, int]:
    start, end = period.bounds()
    rows = (TicketFact.objects.filter(filters.q(), _in("created_at", start, end)).order_by().values("channel")
            .annotate(n=Count("pk")).values_list("channel", "n"))  # fmt: skip
    return dict(sorted(rows))


def created_heatmap(*, period: Period, filters: ReportFilters = NO_FILTERS) -> list[list[int]]:
    """Tickets created per local weekday (rows, Monday first) and hour (columns, 0–23) (one query)."""
    start, end = period.bounds()
    grid = [[0] * 24 for _day in range(7)]
    rows = (TicketFact.objects.filter(filters.q(), _in("created_at", start, end))
            .annotate(weekday=ExtractIsoWeekDay("created_at", tzinfo=period.tz),
                      hour=ExtractHour("created_at", tzinfo=period.tz))
            .order_by().values("weekday", "hour").annotate(n=Count("pk")).values_list("weekday", "hour", "n"))  # fmt: skip
    for weekday, hour, n in rows:
        grid[weekday - 1][hour] = n
    return grid


# --- tables -------------------------------------------------------------------------------------

BREAKDOWNS = {"agent": "agent_id", "queue": "queue_id", "channel": "channel",
              "organization": "customer__organization_id"}  # fmt: skip


def breakdown(*, dimension: str, period: Period, filters: ReportFilters = NO_FILTERS,
              now: datetime | None = None) -> list[dict]:  # fmt: skip
    """One row per agent, queue, channel or organization (``dimension``) that has something in the period:
    {"key", "created", "resolved", "reopen_rate", frt_..., resolution_..., "csat_answers", "csat",
    "sla_met", "sla_breached", "sla_compliance" (all targets together) and per target sla_<kind>_met /
    _breached / _compliance, "backlog"} (the key is an id, or the channel; None: no agent / no organization).
    Five queries."""
    now = now or timezone.now()
    column = BREAKDOWNS[dimension]
    start, end = period.bounds()
    rows: dict = {}

    def row(key):
        return rows.setdefault(key, {"key": key, "created": 0, "resolved": 0, "reopened": 0, "frt_count": 0,
                                     "resolution_count": 0, "csat_answers": 0, "csat_positive": 0, "backlog": 0,
                                     **{f"sla_{kind}_{outcome}": 0 for kind in SLA_KINDS
                                        for outcome in ("met", "breached")}})  # fmt: skip

    resolved = _in("resolved_at", start, end)
    facts = (TicketFact.objects.filter(filters.q(), _in("created_at", start, end) | resolved)
             .order_by().values(column)
             .annotate(created=Count("pk", filter=_in("created_at", start, end)),
                       resolved=Count("pk", filter=resolved), reopened=Count("pk", filter=resolved & Q(reopened=True)),
                       **_durations("resolution_", "resolution", resolved)))  # fmt: skip
    for found in map(_named, facts):
        row(found.pop(column)).update(found)
    frt_column = "frt_agent_id" if dimension == "agent" else column
    frt = (TicketFact.objects.filter(filters.q(agent_field="frt_agent"), _in("first_response_at", start, end))
           .order_by().values(frt_column).annotate(**_durations("frt_", "frt", Q())))  # fmt: skip
    for found in map(_named, frt):
        row(found.pop(frt_column)).update(found)
    surveys = (SurveyFact.objects.filter(filters.q(), _in("answered_at", start, end), kind="csat")
               .order_by().values(column)
               .annotate(csat_answers=Count("pk"), csat_positive=Count("pk", filter=Q(score__gte=4))))  # fmt: skip
    for found in surveys:
        row(found.pop(column)).update(found)
    sla = (SLAFact.objects.filter(filters.q(), _in("at", start, end)).order_by().values(column)
           .annotate(**{f"sla_{kind}_{outcome}": Count("pk", filter=Q(kind=kind) & (Q(met=True) if outcome == "met"
                                                                                   else _breached(now)))
                        for kind in SLA_KINDS for outcome in ("met", "breached")}))  # fmt: skip
    for found in sla:
        row(found.pop(column)).update(found)
    backlog = (SpanFact.objects.filter(filters.q() & _backlog_at(min(end, now))).order_by().values(column)
               .annotate(backlog=Count("pk")))  # fmt: skip
    for found in backlog:
        row(found.pop(column)).update(found)
    for found in rows.values():
        found["reopen_rate"] = _pct(found["reopened"], found["resolved"])
        found["csat"] = _pct(found["csat_positive"], found["csat_answers"])
        for kind in SLA_KINDS:
            found[f"sla_{kind}_compliance"] = _pct(found[f"sla_{kind}_met"], found[f"sla_{kind}_met"]
                                                   + found[f"sla_{kind}_breached"])  # fmt: skip
        found["sla_met"] = sum(found[f"sla_{kind}_met"] for kind in SLA_KINDS)
        found["sla_breached"] = sum(found[f"sla_{kind}_breached"] for kind in SLA_KINDS)
        found["sla_compliance"] = _pct(found["sla_met"], found["sla_met"] + found["sla_breached"])
    return sorted(rows.values(), key=lambda found: (found["key"] is None, str(found["key"])))


# --- the tickets behind a figure ----------------------------------------------------------------


def figure_ticket_ids(*, figure: str, period: Period, filters: ReportFilters = NO_FILTERS,
                      now: datetime | None = None) -> QuerySet:  # fmt: skip
    """The ids of the tickets a headline figure of ``dashboard_figures`` counts or measures, for the current
    period: created, resolved, reopened, frt, resolution, backlog, awaiting_first_response, csat / nps / ces
    (answers in the period), <kind>_sent, sla_<kind>_met, sla_<kind>_breached, and sla_met / sla_breached
    for every target. A queryset of ids, sorted."""
    now = now or timezone.now()
    start, end = period.bounds()
    facts = TicketFact.objects.filter(filters.q())
    if figure == "created":
        rows = facts.filter(_in("created_at", start, end))
    elif figure in ("resolved", "resolution"):
        rows = facts.filter(_in("resolved_at", start, end))
    elif figure == "reopened":
        rows = facts.filter(_in("resolved_at", start, end), reopened=True)
    elif figure == "frt":
        rows = TicketFact.objects.filter(filters.q(agent_field="frt_agent"), _in("first_response_at", start, end))
    elif figure == "awaiting_first_response":
        rows = _awaiting(filters)
    elif figure == "backlog":
        rows = SpanFact.objects.filter(filters.q() & _backlog_at(min(end, now)))
    elif figure in SURVEY_KINDS:
        rows = SurveyFact.objects.filter(filters.q(), _in("answered_at", start, end), kind=figure)
    elif figure.endswith("_sent") and figure.removesuffix("_sent") in SURVEY_KINDS:
        rows = SurveyFact.objects.filter(filters.q(), _in("sent_at", start, end), kind=figure.removesuffix("_sent"))
    elif figure in ("sla_met", "sla_breached"):  # any target
        met = Q(met=True) if figure == "sla_met" else _breached(now)
        rows = SLAFact.objects.filter(filters.q() & met & _in("at", start, end))
    elif figure.startswith("sla_") and figure.rsplit("_", 1)[-1] in ("met", "breached"):
        kind, outcome = figure.removeprefix("sla_").rsplit("_", 1)
        met = Q(met=True) if outcome == "met" else _breached(now)
        rows = SLAFact.objects.filter(filters.q() & met & _in("at", start, end), kind=kind)
    else:
        raise ValueError(f"Unknown figure {figure!r}")
    return rows.order_by("ticket_id").values_list("ticket_id", flat=True).distinct()


# --- the dashboard page (issue 8) ---------------------------------------------------------------

PERIOD_PRESETS = ["7d", "30d", "90d", "this_month", "last_month", "12m"]
MAX_PERIOD_DAYS = 3 * 366  # a longer custom period is refused (about three years)
DIMENSIONS = list(BREAKDOWNS)


def period_preset(preset: str, *, today: date, time_zone: str) -> Period:
    """The local dates of a preset, ``today`` included where the preset reaches it: the last 7, 30 or 90
    days, this month (so far), last month, the last 12 months."""
    tomorrow = today + timedelta(days=1)
    if preset in ("7d", "30d", "90d"):
        return Period(tomorrow - timedelta(days=int(preset[:-1])), tomorrow, time_zone)
    first = today.replace(day=1)
    if preset == "this_month":
        return Period(first, tomorrow, time_zone)
    if preset == "last_month":
        return Period((first - timedelta(days=1)).replace(day=1), first, time_zone)
    if preset == "12m":
        start = today.replace(year=today.year - 1) if not (today.month == 2 and today.day == 29) else \
            today.replace(year=today.year - 1, day=28)  # fmt: skip
        return Period(start + timedelta(days=1), tomorrow, time_zone)
    raise ValueError(f"Unknown period {preset!r}")


def last_week(*, now: datetime, time_zone: str) -> Period:
    """The last whole week (Monday to Sunday) before ``now`` in ``time_zone``."""
    today = timezone.localtime(now, ZoneInfo(time_zone)).date()
    this_monday = today - timedelta(days=today.weekday())
    return Period(this_monday - timedelta(days=7), this_monday, time_zone)


def report_teams(user):
    """The teams whose figures ``user`` may see: all for owners and admins, an agent's own teams."""
    from helpdesk.models import Team

    return Team.objects.all() if user.is_admin else Team.objects.filter(members=user)


def report_queues(user):
    return Queue.objects.all() if user.is_admin else Queue.objects.filter(team__members=user)


def report_agents(user):
    """The agents whose own figures ``user`` may ask for: anyone for owners and admins, an agent only
    themselves (their teams' figures come through the team and queue filters)."""
    from helpdesk.models import User

    return User.objects.all() if user.is_admin else User.objects.filter(pk=user.pk)


def dashboard(*, period: Period, filters: ReportFilters = NO_FILTERS, business: bool = True,
              now: datetime | None = None) -> dict:  # fmt: skip
    """Everything the dashboard page shows, in a fixed number of queries whatever the number of tickets:
    headline figures, the series of the charts, the heat map and the four tables with their keys' names.
    The headline figures, the series, the heat map and the tables come from the in-memory engine
    (``reports.engine``, brought up to date once for all of them), equal to the SQL selectors of the same
    names."""
    from . import engine

    now = now or timezone.now()
    with engine.engine().current() as facts:
        tables = {dimension: facts.breakdown(dimension=dimension, period=period, filters=filters, now=now)
                  for dimension in DIMENSIONS}  # fmt: skip
        return {
            "figures": facts.headline_figures(period=period, filters=filters, now=now),
            "volume": facts.volume_per_day(period=period, filters=filters),
            "backlog": facts.backlog_per_day(period=period, filters=filters, now=now),
            "times": facts.times_per_week(period=period, filters=filters),
            "surveys": facts.surveys_per_week(period=period, filters=filters),
            "frt_distribution": facts.frt_distribution(period=period, filters=filters, business=business),
            "channels": facts.created_by_channel(period=period, filters=filters),
            "heatmap": facts.created_heatmap(period=period, filters=filters),
            "tables": tables,
            "names": key_names(tables),
        }


def key_names(tables: dict[str, list[dict]]) -> dict[str, dict]:
    """The names of the agents, queues and organizations that key the rows of ``breakdown`` tables (one
    query each, for those of the tables given)."""
    from helpdesk.models import User

    models = {"agent": User.objects.all(), "queue": Queue.objects.all(), "organization": Organization.objects.all()}
    names = {"agent": {}, "queue": {}, "organization": {}}
    for dimension, rows in tables.items():
        if dimension not in models:
            continue
        # "or [0]": never an empty IN list, which Django answers without a query (a constant number of queries).
        keys = [row["key"] for row in rows if row["key"] is not None] or [0]
        found = models[dimension].filter(pk__in=keys)
        names[dimension] = ({user.pk: str(user) for user in found} if dimension == "agent" else
                            dict(found.values_list("pk", "name")))  # fmt: skip
    return names
