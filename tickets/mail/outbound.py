"""Outbound email about tickets: agents' replies, the acknowledgement of a new ticket, reminders and the
emails routing rules send from the admins' templates.

Every email goes from the address of the ticket's queue's mailbox, carries a signed Message-ID of ours
(``ids.make_message_id``) and the reference in the subject, and, for replies, In-Reply-To/References
so that mail clients thread it and the customer's answer comes back to the same ticket.
"""

import contextlib
import logging
import time
from datetime import timedelta
from email.utils import formataddr
from smtplib import SMTPDataError, SMTPException, SMTPRecipientsRefused, SMTPSenderRefused
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.template import Context, Engine, TemplateSyntaxError
from django.utils import timezone, translation

from helpdesk.emails import send_email

from ..models import DeliveryStatus, Message, Ticket
from ..portal.links import follow_url
from .ids import SUBJECT_REFERENCE, make_message_id, reply_token
from .models import BlockedSender, Mailbox

# Automatic emails (acknowledgements) to one address in an hour, at most: a mail loop or a flood of
# requests from one sender cannot make us send more.
AUTOMATIC_PER_ADDRESS_PER_HOUR = 5
# Send errors: worth trying again (the server was down, refused for now, the network failed) unless
# ``permanent_refusal`` says the server refused the email for good.
TRANSIENT_ERRORS = (SMTPException, OSError)
# An email the SMTP server took while the database went away before it was recorded as sent is recorded once
# the database is back, if within this long; not sent again by the task's retry.
RECORD_SENT_WITHIN = timedelta(minutes=2)

logger = logging.getLogger(__name__)


