"""Asking for help on the portal without an account: the request form."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from customers.models import Customer
from tickets.models import Queue, Ticket

from .factories import QueueFactory

URL = "/help/requests/new/"


def fields(**overrides):
    data = {"email": "Zoe@Example.com", "name": "Zoë Martin", "subject": "The grinder makes a noise",
            "body": "Since Monday it rattles when it starts.", "website": ""}  # fmt: skip
    return {**data, **overrides}


def test_a_request_becomes_a_ticket_and_opens_its_page(client, queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            URL, fields(attachments=[SimpleUploadedFile("noise.png", b"\x89PNG\r\n\x1a\n", "image/png")])
        )
    ticket = Ticket.objects.get()
    assert (ticket.channel, ticket.queue, ticket.subject) == ("portal", queue, "The grinder makes a noise")
    assert ticket.customer.email == "Zoe@Example.com" and ticket.customer.name == "Zoë Martin"
    assert [a.filename for a in ticket.messages.get().attachments.all()] == ["noise.png"]
    assert len(callbacks) == 1  # the acknowledgement, with the link to follow it
    assert response.status_code == 302 and response["Location"].startswith("/help/requests/")
    page = client.get(response["Location"]).content.decode()
    assert f"We got your request {ticket.reference}" in page and "Since Monday it rattles" in page


def test_a_known_customer_keeps_their_record(client, queue, customer):
    client.post(URL, fields(email=customer.email.upper(), name="Someone Else"))
    assert Customer.objects.count() == 1 and Ticket.objects.get().customer == customer


def test_mistakes_are_shown_and_nothing_typed_is_lost(client, queue):
    response = client.post(URL, fields(email="not-an-address", subject=""))
    html = response.content.decode()
    assert response.status_code == 400 and not Ticket.objects.exists()
    assert "Enter a valid email address." in html and "This field is required." in html
    assert 'value="not-an-address"' in html and "Since Monday it rattles when it starts.</textarea>" in html
    assert 'aria-invalid="true"' in html


def test_a_refused_file_is_explained(client, queue):
    response = client.post(
        URL, fields(attachments=[SimpleUploadedFile("setup.exe", b"MZ", "application/octet-stream")])
    )
    assert response.status_code == 400 and "setup.exe" in response.content.decode()
    assert not Ticket.objects.exists() and not Customer.objects.exists()


def test_topics_are_offered_only_when_several_queues_are_on_the_portal(client, queue, team):
    assert 'name="queue"' not in client.get(URL).content.decode()  # none on the portal: the first queue
    billing = QueueFactory(name="Billing", team=team, on_portal=True)
    orders = QueueFactory(name="Orders", team=team, on_portal=True)
    hidden = QueueFactory(name="Internal", team=team)
    html = client.get(URL).content.decode()
    assert ">Billing</option>" in html and ">Orders</option>" in html and "Internal" not in html
    assert client.post(URL, fields(queue=hidden.pk)).status_code == 400  # not a topic
    client.post(URL, fields(queue=orders.pk))
    assert Ticket.objects.get().queue == orders
    for other in Queue.objects.exclude(pk=billing.pk):  # as the admin does: saved (the topics are cached)
        other.on_portal = False
        other.save()
    client.post(URL, fields(subject="Second"))
    assert Ticket.objects.get(subject="Second").queue == billing  # the only topic, no choice to make


def test_the_honeypot_keeps_bots_out_quietly(client, queue):
    response = client.post(URL, fields(website="http://spam.example"))
    assert response.status_code == 200 and "Thank you" in response.content.decode()
    assert not Ticket.objects.exists() and not Customer.objects.exists()


@pytest.mark.parametrize("limit", ["REQUESTS_PER_HOUR_PER_IP", "REQUESTS_PER_HOUR_PER_EMAIL"])
def test_requests_are_rate_limited_per_address_and_per_email(client, queue, monkeypatch, limit):
    from tickets.portal import views

    monkeypatch.setattr(views, limit, 2)
    for number in range(2):
        email = "zoe@example.com" if limit.endswith("EMAIL") else f"zoe{number}@example.com"
        assert client.post(URL, fields(email=email, subject=f"Request {number}")).status_code == 302
    response = client.post(URL, fields(email="zoe@example.com", subject="One too many"))
    assert response.status_code == 400 and "many requests" in response.content.decode()
    assert "One too many" in response.content.decode()  # kept for sending again later
    assert Ticket.objects.count() == 2


def test_without_any_queue_the_form_says_so(client, db):
    assert client.get(URL).status_code == 503


def test_the_portal_home_offers_the_form(client, queue):
    assert f'href="{URL}"' in client.get("/help/").content.decode()
