"""What happens to a new ticket right after it is created: the routing rules run (``tickets.rules``), then,
if it is still unassigned, the team's assignment strategy (round robin or fewest open tickets) picks one
of its active members who are available, on shift (``User.shift_calendar`` open, when they have one) and
under the team's cap of open tickets (issue 7).

``tickets_create`` marks new tickets when there are routing rules or their team assigns automatically
(``needs_routing``) and queues
``route_tickets_task`` after commit; ``tickets_route`` does the work, once per ticket whatever retries
or duplicate tasks happen (the ticket row is locked and the mark cleared in the same transaction), and
the beat sweep ``route_waiting_tickets`` finds tickets whose task never ran. Two tickets assigned at once
never break the rotation: the team row is locked while its next agent is chosen.
"""

from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from helpdesk.calendars import calendars_open
from helpdesk.models import Team, User

from .models import Ticket
from .rules.engine import rules_run

# A ticket still marked this long after creation had its routing task lost.
SWEEP_AFTER = timedelta(minutes=1)


def next_agent(team_id: int) -> User | None:
    """The agent the team's strategy picks now, or None (manual assignment, nobody available or on shift, or
    everyone at the cap). Call inside a transaction: it locks the team row until commit."""
    team = Team.objects.select_for_update().get(pk=team_id)
    if team.assignment == Team.Assignment.MANUAL:
        return None
    open_tickets = Q(assigned_tickets__status__in=Ticket.OPEN_STATUSES, assigned_tickets__merged_into__isnull=True)
    members = list(team.members.filter(is_active=True, available=True)
                   .annotate(open_count=Count("assigned_tickets", filter=open_tickets)).order_by("pk"))  # fmt: skip
    if team.max_open_per_agent is not None:
        members = [member for member in members if member.open_count < team.max_open_per_agent]
    members = _on_shift(members)
    if not members:
        return None
    if team.assignment == Team.Assignment.LEAST_OPEN:
        agent = min(members, key=lambda member: (member.open_count, member.pk))
    else:  # round robin: the first member after the last one served, in id order
        last = team.last_assigned_id or 0
        agent = next((member for member in members if member.pk > last), members[0])
    team.last_assigned = agent
    team.save(update_fields=["last_assigned"])
    return agent


def _on_shift(members: list[User]) -> list[User]:
    """The members whose shift calendar is open now, and those without one: one query for the calendars,
    none when nobody has a shift."""
    shifts = {member.shift_calendar_id for member in members if member.shift_calendar_id is not None}
    if not shifts:
        return members
    open_now = calendars_open(shifts, timezone.now())
    return [member for member in members if member.shift_calendar_id is None or member.shift_calendar_id in open_now]


def tickets_route(ticket_ids: Iterable[int]) -> int:
    """Assign each still-marked, still-unassigned ticket by its team's strategy; returns how many got an
    agent. Each ticket in its own transaction, so one failure does not hold back the others."""
    from . import services

    assigned = 0
    for ticket_id in sorted(set(ticket_ids)):
        with transaction.atomic():
            ticket = (Ticket.objects.select_for_update(of=("self",)).select_related("queue")
                      .filter(pk=ticket_id, needs_routing=True).first())  # fmt: skip
            if ticket is None:
                continue  # routed already (a retry, a duplicate task, or the sweep was first)
            Ticket.objects.filter(pk=ticket.pk).update(needs_routing=False)
            rules_run(ticket, event="create")
            ticket.refresh_from_db(fields=["queue", "assignee", "status"])  # a rule may have moved or assigned it
            if ticket.assignee_id is not None or ticket.status not in Ticket.OPEN_STATUSES:
                continue
            agent = next_agent(ticket.queue.team_id)
            if agent is not None:
                services.ticket_assign(ticket=ticket, assignee=agent, actor=None)
                assigned += 1
    return assigned


def route_waiting_tickets(*, now=None, limit: int = 500) -> int:
    """The sweep: route tickets marked for more than ``SWEEP_AFTER`` (their task was never run)."""
    now = now or timezone.now()
    waiting = list(Ticket.objects.filter(needs_routing=True, created_at__lte=now - SWEEP_AFTER)
                   .order_by("created_at").values_list("pk", flat=True)[:limit])  # fmt: skip
    return tickets_route(waiting) if waiting else 0
