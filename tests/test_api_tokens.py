"""Personal API tokens: created and revoked on "Your settings", shown once, kept hashed, audited; scopes,
expiry and revocation; the browser's session; customers are refused."""

import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken
from api.services import api_token_create
from helpdesk.audit import AuditEntry
from tickets.portal.sign_in import SESSION_KEY

from .api_fixtures import client_with, token_for

LIST = reverse("api:ticket-list")
ACCOUNT = reverse("account")


def test_an_agent_creates_a_token_and_sees_it_exactly_once(client, agent):
    client.force_login(agent)
    response = client.post(reverse("api_token_create"), {"name": "Shop", "scope": "write", "expires_in": "30"})
    assert response.status_code == 302 and response["Location"] == ACCOUNT

    page = client.get(ACCOUNT).content.decode()
    token = ApiToken.objects.get()
    raw = page.split('<code id="new-api-token">')[1].split("</code>")[0]
    assert raw.startswith("hd_") and raw.startswith(token.prefix)
    assert token.secret_hash == hashlib.sha256(raw.encode()).hexdigest() and raw not in token.secret_hash
    assert (token.name, token.scope, token.user) == ("Shop", "write", agent)
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert AuditEntry.objects.get().action == "api_token.create"

    again = client.get(ACCOUNT).content.decode()
    assert raw not in again and f"{token.prefix}…" in again  # the list shows only its prefix
    assert client_with(raw).get(LIST).status_code == 200


def test_a_token_without_a_name_is_refused(client, agent):
    client.force_login(agent)
    client.post(reverse("api_token_create"), {"name": " ", "scope": "read", "expires_in": ""})
    assert not ApiToken.objects.exists()


def test_an_agent_revokes_their_token_and_it_stops_working(client, agent):
    raw = token_for(agent)
    token = ApiToken.objects.get()
    client.force_login(agent)
    response = client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert [e.action for e in AuditEntry.objects.order_by("pk")] == ["api_token.create", "api_token.revoke"]
    assert client_with(raw).get(LIST).status_code == 401
    assert "Revoked" in client.get(ACCOUNT).content.decode()


def test_nobody_revokes_another_agents_token(client, agent, other_agent):
    raw = token_for(agent)
    client.force_login(other_agent)
    assert client.post(reverse("api_token_revoke", args=[ApiToken.objects.get().pk])).status_code == 404
    assert client_with(raw).get(LIST).status_code == 200


@pytest.mark.parametrize("name", ["api_token_create", "api_token_revoke"])
def test_token_pages_want_a_signed_in_agent_and_a_post(client, agent, name):
    url = reverse(name, args=[1]) if name == "api_token_revoke" else reverse(name)
    assert client.post(url)["Location"].startswith(reverse("login"))
    client.force_login(agent)
    assert client.get(url).status_code == 405


def test_an_expired_token_is_refused(agent, time_machine):
    time_machine.move_to("2030-01-01 09:00Z")
    raw = token_for(agent, expires_at=timezone.now() + timedelta(days=1))
    assert client_with(raw).get(LIST).status_code == 200
    time_machine.move_to("2030-01-02 09:01Z")
    assert client_with(raw).get(LIST).status_code == 401


def test_an_expiry_in_the_past_is_refused(agent):
    from helpdesk.errors import ValidationError

    with pytest.raises(ValidationError):
        api_token_create(user=agent, name="x", scope="read", expires_at=timezone.now() - timedelta(minutes=1))


def test_a_token_with_a_wrong_secret_is_refused(agent):
    raw = token_for(agent)
    assert client_with(raw[:-2] + ("AA" if not raw.endswith("AA") else "BB")).get(LIST).status_code == 401


def test_last_use_is_noted_at_most_once_a_minute(agent, time_machine):
    time_machine.move_to("2030-01-01 09:00Z")
    raw = token_for(agent)
    client = client_with(raw)
    client.get(LIST)
    first = ApiToken.objects.get().last_used_at
    time_machine.move_to("2030-01-01 09:00:30Z")
    client.get(LIST)
    assert ApiToken.objects.get().last_used_at == first
    time_machine.move_to("2030-01-01 09:02Z")
    client.get(LIST)
    assert ApiToken.objects.get().last_used_at > first


def test_a_read_token_reads(agent, ticket):
    client = client_with(token_for(agent, scope="read"))
    assert client.get(LIST).status_code == 200
    assert client.get(reverse("api:ticket-detail", args=[ticket.pk])).status_code == 200
    response = client.patch(reverse("api:ticket-detail", args=[ticket.pk]), {"priority": "low"}, format="json")
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.priority == "normal"


def test_the_browser_session_works_and_needs_csrf_to_write(agent, ticket):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)
    assert client.get(LIST).status_code == 200
    response = client.patch(reverse("api:ticket-detail", args=[ticket.pk]), {"priority": "low"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["error"]["message"]


def test_a_customer_signed_in_to_the_portal_is_refused(client, ticket):
    session = client.session
    session[SESSION_KEY] = ticket.customer_id
    session.save()
    response = client.get(LIST)
    assert response.status_code == 401
