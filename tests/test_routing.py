"""Automatic assignment (issue 7): round robin and fewest open tickets among available agents under the
team's cap and on shift; once per ticket; a sweep for tickets whose task was lost; fair under concurrency."""

from datetime import UTC, date, datetime, time, timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from helpdesk.calendars import Calendar, Holiday, OpeningInterval
from helpdesk.models import Team
from tickets import services
from tickets.models import Ticket, TicketEvent
from tickets.routing import next_agent, route_waiting_tickets, tickets_route

from .concurrency import run_at_once
from .factories import UserFactory
from .live_services import wait_for


@pytest.fixture
def agents(team, agent):
    others = [UserFactory(email=f"agent{i}@example.com") for i in range(2)]
    team.members.add(*others)
    return [agent, *others]


def rotating(team, strategy=Team.Assignment.ROUND_ROBIN, cap=None):
    team.assignment, team.max_open_per_agent = strategy, cap
    team.save()


def new_tickets(make_ticket, count):
    return [make_ticket(subject=f"Request {i}") for i in range(count)]


def test_round_robin_takes_turns_in_order(team, agents, make_ticket):
    rotating(team)
    tickets = new_tickets(make_ticket, 6)
    assert all(ticket.needs_routing for ticket in tickets)
    assert tickets_route([t.pk for t in tickets]) == 6
    assignees = [Ticket.objects.get(pk=t.pk).assignee for t in tickets]
    assert assignees == agents + agents


def test_away_inactive_and_capped_agents_are_skipped(team, agents, make_ticket):
    rotating(team, cap=1)
    agents[0].available = False
    agents[0].save()
    agents[2].is_active = False
    agents[2].save()
    tickets = new_tickets(make_ticket, 3)
    assert tickets_route([t.pk for t in tickets]) == 1  # agent 1 alone, then at the cap
    assert [Ticket.objects.get(pk=t.pk).assignee for t in tickets] == [agents[1], None, None]


def test_fewest_open_tickets_wins(team, agents, make_ticket):
    rotating(team, Team.Assignment.LEAST_OPEN)
    for agent, count in zip(agents, (2, 0, 1), strict=True):
        for _ in range(count):
            make_ticket(assignee=agent)
    tickets = new_tickets(make_ticket, 2)
    tickets_route([t.pk for t in tickets])
    assert [Ticket.objects.get(pk=t.pk).assignee for t in tickets] == [agents[1], agents[1]]  # 0 then 1 open


def test_manual_teams_and_assigned_tickets_are_not_routed(
    team, agents, make_ticket, django_capture_on_commit_callbacks
):
    assert not make_ticket().needs_routing
    rotating(team)
    assert not make_ticket(assignee=agents[1]).needs_routing


def test_a_ticket_is_routed_once_whatever_runs_twice(team, agents, make_ticket):
    rotating(team)
    ticket = make_ticket()
    assert tickets_route([ticket.pk, ticket.pk]) == 1
    assert tickets_route([ticket.pk]) == 0
    assert TicketEvent.objects.filter(ticket=ticket, field="assignee").count() == 1


def test_the_sweep_routes_tickets_whose_task_was_lost(team, agents, make_ticket):
    rotating(team)
    ticket = make_ticket()  # its task was never run (on-commit callbacks are not executed here)
    assert route_waiting_tickets() == 0  # too fresh: the task may still come
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert route_waiting_tickets() == 1
    ticket.refresh_from_db()
    assert ticket.assignee == agents[0] and not ticket.needs_routing


def test_with_redis_down_the_ticket_is_still_created(team, agents, queue, customer, django_capture_on_commit_callbacks):
    rotating(team)
    down = mock.patch("tickets.tasks.route_tickets_task.delay", side_effect=ConnectionError("Redis is down"))
    with down, django_capture_on_commit_callbacks(execute=True):
        ticket = services.ticket_create(customer=customer, queue=queue, subject="Hello", body="x", channel="portal")
    ticket.refresh_from_db()
    assert ticket.needs_routing and ticket.assignee is None  # the sweep will assign it


@pytest.mark.django_db(transaction=True)
def test_tickets_routed_at_once_are_shared_fairly(team, agents, queue, customer):
    rotating(team)
    tickets = [services.ticket_create(customer=customer, queue=queue, subject=f"T{i}", body="x", channel="portal")
               for i in range(40)]  # fmt: skip
    ids = [t.pk for t in tickets]
    run_at_once(tickets_route, [(ids[i::4],) for i in range(4)])
    counts = [Ticket.objects.filter(assignee=agent).count() for agent in agents]
    assert sum(counts) == 40 and max(counts) - min(counts) <= 1
    assert not Ticket.objects.filter(needs_routing=True).exists()


