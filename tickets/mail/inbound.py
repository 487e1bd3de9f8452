"""Inbound email: store the exact bytes first, then parse and put the message on the right ticket.

``inbound_store`` is what every way in calls (IMAP, the mail server pipe, HTTP, file import). It only
writes the raw message and schedules ``inbound_process``; if Redis or the worker is down, the message
waits in the table and the beat task ``process_waiting_inbound_task`` picks it up. Processing is
idempotent: a message already processed is left alone, and the same message stored twice (same
Message-ID and mailbox, or the same bytes) is one row.
"""

import logging
import re
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32

from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from customers.services import customer_get_or_create

from ..models import Message, Queue, Ticket
from ..services import EmailDetails, ticket_add_customer_message, ticket_add_note, ticket_create
from .ids import SUBJECT_REFERENCE, ticket_id_from_message_id, ticket_id_from_reply_token
from .models import BlockedSender, InboundEmail, Mailbox, without_plus
from .parse import ParsedEmail, parse_email

logger = logging.getLogger(__name__)

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")


# --- store -------------------------------------------------------------------------------------


def _peek(raw: bytes) -> tuple[str, str, str, list[str]]:
    """(Message-ID, From, Subject, recipient addresses) read cheaply from the headers, never raising."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    except Exception:
        return "", "", "", []
    found = _MESSAGE_ID.search(str(headers.get("Message-ID", "")))
    recipients = []
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc"):
        for value in headers.get_all(name, []):
            recipients += re.findall(r"[\w.+'-]+@[\w.-]+", str(value))
    return (found.group(1) if found else "", str(headers.get("From", ""))[:255],
            str(headers.get("Subject", ""))[:255], recipients)  # fmt: skip


def mailbox_for(addresses: list[str]) -> Mailbox | None:
    """The active mailbox one of these addresses was sent to (support+anything@ counts as support@)."""
    wanted = {without_plus(address) for address in addresses}
    if not wanted:
        return None
    query = Q()
    for address in wanted:
        query |= Q(email_address__iexact=address)
    return Mailbox.objects.filter(query, is_active=True).order_by("pk").first()


def inbound_store(*, raw: bytes, source: str, mailbox: Mailbox | None = None) -> tuple[InboundEmail, bool]:
    """Keep one inbound message; returns (its row, whether it is new). Processing is scheduled on commit."""
    message_id, sender, subject, recipients = _peek(raw)
    if mailbox is None:
        mailbox = mailbox_for(recipients)
    row = InboundEmail(mailbox=mailbox, source=source, raw=raw, size=len(raw), sha256=InboundEmail.digest(raw),
                       header_message_id=message_id, sender=sender, subject=subject)  # fmt: skip
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        existing = InboundEmail.objects.filter(mailbox=mailbox)
        existing = (existing.filter(header_message_id=message_id) if message_id
                    else existing.filter(header_message_id="", sha256=row.sha256))  # fmt: skip
        return existing.get(), False
    transaction.on_commit(lambda: _schedule(row.pk), robust=True)
    return row, True


def _schedule(inbound_id: int) -> None:
    from ..tasks import process_inbound_task

    try:
        process_inbound_task.delay(inbound_id)
    except Exception:
        logger.warning("Could not queue inbound email %s; it waits for the next sweep.", inbound_id, exc_info=True)


# --- process -----------------------------------------------------------------------------------


def inbound_process(*, inbound_id: int) -> InboundEmail:
    """Parse one stored message and put it where it belongs. A failure is recorded on the row (status
    failed, the error), never raised: the message stays for an admin to look at and process again."""
    with transaction.atomic():
        # The raw message is already stored for good; if this transaction were lost in a crash, the row
        # would still say "pending" and the sweep would process it again. So its commit need not wait
        # for the disk (one fsync less per message).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")
        inbound = (
            InboundEmail.objects.select_for_update(of=("self",)).select_related("mailbox__queue").get(pk=inbound_id)
        )
        if inbound.status == InboundEmail.Status.DONE:
            return inbound
        inbound.attempts += 1
        try:
            with transaction.atomic():  # a failure undoes the half-made ticket, not the row's bookkeeping
                parsed = parse_email(bytes(inbound.raw))
                _route(inbound, parsed)
        except Exception as error:
            logger.warning("Inbound email %s failed: %s", inbound.pk, error, exc_info=True)
            inbound.status = InboundEmail.Status.FAILED
            inbound.error = f"{type(error).__name__}: {error}"[:5000]
        else:
            inbound.status = InboundEmail.Status.DONE
            inbound.error = ""
        inbound.processed_at = timezone.now()
        inbound.save(update_fields=PROCESSING_FIELDS)  # never the raw bytes again
    return inbound


PROCESSING_FIELDS = ["sender", "subject", "status", "outcome", "error", "defects", "attempts", "processed_at",
                     "ticket", "message"]  # fmt: skip


def inbound_reprocess(*, inbound: InboundEmail) -> InboundEmail:
    """An admin's "process again" for a failed message."""
    if inbound.status == InboundEmail.Status.FAILED:
        InboundEmail.objects.filter(pk=inbound.pk).update(status=InboundEmail.Status.PENDING)
    return inbound_process(inbound_id=inbound.pk)


