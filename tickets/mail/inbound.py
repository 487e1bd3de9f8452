"""Inbound email: store the exact bytes first, then parse and put the message on the right ticket.

``inbound_store`` (one message) and ``inbound_store_many`` (a batch: IMAP, maildir and mbox imports)
are what every way in calls. They only write the raw messages and schedule their processing on
commit; if Redis or the worker is down, the messages wait in the table and the beat task
``process_waiting_inbound_task`` picks them up. Processing is idempotent: a message already processed
is left alone, and the same message stored twice (same Message-ID and mailbox, or the same bytes) is
one row.

Messages are processed in batches of up to ``BATCH_MESSAGES`` (and ``BATCH_BYTES``) in one transaction,
each message in a savepoint of its own: a message that fails is rolled back alone and flagged, and the
batch saves a commit and the bookkeeping statements per message. The batch holds the row locks of the
tickets it added to until it commits, a fraction of a second.
"""

import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32

import psycopg
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from customers.services import customers_get_or_create
from helpdesk.db import unnest

from ..models import Message, Queue, Ticket
from ..services import (
    CustomerMessage,
    EmailDetails,
    NewTicket,
    ticket_add_note,
    tickets_add_customer_messages,
    tickets_create,
)
from .ids import ticket_id_from_message_id
from .models import BlockedSender, InboundEmail, Mailbox, without_plus
from .parse import ParsedEmail, parse_email
from .threads import SameAs, find_tickets

logger = logging.getLogger(__name__)

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


# --- store -------------------------------------------------------------------------------------


def _peek(raw: bytes) -> tuple[str, str, str, list[str]]:
    """(Message-ID, From, Subject, recipient addresses) read cheaply from the headers, never raising."""
    end = _HEADER_END.search(raw)
    try:  # the header section alone: the parser would split the whole body into lines too
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[: end.end()] if end else raw)
    except Exception:
        return "", "", "", []

    def header(name: str) -> str:  # without NUL characters, which Postgres refuses in text
        return str(headers.get(name, "")).replace("\x00", "")

    found = _MESSAGE_ID.search(header("Message-ID"))
    recipients = []
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc"):
        for value in headers.get_all(name, []):
            recipients += re.findall(r"[\w.+'-]+@[\w.-]+", str(value))
    return (found.group(1) if found else "", header("From")[:255], header("Subject")[:255], recipients)


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
    return inbound_store_many(raws=[raw], source=source, mailbox=mailbox)[0]


def inbound_store_many(
    *, raws: Sequence[bytes], source: str, mailbox: Mailbox | None = None, schedule: bool = True
) -> list[tuple[InboundEmail, bool]]:
    """Keep inbound messages in one transaction: (row, whether it is new) for each, in the order given.
    A message stored before (or twice in ``raws``) is the existing row. The new ones are scheduled for
    processing on commit, as one task, unless the caller processes them itself (``schedule`` False).
    ``mailbox`` None: found from each message's recipients."""
    return _store(_rows(raws, source, mailbox), schedule=schedule)


def _rows(raws: Sequence[bytes], source: str, mailbox: Mailbox | None) -> list[InboundEmail]:
    rows = []
    for raw in raws:
        message_id, sender, subject, recipients = _peek(raw)
        rows.append(InboundEmail(mailbox=mailbox or mailbox_for(recipients), source=source, raw=raw, size=len(raw),
                                 sha256=InboundEmail.digest(raw), header_message_id=message_id, sender=sender,
                                 subject=subject))  # fmt: skip
    return rows


def _store(rows: list[InboundEmail], *, schedule: bool, meanwhile=None) -> list[tuple[InboundEmail, bool]]:
    """Insert the rows in one transaction; ``meanwhile`` (no arguments) runs while the database writes."""
    if not rows:
        if meanwhile:
            meanwhile()
        return []
    with transaction.atomic():
        inserted = _insert_new(rows, meanwhile)
        missing = {_key(row) for row in rows} - inserted.keys()
        existing = {_key(row): row for row in _existing(missing)} if missing else {}
        result, seen = [], set()
        for row in rows:
            key = _key(row)
            if key in inserted and key not in seen:
                row.pk = inserted[key]
                row._state.adding = False
                existing[key] = row
                result.append((row, True))
            else:
                result.append((existing[key], False))
            seen.add(key)
        new_ids = [row.pk for row, new in result if new]
        if new_ids and schedule:
            transaction.on_commit(lambda: _schedule(new_ids), robust=True)
    return result


