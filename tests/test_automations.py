"""Time-based automations (issue 7): pending for days → remind, then solve; solved for a week → close;
each fires once per ticket, even when two sweeps run at once."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tickets import services
from tickets.automations.services import automations_sweep
from tickets.mail import outbound
from tickets.models import Automation, AutomationRun, Ticket, TicketEvent

from .concurrency import run_at_once


def later(**delta):
    return time_machine.travel(timezone.now() + timedelta(**delta), tick=False)


@pytest.fixture
def rules(db):
    return [
        Automation.objects.create(name="Remind after 5 days", status="pending", hours=5 * 24, action="remind"),
        Automation.objects.create(name="Solve after 10 days", status="pending", hours=10 * 24, action="solve"),
        Automation.objects.create(name="Close a week after solved", status="solved", hours=7 * 24, action="close"),
    ]


def test_a_pending_ticket_is_reminded_then_solved_then_closed(rules, ticket, agent, mailoutbox,
                                                              django_capture_on_commit_callbacks):  # fmt: skip
    services.ticket_reply(ticket=ticket, author=agent, body="Which size?", status="pending")
    mailoutbox.clear()
    with later(days=4):
        assert automations_sweep() == 0
    with later(days=5, minutes=1), django_capture_on_commit_callbacks() as callbacks:
        assert automations_sweep() == 1
        assert automations_sweep() == 0  # once
    assert len(callbacks) == 1  # the reminder task, queued after commit; here is what it sends:
    assert outbound.reminder_send(ticket_id=ticket.pk) is True
    assert len(mailoutbox) == 1 and ticket.reference in mailoutbox[0].subject
    assert mailoutbox[0].extra_headers["Auto-Submitted"] == "auto-generated"
    with later(days=10, minutes=1):
        assert automations_sweep() == 1
    ticket.refresh_from_db()
    assert ticket.status == "solved"
    with later(days=17, minutes=2):
        assert automations_sweep() == 1
    ticket.refresh_from_db()
    assert ticket.status == "closed"
    names = list(TicketEvent.objects.filter(ticket=ticket, kind="automation").values_list("new_value", flat=True))
    assert names == [rule.name for rule in rules]


def test_the_clock_restarts_when_the_status_changes(rules, ticket, agent):
    services.ticket_reply(ticket=ticket, author=agent, body="Which size?", status="pending")
    with later(days=4):
        services.ticket_add_customer_message(ticket=ticket, body="M", channel="email")  # open again
        services.ticket_reply(ticket=ticket, author=agent, body="And colour?", status="pending")
    with later(days=6):
        assert automations_sweep() == 0  # pending for 2 days only
    with later(days=9, minutes=1):
        assert automations_sweep() == 1


def test_the_reminder_is_not_sent_once_the_customer_answered(rules, ticket, agent, mailoutbox):
    services.ticket_reply(ticket=ticket, author=agent, body="Which size?", status="pending")
    services.ticket_add_customer_message(ticket=ticket, body="M", channel="email")
    mailoutbox.clear()
    assert outbound.reminder_send(ticket_id=ticket.pk) is False and mailoutbox == []


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_fire_each_automation_once(queue, customer):
    Automation.objects.create(name="Close solved", status="solved", hours=1, action="close")
    for i in range(20):
        ticket = services.ticket_create(customer=customer, queue=queue, subject=f"T{i}", body="x", channel="phone")
        services.ticket_set_status(ticket=ticket, status="solved", actor=None)
    run_at_once(lambda: automations_sweep(now=timezone.now() + timedelta(hours=2)), [(), ()])
    assert AutomationRun.objects.count() == 20 and Ticket.objects.filter(status="closed").count() == 20
    assert TicketEvent.objects.filter(kind="automation").count() == 20
