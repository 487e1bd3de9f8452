"""Webhooks in the admin: only owners and admins get to every route; a webhook is added with a form that
takes http(s) addresses only and shows its secret; the delivery log lists every delivery at a fixed number
of queries and sends one again with "Redeliver"."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from helpdesk.audit import AuditEntry
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.usefixtures("forget_the_active_flag")

ROLES = ["anonymous", "other_agent", "agent", "admin_user", "owner"]


@pytest.fixture
def webhook(receiver, admin_user):
    subscription = WebhookSubscription(url=receiver.url, events=["ticket.created", "message.created"],
                                       description="The shop")  # fmt: skip
    return services.webhook_subscription_save(subscription=subscription, actor=admin_user)


@pytest.fixture
def delivery(webhook, make_ticket):
    make_ticket()
    services.webhooks_dispatch()
    return webhook.deliveries.get(event__name="ticket.created")


# (method, route name, id of, POST data, what an owner or admin gets)
ROUTES = [
    ("get", "admin:webhooks_webhooksubscription_changelist", None, None, 200),
    ("get", "admin:webhooks_webhooksubscription_add", None, None, 200),
    ("post", "admin:webhooks_webhooksubscription_add", None,
     {"url": "https://example.com/hook", "events": ["ticket.solved"], "is_active": "on"}, 302),
    ("get", "admin:webhooks_webhooksubscription_change", "webhook", None, 200),
    ("get", "admin:webhooks_webhooksubscription_delete", "webhook", None, 200),
    ("get", "admin:webhooks_webhookdelivery_changelist", None, None, 200),
    ("get", "admin:webhooks_webhookdelivery_change", "delivery", None, 200),
    ("post", "admin:webhooks_webhookdelivery_redeliver", "delivery", {}, 302),
]  # fmt: skip


def _state():
    return (WebhookSubscription.objects.count(), list(WebhookDelivery.objects.values_list("attempt_count", "queued_at")),
            AuditEntry.objects.filter(action__startswith="webhook.").count())  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "name", "target", "data", "allowed"), ROUTES,
                         ids=[f"{route[0]} {route[1]}" for route in ROUTES])  # fmt: skip
def test_webhook_routes(as_role, request, delivery, role, method, name, target, data, allowed):
    args = [] if target is None else [request.getfixturevalue(target).pk]
    url = reverse(name, args=args)
    client = as_role(role)
    before = _state()

    response = getattr(client, method)(url, data or {})

    if role in ("anonymous", "other_agent", "agent"):  # customers have no user account at all
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
        assert _state() == before  # nothing happened
    else:
        assert response.status_code == allowed


@pytest.mark.parametrize("role", ["admin_user", "owner"])
def test_redeliver_refuses_get(as_role, delivery, role):
    response = as_role(role).get(reverse("admin:webhooks_webhookdelivery_redeliver", args=[delivery.pk]))
    assert response.status_code == 405
    delivery.refresh_from_db()
    assert delivery.attempt_count == 0 and not delivery.attempts.exists()


def test_an_admin_adds_a_webhook_and_sees_its_secret(admin_client_for, admin_user):
    client = admin_client_for(admin_user)
    add = reverse("admin:webhooks_webhooksubscription_add")
    page = client.get(add).content.decode()
    assert 'value="survey.answered"' in page and "A signing secret is made when you save" in page

    refused = client.post(add, {"url": "ftp://example.com/hook", "events": ["ticket.created"], "is_active": "on"})
    assert refused.status_code == 200 and "Enter an http:// or https:// address." in refused.content.decode()
    refused = client.post(add, {"url": "https://example.com/hook", "is_active": "on"})
    assert refused.status_code == 200 and not WebhookSubscription.objects.exists()

    response = client.post(add, {"url": "https://example.com/hook", "description": "CRM",
                                 "events": ["ticket.solved", "survey.answered"], "is_active": "on"})  # fmt: skip
    assert response.status_code == 302
    webhook = WebhookSubscription.objects.get()
    assert (webhook.events, webhook.created_by, webhook.is_active) == (["ticket.solved", "survey.answered"],
                                                                       admin_user, True)  # fmt: skip
    page = client.get(reverse("admin:webhooks_webhooksubscription_change", args=[webhook.pk])).content.decode()
    assert f"<code>{webhook.secret}</code>" in page and "X-Helpdesk-Signature" in page
    assert AuditEntry.objects.filter(action="webhook.create", actor=admin_user).exists()


def test_turning_a_webhook_off_in_the_form_gives_up_its_pending_deliveries(admin_client_for, admin_user, webhook,
                                                                            delivery):  # fmt: skip
    client = admin_client_for(admin_user)
    response = client.post(reverse("admin:webhooks_webhooksubscription_change", args=[webhook.pk]),
                           {"url": webhook.url, "events": webhook.events, "description": ""})  # fmt: skip
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert not webhook.is_active and webhook.disabled_reason == f"Disabled by {admin_user}."
    assert set(webhook.deliveries.values_list("status", flat=True)) == {"failed"}


def test_a_webhook_is_deleted_with_its_log(admin_client_for, admin_user, webhook, delivery):
    client = admin_client_for(admin_user)
    url = reverse("admin:webhooks_webhooksubscription_delete", args=[webhook.pk])
    page = client.get(url).content.decode()
    assert "Deliveries: 2" in page
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not WebhookSubscription.objects.exists() and not WebhookDelivery.objects.exists()
    assert AuditEntry.objects.filter(action="webhook.delete", actor=admin_user, target=f"webhook {webhook.pk}").exists()


def test_a_new_secret_by_the_action(admin_client_for, admin_user, webhook):
    old = webhook.secret
    response = admin_client_for(admin_user).post(reverse("admin:webhooks_webhooksubscription_changelist"),
                                                 {"action": "roll_secret", "_selected_action": [webhook.pk]},
                                                 follow=True)  # fmt: skip
    assert "A new secret for 1 webhook" in response.content.decode()
    webhook.refresh_from_db()
    assert webhook.secret != old and webhook.secret.startswith("whsec_")


def test_the_log_shows_each_attempt_and_redeliver_sends_it_again(admin_client_for, admin_user, receiver, delivery):
    receiver.statuses = [503]
    services.webhook_delivery_attempt(delivery_id=delivery.pk)
    client = admin_client_for(admin_user)
    page_url = reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])
    page = client.get(page_url).content.decode()
    assert "The receiver answered 503." in page and "Internal trouble" in page and "503" in page
    assert 'id="redeliver-form"' in page and "&quot;event&quot;: &quot;ticket.created&quot;" in page

    response = client.post(reverse("admin:webhooks_webhookdelivery_redeliver", args=[delivery.pk]))
    assert response.status_code == 302 and response["Location"] == page_url
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("pending", 0)
    entry = AuditEntry.objects.get(action="webhook.redeliver")
    assert entry.actor == admin_user and entry.target == f"webhook delivery {delivery.uid}"

    services.webhook_delivery_attempt(delivery_id=delivery.pk)  # the queued task
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and [r.headers["X-Helpdesk-Delivery"] for r in receiver.requests] == [
        str(delivery.uid)] * 2  # fmt: skip
    page = client.get(page_url).content.decode()
    assert "The delivery is sent again" in page and page.count('class="field-status_code"') == 2

    # A delivered one can be sent again too (the receiver lost it), from the list's action.
    response = client.post(reverse("admin:webhooks_webhookdelivery_changelist"),
                           {"action": "redeliver", "_selected_action": [delivery.pk]}, follow=True)  # fmt: skip
    assert "1 delivery is sent again." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_a_disabled_webhooks_delivery_is_not_redelivered(admin_client_for, admin_user, webhook, delivery):
    services.webhook_subscription_disable(subscription_id=webhook.pk, reason="Broken")
    client = admin_client_for(admin_user)
    response = client.post(reverse("admin:webhooks_webhookdelivery_redeliver", args=[delivery.pk]), follow=True)
    assert "The webhook is disabled: enable it first." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.last_error == "The webhook was disabled."


def test_the_log_filters_by_webhook_and_event(admin_client_for, admin_user, webhook, delivery):
    client = admin_client_for(admin_user)
    url = reverse("admin:webhooks_webhookdelivery_changelist")
    page = client.get(url, {"subscription__id__exact": webhook.pk, "event": "message.created"}).content.decode()
    assert "message.created" in page and ">ticket.created<" not in page
    page = client.get(reverse("admin:webhooks_webhooksubscription_changelist")).content.decode()
    assert f"?subscription__id__exact={webhook.pk}" in page and "The shop" in page
    page = client.get(url, {"q": str(delivery.uid)}).content.decode()
    assert "1 result" in page
    assert client.get(url, {"q": "not-a-uuid"}).status_code == 200


def test_the_delivery_log_costs_the_same_queries_for_1_or_20_rows(admin_client_for, admin_user, webhook, make_ticket):
    """Three queries of the log's own: the webhook filter's choices, the count, the page of deliveries with
    their webhooks and events. The rest (session, user, and the admin sidebar's, which grow with other
    apps' admin screens) must not grow with the rows either."""
    client = admin_client_for(admin_user)
    url = reverse("admin:webhooks_webhookdelivery_changelist")

    def page_queries():
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url).content.decode()
        sql = [query["sql"] for query in queries.captured_queries]
        return page.count('class="field-event_name"'), len(sql), [q for q in sql if '"webhooks_' in q]

    make_ticket()
    services.webhooks_dispatch()
    WebhookDelivery.objects.filter(event__name="message.created").delete()
    client.get(url)  # warm: content types, the admin's caches
    rows, total, own = page_queries()
    assert rows == 1 and len(own) == 3
    for number in range(19):
        make_ticket(subject=f"Ticket {number}")
    services.webhooks_dispatch()
    WebhookDelivery.objects.filter(event__name="message.created").delete()
    rows, total_for_20, own_for_20 = page_queries()
    assert (rows, total_for_20, len(own_for_20)) == (20, total, 3)


@pytest.fixture
def admin_client_for(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in
