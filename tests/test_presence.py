import pytest

from tickets import presence

from .factories import UserFactory


@pytest.fixture
def clean(ticket):
    presence._client().delete(presence._key(ticket.pk))
    yield
    presence._client().delete(presence._key(ticket.pk))


def test_others_are_listed_and_go_stale(ticket, agent, team, clean):
    mate = UserFactory(full_name="Sam Lee", teams=[team])
    presence.presence_touch(ticket_id=ticket.pk, user=agent, now=1000)
    presence.presence_touch(ticket_id=ticket.pk, user=mate, now=1000)
    assert presence.presence_others(ticket_id=ticket.pk, user=agent, now=1010) == [
        presence.Presence(user_id=mate.pk, name="Sam", replying=False)
    ]
    assert presence.presence_others(ticket_id=ticket.pk, user=agent, now=1000 + presence.FRESH_SECONDS + 1) == []


def test_replying_shows_while_fresh(ticket, agent, team, clean):
    mate = UserFactory(full_name="Sam Lee", teams=[team])
    presence.presence_touch(ticket_id=ticket.pk, user=mate, replying=True, now=1000)
    presence.presence_touch(ticket_id=ticket.pk, user=mate, now=1020)  # still viewing, typed 20 s ago
    assert presence.presence_others(ticket_id=ticket.pk, user=agent, now=1020)[0].replying is True
    presence.presence_touch(ticket_id=ticket.pk, user=mate, now=1040)
    assert presence.presence_others(ticket_id=ticket.pk, user=agent, now=1040)[0].replying is False


def test_the_key_expires_by_itself(ticket, agent, clean):
    presence.presence_touch(ticket_id=ticket.pk, user=agent)
    ttl = presence._client().ttl(presence._key(ticket.pk))
    assert 0 < ttl <= presence.KEY_TTL_SECONDS


# --- on the ticket page ----------------------------------------------------------------------------

from django.urls import reverse  # noqa: E402

from tickets import services  # noqa: E402
from tickets.models import Message  # noqa: E402


def test_the_page_shows_who_else_is_on_the_ticket(client, ticket, agent, team, clean):
    mate = UserFactory(full_name="Sam Lee", teams=[team])
    presence.presence_touch(ticket_id=ticket.pk, user=mate, replying=True)
    client.force_login(agent)
    html = client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert "Sam is replying" in html
    response = client.post(reverse("tickets:presence", args=[ticket.pk]), {"state": "viewing"})
    assert "Sam is replying" in response.content.decode()
    assert presence.presence_others(ticket_id=ticket.pk, user=mate)[0].name == agent.get_short_name()


def test_presence_of_another_teams_ticket_is_404(client, ticket, other_agent, clean):
    client.force_login(other_agent)
    assert client.post(reverse("tickets:presence", args=[ticket.pk])).status_code == 404


def test_a_reply_written_while_the_customer_wrote_is_held_back_once(client, ticket, agent, clean):
    client.force_login(agent)
    seen = ticket.messages.get().pk
    services.ticket_add_customer_message(ticket=ticket, body="Actually, it arrived damaged.", channel="email")
    url = reverse("tickets:message", args=[ticket.pk])
    response = client.post(url, {"kind": "reply", "body": "Great, glad it arrived!", "seen_up_to": seen})
    html = response.content.decode()
    assert "New messages arrived while you were writing" in html
    assert "Great, glad it arrived!" in html  # what was typed is kept
    assert not ticket.messages.filter(kind=Message.Kind.REPLY).exists()
    newest = ticket.messages.order_by("-pk").first().pk
    response = client.post(url, {"kind": "reply", "body": "Sorry to hear that!", "seen_up_to": newest})
    assert response.status_code == 302
    assert ticket.messages.filter(kind=Message.Kind.REPLY).count() == 1


def test_own_notes_do_not_hold_back_a_reply(client, ticket, agent, clean):
    client.force_login(agent)
    seen = ticket.messages.get().pk
    services.ticket_add_note(ticket=ticket, author=agent, body="checked the warehouse")
    url = reverse("tickets:message", args=[ticket.pk])
    assert client.post(url, {"kind": "reply", "body": "On its way", "seen_up_to": seen}).status_code == 302