def inbound_ingest(
    *, raws: Sequence[bytes], source: str, mailbox: Mailbox | None = None
) -> list[tuple[InboundEmail, bool]]:
    """Store a batch of messages for good, then process the new ones here and now, without a task in
    between: for the IMAP fetch, which runs on a worker already. Returns what ``inbound_store_many`` does.
    The messages are parsed while the database writes them (the parse is used only once the store has
    committed), and processing does not read the raw bytes back. A crash after the store leaves the
    messages pending, and the sweep processes them."""
    rows = _rows(raws, source, mailbox)
    parsed: dict[int, ParsedEmail | Exception] = {}

    def parse_all() -> None:  # in memory only: nothing comes of it unless the raw bytes are stored for good
        for row in rows:
            parsed[id(row)] = _parse_safely(row.raw)

    stored = _store(rows, schedule=False, meanwhile=parse_all)
    new = {row.pk: parsed[id(row)] for row, created in stored if created}
    if new:
        inbound_process_many(inbound_ids=list(new), parsed=new)
    return stored


def _key(row: InboundEmail) -> tuple:
    """What makes a stored message the same one again (the table's two unique constraints)."""
    return (row.mailbox_id, row.header_message_id) if row.header_message_id else (row.mailbox_id, "", row.sha256)


def _insert_new(rows: list[InboundEmail], meanwhile=None) -> dict[tuple, int]:
    """One INSERT of all rows, skipping those the unique constraints refuse: {key: id} of the new ones.
    (``bulk_create(ignore_conflicts=True)`` cannot tell which rows went in.) ``meanwhile`` runs between
    sending the INSERT and reading its result (psycopg's pipeline mode): Python works while Postgres
    compresses and writes the bytes, on the other core."""
    fields = [f for f in InboundEmail._meta.concrete_fields if not f.primary_key]
    connection = transaction.get_connection()
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values, params = unnest(fields, rows, connection, add=True, binary=True)
    connection.ensure_connection()
    # A plain psycopg cursor, in the same transaction: its parameters are bound on the server, in binary, so
    # the raw bytes travel as they are; Django's client-side binding (or a text-format array) would write them
    # out as escaped hex text first (50 ms for a batch of 25 messages with a few large attachments, 1 ms so).
    sql = (f"INSERT INTO {InboundEmail._meta.db_table} ({columns}) SELECT * FROM {values} ON CONFLICT DO NOTHING"
           " RETURNING id, mailbox_id, header_message_id, sha256")  # fmt: skip
    pg = connection.connection
    with psycopg.Cursor(pg) as cursor:
        if meanwhile is None:
            cursor.execute(sql, params)
        else:
            with pg.pipeline() as pipeline:
                cursor.execute(sql, params)  # sent; the result is read at the sync
                meanwhile()
                pipeline.sync()
        returned = cursor.fetchall()
    return {(mailbox_id, mid) if mid else (mailbox_id, "", sha): pk for pk, mailbox_id, mid, sha in returned}


def _existing(keys: set[tuple]) -> list[InboundEmail]:
    query = Q()
    for key in keys:
        if len(key) == 2:
            query |= Q(mailbox_id=key[0], header_message_id=key[1])
        else:
            query |= Q(mailbox_id=key[0], header_message_id="", sha256=key[2])
    return list(InboundEmail.objects.filter(query).defer("raw"))


def _schedule(inbound_ids: list[int]) -> None:
    from ..tasks import process_inbound_task

    try:
        process_inbound_task.delay(*inbound_ids)
    except Exception:
        logger.warning("Could not queue inbound emails %s; they wait for the next sweep.", inbound_ids, exc_info=True)


# --- process -----------------------------------------------------------------------------------


BATCH_MESSAGES = 50
BATCH_BYTES = 20_000_000


def inbound_process(*, inbound_id: int) -> InboundEmail:
    """Parse one stored message and put it where it belongs (see ``inbound_process_many``)."""
    rows = inbound_process_many(inbound_ids=[inbound_id])
    if not rows:
        raise InboundEmail.DoesNotExist(f"No inbound email {inbound_id}.")
    return rows[0]


