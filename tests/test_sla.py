"""SLA clocks (issue 7): due times worked out by hand for creation outside hours, pauses, reopening,
holidays and DST; the sweep warns and records each breach once, even with two sweeps at once."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from helpdesk.calendars import Calendar, Holiday, OpeningInterval
from tickets import services
from tickets.models import Notification, SLAPolicy, SLATimer, Ticket, TicketEvent
from tickets.sla.services import sla_sweep

from .concurrency import run_at_once
from .factories import UserFactory

LONDON = ZoneInfo("Europe/London")
FR, NR, RES = SLATimer.Kind.FIRST_RESPONSE, SLATimer.Kind.NEXT_RESPONSE, SLATimer.Kind.RESOLUTION


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


@pytest.fixture
def office(db):
    """Mon–Fri 09:00–17:00 in London, the default calendar."""
    calendar = Calendar.objects.create(name="Office", time_zone="Europe/London", is_default=True)
    OpeningInterval.objects.bulk_create([OpeningInterval(calendar=calendar, weekday=day, opens=time(9), closes=time(17))
                                         for day in range(5)])  # fmt: skip
    return calendar


@pytest.fixture
def policy(office):
    return SLAPolicy.objects.create(name="Standard", first_response_minutes=60, next_response_minutes=120,
                                    resolution_minutes=8 * 60, warn_minutes=15, raise_priority=True)  # fmt: skip


def due(ticket, kind) -> datetime | None:
    return SLATimer.objects.filter(ticket=ticket, kind=kind).order_by("-pk").first().due_at


def at(moment):
    return time_machine.travel(moment, tick=False)


def test_a_ticket_from_friday_afternoon_through_pending_to_solved(policy, make_ticket, agent, customer):
    with at(london(2026, 11, 20, 16, 30)):  # Friday
        ticket = make_ticket()
    assert due(ticket, FR) == london(2026, 11, 23, 9, 30)  # 30 minutes Friday, 30 on Monday
    assert due(ticket, RES) == london(2026, 11, 23, 16, 30)  # 0.5 h Friday + 7.5 h Monday
    ticket.refresh_from_db()
    assert ticket.sla_due_at == london(2026, 11, 23, 9, 30)

    with at(london(2026, 11, 23, 9, 20)):
        services.ticket_reply(ticket=ticket, author=agent, body="Looking into it.")
    first = SLATimer.objects.get(ticket=ticket, kind=FR)
    assert first.met is True and first.stopped_at == london(2026, 11, 23, 9, 20)

    with at(london(2026, 11, 23, 10)):  # 6.5 business hours left on the resolution target
        services.ticket_reply(ticket=ticket, author=agent, body="Which size?", status="pending")
    ticket.refresh_from_db()
    assert ticket.sla_due_at is None and due(ticket, RES) is None  # paused

    with at(london(2026, 11, 24, 11)):  # Tuesday: the customer answers, the clock runs again
        services.ticket_add_customer_message(ticket=ticket, body="Size M, please.", channel="email")
    assert due(ticket, RES) == london(2026, 11, 25, 9, 30)  # 6 h Tuesday + 0.5 h Wednesday
    assert due(ticket, NR) == london(2026, 11, 24, 13)  # the next response: 2 business hours
    assert SLATimer.objects.get(ticket=ticket, kind=RES).paused_seconds == 9 * 3600  # Mon 10–17, Tue 9–11

    with at(london(2026, 11, 25, 9)):
        services.ticket_reply(ticket=ticket, author=agent, body="Sent!", status="solved")
    outcomes = dict(SLATimer.objects.filter(ticket=ticket).values_list("kind", "met"))
    assert outcomes == {FR: True, NR: False, RES: True}  # the next response came 20 business hours late
    ticket.refresh_from_db()
    assert ticket.sla_due_at is None


def test_reopening_lets_the_resolution_target_run_on_and_breach(policy, make_ticket, agent):
    with at(london(2026, 11, 23, 9)):
        ticket = make_ticket()
        services.ticket_reply(ticket=ticket, author=agent, body="Done", status="solved")
    assert SLATimer.objects.get(ticket=ticket, kind=RES).met is True
    with at(london(2026, 11, 24, 10)):  # reopened after the due time (Monday 17:00)
        services.ticket_add_customer_message(ticket=ticket, body="It broke again", channel="email")
        timer = SLATimer.objects.get(ticket=ticket, kind=RES)
        assert timer.stopped_at is None and timer.due_at == london(2026, 11, 23, 17)
        assert sla_sweep() == (1, 1)  # warned and breached (the next response is not due yet)


def test_holidays_and_a_calendar_minutes_policy_across_dst(office, make_ticket, queue, other_queue):
    Holiday.objects.create(calendar=office, name="Boxing Day", date=date(2026, 12, 28), repeats_yearly=False)
    SLAPolicy.objects.create(name="Round the clock", business_hours=False, resolution_minutes=24 * 60, position=0)
    SLAPolicy.objects.get(name="Round the clock").queues.set([other_queue])
    SLAPolicy.objects.create(name="Office", first_response_minutes=60, position=1)
    with at(london(2026, 12, 24, 16, 30)):  # Thursday; Friday 25th is not a holiday here, Monday 28th is
        ticket = make_ticket(queue=queue)
    assert due(ticket, FR) == london(2026, 12, 25, 9, 30)
    with at(london(2026, 3, 28, 12)):  # Saturday; clocks go forward on Sunday at 01:00
        night = make_ticket(queue=other_queue)
    assert due(night, RES) == datetime(2026, 3, 29, 12, tzinfo=UTC) == london(2026, 3, 29, 13)  # 24 real hours


def test_a_priority_change_moves_the_ticket_to_another_policy(office, make_ticket, agent):
    SLAPolicy.objects.create(name="Urgent", priorities=["urgent"], first_response_minutes=15, position=0)
    SLAPolicy.objects.create(name="Normal", first_response_minutes=240, position=1)
    with at(london(2026, 11, 23, 10)):
        ticket = make_ticket()
        assert due(ticket, FR) == london(2026, 11, 23, 14)
        services.ticket_set_priority(ticket=ticket, priority="urgent", actor=agent)
    assert due(ticket, FR) == london(2026, 11, 23, 10, 15)
    assert SLATimer.objects.get(ticket=ticket, kind=FR).policy.name == "Urgent"


def test_no_policy_no_timers_and_agent_opened_tickets_have_no_first_response_target(policy, make_ticket, agent):
    ticket = make_ticket(created_by=agent, channel="agent")
    assert list(SLATimer.objects.filter(ticket=ticket).values_list("kind", flat=True)) == [RES]
    for switched_off in SLAPolicy.objects.all():  # as the admin does: saved, so the cached policies are dropped
        switched_off.active = False
        switched_off.save()
    assert not SLATimer.objects.filter(ticket=make_ticket(subject="Unmatched")).exists()


def test_the_sweep_warns_then_breaches_once_and_escalates(policy, make_ticket, agent, admin_user, client):
    with at(london(2026, 11, 23, 9)):
        ticket = make_ticket(assignee=agent)
    with at(london(2026, 11, 23, 9, 50)):
        assert sla_sweep() == (1, 0)  # first response due at 10:00: warned 15 minutes before
        assert sla_sweep() == (0, 0)
    with at(london(2026, 11, 23, 10, 1)):
        assert sla_sweep() == (0, 1)
        assert sla_sweep() == (0, 0)
    ticket.refresh_from_db()
    assert ticket.priority == "high"  # raised one step, once
    kinds = list(Notification.objects.filter(ticket=ticket, kind__startswith="sla").values_list("kind", flat=True)
                 .order_by("pk"))  # fmt: skip
    assert kinds == ["sla_warning", "sla_breached"]
    breach = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.SLA)
    assert (breach.field, breach.new_value) == (FR, "breached")
    client.force_login(agent)
    with at(london(2026, 11, 23, 10, 5)):
        page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert "sla-badge--breached" in page and "Overdue 5\xa0minutes" in page


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_record_each_breach_once(office, queue, customer):
    policy = SLAPolicy.objects.create(name="Fast", first_response_minutes=1, business_hours=False, warn_minutes=0)
    with at(datetime(2026, 11, 23, 10, tzinfo=UTC)):
        tickets = [services.ticket_create(customer=customer, queue=queue, subject=f"T{i}", body="x", channel="portal")
                   for i in range(30)]  # fmt: skip
    results = run_at_once(lambda: sla_sweep(now=datetime(2026, 11, 23, 11, tzinfo=UTC)), [(), ()])
    assert sum(breached for _warned, breached in results) == len(tickets) * 1  # first response only: 30
    assert TicketEvent.objects.filter(kind=TicketEvent.Kind.SLA).count() == len(tickets)
    assert SLATimer.objects.filter(policy=policy, breached_at__isnull=False).count() == len(tickets)
    assert Ticket.objects.filter(sla_due_at__isnull=False).count() == len(tickets)  # the resolution has no target


def test_the_list_shows_time_left_and_sorts_by_the_target_due_first(office, make_ticket, client, agent):
    SLAPolicy.objects.create(name="Urgent", priorities=["urgent"], first_response_minutes=30, position=0)
    SLAPolicy.objects.create(name="High", priorities=["high"], first_response_minutes=120, position=1)
    with at(london(2026, 11, 23, 10)):
        later = make_ticket(subject="High one", priority="high")
        sooner = make_ticket(subject="Urgent one", priority="urgent")
        none = make_ticket(subject="No target", priority="low")
    client.force_login(agent)
    with at(london(2026, 11, 23, 10, 40)):
        response = client.get("/tickets/?view=open&sort=due")
    rows = response.context["tickets"]
    assert [row.pk for row in rows] == [sooner.pk, later.pk, none.pk]
    assert [(row.sla_state, row.sla_label) for row in rows] == [
        ("breached", "Overdue 10\xa0minutes"), ("ok", "Due in 1\xa0hour"), ("", "")]  # fmt: skip


def test_a_customer_answering_an_agents_outbound_email_starts_the_next_response_target(policy, make_ticket, agent):
    with at(london(2026, 11, 23, 10)):
        ticket = make_ticket(created_by=agent, channel="agent", body="Your order is ready for pickup.")
    assert list(SLATimer.objects.filter(ticket=ticket).values_list("kind", flat=True)) == [RES]  # no first response
    with at(london(2026, 11, 23, 11)):
        services.ticket_add_customer_message(ticket=ticket, body="Can I come tomorrow?", channel="email")
    assert due(ticket, NR) == london(2026, 11, 23, 13)


@pytest.mark.parametrize("notify_team_lead", [True, False])
def test_the_team_lead_is_notified_once_of_a_breach_when_the_policy_says_so(
    policy, make_ticket, agent, team, notify_team_lead
):
    lead = UserFactory(email="lead@staff.example")  # leads the team without being a member
    team.lead = lead
    team.save()
    policy.notify_team_lead = notify_team_lead
    policy.save()
    with at(london(2026, 11, 23, 9)):
        assigned = make_ticket(assignee=agent)
        unassigned = make_ticket(subject="Nobody has it")
    with at(london(2026, 11, 23, 9, 50)):
        assert sla_sweep() == (2, 0)
    with at(london(2026, 11, 23, 10, 1)):
        assert sla_sweep() == (0, 2)
        assert sla_sweep() == (0, 0)
    lead_got = list(Notification.objects.filter(recipient=lead).order_by("pk").values_list("ticket_id", "kind"))
    if notify_team_lead:
        # warned only about the ticket nobody is assigned to; told of each breach once
        assert lead_got == [(unassigned.pk, "sla_warning"), (assigned.pk, "sla_breached"),
                            (unassigned.pk, "sla_breached")]  # fmt: skip
    else:
        assert lead_got == []
    agent_got = list(Notification.objects.filter(recipient=agent, kind__startswith="sla").values_list("ticket_id", "kind")
                     .order_by("pk"))  # fmt: skip
    assert agent_got == [(assigned.pk, "sla_warning"), (assigned.pk, "sla_breached")]


def test_a_lead_who_is_also_the_assignee_is_notified_once_and_inactive_leads_not_at_all(
    policy, make_ticket, agent, team, queue
):
    policy.notify_team_lead = True
    policy.save()
    team.lead = agent
    team.save()
    with at(london(2026, 11, 23, 9)):
        make_ticket(assignee=agent)
    with at(london(2026, 11, 23, 10, 1)):
        sla_sweep()
    assert Notification.objects.filter(recipient=agent, kind="sla_breached").count() == 1
    agent.is_active = False
    agent.save()
    with at(london(2026, 11, 23, 9)):
        unassigned = make_ticket(subject="Later")
    with at(london(2026, 11, 23, 10, 1)):
        sla_sweep()
    assert not Notification.objects.filter(ticket=unassigned).exists()


def test_the_sweep_reads_the_team_leads_once_per_batch(office, queue, team, customer, django_assert_max_num_queries):
    lead = UserFactory(email="lead@staff.example")
    team.lead = lead
    team.save()
    SLAPolicy.objects.create(name="Fast", first_response_minutes=10, business_hours=False, warn_minutes=5,
                             notify_assignee=False, notify_team_lead=True)  # fmt: skip
    with at(datetime(2026, 11, 23, 10, tzinfo=UTC)):
        services.ticket_create(customer=customer, queue=queue, subject="T0", body="x", channel="portal")
    with CaptureQueriesContext(connection) as one:
        sla_sweep(now=datetime(2026, 11, 23, 11, tzinfo=UTC))
    with at(datetime(2026, 11, 23, 10, tzinfo=UTC)):
        for i in range(20):
            services.ticket_create(customer=customer, queue=queue, subject=f"T{i}", body="x", channel="portal")
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert sla_sweep(now=datetime(2026, 11, 23, 11, tzinfo=UTC)) == (20, 20)
    assert Notification.objects.filter(recipient=lead, kind="sla_breached").count() == 21
