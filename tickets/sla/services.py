"""SLA clocks: which policy applies, when each target is due, pauses while pending, and the sweep that warns
and records breaches exactly once (METRICS.md, "Waiting on the customer" and "SLA compliance").

A timer's due time is ``add_business_seconds(clock, started_at, target + paused_seconds)``: the clock is the
policy's calendar (business hours) or round the clock (calendar minutes), and ``paused_seconds`` is the
clock time the ticket spent pending, added when it resumes. Everything here runs inside the caller's
transaction (ticket services call the ``sla_on_*`` hooks), so no SLA work depends on Redis or a worker;
only the sweep is periodic (Celery beat, ``tickets.tasks.sla_sweep_task``).
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Min, OuterRef, Subquery
from django.utils import timezone

from customers.segments import customer_in_segment
from helpdesk.business_time import MIDNIGHT, Schedule, add_business_seconds, business_seconds_between
from helpdesk.cached import cached
from helpdesk.calendars import Calendar

from .models import SLAPolicy, SLATimer

Kind = SLATimer.Kind
ROUND_THE_CLOCK = Schedule.build("UTC", [(day, MIDNIGHT, MIDNIGHT) for day in range(7)])
PRIORITY_UP = {"low": "normal", "normal": "high", "high": "urgent"}
SWEEP_BATCH = 1000


POLICIES_KEY = "sla:policies"


def active_policies() -> list[SLAPolicy]:
    """The active policies by position, with their conditions. Every new ticket reads them: from the cache
    (helpdesk.cached), dropped whenever a policy, its conditions or a customer segment changes."""
    return cached(POLICIES_KEY, lambda: list(SLAPolicy.objects.filter(active=True)
                                             .prefetch_related("queues", "organizations", "segments")))  # fmt: skip


class Clocks:
    """Policies and their clocks for one service call (a batch of new tickets reads them once)."""

    def __init__(self):
        self.policies = active_policies()
        self._schedules: dict[int | None, Schedule] = {}

    def policy_for(self, ticket) -> SLAPolicy | None:
        """The first active policy, by position, whose every set condition the ticket meets."""
        for policy in self.policies:
            if policy.priorities and ticket.priority not in policy.priorities:
                continue
            queues = {queue.pk for queue in policy.queues.all()}
            if queues and ticket.queue_id not in queues:
                continue
            organizations = {organization.pk for organization in policy.organizations.all()}
            if organizations and ticket.customer.organization_id not in organizations:
                continue
            segments = list(policy.segments.all())
            if segments and not any(customer_in_segment(ticket.customer, segment) for segment in segments):
                continue
            return policy
        return None

    def clock(self, policy: SLAPolicy) -> Schedule:
        """Business hours of the policy's calendar (else the default one); round the clock when the policy
        counts calendar minutes, or when there is no calendar at all."""
        if not policy.business_hours:
            return ROUND_THE_CLOCK
        key = policy.calendar_id
        if key not in self._schedules:
            calendar = policy.calendar if key else Calendar.default()
            self._schedules[key] = calendar.schedule() if calendar and calendar.intervals.exists() else ROUND_THE_CLOCK
        return self._schedules[key]


def _set_due(timer: SLATimer, policy: SLAPolicy, clock: Schedule) -> None:
    timer.due_at = add_business_seconds(clock, timer.started_at, timer.target_seconds + timer.paused_seconds)
    timer.warn_at = timer.due_at - timedelta(minutes=policy.warn_minutes)


def _new_timer(ticket, policy: SLAPolicy, clock: Schedule, kind: str, start: datetime) -> SLATimer | None:
    minutes = policy.target_minutes(kind)
    if minutes is None:
        return None
    timer = SLATimer(ticket=ticket, policy=policy, kind=kind, started_at=start, target_seconds=minutes * 60)
    _set_due(timer, policy, clock)
    return timer


def refresh_ticket_due(ticket_ids: Iterable[int]) -> None:
    """Store each ticket's earliest running due time (``Ticket.sla_due_at``) in one UPDATE."""
    from tickets.models import Ticket

    earliest = (SLATimer.objects.filter(ticket_id=OuterRef("pk"), stopped_at__isnull=True, due_at__isnull=False)
                .order_by().values("ticket_id").annotate(first=Min("due_at")).values("first"))  # fmt: skip
    Ticket.objects.filter(pk__in=list(ticket_ids)).update(sla_due_at=Subquery(earliest))


