"""A customer's personal data: all of it as JSON (right of access), and its erasure (right to be forgotten).

Where a customer's personal data lives (kept in step with ``customer_merge``, which moves the same rows):
the ``Customer`` row and its other addresses, notes, preferences and events (``customers``); their tickets'
subjects, Cc addresses, search vectors, messages (text, HTML, delivery errors) and attachments (rows and
stored files); messages they wrote on other customers' tickets (copied in); the raw inbound emails of all
these, and those they sent; survey comments (``tickets``). Nothing in ``knowledge_base`` (a deflection's
visitor is a hash of a session key) and nothing in ``reports``.
"""

import re

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from helpdesk.audit import audit_record

from .models import Customer, CustomerEmail, CustomerEvent, CustomerNote, CustomerPreference, CustomField

EXPORT_FORMAT = "helpdesk.customer"
EXPORT_VERSION = 1
ERASED = "[erased]"
ERASED_HTML = "<p>[erased]</p>"
ERASED_DOMAIN = "erased.invalid"  # .invalid never resolves (RFC 2606): nothing is ever delivered to it


def erased_email(customer_id: int) -> str:
    """The placeholder address of an erased customer: unique (the id), never deliverable."""
    return f"erased-{customer_id}@{ERASED_DOMAIN}"


def is_erased(customer: Customer) -> bool:
    return re.fullmatch(rf"erased-\d+@{re.escape(ERASED_DOMAIN)}", customer.email) is not None


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


# --- export ----------------------------------------------------------------------------------------


