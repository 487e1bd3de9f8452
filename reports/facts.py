"""``facts_compute``: the one function that turns tickets' raw history into their report facts.

The raw history is the ticket row (current queue, channel, priority, customer, assignee, who opened it),
its ``TicketEvent`` rows of field ``status`` and ``assignee``, its public agent replies (``Message`` of
kind reply), its SLA timers and its surveys. Rules, from ../shared/METRICS.md:

- First response: the earliest public agent reply at or after the ticket's creation (a reply moved in
  by a merge from an older ticket does not count before the ticket existed). None when an agent opened
  the ticket on the customer's behalf (``created_by`` set). Its agent: the assignee at that instant.
- Resolution: the status events make the ticket's unresolved spans: from creation to the first entry
  into solved/closed, from each reopening to the next resolution; the last span stays open while the
  ticket is unresolved. The final resolution is the end of the last span of a resolved ticket;
  ``reopened``: more than one span. The agent: the assignee at the final resolution (the current one
  while unresolved).
- Durations: whole seconds between instants truncated to the second; business seconds on the calendar of
  the ticket's SLA policy (its latest timer's), else the default calendar; round the clock when there is
  no calendar or it has no opening hours (as the SLA clocks do). Pauses (pending) are not subtracted.
- SLA: a measured timer (stopped with ``met`` set) is met at its event or breached at its due time; a
  running timer with a due time is breached once that time has passed (``met`` None, checked when the
  figures are read); paused timers and those that no longer apply are not counted.
- Merged-away tickets (``merged_into`` set) have no facts: they are duplicates of their target, whose
  messages they became. Every figure leaves them out.

The assignee at an instant is read backwards from the current one: the ``old_value`` of the first
assignee event after the instant, else the current assignee (so a ticket assigned without an event, as
at creation, still has its agent). Events at the very instant count as before it.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, Min

from helpdesk.business_time import business_seconds_between
from helpdesk.calendars import Calendar, calendar_schedules
from tickets.models import Message, SLATimer, Ticket, TicketEvent
from tickets.sla.services import ROUND_THE_CLOCK
from tickets.surveys.models import Survey

from .models import SLAFact, SpanFact, SurveyFact, TicketFact

RESOLVED = set(Ticket.RESOLVED_STATUSES)
DIMENSIONS = ["queue_id", "channel", "priority", "customer_id", "agent_id"]
FACT_FIELDS = [
    *DIMENSIONS, "created_at", "opened_by_agent", "first_response_at", "frt_seconds", "frt_business_seconds",
    "frt_agent_id", "resolved_at", "resolution_seconds", "resolution_business_seconds", "reopened",
]  # fmt: skip
SPAN_FIELDS = [*DIMENSIONS, "opened_at", "resolved_at"]
SLA_FIELDS = [*DIMENSIONS, "kind", "met", "at"]
SURVEY_FIELDS = [*DIMENSIONS, "kind", "sent_at", "answered_at", "score"]


@dataclass
class Facts:
    """The facts of a batch of tickets; tickets without facts (merged away, gone) are in ``ticket_ids``
    but not in ``tickets``."""

    ticket_ids: list[int]
    tickets: list[TicketFact] = field(default_factory=list)
    spans: list[SpanFact] = field(default_factory=list)
    slas: list[SLAFact] = field(default_factory=list)
    surveys: list[SurveyFact] = field(default_factory=list)


class Calendars:
    """The business schedule of each calendar, read once per run (one query)."""

    def __init__(self):
        self.default_id = Calendar.objects.filter(is_default=True).values_list("pk", flat=True).first()
        ids = set(Calendar.objects.values_list("pk", flat=True))
        self.schedules = {pk: s if s.has_hours() else ROUND_THE_CLOCK for pk, s in calendar_schedules(ids).items()}

    def schedule(self, calendar_id):
        return self.schedules.get(calendar_id or self.default_id, ROUND_THE_CLOCK)


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end.replace(microsecond=0) - start.replace(microsecond=0)).total_seconds()))


def _assignee_at(instant: datetime, assignee_events: list, current: int | None) -> int | None:
    for when, old, _new in assignee_events:
        if when > instant:
            return int(old) if old else None
    return current


def facts_compute(ticket_ids: Iterable[int], *, calendars: Calendars | None = None) -> Facts:
    """The facts of the tickets, from their raw history (six queries for the batch, one more for the
    calendars unless given)."""
    ids = sorted(set(ticket_ids))
    facts = Facts(ticket_ids=ids)
    if not ids:
        return facts
    calendars = calendars or Calendars()
    tickets = list(
        Ticket.objects.filter(pk__in=ids, merged_into__isnull=True)
        .order_by("pk")
        .values("pk", "created_at", "channel", "priority", "queue_id", "customer_id", "assignee_id", "created_by_id")
    )
    events = defaultdict(lambda: {"status": [], "assignee": []})
    for row in (
        TicketEvent.objects.filter(ticket_id__in=ids, kind=TicketEvent.Kind.FIELD, field__in=["status", "assignee"])
        .order_by("ticket_id", "created_at", "pk")
        .values_list("ticket_id", "field", "created_at", "old_value", "new_value")
    ):
        events[row[0]][row[1]].append(row[2:])
    first_replies = dict(
        Message.objects.filter(ticket_id__in=ids, kind=Message.Kind.REPLY, created_at__gte=F("ticket__created_at"))
        .order_by()
        .values("ticket_id")
        .annotate(first=Min("created_at"))
        .values_list("ticket_id", "first")
    )
    timers = defaultdict(list)
    for row in (
        SLATimer.objects.filter(ticket_id__in=ids)
        .order_by("ticket_id", "pk")
        .values_list("ticket_id", "kind", "met", "stopped_at", "due_at", "policy_id", "policy__calendar_id")
    ):
        timers[row[0]].append(row[1:])
    surveys = defaultdict(list)
    for row in (
        Survey.objects.filter(ticket_id__in=ids)
        .order_by("ticket_id", "kind")
        .values_list("ticket_id", "kind", "sent_at", "answered_at", "score")
    ):
        surveys[row[0]].append(row[1:])

    for t in tickets:
        pk = t["pk"]
        created = t["created_at"]
        policies = [timer for timer in timers[pk] if timer[4] is not None]
        schedule = calendars.schedule(policies[-1][5] if policies else None)
        assignee_events = events[pk]["assignee"]

        # unresolved spans from the status history
        spans, resolved_state = [[created, None]], False
        for when, _old, new in events[pk]["status"]:
            if new in RESOLVED and not resolved_state:
                spans[-1][1], resolved_state = when, True
            elif new not in RESOLVED and resolved_state:
                spans.append([when, None])
                resolved_state = False
        resolved_at = spans[-1][1] if resolved_state else None
        agent = _assignee_at(resolved_at, assignee_events, t["assignee_id"]) if resolved_at else t["assignee_id"]
        dims = {"queue_id": t["queue_id"], "channel": t["channel"], "priority": t["priority"],
                "customer_id": t["customer_id"], "agent_id": agent}  # fmt: skip

        opened_by_agent = t["created_by_id"] is not None
        first = None if opened_by_agent else first_replies.get(pk)
        fact = TicketFact(ticket_id=pk, created_at=created, opened_by_agent=opened_by_agent, reopened=len(spans) > 1,
                          first_response_at=first, resolved_at=resolved_at, **dims)  # fmt: skip
        if first is not None:
            fact.frt_seconds = _seconds(created, first)
            fact.frt_business_seconds = business_seconds_between(schedule, created, first)
            fact.frt_agent_id = _assignee_at(first, assignee_events, t["assignee_id"])
        if resolved_at is not None:
            fact.resolution_seconds = _seconds(created, resolved_at)
            fact.resolution_business_seconds = business_seconds_between(schedule, created, resolved_at)
        facts.tickets.append(fact)
        facts.spans += [SpanFact(ticket_id=pk, opened_at=start, resolved_at=end, **dims) for start, end in spans]
        for kind, met, stopped_at, due_at, _policy, _calendar in timers[pk]:
            if stopped_at is not None and met is not None:
                facts.slas.append(SLAFact(ticket_id=pk, kind=kind, met=met, at=stopped_at if met else (due_at or stopped_at),
                                          **dims))  # fmt: skip
            elif stopped_at is None and due_at is not None:
                facts.slas.append(SLAFact(ticket_id=pk, kind=kind, met=None, at=due_at, **dims))
        facts.surveys += [SurveyFact(ticket_id=pk, kind=kind, sent_at=sent_at, answered_at=answered_at,
                                     score=score if answered_at else None, **dims)
                          for kind, sent_at, answered_at, score in surveys[pk]]  # fmt: skip
    return facts
