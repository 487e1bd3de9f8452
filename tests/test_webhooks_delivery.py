"""Webhooks on the wire, against a real HTTP server on 127.0.0.1: signed JSON, a 500 retried on the
schedule until it succeeds, never a second delivery after a success; timeouts, refusals and redirects are
failures; and, with a real Celery worker, a ticket change reaches the receiver without a beat."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tickets import services as ticket_services
from webhooks import services
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

from .live_services import wait_for

pytestmark = pytest.mark.usefixtures("forget_the_active_flag")


@pytest.fixture
def webhook(receiver, admin_user):
    subscription = WebhookSubscription(url=receiver.url, events=["ticket.created", "ticket.updated"])
    return services.webhook_subscription_save(subscription=subscription, actor=admin_user)


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """The receiver's check, as docs/api.md shows it."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_a_500_is_retried_on_schedule_then_succeeds_and_is_never_sent_again(receiver, webhook, make_ticket):
    receiver.statuses = [500]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ticket = make_ticket()
        assert services.webhooks_dispatch() == 1
        delivery = webhook.deliveries.get()
        delivery = services.webhook_delivery_attempt(delivery_id=delivery.pk)

    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "The receiver answered 500."
    failed = delivery.attempts.get()
    assert failed.status_code == 500 and failed.response_excerpt.startswith("Internal trouble: ")
    assert len(failed.response_excerpt) == 500 and failed.duration_ms >= 0 and not failed.succeeded
    webhook.refresh_from_db()
    assert webhook.failing_since == failed.started_at

    with time_machine.travel(start + timedelta(seconds=30), tick=False):  # not due yet
        assert services.webhook_deliveries_queue_due() == 0
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is None
    with time_machine.travel(start + timedelta(minutes=1, seconds=7), tick=False):  # 1 min + up to 10 %
        assert services.webhook_deliveries_queue_due() == 1
        delivery = services.webhook_delivery_attempt(delivery_id=delivery.pk)
        assert delivery.status == "succeeded" and delivery.last_status_code == 200

        # Neither a second task for it, nor the sweep, nor the dispatcher reading again sends it again.
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is None
        assert services.webhook_deliveries_queue_due() == 0
        assert services.webhooks_dispatch() == 0

        assert len(receiver.requests) == 2
        for request in receiver.requests:
            assert request.path == "/hooks/helpdesk?source=test"
            assert request.headers["Content-Type"] == "application/json"
            assert request.headers["X-Helpdesk-Event"] == "ticket.created"
            assert request.headers["X-Helpdesk-Delivery"] == str(delivery.uid)  # the same on every attempt
            assert verify(webhook.secret, request.body, request.headers["X-Helpdesk-Signature"])
            assert not verify("whsec_wrong", request.body, request.headers["X-Helpdesk-Signature"])
    first, second = receiver.requests
    assert first.body == second.body
    body = json.loads(second.body)
    assert body["event"] == "ticket.created" and body["data"]["ticket"]["id"] == ticket.pk
    assert first.headers["X-Helpdesk-Signature"] != second.headers["X-Helpdesk-Signature"]  # signed when sent
    webhook.refresh_from_db()
    assert webhook.failing_since is None and webhook.last_success_at is not None
    assert [a.status_code for a in WebhookAttempt.objects.order_by("pk")] == [500, 200]


def test_a_slow_receiver_times_out(receiver, webhook, make_ticket, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.delay = 1.0
    make_ticket()
    services.webhooks_dispatch()
    delivery = services.webhook_delivery_attempt(delivery_id=webhook.deliveries.get().pk)
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "timed out" in delivery.last_error
    assert delivery.attempts.get().duration_ms < 1000


def test_a_redirect_is_not_followed(receiver, webhook, make_ticket):
    receiver.statuses = [302]
    make_ticket()
    services.webhooks_dispatch()
    delivery = services.webhook_delivery_attempt(delivery_id=webhook.deliveries.get().pk)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert len(receiver.requests) == 1  # nothing went to the Location


def test_a_refused_connection_is_a_failed_attempt(make_ticket, admin_user):
    webhook = services.webhook_subscription_save(
        subscription=WebhookSubscription(url="http://127.0.0.1:9/", events=["ticket.created"]), actor=admin_user
    )
    make_ticket()
    services.webhooks_dispatch()
    delivery = services.webhook_delivery_attempt(delivery_id=webhook.deliveries.get().pk)
    assert delivery.status == "pending" and delivery.last_error.startswith("ConnectionRefusedError")


@pytest.mark.celery_worker
def test_a_ticket_change_reaches_the_receiver_through_the_worker(celery_worker, receiver, admin_user, queue,
                                                                  customer, agent):  # fmt: skip
    """No beat here: the change's commit queues the dispatch, which queues the delivery."""
    from tickets.services import ticket_create

    webhook = services.webhook_subscription_save(  # committed: its flag is set on commit
        subscription=WebhookSubscription(url=receiver.url, events=["ticket.created", "ticket.updated"]),
        actor=admin_user,
    )
    ticket = ticket_create(customer=customer, queue=queue, subject="Through the worker", body="Hello",
                           channel="portal")  # fmt: skip
    wait_for(lambda: len(receiver.requests) >= 1)
    ticket_services.ticket_set_priority(ticket=ticket, priority="high", actor=agent)
    wait_for(lambda: len(receiver.requests) >= 2)
    wait_for(lambda: not WebhookDelivery.objects.filter(status="pending").exists())

    events = [json.loads(request.body)["event"] for request in receiver.requests]
    assert events == ["ticket.created", "ticket.updated"]
    assert all(verify(webhook.secret, r.body, r.headers["X-Helpdesk-Signature"]) for r in receiver.requests)
    assert set(webhook.deliveries.values_list("status", flat=True)) == {"succeeded"}

    # The beat's tasks find nothing more to send.
    from webhooks.tasks import webhook_deliver_task, webhooks_dispatch_task, webhooks_queue_due_task

    assert webhooks_dispatch_task.apply().get() == 0 and webhooks_queue_due_task.apply().get() == 0
    assert webhook_deliver_task.apply(args=[webhook.deliveries.first().pk]).get() is None
    assert len(receiver.requests) == 2 and webhook.deliveries.count() == 2