@pytest.mark.celery_worker
def test_a_burst_of_500_tickets_is_routed_by_the_worker_in_turns(celery_worker, team, agents, queue, customer):
    """Five clients open 100 tickets each at the same time; the real worker routes every one of them."""
    rotating(team)

    def open_tickets(client_number):
        for i in range(100):
            services.ticket_create(customer=customer, queue=queue, subject=f"Call {client_number}-{i}", body="x",
                                   channel=Ticket.Channel.PHONE)  # fmt: skip

    run_at_once(open_tickets, [(n,) for n in range(5)])
    wait_for(lambda: not Ticket.objects.filter(needs_routing=True).exists(), timeout=120)
    counts = [Ticket.objects.filter(assignee=agent).count() for agent in agents]
    assert sum(counts) == 500 and max(counts) - min(counts) <= 1


def test_routing_rules_run_first_then_the_strategy(team, other_team, other_agent, agents, other_queue, make_ticket):
    from tickets.rules.models import Rule

    other_team.assignment = Team.Assignment.ROUND_ROBIN
    other_team.save()
    rule = Rule.objects.create(name="Refunds to billing", position=0)
    rule.conditions.create(field="subject", operator="matches_word", value="refund")
    rule.actions.create(action="set_queue", value=str(other_queue.pk), position=0)
    rule.actions.create(action="set_priority", value="high", position=1)
    refund, plain = make_ticket(subject="Refund for order 12"), make_ticket(subject="Where is my parcel?")
    assert refund.needs_routing and plain.needs_routing  # a rule runs on every new ticket, manual team or not
    tickets_route([refund.pk, plain.pk])
    refund.refresh_from_db()
    plain.refresh_from_db()
    assert (refund.queue, refund.priority) == (other_queue, "high")
    assert refund.assignee == other_agent  # billing's round robin, after the rule moved it there
    assert plain.assignee is None and plain.priority == "normal"  # the manual team keeps it unassigned
    assert TicketEvent.objects.filter(ticket=refund, kind=TicketEvent.Kind.RULE).count() == 1


def test_rules_for_customer_messages_are_queued_when_a_customer_writes(ticket, django_capture_on_commit_callbacks):
    from tickets.rules.models import Rule
    from tickets.tasks import run_rules_task

    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_add_customer_message(ticket=ticket, body="Any news?", channel="email")
    assert callbacks == []  # no such rules: nothing queued
    rule = Rule.objects.create(name="Angry customers", on_create=False, on_customer_message=True)
    rule.conditions.create(field="body", operator="matches_word", value="unacceptable")
    rule.actions.create(action="set_priority", value="urgent", position=0)
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_add_customer_message(ticket=ticket, body="This is unacceptable!", channel="email")
    assert len(callbacks) == 1
    lines = run_rules_task(ticket.pk, "customer_message")  # what the worker runs
    assert len(lines) == 1 and lines[0].startswith("Angry customers:")
    assert Ticket.objects.get(pk=ticket.pk).priority == "urgent"


def test_with_the_broker_unreachable_a_portal_request_still_succeeds_and_is_routed_later(
    client, team, agents, queue, django_capture_on_commit_callbacks
):
    """Every task fails to queue (as with Redis stopped): the customer still gets their page, and the
    routing sweep assigns the ticket once things recover."""
    from kombu.exceptions import OperationalError

    rotating(team)
    queue.on_portal = True
    queue.save()
    down = mock.patch("celery.app.task.Task.apply_async", side_effect=OperationalError("Redis is down"))
    with down, django_capture_on_commit_callbacks(execute=True) as callbacks:  # as after a real commit
        response = client.post("/help/requests/new/", {"email": "zoe@example.com", "subject": "Broken grinder",
                                                       "body": "It rattles.", "website": ""})  # fmt: skip
    assert response.status_code == 302 and len(callbacks) >= 2  # the acknowledgement and the routing
    ticket = Ticket.objects.get(subject="Broken grinder")
    assert ticket.needs_routing and ticket.assignee is None
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert route_waiting_tickets() == 1
    assert Ticket.objects.get(pk=ticket.pk).assignee == agents[0]


# --- shifts: agents get automatic assignments only while their shift calendar is open ---------------

BERLIN_WEDNESDAY_9 = datetime(2025, 3, 5, 8, 0, tzinfo=UTC)  # 09:00 in Berlin (CET): inside 06:00–14:00
BERLIN_WEDNESDAY_16 = datetime(2025, 3, 5, 15, 0, tzinfo=UTC)  # 16:00 in Berlin: after the shift
BERLIN_SATURDAY_9 = datetime(2025, 3, 8, 8, 0, tzinfo=UTC)  # no shift at weekends


