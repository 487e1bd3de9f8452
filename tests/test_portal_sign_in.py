"""Optional customer sign-in by a one-time emailed link, and the list of one's own requests."""

import re
from datetime import timedelta

import time_machine
from django.utils import timezone

from tickets import services
from tickets.portal.sign_in import SIGN_IN_LINK_MINUTES


def ask_for_link(client, email) -> str | None:
    response = client.post("/help/sign-in/", {"email": email})
    assert response.status_code == 200 and "Check your email" in response.content.decode()
    return response


def link_from(mail) -> str:
    return re.search(r"http://\S+/help/sign-in/\S+/", mail.body).group(0).removeprefix("http://127.0.0.1:8000")


def test_a_known_customer_signs_in_and_sees_only_their_requests(client, ticket, queue, other_customer, mailoutbox):
    theirs = services.ticket_create(customer=other_customer, queue=queue, subject="Bob's order", body="x",
                                    channel="portal")  # fmt: skip
    ask_for_link(client, ticket.customer.email.upper())
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [ticket.customer.email]
    link = link_from(mailoutbox[0])

    confirm = client.get(link)  # what a mail scanner would do: nothing happens yet
    assert confirm.status_code == 200 and ticket.customer.email in confirm.content.decode()
    assert client.get("/help/my-requests/")["Location"] == "/help/sign-in/"
    assert client.post(link)["Location"] == "/help/my-requests/"

    page = client.get("/help/my-requests/").content.decode()
    assert ticket.subject in page and theirs.subject not in page
    request_link = re.search(r'class="portal-requests__subject" href="([^"]+)"', page).group(1)
    assert ticket.subject in client.get(request_link).content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_email(client, db, mailoutbox):
    ask_for_link(client, "nobody@example.com")
    assert mailoutbox == []


def test_a_link_works_once_and_not_for_long(client, ticket, mailoutbox):
    ask_for_link(client, ticket.customer.email)
    link = link_from(mailoutbox[0])
    client.post(link)
    client.post("/help/sign-out/")
    assert client.get("/help/my-requests/").status_code == 302
    assert client.post(link).status_code == 410  # used up
    assert client.get("/help/my-requests/").status_code == 302

    ask_for_link(client, ticket.customer.email)
    late = link_from(mailoutbox[1])
    with time_machine.travel(timezone.now() + timedelta(minutes=SIGN_IN_LINK_MINUTES + 1)):
        assert client.post(late).status_code == 410
    assert client.post(late[:-3] + "xx/").status_code == 410  # tampered


def test_sign_in_links_are_rate_limited(client, ticket, mailoutbox, monkeypatch):
    from tickets.portal import views

    monkeypatch.setattr(views, "SIGN_IN_LINKS_PER_HOUR_PER_EMAIL", 2)
    for _ in range(2):
        ask_for_link(client, ticket.customer.email)
    response = client.post("/help/sign-in/", {"email": ticket.customer.email})
    assert response.status_code == 400 and "several links" in response.content.decode()
    assert len(mailoutbox) == 2


def test_a_signed_in_customer_is_not_an_agent(client, ticket, mailoutbox):
    ask_for_link(client, ticket.customer.email)
    client.post(link_from(mailoutbox[0]))
    assert client.get("/tickets/")["Location"].startswith("/login/")
    assert client.get(f"/tickets/{ticket.pk}/")["Location"].startswith("/login/")


def test_no_requests_yet_shows_a_designed_empty_state(client, customer, mailoutbox):
    ask_for_link(client, customer.email)
    client.post(link_from(mailoutbox[0]))
    page = client.get("/help/my-requests/").content.decode()
    assert "No requests yet" in page and 'href="/help/requests/new/"' in page
