"""The whole email loop with the real parts: customers' emails go in through the mail server pipe, a real
Celery worker processes them and sends the acknowledgements and the agent's replies to a real SMTP server,
and the customers' answers to those replies come back to the same tickets."""

import io
import sys

import pytest
from django.core.management import call_command

from tickets import services
from tickets.mail.models import InboundEmail, Mailbox
from tickets.models import Message, Ticket

from .live_services import wait_for
from .mail_factory import raw_email

pytestmark = pytest.mark.celery_worker


def pipe(monkeypatch, raw: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    call_command("ingest_email", stdout=io.StringIO())


def sent_to(smtp_server, address: str, subject_part: str):
    return [m for m in smtp_server.messages if m["To"] == address and subject_part in m["Subject"]]


def test_three_customers_interleaved_round_trip(celery_worker, smtp_server, monkeypatch, queue, agent):
    Mailbox.objects.create(name="Shop", email_address="support@shop.example", queue=queue)
    people = [("ann@customer.example", "Ann"), ("bob@customer.example", "Bob"), ("cy@customer.example", "Cy")]

    for address, name in people:
        pipe(monkeypatch, raw_email(sender=f"{name} <{address}>", subject=f"{name}'s parcel",
                                    text=f"Hello, this is {name}."))  # fmt: skip
    tickets = {}
    for address, _name in people:
        ticket = wait_for(lambda a=address: Ticket.objects.filter(customer__email=a).first())
        tickets[address] = ticket
        wait_for(lambda a=address, t=ticket: sent_to(smtp_server, a, f"[{t.reference}]"))  # the acknowledgement

    # The agent answers in the reverse order; the worker emails each reply.
    for address, _name in reversed(people):
        services.ticket_reply(ticket=tickets[address], author=agent, body=f"Dear {address}, we are on it.")
    replies = {}
    for address, _name in people:
        ref = tickets[address].reference
        replies[address] = wait_for(lambda a=address, r=ref: [m for m in sent_to(smtp_server, a, "Re: ")
                                                               if r in m["Subject"]])[0]  # fmt: skip
        assert f"Dear {address}" in replies[address].get_body(("plain",)).get_content()

    # Each customer answers the reply with their mail client: In-Reply-To and References, a changed subject.
    for address, name in [people[1], people[0], people[2]]:
        reply = replies[address]
        pipe(monkeypatch, raw_email(sender=f"{name} <{address}>", subject="thanks!", text=f"{name} says thanks",
                                    in_reply_to=reply["Message-ID"], references=reply["Message-ID"]))  # fmt: skip

    wait_for(lambda: InboundEmail.objects.filter(status="done").count() == 6)
    assert Ticket.objects.count() == 3
    for address, name in people:
        texts = list(Message.objects.filter(ticket=tickets[address]).order_by("pk").values_list("body_text", "kind"))
        assert texts == [(f"Hello, this is {name}.", "customer"), (f"Dear {address}, we are on it.", "reply"),
                         (f"{name} says thanks", "customer")]  # fmt: skip
    assert all(m.delivery_status == "sent" for m in Message.objects.filter(kind="reply"))