@transaction.atomic
def customer_export(*, customer: Customer, actor) -> dict:
    """Everything the help desk holds about ``customer``, as JSON-serializable data (dates as ISO 8601).

    Included: the record (profile, tags, custom fields by key with their names, organization), other
    addresses, agents' notes about them, preferences, the history of the record (events, without who
    made each change), their tickets with every message they saw or wrote (their own messages, agents'
    public replies and system messages such as acknowledgements; text and HTML) and the attachments of
    those (name, size, content type; not the files), messages they wrote on other customers' tickets, and
    their survey answers.

    Left out on purpose: internal notes on their tickets (agents' working notes, never shown to the
    customer; ask a lawyer before handing them out), ticket tags and audit rows (internal workflow), who
    among the staff wrote notes or changed the record, and the raw inbound emails (the messages hold their
    content). Writes an ``exported`` event and a ``customer.export`` audit entry.
    """
    from tickets.models import Attachment, Message, Ticket
    from tickets.surveys.models import Survey

    customer = Customer.objects.select_related("organization").get(pk=customer.pk)
    names = dict(CustomField.objects.values_list("key", "name"))
    tickets = list(Ticket.objects.filter(customer=customer).select_related("queue", "merged_into")
                   .defer("search_vector", "merged_into__search_vector").order_by("created_at", "pk"))  # fmt: skip
    ticket_ids = {ticket.pk for ticket in tickets}
    messages = list(
        Message.objects.filter(Q(ticket__customer=customer) | Q(author_customer=customer), kind__in=Message.PUBLIC_KINDS)
        .select_related("author_user", "ticket")
        .defer("ticket__search_vector")
        .order_by("created_at", "pk")
    )  # fmt: skip
    attachments: dict[int, list[dict]] = {}
    for attachment in Attachment.objects.filter(message__in=[m.pk for m in messages]).order_by("pk"):
        attachments.setdefault(attachment.message_id, []).append(
            {
                "filename": attachment.filename,
                "size": attachment.size,
                "content_type": attachment.content_type,
                "created_at": _iso(attachment.created_at),
            }
        )
    by_ticket: dict[int, list[dict]] = {}
    elsewhere = []
    for message in messages:
        data = _message_data(message, customer, attachments.get(message.pk, []))
        if message.ticket_id in ticket_ids:
            by_ticket.setdefault(message.ticket_id, []).append(data)
        else:
            elsewhere.append({"ticket": message.ticket.reference, **data})

    data = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _iso(timezone.now()),
        "customer": {
            "id": customer.pk,
            "email": customer.email,
            "name": customer.name,
            "phone": customer.phone,
            "language": customer.language,
            "time_zone": customer.time_zone,
            "organization": customer.organization.name if customer.organization else None,
            "tags": list(customer.tags),
            "created_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
            "email_bouncing_since": _iso(customer.email_bouncing_at),
            "last_signed_in_to_portal": _iso(customer.portal_signed_in_at),
        },
        "custom_fields": [
            {"key": key, "name": names.get(key, key), "value": value}
            for key, value in sorted(customer.custom_fields.items())
        ],
        "other_emails": [
            {"email": other.email, "added_at": _iso(other.created_at)}
            for other in CustomerEmail.objects.filter(customer=customer).order_by("email")
        ],
        "notes": [
            {
                "note": note.body,
                "pinned": note.pinned,
                "created_at": _iso(note.created_at),
                "updated_at": _iso(note.updated_at),
            }
            for note in CustomerNote.objects.filter(customer=customer).order_by("created_at", "pk")
        ],
        "preferences": [
            {"preference": preference.key, "value": preference.value, "updated_at": _iso(preference.updated_at)}
            for preference in CustomerPreference.objects.filter(customer=customer).order_by("key", "pk")
        ],
        "tickets": [
            {
                "reference": ticket.reference,
                "subject": ticket.subject,
                "status": ticket.status,
                "priority": ticket.priority,
                "channel": ticket.channel,
                "queue": ticket.queue.name,
                "copied_in": list(ticket.email_cc or []),
                "created_at": _iso(ticket.created_at),
                "updated_at": _iso(ticket.updated_at),
                "resolved_at": _iso(ticket.resolved_at),
                "closed_at": _iso(ticket.closed_at),
                "merged_into": ticket.merged_into.reference if ticket.merged_into else None,
                "messages": by_ticket.get(ticket.pk, []),
            }
            for ticket in tickets
        ],
        "messages_on_other_tickets": elsewhere,
        "surveys": [
            {
                "ticket": survey.ticket.reference,
                "kind": survey.kind,
                "score": survey.score,
                "comment": survey.comment,
                "sent_at": _iso(survey.sent_at),
                "answered_at": _iso(survey.answered_at),
            }
            for survey in Survey.objects.filter(customer=customer)
            .select_related("ticket")
            .defer("ticket__search_vector")
            .order_by("sent_at", "pk")
        ],
        "history": [
            {
                "kind": event.kind,
                "field": event.field,
                "old_value": event.old_value,
                "new_value": event.new_value,
                "at": _iso(event.created_at),
            }
            for event in CustomerEvent.objects.filter(customer=customer).order_by("created_at", "pk")
        ],
    }
    CustomerEvent.objects.create(customer=customer, actor=actor, kind=CustomerEvent.Kind.EXPORTED)
    audit_record(actor=actor, action="customer.export", target=f"customer {customer.pk}", customer_id=customer.pk,
                 tickets=len(tickets), messages=len(messages))  # fmt: skip
    return data


def _message_data(message, customer: Customer, attachments: list[dict]) -> dict:
    from tickets.models import Message

    if message.kind == Message.Kind.CUSTOMER:
        # Someone else copied in on the ticket stays unnamed: their identity is their own personal data.
        by = "you" if message.author_customer_id in (None, customer.pk) else "someone copied in"
    elif message.kind == Message.Kind.REPLY:
        by = message.author_user.get_short_name() if message.author_user else "agent"
    else:
        by = "system"
    return {"kind": message.kind, "by": by, "channel": message.channel, "at": _iso(message.created_at),
            "text": message.body_text, "html": message.body_html, "attachments": attachments}  # fmt: skip


# --- erasure ---------------------------------------------------------------------------------------


