"""Webhooks, the services: ticket events and survey answers become deliveries, one per event and webhook
that wants it and never two (also for ids committed out of order); the signature; the retry schedule;
a webhook that keeps failing is disabled and the owners and admins are told."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from helpdesk.audit import AuditEntry
from tickets import services as ticket_services
from tickets.models import Survey, TicketEvent
from tickets.surveys.services import survey_answer
from webhooks import services
from webhooks.models import WebhookCursor, WebhookDelivery, WebhookEvent, WebhookSubscription
from webhooks.signing import signature, signature_header, signature_verify

from .factories import UserFactory

pytestmark = pytest.mark.usefixtures("forget_the_active_flag")

CLOSED_PORT_URL = "http://127.0.0.1:9/hook"  # the discard port: nothing listens, the connection is refused


@pytest.fixture
def subscribe(admin_user):
    def make(*events, url=CLOSED_PORT_URL, **fields) -> WebhookSubscription:
        subscription = WebhookSubscription(url=url, events=list(events), **fields)
        return services.webhook_subscription_save(subscription=subscription, actor=admin_user)

    return make


def english_subject(webhook) -> str:
    return f"A webhook was disabled: {webhook.url}"


def deliveries(subscription) -> list[str]:
    return sorted(subscription.deliveries.values_list("event__name", flat=True))


def body_of(subscription, name) -> dict:
    return json.loads(subscription.deliveries.get(event__name=name).event.body)


# --- events -> deliveries ----------------------------------------------------------------------------


def test_each_event_goes_to_each_webhook_that_wants_it(subscribe, make_ticket, agent):
    created = subscribe("ticket.created", "message.created")
    updated = subscribe("ticket.updated", "ticket.solved")
    nobody = subscribe("survey.answered")
    ticket = make_ticket()
    ticket_services.ticket_set_status(ticket=ticket, status="solved", actor=agent)

    assert services.webhooks_dispatch() == 4

    assert deliveries(created) == ["message.created", "ticket.created"]
    assert deliveries(updated) == ["ticket.solved", "ticket.updated"]
    assert deliveries(nobody) == []
    body = body_of(updated, "ticket.updated")
    assert set(body) == {"id", "event", "created_at", "data"} and body["event"] == "ticket.updated"
    assert body["data"]["ticket"]["reference"] == ticket.reference and body["data"]["ticket"]["status"] == "solved"
    assert body["data"]["changes"] == [{"field": "status", "old": "new", "new": "solved"}]
    assert body["data"]["actor"] == {"type": "agent", "id": agent.pk, "name": agent.get_full_name()}
    message = body_of(created, "message.created")["data"]["message"]
    assert message["kind"] == "customer" and message["body_text"].startswith("Hello, my order has not arrived")
    assert message["author"]["type"] == "customer"
    assert body_of(created, "ticket.created")["data"]["ticket"]["customer"]["email"] == ticket.customer.email
    delivery = created.deliveries.first()
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at is not None) == ("pending", 0, True)


def test_the_ticket_is_shaped_like_the_apis(subscribe, make_ticket):
    from api.serializers import TicketSerializer

    webhook = subscribe("ticket.created")
    ticket = make_ticket()
    services.webhooks_dispatch()
    data = body_of(webhook, "ticket.created")["data"]["ticket"]
    assert data == json.loads(json.dumps(TicketSerializer(ticket).data))


def test_running_again_or_reading_again_makes_nothing_twice(subscribe, make_ticket, agent):
    webhook = subscribe("ticket.created", "ticket.updated", "message.created")
    start = WebhookCursor.objects.get(source="ticket_events").last_id
    ticket = make_ticket()
    ticket_services.ticket_set_priority(ticket=ticket, priority="high", actor=agent)
    assert services.webhooks_dispatch() == 3
    assert services.webhooks_dispatch() == 0

    WebhookCursor.objects.filter(source="ticket_events").update(last_id=start)  # read every row again
    assert services.webhooks_dispatch() == 0
    assert WebhookEvent.objects.count() == 3 and webhook.deliveries.count() == 3


def test_changes_made_together_are_one_update(subscribe, make_ticket, agent):
    webhook = subscribe("ticket.updated")
    ticket = make_ticket()
    now = timezone.now()
    TicketEvent.objects.bulk_create([
        TicketEvent(ticket=ticket, kind="field", field="priority", old_value="normal", new_value="high", created_at=now),
        TicketEvent(ticket=ticket, kind="field", field="tags", new_value="vip", created_at=now),
        TicketEvent(ticket=ticket, kind="rule", field="rule", new_value="VIP: Set priority: high", created_at=now),
    ])  # fmt: skip
    services.webhooks_dispatch()
    assert [change["field"] for change in body_of(webhook, "ticket.updated")["data"]["changes"]] == ["priority", "tags"]


def test_a_webhook_gets_nothing_from_before_it_was_made_nor_while_it_is_off(subscribe, make_ticket, admin_user):
    make_ticket(subject="Before")
    webhook = subscribe("ticket.created")
    webhook.is_active = False
    services.webhook_subscription_save(subscription=webhook, actor=admin_user)
    make_ticket(subject="While off")
    assert services.webhooks_dispatch() == 0
    assert WebhookEvent.objects.count() == 0  # nobody wanted them: no event rows either


def test_survey_answers_and_sla_breaches(subscribe, make_ticket):
    webhook = subscribe("survey.answered", "sla.breached")
    ticket = make_ticket()
    survey = Survey.objects.create(ticket=ticket, customer=ticket.customer, kind="csat")
    survey_answer(survey=survey, score=5, comment="Quick and kind.")
    # What tickets.sla.services records for a breach.
    TicketEvent.objects.create(ticket=ticket, kind="sla", field="first_response", new_value="breached")

    assert services.webhooks_dispatch() == 2
    answered = body_of(webhook, "survey.answered")["data"]
    assert answered["survey"]["score"] == 5 and answered["survey"]["comment"] == "Quick and kind."
    assert answered["survey"]["kind"] == "csat" and answered["ticket"]["id"] == ticket.pk
    assert body_of(webhook, "sla.breached")["data"]["target"] == "first_response"

    assert services.webhooks_dispatch() == 0  # the answer is read again (overlap), and not sent again
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        survey_answer(survey=survey, score=4)  # a changed answer is a new event
        assert services.webhooks_dispatch() == 1
    assert webhook.deliveries.filter(event__name="survey.answered").count() == 2


def test_an_erased_ticket_sends_nothing(subscribe, make_ticket):
    webhook = subscribe("ticket.created")
    ticket = make_ticket()
    ticket.delete()
    assert services.webhooks_dispatch() == 0 and webhook.deliveries.count() == 0


def test_the_dispatch_costs_the_same_queries_for_one_ticket_or_many(subscribe, make_ticket, agent):
    subscribe("ticket.created", "ticket.updated", "message.created")
    subscribe("ticket.created")

    def dispatch_queries(count):
        for number in range(count):
            make_ticket(subject=f"Ticket {number}")
        with CaptureQueriesContext(connection) as queries:
            made = services.webhooks_dispatch()
        return made, len(queries)

    one, many = dispatch_queries(1), dispatch_queries(5)
    assert (one[0], many[0]) == (3, 15)
    # Ticket events: savepoint, cursor lock, subscriptions, rows, events made before, tickets + their tags,
    # messages + their attachments, INSERT events, INSERT deliveries, cursor save, release. Surveys (nobody
    # wants them): savepoint, cursor lock, subscriptions, cursor save, release.
    assert one[1] == many[1] == 18


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_after_a_later_one_is_not_skipped(subscribe, make_ticket, agent):
    """Ids come from a sequence when the row is written, but rows appear at commit: a transaction that took
    an id first can commit after one that took a later id and was already dispatched."""
    webhook = subscribe("ticket.updated")
    ticket, other = make_ticket(), make_ticket(subject="Another")
    inserted, commit = threading.Event(), threading.Event()

    def slow_transaction():
        try:
            with transaction.atomic():
                ticket_services.ticket_tag(ticket=ticket, actor=agent, add=["slow"])
                inserted.set()
                commit.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_transaction)
    thread.start()
    assert inserted.wait(10)
    # A later id, on another ticket (the slow transaction holds the first one's lock), committed now.
    ticket_services.ticket_set_priority(ticket=other, priority="urgent", actor=agent)
    assert services.webhooks_dispatch() == 1
    assert len(WebhookCursor.objects.get(source="ticket_events").pending) == 1  # the id not yet committed

    commit.set()
    thread.join()
    assert services.webhooks_dispatch() == 1
    changes = [json.loads(d.event.body)["data"]["changes"][0]["field"] for d in webhook.deliveries.all()]
    assert sorted(changes) == ["priority", "tags"]
    assert WebhookCursor.objects.get(source="ticket_events").pending == {}


def test_an_id_that_never_commits_is_given_up_after_a_while(subscribe, make_ticket, agent, settings):
    subscribe("ticket.updated")
    ticket = make_ticket()
    with connection.cursor() as cursor:  # what a rolled-back INSERT leaves: a used id and no row
        cursor.execute("SELECT nextval(pg_get_serial_sequence('tickets_ticketevent', 'id'))")
    ticket_services.ticket_set_priority(ticket=ticket, priority="urgent", actor=agent)
    services.webhooks_dispatch()
    assert len(WebhookCursor.objects.get(source="ticket_events").pending) == 1
    later = timezone.now() + timedelta(seconds=settings.WEBHOOK_DISPATCH_GAP_SECONDS + 1)
    with time_machine.travel(later):
        services.webhooks_dispatch()
    assert WebhookCursor.objects.get(source="ticket_events").pending == {}


def test_with_no_webhook_the_cursor_just_moves_on(make_ticket, subscribe):
    webhook = subscribe("ticket.created")
    webhook.delete()
    make_ticket()
    assert services.webhooks_dispatch() == 0
    cursor = WebhookCursor.objects.get(source="ticket_events")
    assert cursor.last_id == TicketEvent.objects.latest("pk").pk and cursor.pending == {}


# --- the kick --------------------------------------------------------------------------------------


def test_a_change_asks_for_a_dispatch_on_commit_once_and_only_with_an_active_webhook(
        subscribe, make_ticket, agent, django_capture_on_commit_callbacks):  # fmt: skip
    ticket = make_ticket()
    services._active_flag_set(False)
    with django_capture_on_commit_callbacks() as callbacks:
        ticket_services.ticket_tag(ticket=ticket, actor=agent, add=["a", "b"])
    assert services._dispatch_soon not in callbacks

    with django_capture_on_commit_callbacks(execute=True):
        subscribe("ticket.updated")  # the flag is set after commit
    with django_capture_on_commit_callbacks() as callbacks:
        ticket_services.ticket_tag(ticket=ticket, actor=agent, add=["c", "d"])  # two events, one kick
    assert callbacks.count(services._dispatch_soon) == 1


# --- subscriptions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "javascript:alert(1)", "example.com/hook",
                                 "https://user:secret@example.com/hook", "file:///etc/passwd"])  # fmt: skip
def test_only_http_and_https_addresses(subscribe, url):
    with pytest.raises(ValidationError):
        subscribe("ticket.created", url=url)
    assert not WebhookSubscription.objects.exists()


def test_a_webhook_needs_known_events(subscribe):
    with pytest.raises(ValidationError):
        subscribe()
    with pytest.raises(ValidationError):
        subscribe("ticket.deleted")
    webhook = subscribe("ticket.solved", "ticket.created", "ticket.solved", url="https://example.com/hook")
    assert webhook.events == ["ticket.created", "ticket.solved"] and webhook.secret.startswith("whsec_")
    assert AuditEntry.objects.filter(action="webhook.create", target=f"webhook {webhook.pk}").exists()


# --- signature -------------------------------------------------------------------------------------


def test_the_signature_covers_timestamp_and_body():
    secret, body = "whsec_test", b'{"event":"ticket.created"}'
    header = signature_header(secret, body, timestamp=1_700_000_000)
    expected = hmac.new(b"whsec_test", b'1700000000.{"event":"ticket.created"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}" == f"t=1700000000,v1={signature(secret, 1_700_000_000, body)}"
    assert signature_verify(secret, body, header, now=1_700_000_100)
    assert not signature_verify(secret, body + b" ", header, now=1_700_000_100)  # body changed
    assert not signature_verify("whsec_other", body, header, now=1_700_000_100)  # another secret
    assert not signature_verify(secret, body, header, now=1_700_000_000 + 301)  # too old: a replay
    assert not signature_verify(secret, body, header.replace("t=1700000000", "t=1700000100"), now=1_700_000_100)
    assert not signature_verify(secret, body, "garbage")


# --- retries and health ------------------------------------------------------------------------------


def test_the_retry_schedule():
    minutes = [services.webhook_retry_delay(n, jitter=0) / timedelta(minutes=1) for n in range(1, 8)]
    assert minutes == [1, 3, 9, 27, 81, 243, 729]
    assert services.webhook_retry_delay(3, jitter=1) == timedelta(minutes=9 * 1.1)
    total = sum((services.webhook_retry_delay(n, jitter=1) for n in range(1, 8)), timedelta())
    assert timedelta(hours=18) < total < timedelta(hours=24)  # 8 attempts over about a day


def test_failed_attempts_follow_the_schedule_then_give_up(subscribe, make_ticket, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    webhook = subscribe("ticket.created")
    make_ticket()
    services.webhooks_dispatch()
    delivery = webhook.deliveries.get()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        delivery = services.webhook_delivery_attempt(delivery_id=delivery.pk)
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is None  # not due yet: nothing
    assert (delivery.status, delivery.attempt_count) == ("pending", 1)
    assert "ConnectionRefusedError" in delivery.last_error and delivery.last_status_code is None
    assert timedelta(minutes=1) <= delivery.next_attempt_at - start <= timedelta(minutes=1.1)
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        delivery = services.webhook_delivery_attempt(delivery_id=delivery.pk)
    assert timedelta(minutes=3) <= delivery.next_attempt_at - (start + timedelta(minutes=2)) <= timedelta(minutes=3.3)
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        delivery = services.webhook_delivery_attempt(delivery_id=delivery.pk)
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("failed", 3, None)
    assert [a.number for a in delivery.attempts.all()] == [3, 2, 1]


def test_the_sweep_queues_what_is_due_and_not_queued_lately(subscribe, make_ticket, django_capture_on_commit_callbacks):
    webhook = subscribe("ticket.created", "message.created")
    make_ticket()
    services.webhooks_dispatch()
    now = timezone.now()
    assert services.webhook_deliveries_queue_due(now=now) == 0  # queued by the dispatch just now
    first, second = webhook.deliveries.order_by("pk")
    WebhookDelivery.objects.filter(pk=first.pk).update(queued_at=now - timedelta(minutes=5))  # its task was lost
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.webhook_deliveries_queue_due(now=now) == 1
    assert len(callbacks) == 1
    WebhookDelivery.objects.filter(pk=second.pk).update(queued_at=None, next_attempt_at=now + timedelta(minutes=1))
    assert services.webhook_deliveries_queue_due(now=now) == 0  # not due
    assert services.webhook_deliveries_queue_due(now=now + timedelta(minutes=2)) == 1


def test_a_webhook_failing_for_days_is_disabled_and_the_admins_told(subscribe, make_ticket, admin_user, owner, agent,
                                                                     settings, mailoutbox,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    settings.WEBHOOK_DISABLE_AFTER_DAYS = 3
    owner.language = "de"
    owner.save()
    inactive_admin = UserFactory(email="gone@staff.example", role="admin", is_active=False)
    webhook = subscribe("ticket.created")
    start = timezone.now()

    def fail_one(at):
        with time_machine.travel(at, tick=False):
            make_ticket()
            services.webhooks_dispatch()
            delivery = webhook.deliveries.order_by("-pk").first()
            with django_capture_on_commit_callbacks() as callbacks:
                services.webhook_delivery_attempt(delivery_id=delivery.pk)
        webhook.refresh_from_db()
        return callbacks

    fail_one(start + timedelta(minutes=1))
    assert webhook.failing_since is not None and webhook.is_active
    fail_one(start + timedelta(days=2))
    assert webhook.is_active
    pending = webhook.deliveries.filter(status="pending").count()
    assert pending == 2
    callbacks = fail_one(start + timedelta(days=3, minutes=2))

    assert not webhook.is_active and "3 days" in webhook.disabled_reason
    assert webhook.deliveries.filter(status="pending").count() == 0  # given up
    assert AuditEntry.objects.filter(action="webhook.disable", target=f"webhook {webhook.pk}").exists()
    assert len(callbacks) >= 1 and mailoutbox == []  # the email goes from a task, after commit
    assert services.webhook_subscription_tell_admins(subscription_id=webhook.pk) == 2
    assert services.webhook_subscription_tell_admins(subscription_id=webhook.pk) == 0  # once
    recipients = sorted(m.to[0] for m in mailoutbox)
    assert recipients == [admin_user.email, owner.email]  # not agents, not inactive admins
    assert inactive_admin.email not in recipients and agent.email not in recipients
    german = next(m for m in mailoutbox if m.to == [owner.email])
    assert '<html lang="de">' in german.alternatives[0][0]  # in the owner's language
    english = next(m for m in mailoutbox if m.to == [admin_user.email])
    assert english.subject == english_subject(webhook)
    assert f"/admin/webhooks/webhooksubscription/{webhook.pk}/change/" in english.body
    assert webhook.url in english.alternatives[0][0]

    webhook.is_active = True  # the admin fixed the receiver and turns it on again
    services.webhook_subscription_save(subscription=webhook, actor=admin_user)
    webhook.refresh_from_db()
    assert (webhook.failing_since, webhook.disabled_at, webhook.disabled_reason) == (None, None, "")


def test_a_success_clears_the_failure_record(subscribe, make_ticket):
    webhook = subscribe("ticket.created")
    make_ticket()
    services.webhooks_dispatch()
    WebhookSubscription.objects.filter(pk=webhook.pk).update(failing_since=timezone.now() - timedelta(days=2))
    services._health_record(webhook.pk, succeeded=True, at=timezone.now(), now=timezone.now())
    webhook.refresh_from_db()
    assert webhook.failing_since is None and webhook.last_success_at is not None


def test_the_old_log_is_dropped_but_not_what_is_still_being_delivered(subscribe, make_ticket, settings):
    webhook = subscribe("ticket.created", "message.created")
    make_ticket()
    services.webhooks_dispatch()
    first, second = webhook.deliveries.order_by("pk")
    WebhookDelivery.objects.filter(pk=first.pk).update(status="succeeded")
    with time_machine.travel(timezone.now() + timedelta(days=settings.WEBHOOK_LOG_DAYS + 1)):
        assert services.webhook_events_purge() == 1
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [second.pk]
