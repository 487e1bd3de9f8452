"""The acknowledgement email: the first asynchronous path, run by a real Celery worker over Redis
and delivered to a real SMTP server."""

import pytest
from django.core.cache import cache

from helpdesk.tasks import BEAT_HEARTBEAT_KEY, beat_heartbeat_task
from tickets import services
from tickets.models import Ticket
from tickets.tasks import send_acknowledgement_task

from .live_services import wait_for


def create(queue, customer, **kwargs):
    kwargs.setdefault("channel", Ticket.Channel.PORTAL)
    return services.ticket_create(customer=customer, queue=queue, subject="Wrong size delivered",
                                  body="I ordered M and got S.", **kwargs)  # fmt: skip


@pytest.mark.celery_worker
def test_new_ticket_is_acknowledged_by_the_worker(celery_worker, smtp_server, queue, customer):
    ticket = create(queue, customer)
    wait_for(lambda: smtp_server.messages)
    email = smtp_server.messages[0]
    assert email["To"] == customer.email
    assert f"[{ticket.reference}]" in email["Subject"]
    assert email["Auto-Submitted"] == "auto-replied"
    wait_for(lambda: Ticket.objects.get(pk=ticket.pk).acknowledged_at)
    assert len(smtp_server.messages) == 1


@pytest.mark.celery_worker
def test_acknowledgement_is_sent_once_even_if_the_task_runs_twice(celery_worker, smtp_server, queue, customer):
    ticket = create(queue, customer)
    wait_for(lambda: Ticket.objects.get(pk=ticket.pk).acknowledged_at)
    cache.delete(BEAT_HEARTBEAT_KEY)
    send_acknowledgement_task.delay(ticket.pk)
    # A marker task queued after the duplicate: once it has run, so has the duplicate (solo pool, FIFO).
    beat_heartbeat_task.delay()
    wait_for(lambda: cache.get(BEAT_HEARTBEAT_KEY))
    assert len(smtp_server.messages) == 1


def test_tickets_opened_by_agents_are_not_acknowledged(transactional_db, smtp_server, queue, customer, agent):
    ticket = create(queue, customer, channel=Ticket.Channel.PHONE, created_by=agent)
    assert services.ticket_send_acknowledgement(ticket_id=ticket.pk) is False
    assert smtp_server.messages == []


def test_refused_mail_leaves_the_ticket_unacknowledged_for_a_retry(transactional_db, smtp_server, queue, customer):
    from smtplib import SMTPException

    smtp_server.refuse = True
    ticket = create(queue, customer)
    with pytest.raises(SMTPException):
        services.ticket_send_acknowledgement(ticket_id=ticket.pk)
    assert Ticket.objects.get(pk=ticket.pk).acknowledged_at is None
    smtp_server.refuse = False
    assert services.ticket_send_acknowledgement(ticket_id=ticket.pk) is True
    assert services.ticket_send_acknowledgement(ticket_id=ticket.pk) is False
    assert len(smtp_server.messages) == 1