# --- hooks called by tickets.services, inside their transactions -----------------------------------


def sla_on_create(tickets: Sequence, *, now: datetime) -> None:
    """Start the first response and resolution targets of new tickets. Tickets an agent opened for a
    customer have no first response target (METRICS.md: no FRT)."""
    clocks = Clocks()
    if not clocks.policies:
        return
    timers = []
    for ticket in tickets:
        policy = clocks.policy_for(ticket)
        if policy is None:
            continue
        clock = clocks.clock(policy)
        kinds = [Kind.RESOLUTION] if ticket.created_by_id else [Kind.FIRST_RESPONSE, Kind.RESOLUTION]
        timers += [t for kind in kinds if (t := _new_timer(ticket, policy, clock, kind, now)) is not None]
    if timers:
        SLATimer.objects.bulk_create(timers)
        refresh_ticket_due({timer.ticket_id for timer in timers})


def _running(ticket, *kinds) -> list[SLATimer]:
    timers = (
        SLATimer.objects.select_for_update(of=("self",))
        .select_related("policy")
        .filter(ticket=ticket, stopped_at__isnull=True)
    )
    return list(timers.filter(kind__in=kinds) if kinds else timers)


def _stop(timers: Sequence[SLATimer], when: datetime, *, measured: bool) -> None:
    for timer in timers:
        timer.stopped_at = when
        # A target reached while paused was reached in time; one that no longer applies is not measured.
        timer.met = (timer.due_at is None or when <= timer.due_at) if measured else None
        timer.save(update_fields=["stopped_at", "met"])


def sla_on_agent_reply(ticket, *, when: datetime) -> None:
    """A public reply meets the running first and next response targets."""
    timers = _running(ticket, Kind.FIRST_RESPONSE, Kind.NEXT_RESPONSE)
    if timers:
        _stop(timers, when, measured=True)
        refresh_ticket_due([ticket.pk])


def sla_on_customer_message(ticket, *, when: datetime) -> None:
    """A customer message on an answered ticket (an agent has written to the customer: a reply, or the first
    message of a ticket the agent opened) starts the next response target, once at a time."""
    if ticket.last_agent_reply_at is None or ticket.status in ("solved", "closed"):
        return  # the first response target covers an unanswered ticket; a solved one reopens first
    if _running(ticket, Kind.NEXT_RESPONSE):
        return
    clocks = Clocks()
    policy = clocks.policy_for(ticket)
    timer = _new_timer(ticket, policy, clocks.clock(policy), Kind.NEXT_RESPONSE, when) if policy else None
    if timer is not None:
        if ticket.status == "pending":
            timer.paused_at, timer.due_at, timer.warn_at = when, None, None
        timer.save()
        refresh_ticket_due([ticket.pk])


def sla_on_status(ticket, *, old: str, new: str, when: datetime) -> None:
    """Pending pauses every running clock and leaving pending resumes it; solving stops the targets
    (resolution measured); reopening a solved ticket lets its resolution target run on."""
    changed = False
    if new in ("solved", "closed") and old not in ("solved", "closed"):
        running = _running(ticket)
        _resume(running, when)
        _stop([t for t in running if t.kind == Kind.RESOLUTION], when, measured=True)
        _stop([t for t in running if t.kind != Kind.RESOLUTION], when, measured=False)
        changed = bool(running)
    elif old == "solved" and new not in ("solved", "closed"):
        last = SLATimer.objects.filter(ticket=ticket, kind=Kind.RESOLUTION).order_by("-pk").first()
        if last is not None and last.stopped_at is not None:
            last.stopped_at, last.met = None, None
            last.save(update_fields=["stopped_at", "met"])
            changed = True
    if new == "pending" and old != "pending":
        for timer in _running(ticket):
            if timer.paused_at is None:
                timer.paused_at, timer.due_at, timer.warn_at = when, None, None
                timer.save(update_fields=["paused_at", "due_at", "warn_at"])
                changed = True
    elif old == "pending" and new != "pending":
        changed = _resume(_running(ticket), when) or changed
    if changed:
        refresh_ticket_due([ticket.pk])


