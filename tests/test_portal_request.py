"""Following a request without an account: the signed link in our emails, the page it opens, and the
customer's reply from there (issue 4's acknowledgement link; issue 5's portal)."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tickets import services
from tickets.mail import outbound
from tickets.mail.models import Mailbox
from tickets.models import Message, Ticket
from tickets.portal.links import follow_token, follow_url

from .factories import CustomerFactory


def page_url(ticket) -> str:
    return follow_url(ticket).removeprefix("http://127.0.0.1:8000")


@pytest.fixture
def conversation(ticket, agent):
    """A customer message, an agent's reply with a file, and an internal note with a file."""
    services.ticket_reply(ticket=ticket, author=agent, body="It ships **tomorrow**.", body_is_markdown=True,
                          attachments=[SimpleUploadedFile("label.pdf", b"%PDF-1.4 label", "application/pdf")])  # fmt: skip
    services.ticket_add_note(ticket=ticket, author=agent, body="Warehouse is slow again, do not tell them.",
                             attachments=[SimpleUploadedFile("internal.pdf", b"%PDF secret", "application/pdf")])  # fmt: skip
    return ticket


def test_the_link_shows_the_public_conversation_only(client, conversation, agent):
    response = client.get(page_url(conversation))
    html = response.content.decode()
    assert response.status_code == 200
    assert conversation.subject in html and conversation.reference in html
    assert "It ships <strong>tomorrow</strong>." in html and "label.pdf" in html
    assert "Warehouse" not in html and "internal.pdf" not in html  # notes are for agents only
    assert agent.full_name in html and agent.email not in html
    assert response["Cache-Control"] == "private, no-store" and response["Referrer-Policy"] == "same-origin"
    assert "noindex" in response["X-Robots-Tag"]