@transaction.atomic
def customer_erase(*, customer: Customer, actor) -> Customer:
    """Anonymize ``customer`` for good, keeping what the statistics of METRICS.md count. Idempotent.

    Cleared: name, phone, tags, custom fields; the primary address becomes ``erased-<id>@erased.invalid``;
    other addresses, notes and preferences are deleted; the values in the record's history are blanked.
    On their tickets: subjects and every message's text and HTML (internal notes and agents' replies too:
    they quote and name the customer) become "[erased]", delivery errors (they carry the address) and Cc
    lists are cleared, search vectors are dropped, and every attachment is deleted, rows at once and files
    once the transaction commits. The same for messages they wrote on other customers' tickets. Raw inbound
    emails of those tickets and messages, and from any of their addresses, are blanked (bytes, sender,
    subject, errors); their Message-ID and digest stay, so the same email fetched again is recognised as
    already stored rather than imported anew. Survey comments are cleared.

    Kept: the ticket rows (status, priority, channel, queue, every timestamp and count), ticket events,
    survey scores and times, the customer's organization (metrics are cut by it), language and time zone,
    and the customer's id. ``email_bouncing_at`` is set, so nothing automatic is sent to the placeholder,
    and ``portal_signed_in_at`` too, which voids any portal sign-in link already sent.
    """
    from tickets.mail.models import InboundEmail
    from tickets.models import Attachment, Message, Ticket
    from tickets.services import ticket_search_refresh
    from tickets.surveys.models import Survey

    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    addresses = [customer.email.lower()]
    addresses += [
        email.lower() for email in CustomerEmail.objects.filter(customer=customer).values_list("email", flat=True)
    ]

    # Lock the tickets (a reply arriving now waits, then lands on the erased ticket).
    ticket_ids = list(
        Ticket.objects.select_for_update().filter(customer=customer).order_by("pk").values_list("pk", flat=True)
    )
    messages = Message.objects.filter(Q(ticket_id__in=ticket_ids) | Q(author_customer=customer))
    rows = list(messages.values_list("pk", "ticket_id"))
    message_ids = [pk for pk, _ticket_id in rows]
    # Tickets of others the customer wrote on (copied in): their search vectors hold the customer's words.
    others = sorted({ticket_id for _pk, ticket_id in rows} - set(ticket_ids))

    attachments = Attachment.objects.filter(message_id__in=message_ids)
    files = [name for name in attachments.values_list("file", flat=True) if name]
    attachments.delete()
    storage = Attachment._meta.get_field("file").storage
    transaction.on_commit(lambda: _delete_files(storage, files))

    Message.objects.filter(pk__in=message_ids).update(body_text=ERASED, body_html=ERASED_HTML, delivery_error="")
    Ticket.objects.filter(pk__in=ticket_ids).update(subject=ERASED, email_cc=None, search_vector=None)
    for ticket_id in others:
        ticket_search_refresh(ticket_id=ticket_id)
    InboundEmail.objects.alias(sender_lower=Lower("sender")).filter(
        Q(ticket_id__in=ticket_ids) | Q(message_id__in=message_ids) | Q(sender_lower__in=addresses)
    ).update(raw=b"", sender="", subject="", error="", defects="")
    Survey.objects.filter(customer=customer).exclude(comment="").update(comment="")

    CustomerEmail.objects.filter(customer=customer).delete()
    CustomerNote.objects.filter(customer=customer).delete()
    CustomerPreference.objects.filter(customer=customer).delete()
    CustomerEvent.objects.filter(customer=customer).update(old_value="", new_value="")

    now = timezone.now()
    customer.email = erased_email(customer.pk)
    customer.name = customer.phone = ""
    customer.tags, customer.custom_fields = [], {}
    customer.email_bouncing_at = customer.email_bouncing_at or now
    customer.portal_signed_in_at = now
    customer.save()
    CustomerEvent.objects.create(customer=customer, actor=actor, kind=CustomerEvent.Kind.ERASED, created_at=now)
    audit_record(actor=actor, action="customer.erase", target=f"customer {customer.pk}", customer_id=customer.pk,
                 tickets=len(ticket_ids), messages=len(message_ids), files=len(files))  # fmt: skip
    return customer


def _delete_files(storage, names: list[str]) -> None:
    for name in names:
        storage.delete(name)  # no error when a file is gone already
