"""The outbound sweep: acknowledgements, replies and rules' emails whose Celery task was lost (Redis or the
workers were down when it was queued) are sent later, once each. In these tests the tasks are never queued
(``on_commit`` callbacks do not run in a test transaction), as when the broker refused them."""

from datetime import timedelta
from smtplib import SMTPException

import pytest
from django.utils import timezone

from tickets import services
from tickets.mail import outbound
from tickets.mail.models import BlockedSender
from tickets.models import DeliveryStatus, Message, Ticket
from tickets.services import EmailDetails

LATER = timedelta(minutes=2)


def portal_ticket(queue, customer, subject="Wrong size delivered"):
    return services.ticket_create(customer=customer, queue=queue, subject=subject, body="I ordered M and got S.",
                                  channel=Ticket.Channel.PORTAL)  # fmt: skip


def test_a_lost_acknowledgement_is_sent_by_the_sweep_once(smtp_server, queue, customer):
    ticket = portal_ticket(queue, customer)
    assert Ticket.objects.get(pk=ticket.pk).acknowledgement_due

    assert outbound.outbound_sweep() == (0, 0)  # too young: its task may still be in the queue
    assert outbound.outbound_sweep(now=timezone.now() + LATER) == (1, 0)
    assert outbound.outbound_sweep(now=timezone.now() + LATER) == (0, 0)
    assert outbound.acknowledgement_send(ticket_id=ticket.pk) is False  # the lost task, run after all

    assert [email["To"] for email in smtp_server.messages] == [customer.email]
    ticket.refresh_from_db()
    assert ticket.acknowledged_at is not None and not ticket.acknowledgement_due


def test_the_sweep_leaves_tickets_that_get_no_acknowledgement(smtp_server, queue, customer, agent):
    by_agent = services.ticket_create(customer=customer, queue=queue, subject="Called us", body="About order 7.",
                                      channel=Ticket.Channel.PHONE, created_by=agent)  # fmt: skip
    auto_reply = services.ticket_create(customer=customer, queue=queue, subject="Out of office", body="",
                                        channel=Ticket.Channel.EMAIL,
                                        email=EmailDetails(text="I am away.", automatic=True))  # fmt: skip
    assert not Ticket.objects.filter(pk__in=[by_agent.pk, auto_reply.pk], acknowledgement_due=True).exists()
    assert outbound.outbound_sweep(now=timezone.now() + LATER) == (0, 0)
    assert smtp_server.messages == []


def test_a_refused_acknowledgement_is_not_tried_again(smtp_server, queue, customer):
    BlockedSender.objects.create(pattern=customer.email)
    ticket = portal_ticket(queue, customer)
    assert outbound.outbound_sweep(now=timezone.now() + LATER) == (0, 0)
    assert not Ticket.objects.get(pk=ticket.pk).acknowledgement_due  # refused for good, not swept every minute
    assert smtp_server.messages == []


def test_smtp_down_stops_the_sweep_and_the_next_run_goes_on(smtp_server, queue, customer, other_customer):
    first, second = portal_ticket(queue, customer), portal_ticket(queue, other_customer, subject="Refund")
    smtp_server.refuse = True
    with pytest.raises(SMTPException):
        outbound.outbound_sweep(now=timezone.now() + LATER)
    assert Ticket.objects.filter(pk__in=[first.pk, second.pk], acknowledgement_due=True).count() == 2
    smtp_server.refuse = False
    assert outbound.outbound_sweep(now=timezone.now() + LATER) == (2, 0)
    assert sorted(email["To"] for email in smtp_server.messages) == sorted([customer.email, other_customer.email])


def test_a_lost_reply_is_sent_by_the_sweep_once(smtp_server, queue, customer, agent):
    ticket = portal_ticket(queue, customer)
    Ticket.objects.filter(pk=ticket.pk).update(acknowledgement_due=False)
    reply = services.ticket_reply(ticket=ticket, author=agent, body="A new pair is on its way.")
    assert Message.objects.get(pk=reply.pk).delivery_status == DeliveryStatus.QUEUED

    assert outbound.outbound_sweep(now=timezone.now() + LATER) == (0, 1)
    assert outbound.outbound_sweep(now=timezone.now() + LATER) == (0, 0)
    assert outbound.reply_send(message_id=reply.pk) is False  # the lost task, run after all

    assert len(smtp_server.messages) == 1 and "A new pair is on its way." in smtp_server.messages[0].as_string()
    assert Message.objects.get(pk=reply.pk).delivery_status == DeliveryStatus.SENT


def test_a_failed_reply_waits_for_its_retries_not_the_sweep(smtp_server, queue, customer, agent):
    ticket = portal_ticket(queue, customer)
    Ticket.objects.filter(pk=ticket.pk).update(acknowledgement_due=False)
    reply = services.ticket_reply(ticket=ticket, author=agent, body="A new pair is on its way.")
    Message.objects.filter(pk=reply.pk).update(delivery_status=DeliveryStatus.FAILED)
    assert outbound.outbound_sweep(now=timezone.now() + LATER) == (0, 0)
    assert smtp_server.messages == []
