"""A customer's personal data: the JSON export (what is in it, what is not) and erasure (nothing personal
left in the rows of their tickets, messages, attachments, raw emails; the statistics unchanged; files gone).
Both routes are for owners and admins."""

import json

import pytest
from django.contrib.postgres.search import SearchQuery
from django.core import serializers
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer, CustomerEmail, CustomerEvent, CustomerNote, CustomerPreference, CustomField
from customers.privacy import customer_erase, customer_export, erased_email, is_erased
from helpdesk.audit import AuditEntry
from tickets import services
from tickets.mail.inbound import inbound_process, inbound_store
from tickets.mail.models import InboundEmail, Mailbox
from tickets.models import Attachment, Message, Ticket, TicketEvent
from tickets.surveys.models import Survey

from .mail_factory import raw_email

ROLES = ["anonymous", "other_agent", "agent", "admin_user", "owner"]

# Every one of these is in the customer's data before erasure, and none anywhere after it.
PERSONAL = ["Ann Smith", "ann@customer", "ann.smith@home", "Elm Street", "Springfield", "555 0199", "carol@friends",
            "passport", "oat latte", "L-77", "loved it", "Order 1042"]  # fmt: skip


@pytest.fixture
def mailbox(queue):
    return Mailbox.objects.create(name="Shop", email_address="support@shop.example", queue=queue)


@pytest.fixture
def history(customer, other_customer, agent, mailbox, make_ticket, django_capture_on_commit_callbacks):
    """Ann's full story: a ticket by email (with an attachment and a Cc), a reply and an internal note with
    files, a system message, a failed delivery, a survey answer; her record's notes, preferences, other
    address, custom field and history; a raw email from her other address; her message on Bob's ticket."""
    customer.phone, customer.tags, customer.custom_fields = "+1 555 0199", ["vip"], {"loyalty": "L-77"}
    customer.save()
    CustomField.objects.create(name="Loyalty number", key="loyalty")
    CustomerEmail.objects.create(customer=customer, email="ann.smith@home.example")
    CustomerNote.objects.create(customer=customer, author=agent, body="Ann lives on Elm Street.", pinned=True)
    CustomerPreference.objects.create(customer=customer, key="Drink", value="oat latte")
    CustomerEvent.objects.create(customer=customer, actor=agent, kind="changed", field="phone", new_value="+1 555 0199")

    with django_capture_on_commit_callbacks(execute=False):
        raw = raw_email(subject="Order 1042 lost in Springfield", text="My address is 12 Elm Street, Springfield.",
                        cc="Carol <carol@friends.example>",
                        attachments=[("passport.pdf", b"%PDF Ann Smith passport", "application/pdf")])  # fmt: skip
        inbound, _new = inbound_store(raw=raw, source=InboundEmail.Source.PIPE)
        ticket = inbound_process(inbound_id=inbound.pk).ticket
        services.ticket_add_system_message(ticket=ticket, body="We got your request, Ann Smith.")
        reply = services.ticket_reply(ticket=ticket, author=agent, body="Dear Ann Smith, order 1042 is on Elm Street.",
                                      attachments=[SimpleUploadedFile("label.png", b"\x89PNG Elm Street",
                                                                      content_type="image/png")])  # fmt: skip
        services.ticket_add_note(ticket=ticket, author=agent, body="Ann Smith called from +1 555 0199.",
                                 attachments=[SimpleUploadedFile("call.txt", b"Springfield call notes")])  # fmt: skip
        Message.objects.filter(pk=reply.pk).update(delivery_status="failed",
                                                   delivery_error="550 ann@customer.example: no such user")  # fmt: skip
        services.ticket_set_status(ticket=ticket, status="solved", actor=agent)
        Survey.objects.create(ticket=ticket, customer=customer, kind="csat", score=5, comment="Ann loved it.",
                              answered_at=timezone.now())  # fmt: skip
        Survey.objects.create(ticket=ticket, customer=customer, kind="nps")  # sent, not answered
        second = make_ticket(customer=customer, subject="Order 1042 again", body="Still in Springfield.")
        # A raw email from her other address that became nothing (no ticket), and one from someone else.
        InboundEmail.objects.create(source="pipe", raw=b"From: Ann.Smith@home.example\r\n\r\nElm Street", size=40,
                                    sha256="0" * 64, sender="Ann.Smith@home.example", subject="Springfield",
                                    outcome="ignored", status="done")  # fmt: skip
        stranger = InboundEmail.objects.create(source="pipe", raw=b"From: x@y.example\r\n\r\nHi", size=20,
                                               sha256="1" * 64, sender="x@y.example", subject="Hi")  # fmt: skip
        # Copied in on Bob's ticket, she wrote on it too.
        bobs = make_ticket(customer=other_customer, subject="Bob's parcel", body="Where is my parcel?")
        services.ticket_add_customer_message(ticket=bobs, body="Ann here: Elm Street too.", channel="email",
                                             customer=customer)  # fmt: skip
    return {"ticket": ticket, "second": second, "bobs": bobs, "stranger": stranger}