def _resume(timers: Sequence[SLATimer], when: datetime) -> bool:
    """Add the paused clock time to paused timers and give them their due time again."""
    clocks, resumed = None, False
    for timer in timers:
        if timer.paused_at is None or timer.policy is None:
            continue
        clocks = clocks or Clocks()
        clock = clocks.clock(timer.policy)
        timer.paused_seconds += business_seconds_between(clock, timer.paused_at, when)
        timer.paused_at = None
        _set_due(timer, timer.policy, clock)
        timer.save(update_fields=["paused_seconds", "paused_at", "due_at", "warn_at"])
        resumed = True
    return resumed


def sla_on_change(ticket, *, when: datetime) -> None:
    """Priority, queue or customer changed: the policy may be another one; running targets take its
    targets (a target it does not have stops, unmeasured) and their due times are computed again."""
    clocks = Clocks()
    policy = clocks.policy_for(ticket)
    running = _running(ticket)
    if all(timer.policy_id == (policy.pk if policy else None) for timer in running) and (running or policy is None):
        return
    for timer in running:
        minutes = policy.target_minutes(timer.kind) if policy else None
        if minutes is None:
            _stop([timer], when, measured=False)
            continue
        timer.policy, timer.target_seconds = policy, minutes * 60
        if timer.paused_at is None:
            _set_due(timer, policy, clocks.clock(policy))
        timer.save(update_fields=["policy", "target_seconds", "due_at", "warn_at"])
    if policy is not None:
        have = {timer.kind for timer in SLATimer.objects.filter(ticket=ticket)}
        missing = [Kind.RESOLUTION] if Kind.RESOLUTION not in have and ticket.status not in ("solved", "closed") else []
        if Kind.FIRST_RESPONSE not in have and ticket.first_response_at is None and not ticket.created_by_id:
            missing.append(Kind.FIRST_RESPONSE)
        for kind in missing:
            timer = _new_timer(ticket, policy, clocks.clock(policy), kind, ticket.created_at)
            if timer is not None:
                if ticket.status == "pending":
                    timer.paused_at, timer.due_at, timer.warn_at = when, None, None
                timer.save()
    refresh_ticket_due([ticket.pk])


# --- the sweep ----------------------------------------------------------------------------------