def inbound_process_many(
    *, inbound_ids: Sequence[int], parsed: dict[int, "ParsedEmail | Exception"] | None = None
) -> list[InboundEmail]:
    """Parse stored messages and put each where it belongs, in id order, in batches. A failure is recorded on
    the message's row (status failed, the error), never raised: it stays for an admin to look at and
    process again. Messages already processed are left alone; ids that no longer exist are skipped.
    ``parsed``: what ``parse_email`` made of these ids' raw bytes (or raised), when the caller has it."""
    sizes = dict(InboundEmail.objects.filter(pk__in=set(inbound_ids)).order_by("pk").values_list("pk", "size"))
    processed = []
    for batch in _batches(sizes):
        processed += _process_batch(batch, parsed or {})
    return processed


def _batches(sizes: dict[int, int]) -> list[list[int]]:
    batches, current, total = [], [], 0
    for pk, size in sizes.items():
        if current and (len(current) >= BATCH_MESSAGES or total + size > BATCH_BYTES):
            batches.append(current)
            current, total = [], 0
        current.append(pk)
        total += size
    return [*batches, current] if current else batches


def _parse_safely(raw: bytes) -> ParsedEmail | Exception:
    try:
        return parse_email(raw)
    except Exception as error:
        return error


def _process_batch(inbound_ids: list[int], known: dict[int, ParsedEmail | Exception]) -> list[InboundEmail]:
    with transaction.atomic():
        # The raw messages are already stored for good; if this transaction were lost in a crash, the rows
        # would still say "pending" and the sweep would process them again. So its commit need not wait
        # for the disk.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")
        rows = InboundEmail.objects.select_for_update(of=("self",)).select_related("mailbox__queue")
        if known.keys() >= set(inbound_ids):
            rows = rows.defer("raw")  # parsed already; a bounce reads its raw bytes when it needs them
        rows = list(rows.filter(pk__in=inbound_ids).order_by("pk"))
        pending = [inbound for inbound in rows if inbound.status != InboundEmail.Status.DONE]
        errors: dict[int, str] = {}
        parsed: dict[int, ParsedEmail] = {}
        for inbound in pending:
            inbound.attempts += 1
            result = known[inbound.pk] if inbound.pk in known else _parse_safely(bytes(inbound.raw))
            if isinstance(result, Exception):
                errors[inbound.pk] = _failure(inbound, result)
            else:
                parsed[inbound.pk] = result
        routable = [inbound for inbound in pending if inbound.pk in parsed]
        try:
            with transaction.atomic():  # a failure undoes the half-made tickets, not the rows' bookkeeping
                _route(routable, parsed)
        except Exception:
            # Something in the batch failed: each message on its own finds which (nothing else is lost).
            for inbound in routable:
                try:
                    with transaction.atomic():
                        _route([inbound], parsed)
                except Exception as error:
                    errors[inbound.pk] = _failure(inbound, error)
        now = timezone.now()
        for inbound in pending:
            inbound.status = InboundEmail.Status.FAILED if inbound.pk in errors else InboundEmail.Status.DONE
            inbound.error = errors.get(inbound.pk, "")
            inbound.processed_at = now
        _save_outcomes(pending)
    return rows


def _failure(inbound: InboundEmail, error: Exception) -> str:
    logger.warning("Inbound email %s failed: %s", inbound.pk, error, exc_info=error)
    inbound.outcome, inbound.ticket, inbound.message = InboundEmail.Outcome.NONE, None, None
    return f"{type(error).__name__}: {error}"[:5000]


def _save_outcomes(rows: list[InboundEmail]) -> None:
    """One UPDATE of the processing fields (never the raw bytes again). ``bulk_update`` would do the same
    with a CASE per field and row, and take longer than the messages."""
    if not rows:
        return
    fields = [InboundEmail._meta.pk, *(InboundEmail._meta.get_field(name) for name in PROCESSING_FIELDS)]
    connection = transaction.get_connection()
    values, params = unnest(fields, rows, connection)
    columns = [f.column for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {InboundEmail._meta.db_table} AS t SET {', '.join(f'{c} = v.{c}' for c in columns[1:])}"
            f" FROM {values} AS v({', '.join(columns)}) WHERE t.id = v.id",
            params,
        )