# --- export -----------------------------------------------------------------------------------------


def test_the_export_holds_everything_about_the_customer(history, customer, admin_user):
    data = customer_export(customer=customer, actor=admin_user)

    assert json.loads(json.dumps(data)) == data  # plain JSON, no datetimes or models
    assert data["customer"] | {"created_at": None, "updated_at": None} == {
        "id": customer.pk, "email": "ann@customer.example", "name": "Ann Smith", "phone": "+1 555 0199",
        "language": "", "time_zone": "", "organization": None, "tags": ["vip"], "created_at": None,
        "updated_at": None, "email_bouncing_since": None, "last_signed_in_to_portal": None}  # fmt: skip
    assert data["custom_fields"] == [{"key": "loyalty", "name": "Loyalty number", "value": "L-77"}]
    assert [e["email"] for e in data["other_emails"]] == ["ann.smith@home.example"]
    assert [n["note"] for n in data["notes"]] == ["Ann lives on Elm Street."]
    assert [(p["preference"], p["value"]) for p in data["preferences"]] == [("Drink", "oat latte")]
    assert [(h["kind"], h["field"], h["new_value"]) for h in data["history"]] == [("changed", "phone", "+1 555 0199")]
    assert [(s["kind"], s["score"], s["comment"]) for s in data["surveys"]] == [
        ("csat", 5, "Ann loved it."), ("nps", None, "")]  # fmt: skip

    first, second = data["tickets"]
    assert (first["reference"], first["subject"], first["status"], first["copied_in"]) == (
        history["ticket"].reference, "Order 1042 lost in Springfield", "solved", ["carol@friends.example"])  # fmt: skip
    assert [(m["kind"], m["by"]) for m in first["messages"]] == [("customer", "you"), ("system", "system"),
                                                                 ("reply", agent_name(history))]  # fmt: skip
    assert "12 Elm Street" in first["messages"][0]["text"]
    assert first["messages"][0]["attachments"][0] | {"created_at": None} == {
        "filename": "passport.pdf", "size": 23, "content_type": "application/pdf", "created_at": None}  # fmt: skip
    assert [a["filename"] for a in first["messages"][2]["attachments"]] == ["label.png"]
    assert second["subject"] == "Order 1042 again" and len(second["messages"]) == 1
    # Her message on Bob's ticket, without anything else of Bob's.
    assert data["messages_on_other_tickets"] == [
        {"ticket": history["bobs"].reference, **data["messages_on_other_tickets"][0]}]  # fmt: skip
    assert data["messages_on_other_tickets"][0]["text"] == "Ann here: Elm Street too."
    assert "Bob" not in json.dumps(data) and "parcel" not in json.dumps(data)


def agent_name(history) -> str:
    return history["ticket"].messages.get(kind="reply").author_user.get_short_name()


def test_the_export_leaves_out_internal_notes_and_their_files(history, customer, admin_user):
    data = customer_export(customer=customer, actor=admin_user)
    kinds = {message["kind"] for ticket in data["tickets"] for message in ticket["messages"]}
    assert kinds == {"customer", "reply", "system"}
    text = json.dumps(data)
    assert "called from" not in text and "call.txt" not in text


def test_the_export_is_recorded(history, customer, admin_user):
    customer_export(customer=customer, actor=admin_user)
    event = customer.events.get(kind="exported")
    assert event.actor == admin_user
    entry = AuditEntry.objects.get(action="customer.export")
    assert (entry.actor, entry.target, entry.details["customer_id"]) == (admin_user, f"customer {customer.pk}",
                                                                         customer.pk)  # fmt: skip


def test_the_export_takes_a_fixed_number_of_queries(history, customer, admin_user, django_assert_num_queries):
    # savepoint; customer with organization; custom field names; tickets; messages; attachments;
    # other addresses; notes; preferences; surveys; history; the exported event; the audit entry; release.
    with django_assert_num_queries(14):
        customer_export(customer=customer, actor=admin_user)


# --- erasure ----------------------------------------------------------------------------------------