def permanent_refusal(error: Exception) -> bool:
    """Whether the SMTP server refused the email for good (a 5xx answer to the recipients, the sender or the
    message: no such mailbox, message refused), so that sending it again as it is cannot help. Anything else
    is tried again: 4xx answers ("try again later"), the server down or gone mid-way, the network, and a
    refused login (the admins' to fix, not the email's fault)."""
    if isinstance(error, SMTPRecipientsRefused):
        codes = [code for code, _text in error.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(error, SMTPSenderRefused | SMTPDataError):
        return 500 <= error.smtp_code < 600
    return False


def _error_text(error: Exception) -> str:
    """A send error as agents read it on the message: the SMTP server's answer, else the error."""
    if isinstance(error, SMTPRecipientsRefused):
        return "; ".join(f"{address}: {_answer(*reply)}" for address, reply in error.recipients.items())[:2000]
    if isinstance(error, SMTPSenderRefused | SMTPDataError):
        return _answer(error.smtp_code, error.smtp_error)[:2000]
    return f"{type(error).__name__}: {error}"[:2000]


def _answer(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


class _Sent:
    """How to record that the email went out, set by the sender once the SMTP server took it."""

    record = None


@contextlib.contextmanager
def _recorded_once_sent():
    """Around a transaction that sends an email and records it as sent. If the database goes away after the
    SMTP server took the email (the record's UPDATE or the COMMIT fails), record it once the database is back
    rather than raise: the task's retry would send it a second time. Gives up (raises) after
    RECORD_SENT_WITHIN; then the retry may send it again, the only way not to lose it."""
    sent = _Sent()
    try:
        yield sent
    except (OperationalError, InterfaceError):
        if sent.record is None or connection.in_atomic_block:
            raise
        logger.warning("An email was sent but the database went away before it was recorded; recording it "
                       "once the database is back")  # fmt: skip
        _when_the_database_is_back(sent.record)


def _when_the_database_is_back(record) -> None:
    deadline = time.monotonic() + RECORD_SENT_WITHIN.total_seconds()
    pause = 0.25
    while True:
        with contextlib.suppress(DatabaseError):
            connection.close()  # the broken connection: the next query opens a new one
        try:
            record()
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def mailbox_of(ticket: Ticket) -> Mailbox | None:
    return Mailbox.objects.filter(queue_id=ticket.queue_id, is_active=True).order_by("pk").first()


def _domain(mailbox: Mailbox | None) -> str:
    if mailbox is not None:
        return mailbox.email_address.rpartition("@")[2].lower()
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def _sender(mailbox: Mailbox | None) -> str:
    if mailbox is None:
        return settings.DEFAULT_FROM_EMAIL
    return formataddr((mailbox.from_name or settings.HELPDESK_NAME, mailbox.email_address))


def sender_of(ticket: Ticket) -> str:
    """The From of email about this ticket: its queue's mailbox, else the default sender."""
    return _sender(mailbox_of(ticket))


def _reply_to(ticket: Ticket, mailbox: Mailbox | None) -> list[str]:
    if mailbox is not None and mailbox.plus_addressing:
        return [mailbox.reply_address(reply_token(ticket.pk))]
    return []


def with_reference(subject: str, ticket: Ticket) -> str:
    """The subject with "[HD-1042]" once, so replies thread even without the Message-ID."""
    return subject if SUBJECT_REFERENCE.search(subject) else f"{subject} [{ticket.reference}]"


def _thread_ids(ticket: Ticket, before: Message | None = None) -> list[str]:
    """The ticket's earlier emails (theirs and ours), oldest first, for References."""
    messages = ticket.messages.exclude(email_message_id="")
    if before is not None:
        messages = messages.filter(pk__lt=before.pk)
    ids = list(messages.order_by("-pk").values_list("email_message_id", flat=True)[:20])
    return ids[::-1]


def _thread_headers(ids: list[str]) -> dict:
    if not ids:
        return {}
    return {"In-Reply-To": f"<{ids[-1]}>", "References": " ".join(f"<{i}>" for i in ids)}


# --- replies -----------------------------------------------------------------------------------


def new_reply_message_id(ticket: Ticket) -> str:
    """The Message-ID a new public reply will be emailed with (fixed now, so a retry reuses it)."""
    return make_message_id(ticket.pk, _domain(mailbox_of(ticket)))


def _send_recorded(message: Message, email: dict, sent: _Sent, *, final_refusal: bool = True) -> Exception | None:
    """Send ``send_email(**email)`` for the locked ``message`` and record the outcome on it (attempts,
    status, error, sent time); returns the error the caller raises for its task to retry. With
    ``final_refusal`` a permanent refusal is only recorded: the message shows it failed, and the agent may
    try again."""
    message.delivery_attempts += 1
    failure = None
    try:
        send_email(**email)
    except TRANSIENT_ERRORS as error:
        message.delivery_status, message.delivery_error = DeliveryStatus.FAILED, _error_text(error)
        if not (final_refusal and permanent_refusal(error)):
            failure = error  # recorded on the message, then raised for the task to retry
    else:
        message.delivery_status, message.delivery_error = DeliveryStatus.SENT, ""
        message.sent_at = timezone.now()
        sent.record = lambda: Message.objects.filter(pk=message.pk).update(
            delivery_status=DeliveryStatus.SENT, delivery_error="", delivery_attempts=message.delivery_attempts,
            sent_at=message.sent_at)  # fmt: skip
    message.save(update_fields=["delivery_status", "delivery_error", "delivery_attempts", "sent_at"])
    return failure


def reply_send(*, message_id: int) -> bool:
    """Email one public reply to the customer (and the copied addresses). Sends at most once: the row is
    locked while sending and marked sent in the same transaction. Returns True if sent now; raises a
    transient error (after recording it on the message) for the task to try again; a permanent refusal is
    recorded on the message, not raised."""
    failure = None
    with _recorded_once_sent() as sent, transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("ticket__customer", "ticket__queue", "author_user")
            .filter(pk=message_id)
            .first()
        )
        if message is None:  # deleted since (the customer erased, the ticket deleted): nothing to send
            return False
        if message.kind != Message.Kind.REPLY or message.delivery_status in ("", DeliveryStatus.SENT):
            return False
        ticket = message.ticket
        mailbox = mailbox_of(ticket)
        failure = _send_recorded(
            message,
            {
                "name": "ticket_reply",
                "to": [ticket.customer.email],
                "cc": list(ticket.email_cc or []),
                "context": {
                    "ticket": ticket,
                    "message": message,
                    "customer": ticket.customer,
                    "agent": message.author_user,
                    "follow_url": follow_url(ticket),
                },
                "subject": with_reference(f"Re: {ticket.subject}", ticket),
                "from_email": _sender(mailbox),
                "reply_to": _reply_to(ticket, mailbox),
                "message_id": message.email_message_id,
                "headers": _thread_headers(_thread_ids(ticket, before=message)),
                "attachments": [(a.filename, a.file.read(), a.content_type) for a in message.attachments.all()],
                "language": ticket.customer.language,
            },
            sent,
        )
    if failure is not None:
        raise failure
    return message.delivery_status == DeliveryStatus.SENT


def reply_retry(*, message: Message) -> None:
    """An agent's "try again" on a reply whose email failed."""
    from ..tasks import send_reply_task

    if message.delivery_status != DeliveryStatus.FAILED:
        return
    Message.objects.filter(pk=message.pk).update(delivery_status=DeliveryStatus.QUEUED)
    transaction.on_commit(lambda: send_reply_task.delay(message.pk))


# --- acknowledgement ---------------------------------------------------------------------------


def automatic_mail_refusal(ticket: Ticket) -> str:
    """Why no automatic email may go to this ticket's customer now ("" if it may)."""
    customer = ticket.customer
    if customer.email_bouncing_at is not None:
        return "the address bounces"
    if BlockedSender.blocks(customer.email):
        return "the sender is blocked"
    hour_ago = timezone.now() - timedelta(hours=1)
    recent = Ticket.objects.filter(customer_id=customer.pk, acknowledged_at__gte=hour_ago).count()
    if recent < AUTOMATIC_PER_ADDRESS_PER_HOUR:  # and the routing rules' emails (automatic messages sent)
        recent += Message.objects.filter(ticket__customer_id=customer.pk, kind=Message.Kind.SYSTEM,
                                         sent_at__gte=hour_ago).count()  # fmt: skip
    if recent >= AUTOMATIC_PER_ADDRESS_PER_HOUR:
        return "too many automatic emails to this address in the last hour"
    return ""


def _queue_template(source: str, context: dict) -> str | None:
    """An admin's template of the queue, rendered; None if empty or broken (then the built-in one is used)."""
    if not source.strip():
        return None
    try:
        rendered = Engine(autoescape=False).from_string(source).render(Context(context))
    except TemplateSyntaxError:
        return None
    return "".join([rendered])  # plain text, not "safe": the HTML part escapes it


def acknowledgement_send(*, ticket_id: int) -> bool:
    """Tell the customer their request arrived: at most once per ticket, never to a bouncing or blocked
    address, and at most AUTOMATIC_PER_ADDRESS_PER_HOUR an hour to one address. True if sent now. Raises a
    transient send error for the task to try again; a permanent refusal is noted on the ticket instead."""
    with _recorded_once_sent() as sent, transaction.atomic():
        ticket = (Ticket.objects.select_for_update(of=("self",)).select_related("customer", "queue")
                  .filter(pk=ticket_id).first())  # fmt: skip
        if ticket is None:  # deleted since (the customer erased): nothing to tell
            return False
        if ticket.acknowledged_at is not None or ticket.created_by_id is not None:
            _acknowledgement_done(ticket)
            return False
        if automatic_mail_refusal(ticket):
            _acknowledgement_done(ticket)  # refused for good: the sweep must not try again
            return False
        mailbox = mailbox_of(ticket)
        # only a request that came by email has a Message-ID of the customer's to answer
        first = ticket.messages.order_by("pk").first() if ticket.channel == Ticket.Channel.EMAIL else None
        context = {"ticket": ticket, "customer": ticket.customer, "ticket_url": follow_url(ticket)}
        body = _queue_template(ticket.queue.acknowledgement_body, context)
        subject = _queue_template(ticket.queue.acknowledgement_subject, context)
        try:
            send_email(
                name="ticket_acknowledgement",
                to=[ticket.customer.email],
                context={**context, "custom_body": body, "custom_source": ticket.queue.acknowledgement_body,
                         "follow_url": context["ticket_url"]},
                subject=with_reference(subject, ticket) if subject else None,
                from_email=_sender(mailbox),
                reply_to=_reply_to(ticket, mailbox),
                message_id=make_message_id(ticket.pk, _domain(mailbox)),
                headers={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All",
                         **_thread_headers([first.email_message_id] if first and first.email_message_id else [])},
                language=ticket.customer.language,
            )  # fmt: skip
        except TRANSIENT_ERRORS as error:
            if not permanent_refusal(error):
                raise
            _acknowledgement_refused(ticket, error)
            return False
        now = timezone.now()
        sent.record = lambda: Ticket.objects.filter(pk=ticket_id, acknowledged_at__isnull=True).update(
            acknowledged_at=now, acknowledgement_due=False
        )
        ticket.acknowledged_at, ticket.acknowledgement_due = now, False
        ticket.save(update_fields=["acknowledged_at", "acknowledgement_due"])
    return True


def _acknowledgement_done(ticket: Ticket) -> None:
    if ticket.acknowledgement_due:
        ticket.acknowledgement_due = False
        ticket.save(update_fields=["acknowledgement_due"])


def _acknowledgement_refused(ticket: Ticket, error: Exception) -> None:
    """The SMTP server refused the acknowledgement for good: not tried again (neither by the task nor by the
    sweep), and said in a note on the ticket, where the agents see it."""
    from django.utils.translation import gettext as _

    from ..services import ticket_add_note

    _acknowledgement_done(ticket)
    if ticket.merged_into_id is None:
        text = _("The confirmation of this request could not be emailed to %(email)s: %(error)s") % {
            "email": ticket.customer.email, "error": _error_text(error)}  # fmt: skip
        ticket_add_note(ticket=ticket, author=None, body=text)


# --- the sweep: email whose task was lost ------------------------------------------------------

# Older than this, an acknowledgement still due or a reply still queued had its task lost (Redis or the
# workers were down when it was queued); younger ones may still be in the queue or retrying.
SWEEP_AFTER = timedelta(minutes=1)


def outbound_sweep(*, now=None, limit: int = 200) -> tuple[int, int]:
    """Send the acknowledgements, agents' replies and rules' emails whose task never ran: (acknowledgements,
    messages) sent.
    Safe beside the tasks: each send locks its row and sends at most once. A transient error (the SMTP server
    is down) stops the sweep and is raised; the next run goes on."""
    cutoff = (now or timezone.now()) - SWEEP_AFTER
    due = list(Ticket.objects.filter(acknowledgement_due=True, created_at__lt=cutoff)
               .order_by("created_at").values_list("pk", flat=True)[:limit])  # fmt: skip
    acknowledged = sum(acknowledgement_send(ticket_id=ticket_id) for ticket_id in due)
    queued = list(Message.objects.filter(delivery_status=DeliveryStatus.QUEUED, created_at__lt=cutoff)
                  .order_by("created_at").values_list("pk", "kind")[:limit])  # fmt: skip
    sent = 0
    for message_id, kind in queued:
        if kind == Message.Kind.REPLY:
            sent += reply_send(message_id=message_id)
        elif kind == Message.Kind.SYSTEM:  # a routing rule's email; its template's subject was in the lost task
            sent += template_email_send(message_id=message_id, template_id=None)
    return acknowledged, sent


# --- reminders (time-based automations) --------------------------------------------------------


def reminder_send(*, ticket_id: int) -> bool:
    """Remind the customer that we wait for their answer; never to a bouncing, blocked or over-mailed
    address, and only while the ticket still waits on them. True if sent."""
    ticket = Ticket.objects.select_related("customer", "queue").filter(pk=ticket_id).first()
    if ticket is None or ticket.status != Ticket.Status.PENDING or automatic_mail_refusal(ticket):
        return False
    mailbox = mailbox_of(ticket)
    send_email(
        name="ticket_reminder",
        to=[ticket.customer.email],
        context={"ticket": ticket, "customer": ticket.customer, "follow_url": follow_url(ticket)},
        from_email=_sender(mailbox),
        reply_to=_reply_to(ticket, mailbox),
        headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
        language=ticket.customer.language,
    )
    return True


# --- emails from the admins' templates (routing rules) ------------------------------------------


def _template_context(ticket: Ticket) -> dict:
    url = follow_url(ticket)
    return {"ticket": ticket, "customer": ticket.customer, "follow_url": url, "ticket_url": url}


def _language(ticket: Ticket) -> str:
    return ticket.customer.language or settings.LANGUAGE_CODE


def template_email_refusal(ticket: Ticket) -> str:
    """Why a rule's email may not go to this ticket's customer now ("" if it may): the limits of every
    automatic email, and never in answer to an auto-reply or bulk mail (the customer's latest message)."""
    if not ticket.customer.email:
        return "the customer has no email address"
    refusal = automatic_mail_refusal(ticket)
    if refusal:
        return refusal
    latest = (Message.objects.filter(ticket_id=ticket.pk, kind=Message.Kind.CUSTOMER)
              .order_by("-created_at", "-id").values_list("automatic", flat=True).first())  # fmt: skip
    return "the customer's message was an automatic reply" if latest else ""


def template_email_add(*, ticket: Ticket, name: str) -> tuple[Message | None, str]:
    """Put the email of the template ``name`` (the customer's language's version) on the ticket as an
    automatic message with a Message-ID of ours, and have Celery send it after commit. Returns (the message,
    "") or (None, why nothing was sent). Call inside the caller's transaction."""
    from .. import services
    from ..rules.models import EmailTemplate
    from ..tasks import send_template_email_task

    template = EmailTemplate.for_language(name, ticket.customer.language)
    if template is None:
        return None, f"email template “{name}” not found"
    refusal = template_email_refusal(ticket)
    if refusal:
        return None, refusal
    with translation.override(_language(ticket)):
        body = _queue_template(template.body, _template_context(ticket))
    if body is None or not body.strip():
        return None, f"email template “{template.name}” is empty or broken"
    message_id = make_message_id(ticket.pk, _domain(mailbox_of(ticket)))
    message = services.ticket_add_system_message(ticket=ticket, body=body, outbound_message_id=message_id)
    send_template_email_task.delay_on_commit(message.pk, template.pk)
    return message, ""


def template_email_preview(*, ticket: Ticket, name: str) -> str:
    """For the rules' dry run: to whom the email of the template ``name`` would go, with which subject, or
    why it would not be sent. Reads only."""
    from django.utils.translation import gettext as _

    from ..rules.models import EmailTemplate

    template = EmailTemplate.for_language(name, ticket.customer.language)
    if template is None:
        return _("There is no email template “%(name)s”: nothing would be sent.") % {"name": name}
    refusal = template_email_refusal(ticket)
    if refusal:
        return _("It would not be sent: %(reason)s.") % {"reason": refusal}
    with translation.override(_language(ticket)):
        subject = _queue_template(template.subject, _template_context(ticket))
    subject = with_reference(" ".join((subject or ticket.subject).split()), ticket)
    return _("To %(to)s: “%(subject)s”") % {"to": ticket.customer.email, "subject": subject}


def template_email_send(*, message_id: int, template_id: int | None) -> bool:
    """Email a rule's automatic message to the customer, at most once (the row is locked while sending and
    marked sent in the same transaction); the subject is the template's. Not sent if the address was blocked
    or went over the limit meanwhile. True if sent now; raises a send error for the task to retry."""
    from ..rules.models import EmailTemplate

    failure = None
    with _recorded_once_sent() as sent, transaction.atomic():
        message = (Message.objects.select_for_update(of=("self",)).select_related("ticket__customer", "ticket__queue")
                   .filter(pk=message_id).first())  # fmt: skip
        if (
            message is None
            or message.kind != Message.Kind.SYSTEM
            or message.delivery_status in ("", DeliveryStatus.SENT)
        ):
            return False
        ticket = message.ticket
        refusal = automatic_mail_refusal(ticket)
        if refusal:
            message.delivery_status, message.delivery_error = DeliveryStatus.NONE, f"Not sent: {refusal}"
            message.save(update_fields=["delivery_status", "delivery_error"])
            return False
        template = EmailTemplate.objects.filter(pk=template_id).first() if template_id else None
        context = _template_context(ticket)
        with translation.override(_language(ticket)):
            subject = _queue_template(template.subject, context) if template is not None else None
        mailbox = mailbox_of(ticket)
        failure = _send_recorded(
            message,
            {
                "name": "ticket_template_email",
                "to": [ticket.customer.email],
                "context": {
                    **context,
                    "body": message.body_text,
                    "with_link": context["follow_url"] not in message.body_text,
                },
                "subject": with_reference(" ".join((subject or ticket.subject).split()), ticket),
                "from_email": _sender(mailbox),
                "reply_to": _reply_to(ticket, mailbox),
                "message_id": message.email_message_id,
                "headers": {
                    "Auto-Submitted": "auto-replied",
                    "X-Auto-Response-Suppress": "All",
                    **_thread_headers(_thread_ids(ticket, before=message)),
                },
                "language": ticket.customer.language,
            },
            sent,
            final_refusal=False,  # its page says a rule's email is tried again (the task's retries are bounded)
        )
    if failure is not None:
        raise failure
    return message.delivery_status == DeliveryStatus.SENT
