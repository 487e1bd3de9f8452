"""Replies and acknowledgements by email, delivered to a real SMTP server (aiosmtpd)."""

from datetime import timedelta
from smtplib import SMTPException

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tickets import services
from tickets.mail import ids, outbound
from tickets.mail.models import BlockedSender, Mailbox
from tickets.models import DeliveryStatus, Message, Ticket
from tickets.services import EmailDetails


@pytest.fixture
def mailbox(queue):
    return Mailbox.objects.create(name="Shop support", email_address="support@shop.example", queue=queue,
                                  from_name="Bean & Crumb")  # fmt: skip


@pytest.fixture
def email_ticket(queue, customer, mailbox):
    return services.ticket_create(
        customer=customer, subject="Where is my order?", body="", channel=Ticket.Channel.EMAIL, queue=queue,
        email=EmailDetails(message_id="abc123@mail.customer.example", text="Hello, order 1042 is late.",
                           cc=("partner@customer.example", "support@shop.example")),
    )  # fmt: skip


def test_message_ids_are_ours_only_when_signed():
    made = ids.make_message_id(1042, "shop.example")
    assert made.endswith("@shop.example") and ids.ticket_id_from_message_id(f"<{made}>") == 1042
    forged = made.replace("hd.1042.", "hd.1043.")
    assert ids.ticket_id_from_message_id(forged) is None
    assert ids.ticket_id_from_message_id("CAF=x@mail.gmail.com") is None
    assert ids.ticket_id_from_reply_token(ids.reply_token(77)) == 77
    assert ids.ticket_id_from_reply_token("78." + ids.reply_token(77).split(".")[1]) is None


def test_reply_is_emailed_threaded_from_the_queue_mailbox(smtp_server, email_ticket, agent, customer):
    reply = services.ticket_reply(ticket=email_ticket, author=agent, body="It left the **warehouse** today.",
                                  body_is_markdown=True,
                                  attachments=[SimpleUploadedFile("label.pdf", b"%PDF-1.4 label")])  # fmt: skip
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.QUEUED

    assert outbound.reply_send(message_id=reply.pk) is True

    email = smtp_server.messages[0]
    assert email["From"] == "Bean & Crumb <support@shop.example>"
    assert email["To"] == customer.email and email["Cc"] == "partner@customer.example"
    assert email["Subject"] == f"Re: Where is my order? [{email_ticket.reference}]"
    assert ids.ticket_id_from_message_id(email["Message-ID"]) == email_ticket.pk
    assert email["In-Reply-To"] == "<abc123@mail.customer.example>"
    assert email["References"] == "<abc123@mail.customer.example>"
    text = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",)).get_content()
    assert "It left the **warehouse** today." in text and "<strong>warehouse</strong>" in html
    assert [part.get_filename() for part in email.iter_attachments()] == ["label.pdf"]
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.SENT and reply.sent_at is not None
    assert reply.email_message_id == email["Message-ID"].strip("<>")

    assert outbound.reply_send(message_id=reply.pk) is False  # never twice
    assert len(smtp_server.messages) == 1


def test_the_second_reply_references_the_whole_thread(smtp_server, email_ticket, agent):
    first = services.ticket_reply(ticket=email_ticket, author=agent, body="First.")
    second = services.ticket_reply(ticket=email_ticket, author=agent, body="Second.")
    outbound.reply_send(message_id=second.pk)
    first.refresh_from_db()
    email = smtp_server.messages[0]
    assert email["In-Reply-To"] == f"<{first.email_message_id}>"
    assert email["References"] == f"<abc123@mail.customer.example> <{first.email_message_id}>"


def test_plus_addressing_gives_each_ticket_its_reply_address(smtp_server, email_ticket, agent, mailbox):
    mailbox.plus_addressing = True
    mailbox.save()
    reply = services.ticket_reply(ticket=email_ticket, author=agent, body="Hello")
    outbound.reply_send(message_id=reply.pk)
    reply_to = smtp_server.messages[0]["Reply-To"]
    token = reply_to.split("+", 1)[1].split("@")[0]
    assert reply_to.startswith("support+") and ids.ticket_id_from_reply_token(token) == email_ticket.pk


def test_a_refused_send_is_recorded_then_retried(smtp_server, email_ticket, agent):
    reply = services.ticket_reply(ticket=email_ticket, author=agent, body="Hello")
    smtp_server.refuse = True
    with pytest.raises(SMTPException):
        outbound.reply_send(message_id=reply.pk)
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.FAILED and "451" in reply.delivery_error
    assert reply.delivery_attempts == 1

    smtp_server.refuse = False
    assert outbound.reply_send(message_id=reply.pk) is True
    reply.refresh_from_db()
    assert (reply.delivery_status, reply.delivery_error, reply.delivery_attempts) == (DeliveryStatus.SENT, "", 2)
    assert len(smtp_server.messages) == 1