def _rows_of(history, customer) -> str:
    """Every database row of the customer, their tickets, messages, attachments, events, surveys and raw
    emails, as JSON (raw bytes checked apart: JSON shows them in base64)."""
    tickets = Ticket.objects.filter(customer=customer).defer("search_vector")
    messages = Message.objects.filter(ticket__in=tickets) | Message.objects.filter(author_customer=customer)
    inbound = InboundEmail.objects.exclude(pk=history["stranger"].pk)
    rows = [*Customer.objects.filter(pk=customer.pk), *tickets, *messages,
            *Attachment.objects.filter(message__in=messages), *TicketEvent.objects.filter(ticket__in=tickets),
            *Survey.objects.filter(customer=customer), *CustomerEvent.objects.filter(customer=customer),
            *CustomerEmail.objects.filter(customer=customer), *CustomerNote.objects.filter(customer=customer),
            *CustomerPreference.objects.filter(customer=customer), *inbound.defer("raw")]  # fmt: skip
    return serializers.serialize("json", rows) + "".join(bytes(row.raw).decode(errors="replace") for row in inbound)


def _statistics(customer):
    """What METRICS.md counts: tickets with their states and times, survey scores and times."""
    tickets = Ticket.objects.filter(customer=customer).order_by("pk").values_list(
        "pk", "status", "priority", "channel", "queue_id", "created_at", "updated_at", "first_response_at",
        "resolved_at", "closed_at", "message_count", "last_customer_message_at", "last_agent_reply_at")  # fmt: skip
    surveys = Survey.objects.order_by("pk").values_list("pk", "kind", "score", "sent_at", "answered_at")
    events = TicketEvent.objects.order_by("pk").values_list(
        "pk", "kind", "field", "old_value", "new_value", "created_at"
    )
    return list(tickets), list(surveys), list(events), Message.objects.count()


def test_the_set_up_holds_every_piece_of_personal_data(history, customer):
    """Guards the erasure tests below: what they find gone was there."""
    rows = _rows_of(history, customer)
    assert [text for text in PERSONAL if text not in rows] == []


def test_erasure_leaves_nothing_personal_in_the_rows(history, customer, admin_user):
    customer_erase(customer=customer, actor=admin_user)

    rows = _rows_of(history, customer)
    assert [text for text in PERSONAL if text in rows] == []
    customer.refresh_from_db()
    assert customer.email == erased_email(customer.pk) == f"erased-{customer.pk}@erased.invalid" and is_erased(customer)
    assert (customer.name, customer.phone, customer.tags, customer.custom_fields) == ("", "", [], {})
    assert not customer.other_emails.exists() and not customer.notes.exists() and not customer.preferences.exists()
    assert customer.email_bouncing_at is not None  # nothing automatic goes to the placeholder
    ticket = Ticket.objects.get(pk=history["ticket"].pk)
    assert (ticket.subject, ticket.email_cc, ticket.search_vector) == ("[erased]", None, None)
    assert set(ticket.messages.values_list("body_text", flat=True)) == {"[erased]"}
    assert not Attachment.objects.filter(message__ticket=ticket).exists()
    assert bytes(InboundEmail.objects.get(ticket=ticket).raw) == b""
    assert InboundEmail.objects.get(ticket=ticket).header_message_id  # still recognised if fetched again
    stranger = InboundEmail.objects.get(pk=history["stranger"].pk)
    assert (bytes(stranger.raw), stranger.sender) == (b"From: x@y.example\r\n\r\nHi", "x@y.example")  # untouched


def test_erasure_keeps_the_statistics(history, customer, admin_user):
    before = _statistics(customer)
    customer_erase(customer=customer, actor=admin_user)
    assert _statistics(customer) == before
    assert Survey.objects.get(kind="csat").comment == ""


def test_her_message_on_someone_elses_ticket_is_erased_and_unsearchable(history, customer, admin_user):
    bobs = history["bobs"]
    springfield = Ticket.objects.filter(pk=bobs.pk, search_vector=SearchQuery("elm", config="helpdesk"))
    assert springfield.exists()

    customer_erase(customer=customer, actor=admin_user)

    assert not springfield.exists()
    bobs.refresh_from_db()
    assert bobs.subject == "Bob's parcel"  # Bob's own data stays
    assert list(bobs.messages.values_list("body_text", flat=True)) == ["Where is my parcel?", "[erased]"]
    assert Ticket.objects.filter(pk=bobs.pk, search_vector=SearchQuery("parcel", config="helpdesk")).exists()