def _route(inbound: InboundEmail, parsed: ParsedEmail) -> None:
    sender = (parsed.sender.email or next((a.email for a in parsed.reply_to if a.email), "")).strip()
    inbound.sender = sender[:255]
    inbound.subject = parsed.subject[:255]
    inbound.defects = "\n".join(parsed.defects)[:5000]
    if not sender:
        raise ValueError(_("The message has no sender address (From)."))
    if BlockedSender.blocks(sender):
        inbound.outcome = InboundEmail.Outcome.BLOCKED
        return
    if parsed.bounce is not None:
        _record_bounce(inbound, parsed)
        return
    customer = customer_get_or_create(email=sender, name=parsed.sender.name)
    email = EmailDetails(
        message_id=parsed.message_id, html=parsed.html, text=parsed.text,
        cc=tuple(a.email for a in (*parsed.to, *parsed.cc) if a.email),
        automatic=parsed.auto_submitted or parsed.bulk,
    )  # fmt: skip
    attachments = [_upload(attachment) for attachment in parsed.attachments]
    ticket = find_ticket(parsed, mailbox=inbound.mailbox, customer=customer)
    if ticket is not None:
        landed, message = ticket_add_customer_message(ticket=ticket, customer=customer, body="",
                                                      channel=Ticket.Channel.EMAIL, attachments=attachments,
                                                      email=email)  # fmt: skip
        inbound.outcome = InboundEmail.Outcome.REPLY if landed.pk == ticket.pk else InboundEmail.Outcome.FOLLOW_UP
    else:
        landed = ticket_create(customer=customer, subject=parsed.subject, body="", channel=Ticket.Channel.EMAIL,
                               queue=_queue_for(inbound.mailbox), attachments=attachments, email=email)  # fmt: skip
        message = landed.first_message
        inbound.outcome = InboundEmail.Outcome.NEW_TICKET
    _link_inline_images(message, parsed)
    inbound.ticket, inbound.message = landed, message


def _upload(attachment) -> ContentFile:
    upload = ContentFile(attachment.content, name=attachment.filename)
    upload.content_type = attachment.content_type
    return upload


def _queue_for(mailbox: Mailbox | None) -> Queue:
    if mailbox is not None:
        return mailbox.queue
    queue = Queue.objects.order_by("pk").first()  # mail that matched no mailbox still becomes a ticket
    if queue is None:
        raise ValueError(_("There is no queue to put the ticket in; create one in the admin."))
    return queue