_CLAIM = """
UPDATE tickets_slatimer SET {stamp} = %s
WHERE id IN (
    SELECT id FROM tickets_slatimer
    WHERE stopped_at IS NULL AND {stamp} IS NULL AND {when} IS NOT NULL AND {when} <= %s {extra}
    ORDER BY {when} LIMIT %s FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def _claim(stamp: str, when: str, now: datetime, extra: str = "") -> list[int]:
    """Mark due timers (warned_at or breached_at) and return their ids. The UPDATE re-checks its condition
    on each locked row, so two sweeps at once (two workers, a retried tick) never mark a timer twice."""
    sql = _CLAIM.format(stamp=stamp, when=when, extra=extra)
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, SWEEP_BATCH])
        return [row[0] for row in cursor.fetchall()]


def sla_sweep(*, now: datetime | None = None) -> tuple[int, int]:
    """Warn about targets soon due and record breaches, each once, and run the breached policies'
    escalations in the same transaction. Returns (warned, breached)."""
    now = now or timezone.now()
    warned = breached = 0
    while True:
        with transaction.atomic():
            ids = _claim("warned_at", "warn_at", now, extra="AND breached_at IS NULL")
            _warn(SLATimer.objects.filter(pk__in=ids).values_list("ticket_id", "ticket__assignee_id",
                                                                  "ticket__queue_id", "policy__notify_team_lead"))  # fmt: skip
        warned += len(ids)
        if len(ids) < SWEEP_BATCH:
            break
    while True:
        with transaction.atomic():
            ids = _claim("breached_at", "due_at", now)
            _escalate(SLATimer.objects.filter(pk__in=ids).select_related("ticket", "policy").defer("ticket__search_vector"),
                      now)  # fmt: skip
        breached += len(ids)
        if len(ids) < SWEEP_BATCH:
            break
    return warned, breached


def _team_leads(queue_ids: Iterable[int]) -> dict[int, int]:
    """Queue id -> the active lead of its team, for those of the queues whose team has one (one query)."""
    from tickets.models import Queue

    return dict(Queue.objects.filter(pk__in=set(queue_ids), team__lead__is_active=True)
                .values_list("pk", "team__lead_id"))  # fmt: skip


def _warn(timers: Iterable[tuple[int, int | None, int, bool | None]]) -> None:
    """A notification for each (ticket id, assignee id, queue id, policy notifies the team lead) soon due,
    in one INSERT: to the assignee; to the team lead when nobody is assigned and the policy says so (one
    query for the leads, only then)."""
    from tickets.models import Notification

    timers = list(timers)
    unassigned = [queue_id for _t, assignee_id, queue_id, notify_lead in timers if notify_lead and not assignee_id]
    leads = _team_leads(unassigned) if unassigned else {}
    recipients = [(ticket_id, assignee_id or (leads.get(queue_id) if notify_lead else None))
                  for ticket_id, assignee_id, queue_id, notify_lead in timers]  # fmt: skip
    Notification.objects.bulk_create([
        Notification(recipient_id=recipient_id, kind=Notification.Kind.SLA_WARNING, ticket_id=ticket_id)
        for ticket_id, recipient_id in recipients if recipient_id
    ])  # fmt: skip


def _escalate(timers: Iterable[SLATimer], now: datetime) -> None:
    """Record each breach on its ticket's audit trail and run its policy's escalation: notifications (the
    assignee, the team lead, owners and admins, as the policy says) in two bulk INSERTs for the whole batch,
    with one query each for the team leads and the admins when needed; priority and reassignment through the
    ticket services."""
    from helpdesk.models import User
    from tickets import services
    from tickets.models import Notification, TicketEvent

    timers = list(timers)
    TicketEvent.objects.bulk_create([TicketEvent(ticket_id=t.ticket_id, kind=TicketEvent.Kind.SLA, field=t.kind,
                                                 new_value="breached", created_at=now) for t in timers])  # fmt: skip
    admins = None
    led = [t.ticket.queue_id for t in timers if t.policy is not None and t.policy.notify_team_lead]
    leads = _team_leads(led) if led else {}
    notifications = []
    for timer in timers:
        ticket, policy = timer.ticket, timer.policy
        if policy is None:
            continue
        recipients = set()
        if policy.notify_assignee and ticket.assignee_id:
            recipients.add(ticket.assignee_id)
        if policy.notify_team_lead and ticket.queue_id in leads:
            recipients.add(leads[ticket.queue_id])
        if policy.notify_admins:
            if admins is None:
                admins = list(
                    User.objects.filter(is_active=True, role__in=["owner", "admin"]).values_list("pk", flat=True)
                )
            recipients.update(admins)
        notifications += [Notification(recipient_id=pk, kind=Notification.Kind.SLA_BREACHED, ticket_id=ticket.pk)
                          for pk in sorted(recipients)]  # fmt: skip
        if policy.raise_priority and ticket.priority in PRIORITY_UP:
            services.ticket_set_priority(ticket=ticket, priority=PRIORITY_UP[ticket.priority], actor=None)
        if policy.reassign_to_id and policy.reassign_to_id != ticket.assignee_id and policy.reassign_to.is_active:
            try:
                with transaction.atomic():
                    services.ticket_assign(ticket=ticket, assignee=policy.reassign_to, actor=None)
            except ValidationError:  # not in the ticket's team (any more): the breach is still recorded
                pass
    Notification.objects.bulk_create(notifications)