def test_attachment_files_are_deleted_once_the_erasure_commits(history, customer, admin_user,
                                                               django_capture_on_commit_callbacks):  # fmt: skip
    names = list(Attachment.objects.values_list("file", flat=True))
    assert len(names) == 3 and all(default_storage.exists(name) for name in names)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        customer_erase(customer=customer, actor=admin_user)
    assert all(default_storage.exists(name) for name in names)  # a rollback would still find them
    for callback in callbacks:
        callback()

    assert not any(default_storage.exists(name) for name in names)
    assert not Attachment.objects.exists()


def test_erasure_is_recorded_without_personal_data(history, customer, admin_user):
    customer_erase(customer=customer, actor=admin_user)
    assert customer.events.filter(kind="erased", actor=admin_user).exists()
    assert set(customer.events.values_list("old_value", "new_value")) == {("", "")}
    entry = AuditEntry.objects.get(action="customer.erase")
    assert entry.details == {"customer_id": customer.pk, "tickets": 2, "messages": 6, "files": 3}


def test_erasing_twice_is_fine(history, customer, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        customer_erase(customer=customer, actor=admin_user)
    first = _statistics(customer)
    with django_capture_on_commit_callbacks(execute=True):
        customer_erase(customer=customer, actor=admin_user)
    customer.refresh_from_db()
    assert is_erased(customer) and customer.email == erased_email(customer.pk)
    assert customer.events.filter(kind="erased").count() == 2
    assert [text for text in PERSONAL if text in _rows_of(history, customer)] == []
    assert _statistics(customer) == first


def test_erasure_takes_a_fixed_number_of_queries(history, customer, admin_user, django_assert_num_queries):
    # savepoint; lock the customer; other addresses; lock the tickets; messages; attachment files; delete
    # attachments; messages; tickets; Bob's ticket's search vector (one per such ticket); raw emails;
    # surveys; delete addresses, notes, preferences; blank the history; save; erased event; audit entry;
    # release.
    with django_assert_num_queries(20):
        customer_erase(customer=customer, actor=admin_user)


# --- the routes -------------------------------------------------------------------------------------


@pytest.fixture
def anns_ticket(make_ticket, customer):
    """Ann has a ticket in the agent's team's queue: the agent sees her, the other team's agent does not."""
    return make_ticket(customer=customer)


@pytest.mark.parametrize("role", ROLES)
def test_export_route_by_role(as_role, anns_ticket, customer, role):
    client = as_role(role)
    url = reverse("customers:export", args=[customer.pk])

    response = client.post(url)

    expected = {"anonymous": 302, "other_agent": 404, "agent": 403, "admin_user": 200, "owner": 200}[role]
    assert response.status_code == expected
    if role == "anonymous":
        assert response.url.startswith(reverse("login"))
    if expected == 200:
        assert response["Content-Disposition"] == f'attachment; filename="customer-{customer.pk}.json"'
        assert response["Content-Type"] == "application/json"
        assert "no-store" in response["Cache-Control"]
        data = json.loads(response.content)
        assert data["customer"]["email"] == "ann@customer.example"
        assert data["tickets"][0]["reference"] == anns_ticket.reference
    assert customer.events.filter(kind="exported").exists() == (expected == 200)


def test_export_is_post_only(as_role, anns_ticket, customer):
    response = as_role("admin_user").get(reverse("customers:export", args=[customer.pk]))
    assert response.status_code == 405 and not customer.events.exists()


@pytest.mark.parametrize("role", ROLES)
def test_erase_route_by_role(as_role, anns_ticket, customer, role):
    client = as_role(role)
    url = reverse("customers:erase", args=[customer.pk])

    page = client.get(url)
    response = client.post(url, {"confirm": "ANN@customer.example "})

    expected = {"anonymous": 302, "other_agent": 404, "agent": 403, "admin_user": 200, "owner": 200}[role]
    assert page.status_code == expected
    customer.refresh_from_db()
    if role == "anonymous":
        assert page.url.startswith(reverse("login")) and response.url.startswith(reverse("login"))
    if expected == 200:
        assert 'name="confirm"' in page.content.decode()
        assert response.status_code == 302 and response.url == reverse("customers:detail", args=[customer.pk])
        assert is_erased(customer)
    else:
        assert response.status_code == expected and customer.email == "ann@customer.example"


def test_erasing_needs_the_address_typed(as_role, anns_ticket, customer):
    response = as_role("admin_user").post(reverse("customers:erase", args=[customer.pk]), {"confirm": "ann@"})
    assert response.status_code == 400 and "form-error" in response.content.decode()
    customer.refresh_from_db()
    assert customer.email == "ann@customer.example" and not AuditEntry.objects.exists()