@pytest.fixture
def early_shift(db):
    calendar = Calendar.objects.create(name="Early shift", time_zone="Europe/Berlin")
    OpeningInterval.objects.bulk_create([OpeningInterval(calendar=calendar, weekday=day, opens=time(6), closes=time(14))
                                         for day in range(5)])  # fmt: skip
    return calendar


def on_shift(agent, calendar):
    agent.shift_calendar = calendar
    agent.save(update_fields=["shift_calendar"])


@pytest.mark.parametrize("strategy", [Team.Assignment.ROUND_ROBIN, Team.Assignment.LEAST_OPEN])
@pytest.mark.parametrize(("moment", "first_on_shift"), [
    (BERLIN_WEDNESDAY_9, True), (BERLIN_WEDNESDAY_16, False), (BERLIN_SATURDAY_9, False),
])  # fmt: skip
def test_an_agent_outside_their_shift_is_skipped(team, agents, early_shift, make_ticket, strategy, moment,
                                                 first_on_shift):  # fmt: skip
    """agents[0] works the early shift; the others have no shift calendar and are unaffected."""
    rotating(team, strategy)
    on_shift(agents[0], early_shift)
    with time_machine.travel(moment, tick=False):
        tickets = new_tickets(make_ticket, 3)
        tickets_route([t.pk for t in tickets])
    assignees = [Ticket.objects.get(pk=t.pk).assignee for t in tickets]
    if first_on_shift:  # everyone takes a turn (fewest open: each has none when their turn comes)
        assert assignees == agents
    else:  # the two without a shift share them, by either strategy
        assert assignees == [agents[1], agents[2], agents[1]]


def test_with_everyone_outside_their_shift_nobody_is_assigned(team, agents, early_shift, make_ticket):
    rotating(team)
    for agent in agents:
        on_shift(agent, early_shift)
    with time_machine.travel(BERLIN_WEDNESDAY_16, tick=False):
        ticket = make_ticket()
        assert tickets_route([ticket.pk]) == 0
    assert Ticket.objects.get(pk=ticket.pk).assignee is None


def test_shifts_cost_one_query_for_the_calendars_whatever_the_number_of_agents(team, agents, early_shift):
    rotating(team)

    def queries() -> int:
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            next_agent(team.pk)
        return len(captured.captured_queries)

    without_shifts = queries()
    late = Calendar.objects.create(name="Late shift", time_zone="Europe/Berlin")
    OpeningInterval.objects.create(calendar=late, weekday=2, opens=time(14), closes=time(22))
    Holiday.objects.create(calendar=late, name="Carnival", date=date(2025, 3, 4))
    on_shift(agents[0], early_shift)
    on_shift(agents[1], late)
    on_shift(agents[2], late)
    with time_machine.travel(BERLIN_WEDNESDAY_16, tick=False):
        assert queries() == without_shifts + 1
        assert next_agent(team.pk) in (agents[1], agents[2])


def test_an_agent_sees_when_they_are_away_outside_their_shift(client, agent, early_shift):
    client.force_login(agent)
    assert "Away: outside your shift" not in client.get(reverse("account")).content.decode()
    on_shift(agent, early_shift)
    with time_machine.travel(BERLIN_WEDNESDAY_16, tick=False):
        page = client.get(reverse("account")).content.decode()
    assert "Away: outside your shift" in page and "Early shift" in page
    with time_machine.travel(BERLIN_WEDNESDAY_9, tick=False):
        page = client.get(reverse("account")).content.decode()
    assert "Away: outside your shift" not in page and "Your shift: Early shift" in page
    agent.available = False
    agent.save()
    with time_machine.travel(BERLIN_WEDNESDAY_9, tick=False):
        page = client.get(reverse("account")).content.decode()
    assert "automatic assignment skips you until you are available again" in page


def test_admins_set_shifts_and_team_leads_in_the_admin(client, admin_user, agent, team, early_shift):
    client.force_login(admin_user)
    page = client.get(reverse("admin:helpdesk_user_change", args=[agent.pk])).content.decode()
    assert 'name="shift_calendar"' in page and "Early shift" in page
    response = client.post(reverse("admin:helpdesk_team_change", args=[team.pk]), {
        "name": team.name, "lead": agent.pk, "members": [agent.pk], "assignment": "manual",
        "max_open_per_agent": "",
    })  # fmt: skip
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.lead == agent
    agent.is_active = False
    agent.save()
    response = client.post(reverse("admin:helpdesk_team_change", args=[team.pk]), {
        "name": team.name, "lead": agent.pk, "members": [agent.pk], "assignment": "manual",
    })  # fmt: skip
    assert response.status_code == 200  # an inactive user cannot lead a team