def _link_inline_images(message: Message, parsed: ParsedEmail) -> None:
    """Point the HTML's cid: images at the stored attachments (permission-checked downloads)."""
    if "cid:" not in message.body_html:
        return
    html = message.body_html
    stored = list(message.attachments.order_by("pk"))
    for attachment, part in zip(stored, parsed.attachments, strict=False):
        if part.content_id:
            url = reverse("tickets:attachment", args=[attachment.pk])
            html = html.replace(f'src="cid:{part.content_id}"', f'src="{url}"')
    if html != message.body_html:
        message.body_html = html
        Message.objects.filter(pk=message.pk).update(body_html=html)


# --- threading ---------------------------------------------------------------------------------


def find_ticket(parsed: ParsedEmail, *, mailbox: Mailbox | None, customer: Customer) -> Ticket | None:
    """The ticket an email answers, in this order: a Message-ID of ours (or of an earlier email on a
    ticket) in In-Reply-To/References; the reference "[HD-1042]" in the subject, if the sender is the
    ticket's customer or was copied in; the per-ticket reply address support+<token>@."""
    ids = [*reversed(parsed.in_reply_to), *reversed(parsed.references)]
    for message_id in ids:
        ticket_id = ticket_id_from_message_id(message_id)
        if ticket_id is not None and (ticket := Ticket.objects.filter(pk=ticket_id).first()):
            return ticket
    if ids:
        earlier = Message.objects.filter(email_message_id__in=ids[:100]).order_by("-pk").first()
        if earlier is not None:
            return earlier.ticket
    for number in SUBJECT_REFERENCE.findall(parsed.subject):
        ticket = Ticket.objects.filter(pk=int(number)).first()
        if ticket is not None and (
            ticket.customer_id == customer.pk or customer.email.lower() in (ticket.email_cc or [])
        ):
            return ticket
    if mailbox is not None and mailbox.plus_addressing:
        for address in (*parsed.delivered_to, *(a.email for a in (*parsed.to, *parsed.cc))):
            local, _at, _domain = address.partition("@")
            if "+" in local and (ticket_id := ticket_id_from_reply_token(local.split("+", 1)[1])):
                ticket = Ticket.objects.filter(pk=ticket_id).first()
                if ticket is not None:
                    return ticket
    return None


# --- bounces -----------------------------------------------------------------------------------


def _record_bounce(inbound: InboundEmail, parsed: ParsedEmail) -> None:
    """A delivery failure: note it on the ticket it concerns and mark the address, instead of a ticket."""
    bounce = parsed.bounce
    inbound.outcome = InboundEmail.Outcome.BOUNCE
    if bounce.permanent:
        for recipient in bounce.recipients:
            Customer.objects.with_email(recipient).filter(email_bouncing_at__isnull=True).update(
                email_bouncing_at=timezone.now()
            )
    ids = [bounce.original_message_id] if bounce.original_message_id else []
    ticket = None
    for message_id in ids:
        ticket_id = ticket_id_from_message_id(message_id)
        ticket = Ticket.objects.filter(pk=ticket_id).first() if ticket_id else None
        if ticket is None:
            earlier = Message.objects.filter(email_message_id=message_id).first()
            ticket = earlier.ticket if earlier else None
    if ticket is None:
        return
    recipients = ", ".join(bounce.recipients) or _("the customer")
    text = _("Email to %(recipients)s could not be delivered (%(status)s %(action)s). The delivery report is "
             "attached.") % {"recipients": recipients, "status": bounce.status or "?",
                                                   "action": bounce.action or ""}  # fmt: skip
    report = ContentFile(bytes(inbound.raw), name="delivery-report.eml")
    report.content_type = "message/rfc822"
    inbound.message = ticket_add_note(ticket=ticket, author=None, body=text, attachments=[report])
    inbound.ticket = ticket


def waiting_inbound_ids(*, older_than_seconds: int = 60, limit: int = 500) -> list[int]:
    """Messages stored but not processed (the broker was down, or a worker died mid-way)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        InboundEmail.objects.filter(status=InboundEmail.Status.PENDING, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