PROCESSING_FIELDS = ["sender", "subject", "status", "outcome", "error", "defects", "attempts", "processed_at",
                     "ticket", "message"]  # fmt: skip


def inbound_reprocess(*, inbound: InboundEmail) -> InboundEmail:
    """An admin's "process again" for a failed message."""
    if inbound.status == InboundEmail.Status.FAILED:
        InboundEmail.objects.filter(pk=inbound.pk).update(status=InboundEmail.Status.PENDING)
    return inbound_process(inbound_id=inbound.pk)


def _route(rows: list[InboundEmail], parsed: dict[int, ParsedEmail]) -> None:
    """Put each parsed email where it belongs: a new ticket, a reply on its ticket, a bounce note, or
    nowhere (blocked). Raises on the first email that cannot be put anywhere (no sender, say)."""
    emails = []
    for inbound in rows:
        email = parsed[inbound.pk]
        sender = (email.sender.email or next((a.email for a in email.reply_to if a.email), "")).strip()
        inbound.sender, inbound.subject = sender[:255], email.subject[:255]
        inbound.defects = "\n".join(email.defects)[:5000]
        inbound.outcome, inbound.ticket, inbound.message = InboundEmail.Outcome.NONE, None, None
        if not sender:
            raise ValueError(_("The message has no sender address (From)."))
        if BlockedSender.blocks(sender):
            inbound.outcome = InboundEmail.Outcome.BLOCKED
        elif email.bounce is not None:
            _record_bounce(inbound, email)
        else:
            emails.append((inbound, email, sender))
    if not emails:
        return
    customers = customers_get_or_create([(sender, email.sender.name) for _inbound, email, sender in emails],
                                        strict=False)  # fmt: skip
    senders = [customers[sender.lower()] for _inbound, _email, sender in emails]
    found = find_tickets([(email, inbound.mailbox, customer)
                          for (inbound, email, _sender), customer in zip(emails, senders, strict=True)])  # fmt: skip
    goes_to = []  # per email: an existing ticket, or the index of the email that opens its new ticket
    for index, target in enumerate(found):
        goes_to.append(goes_to[target.index] if isinstance(target, SameAs) else index if target is None else target)
    opening = [index for index, target in enumerate(goes_to) if target == index]
    opened = dict(zip(opening, tickets_create([
        NewTicket(customer=senders[i], subject=emails[i][1].subject, body="", channel=Ticket.Channel.EMAIL,
                  queue=_queue_for(emails[i][0].mailbox), attachments=_uploads(emails[i][1]),
                  email=_details(emails[i][1]))
        for i in opening
    ]) if opening else [], strict=True))  # fmt: skip
    answering = [index for index, target in enumerate(goes_to) if target != index]
    answered = tickets_add_customer_messages([
        CustomerMessage(ticket=opened[goes_to[i]] if isinstance(goes_to[i], int) else goes_to[i], body="",
                        channel=Ticket.Channel.EMAIL, customer=senders[i], attachments=_uploads(emails[i][1]),
                        email=_details(emails[i][1]))
        for i in answering
    ]) if answering else []  # fmt: skip
    for index in opening:
        inbound, ticket = emails[index][0], opened[index]
        inbound.ticket, inbound.message, inbound.outcome = ticket, ticket.first_message, InboundEmail.Outcome.NEW_TICKET
    for index, (landed, message) in zip(answering, answered, strict=True):
        inbound, target = emails[index][0], goes_to[index]
        target = opened[target] if isinstance(target, int) else target
        inbound.ticket, inbound.message = landed, message
        inbound.outcome = InboundEmail.Outcome.REPLY if landed.pk == target.pk else InboundEmail.Outcome.FOLLOW_UP
    for inbound, email, _sender in emails:
        _link_inline_images(inbound.message, email)


def _details(email: ParsedEmail) -> EmailDetails:
    return EmailDetails(
        message_id=email.message_id, html=email.html, text=email.text,
        cc=tuple(a.email for a in (*email.to, *email.cc) if a.email),
        automatic=email.auto_submitted or email.bulk,
    )  # fmt: skip


def _uploads(email: ParsedEmail) -> list[ContentFile]:
    return [_upload(attachment) for attachment in email.attachments]


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