def test_notes_and_customer_messages_are_never_emailed(email_ticket, agent):
    note = services.ticket_add_note(ticket=email_ticket, author=agent, body="internal")
    assert outbound.reply_send(message_id=note.pk) is False
    first = email_ticket.messages.order_by("pk").first()
    assert first.kind == "customer" and outbound.reply_send(message_id=first.pk) is False


def test_acknowledgement_threads_and_comes_from_the_mailbox(smtp_server, email_ticket):
    assert outbound.acknowledgement_send(ticket_id=email_ticket.pk) is True
    email = smtp_server.messages[0]
    assert email["From"] == "Bean & Crumb <support@shop.example>"
    assert email["In-Reply-To"] == "<abc123@mail.customer.example>"
    assert email["Auto-Submitted"] == "auto-replied"
    assert ids.ticket_id_from_message_id(email["Message-ID"]) == email_ticket.pk


def test_acknowledgement_uses_the_queue_template(smtp_server, email_ticket, queue):
    queue.acknowledgement_subject = "Thanks {{ customer.first_name }}!"
    queue.acknowledgement_body = "We have {{ ticket.reference }}. <b>Soon</b>."
    queue.save()
    outbound.acknowledgement_send(ticket_id=email_ticket.pk)
    email = smtp_server.messages[0]
    assert email["Subject"] == f"Thanks Ann! [{email_ticket.reference}]"
    assert f"We have {email_ticket.reference}. <b>Soon</b>." in email.get_body(("plain",)).get_content()
    assert "&lt;b&gt;Soon&lt;/b&gt;" in email.get_body(("html",)).get_content()  # escaped in the HTML part


@pytest.mark.parametrize("reason", ["bouncing", "blocked", "too_many"])
def test_no_acknowledgement_to_bouncing_blocked_or_flooding_addresses(smtp_server, queue, customer, reason):
    if reason == "bouncing":
        customer.email_bouncing_at = timezone.now()
        customer.save()
    elif reason == "blocked":
        BlockedSender.objects.create(pattern="@" + customer.email.split("@")[1])
    else:
        for n in range(outbound.AUTOMATIC_PER_ADDRESS_PER_HOUR):
            done = services.ticket_create(customer=customer, subject=f"T{n}", body="x", channel="portal", queue=queue)
            Ticket.objects.filter(pk=done.pk).update(acknowledged_at=timezone.now() - timedelta(minutes=n))
    ticket = services.ticket_create(customer=customer, subject="Again", body="x", channel="portal", queue=queue)
    assert outbound.acknowledgement_send(ticket_id=ticket.pk) is False
    assert smtp_server.messages == []


def test_auto_replies_get_no_acknowledgement(queue, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.ticket_create(customer=customer, subject="Out of office", body="", channel="email", queue=queue,
                               email=EmailDetails(text="I am away.", automatic=True))  # fmt: skip
    assert callbacks == []


def test_cc_keeps_others_but_not_the_customer_or_our_mailboxes(email_ticket, mailbox):
    assert email_ticket.email_cc == ["partner@customer.example"]
    services.ticket_add_customer_message(
        ticket=email_ticket, body="", channel="email",
        email=EmailDetails(text="+1", cc=("Partner@Customer.example", "support+1.abc@shop.example", "boss@x.example")),
    )  # fmt: skip
    email_ticket.refresh_from_db()
    assert email_ticket.email_cc == ["partner@customer.example", "boss@x.example"]


def test_email_body_keeps_the_quote_collapsed(email_ticket):
    message = Message.objects.get(ticket=email_ticket)
    assert message.email_message_id == "abc123@mail.customer.example"
    assert "order 1042 is late" in message.body_html


def test_the_ticket_page_shows_how_each_reply_went(client, email_ticket, agent):
    sent = services.ticket_reply(ticket=email_ticket, author=agent, body="First")
    failed = services.ticket_reply(ticket=email_ticket, author=agent, body="Second")
    services.ticket_reply(ticket=email_ticket, author=agent, body="Third")
    Message.objects.filter(pk=sent.pk).update(delivery_status="sent")
    Message.objects.filter(pk=failed.pk).update(delivery_status="failed", delivery_error="550 mailbox unavailable")
    client.force_login(agent)

    page = client.get(f"/tickets/{email_ticket.pk}/").content.decode()

    assert "Emailed to ann@customer.example (copy to partner@customer.example)" in page
    assert "This reply could not be emailed to the customer." in page and "550 mailbox unavailable" in page
    assert f'action="/tickets/{email_ticket.pk}/messages/{failed.pk}/resend/"' in page
    assert "Sending by email…" in page  # the third is still queued