def test_files_download_from_public_messages_only(client, conversation):
    token = follow_token(conversation)
    public = conversation.messages.get(kind=Message.Kind.REPLY).attachments.get()
    note = conversation.messages.get(kind=Message.Kind.NOTE).attachments.get()
    response = client.get(f"/help/requests/{token}/files/{public.pk}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF-1.4 label"
    assert client.get(f"/help/requests/{token}/files/{note.pk}/").status_code == 404


def test_made_up_tampered_and_stale_links_show_nothing(client, ticket, other_customer, queue):
    other = services.ticket_create(customer=other_customer, queue=queue, subject="Not yours", body="Private",
                                   channel="portal")  # fmt: skip
    token = follow_token(ticket)
    forged = follow_token(other).split(":")[0] + ":" + token.split(":", 1)[1]  # their ids, our signature
    for bad in ("nonsense", forged, token[:-2] + "xx"):
        assert client.get(f"/help/requests/{bad}/").status_code == 404
    Ticket.objects.filter(pk=ticket.pk).update(customer=other_customer)  # the ticket changed hands
    assert client.get(f"/help/requests/{token}/").status_code == 404
    other_file = f"/help/requests/{follow_token(other)}/files/1/"
    assert client.get(other_file).status_code == 404


def test_an_expired_link_offers_a_new_one_by_email_only_to_the_requests_address(client, ticket, mailoutbox, settings):
    token = follow_token(ticket)
    with time_machine.travel(timezone.now() + timedelta(days=settings.PORTAL_LINK_DAYS + 1)):
        response = client.get(f"/help/requests/{token}/")
        assert response.status_code == 410 and "This link has expired" in response.content.decode()
        assert ticket.subject not in response.content.decode()
        sent = client.post(f"/help/requests/{token}/new-link/")
        client.post(f"/help/requests/{token}/new-link/")  # twice: one email (rate limit)
    assert sent.status_code == 200 and "Check your email" in sent.content.decode()
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [ticket.customer.email]
    new_link = re.search(r"http://\S+/help/requests/\S+/", mailoutbox[0].body).group(0)
    assert client.get(new_link.removeprefix("http://127.0.0.1:8000")).status_code == 200


def test_the_customer_replies_with_a_file(client, ticket, agent):
    services.ticket_set_status(ticket=ticket, status="pending", actor=agent)
    response = client.post(page_url(ticket), {"body": "Here is the receipt.",
                                              "attachments": [SimpleUploadedFile("receipt.png", b"\x89PNG\r\n\x1a\n x",
                                                                                 "image/png")]})  # fmt: skip
    assert response.status_code == 302 and "/help/requests/" in response["Location"]
    message = ticket.messages.order_by("pk").last()
    assert (message.kind, message.channel, message.body_text) == ("customer", "portal", "Here is the receipt.")
    assert [a.filename for a in message.attachments.all()] == ["receipt.png"]
    ticket.refresh_from_db()
    assert ticket.status == "open"  # a customer's answer reopens a pending ticket
    page = client.get(response["Location"]).content.decode()
    assert "Thank you, your message was added." in page and "Here is the receipt." in page


def test_an_empty_or_refused_reply_keeps_what_was_typed(client, ticket):
    response = client.post(page_url(ticket), {"body": "   "})
    assert response.status_code == 400 and "needs some text or an attachment" in response.content.decode()
    response = client.post(page_url(ticket), {"body": "See the file", "attachments": [
        SimpleUploadedFile("run.exe", b"MZ", "application/octet-stream")]})  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 400 and "run.exe" in html and ">See the file</textarea>" in html
    assert ticket.messages.count() == 1


def test_a_reply_to_a_closed_request_opens_a_linked_one(client, ticket, agent):
    services.ticket_set_status(ticket=ticket, status="closed", actor=agent)
    response = client.post(page_url(ticket), {"body": "It broke again."}, follow=True)
    follow_up = Ticket.objects.get(follow_up_of=ticket)
    assert follow_up.customer == ticket.customer and follow_up.channel == "portal"
    assert follow_up.reference in response.content.decode() and "opened a new one" in response.content.decode()


def test_a_merged_request_sends_its_customer_to_the_one_it_joined(client, ticket, queue, agent):
    later = services.ticket_create(customer=ticket.customer, queue=queue, subject="Same thing", body="Again",
                                   channel="portal")  # fmt: skip
    services.ticket_merge(source=later, target=ticket, actor=agent)
    response = client.get(page_url(later))
    assert response.status_code == 302 and client.get(response["Location"]).status_code == 200


def test_replies_are_rate_limited(client, ticket, monkeypatch):
    from tickets.portal import views

    monkeypatch.setattr(views, "REPLIES_PER_HOUR", 2)
    for text in ("one", "two"):
        assert client.post(page_url(ticket), {"body": text}).status_code == 302
    response = client.post(page_url(ticket), {"body": "three"})
    assert response.status_code == 400 and "many messages" in response.content.decode()
    assert ticket.messages.count() == 3


# --- the link in our emails --------------------------------------------------------------------


@pytest.fixture
def mailbox(queue):
    return Mailbox.objects.create(name="Shop", email_address="support@shop.example", queue=queue)


def link_in(email) -> str:
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    link = re.search(r"http://\S+/help/requests/\S+/", text).group(0)
    assert f'href="{link}"' in html
    return link.removeprefix("http://127.0.0.1:8000")


def test_the_acknowledgement_and_each_reply_carry_the_link(client, smtp_server, mailbox, ticket, agent):
    outbound.acknowledgement_send(ticket_id=ticket.pk)
    reply = services.ticket_reply(ticket=ticket, author=agent, body="On its way.")
    outbound.reply_send(message_id=reply.pk)
    for email in smtp_server.messages:
        assert client.get(link_in(email)).status_code == 200


def test_a_queue_template_places_the_link_itself(smtp_server, mailbox, ticket, queue):
    queue.acknowledgement_body = "Got it! Follow it here: {{ ticket_url }}"
    queue.save()
    outbound.acknowledgement_send(ticket_id=ticket.pk)
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert text.count("/help/requests/") == 1 and "Follow it here: http://" in text


def test_another_customer_cannot_use_the_page_to_see_other_requests(client, ticket, queue):
    stranger = CustomerFactory()
    theirs = services.ticket_create(customer=stranger, queue=queue, subject="Stranger's", body="x", channel="portal")
    html = client.get(page_url(ticket)).content.decode()
    assert theirs.subject not in html
