"""Canned responses: placeholders, who sees and manages which, and inserting one into the composer."""

import pytest
from django.urls import reverse

from helpdesk.errors import ValidationError
from tickets import canned

from .factories import UserFactory

CANNED_URL = reverse("tickets:canned")


def test_placeholders_are_filled_and_unknown_ones_left(ticket, agent):
    agent.full_name = "Jo Baker"
    response = canned.canned_create(
        user=agent, title="Thanks",
        body="Hi {{ customer.first_name }}, about {{ticket.reference}} ({{ ticket.subject }}): {{ ticket.secret }}\\n{{ agent.first_name }}",
    )  # fmt: skip
    text = canned.canned_render(response=response, ticket=ticket, agent=agent)
    assert text == f"Hi Ann, about {ticket.reference} (Order 1042 has not arrived): {{{{ ticket.secret }}}}\\nJo"


def test_agents_see_shared_and_their_own(agent, admin_user, team):
    mine = canned.canned_create(user=agent, title="Mine", body="x")
    shared = canned.canned_create(user=admin_user, title="Shared", body="y", shared=True)
    theirs = canned.canned_create(user=UserFactory(teams=[team]), title="Theirs", body="z")
    assert list(canned.canned_visible_to(agent)) == [mine, shared]
    assert list(canned.canned_visible_to(agent, query="share")) == [shared]
    with pytest.raises(Exception):  # noqa: B017 - Http404
        canned.access_canned(agent, theirs.pk)


def test_only_admins_share_and_delete_shared(agent, admin_user):
    with pytest.raises(ValidationError, match="Only owners and admins can share"):
        canned.canned_create(user=agent, title="T", body="b", shared=True)
    shared = canned.canned_create(user=admin_user, title="T", body="b", shared=True)
    with pytest.raises(ValidationError, match="delete a shared"):
        canned.canned_delete(user=agent, response_id=shared.pk)
    canned.canned_delete(user=admin_user, response_id=shared.pk)


def test_title_and_text_are_required(agent):
    with pytest.raises(ValidationError, match="title and a text"):
        canned.canned_create(user=agent, title=" ", body="b")


def test_insert_into_the_composer(client, agent, ticket):
    response = canned.canned_create(user=agent, title="Shipped", body="Hello {{ customer.first_name }}, it shipped.")
    client.force_login(agent)
    html = client.get(reverse("tickets:detail", args=[ticket.pk]), {"canned": response.pk}).content.decode()
    assert ">Hello Ann, it shipped.</textarea>" in html
    assert f'href="?canned={response.pk}#composer"' in html


def test_someone_elses_canned_response_is_404(client, agent, other_agent, ticket):
    theirs = canned.canned_create(user=other_agent, title="Theirs", body="z")
    client.force_login(agent)
    assert client.get(reverse("tickets:detail", args=[ticket.pk]), {"canned": theirs.pk}).status_code == 404


def test_search_partial(client, agent, ticket, other_agent):
    canned.canned_create(user=agent, title="Refund issued", body="x")
    canned.canned_create(user=agent, title="Tracking", body="y")
    client.force_login(agent)
    url = reverse("tickets:canned_search", args=[ticket.pk])
    html = client.get(url, {"canned_q": "refund"}).content.decode()
    assert "Refund issued" in html and "Tracking" not in html
    client.force_login(other_agent)
    assert client.get(url, {"canned_q": "refund"}).status_code == 404  # another team's ticket


def test_manage_page_create_and_delete(client, agent):
    client.force_login(agent)
    assert client.get(CANNED_URL).status_code == 200
    response = client.post(CANNED_URL, {"title": "Opening hours", "body": "We open at 8."})
    assert response.status_code == 302
    item = canned.canned_visible_to(agent).get()
    assert item.owner == agent
    html = client.get(CANNED_URL).content.decode()
    assert "Opening hours" in html and "{{ customer.first_name }}" in html
    client.post(reverse("tickets:canned_delete", args=[item.pk]))
    assert not canned.canned_visible_to(agent).exists()


def test_manage_page_keeps_what_was_typed_on_error(client, agent):
    client.force_login(agent)
    response = client.post(CANNED_URL, {"title": "", "body": "Kept text"})
    assert response.status_code == 400
    assert "Kept text" in response.content.decode()


def test_anonymous_is_sent_to_sign_in(client, ticket):
    for url in [CANNED_URL, reverse("tickets:canned_search", args=[ticket.pk])]:
        assert client.get(url)["Location"].startswith(reverse("login"))
