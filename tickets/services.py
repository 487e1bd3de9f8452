"""Every write to a ticket goes through here.

Each service is atomic, locks the ticket row for read-modify-write, writes its ``TicketEvent`` rows in
the same transaction, and schedules Celery work only on commit.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from helpdesk.db import insert_rows, unnest
from helpdesk.errors import InvalidTransition, ValidationError
from helpdesk.html import html_to_text, markdown_to_html, sanitize_html, text_to_html
from helpdesk.models import User

from . import selectors
from .attachments import attachment_validate_all, attachments_store_many
from .models import Message, Notification, Queue, Tag, Ticket, TicketEvent, TicketLink
from .sla import services as sla

Status = Ticket.Status
# Channels where the customer wrote to us, so an acknowledgement is due.
ACKNOWLEDGED_CHANNELS = {Ticket.Channel.EMAIL, Ticket.Channel.PORTAL, Ticket.Channel.API, Ticket.Channel.CHAT}
SEARCH_TEXT_LIMIT = 200_000


# --- helpers -----------------------------------------------------------------------------------


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)


def _new_event(ticket, kind, *, actor=None, customer=None, field="", old="", new="", message=None, when=None):
    """An audit-trail row, not yet saved (``_add_message`` writes it with the message's own, in one INSERT).
    Webhooks are dispatched from these rows (``webhooks.services``); the kick only makes it happen sooner."""
    from webhooks.services import webhooks_kick

    webhooks_kick()
    return TicketEvent(
        ticket=ticket,
        kind=kind,
        actor=actor,
        actor_customer=customer,
        field=field,
        old_value=str(old or "")[:255],
        new_value=str(new or "")[:255],
        message=message,
        created_at=when or timezone.now(),
    )


def _facts_stale(ticket_ids: Iterable[int]) -> None:
    """The tickets' report facts must be computed again (one statement; see ``reports.services``)."""
    from reports.services import facts_mark_stale

    facts_mark_stale(ticket_ids)


def _event(ticket, kind, **details) -> TicketEvent:
    event = _new_event(ticket, kind, **details)
    event.save()
    return event


@dataclass(frozen=True)
class EmailDetails:
    """A customer message that came as an email (built by ``tickets.mail.inbound``).

    Its body is the email's own (``html`` unsanitized, or ``text``), shown with the quoted history
    collapsed; its attachments are kept whatever their type or size, since the email already arrived.
    ``automatic``: an auto-reply or bulk mail, which never gets an automatic email back.
    """

    message_id: str = ""
    html: str = ""
    text: str = ""
    cc: tuple[str, ...] = ()
    automatic: bool = False


def _email_body(email: EmailDetails) -> tuple[str, str]:
    from .mail.quotes import collapse_quoted_html, quoted_text_to_html

    if email.html.strip():
        html = collapse_quoted_html(sanitize_html(email.html))
        return html, (email.text.strip() or html_to_text(html))
    return quoted_text_to_html(email.text.strip()), email.text.strip()


def _body(body: str, *, is_html: bool, is_markdown: bool = False) -> tuple[str, str]:
    """(sanitized HTML, plain text) for a message body given as text, Markdown or HTML."""
    if is_markdown:
        text = (body or "").strip()
        return markdown_to_html(text), text
    if is_html:
        clean = sanitize_html(body)
        return clean, html_to_text(clean)
    text = (body or "").strip()
    return text_to_html(text), text


def _message_body(body: str, *, is_html: bool, is_markdown: bool = False, email: EmailDetails | None = None,
                  attachments: Sequence = ()) -> tuple[str, str]:  # fmt: skip
    """(HTML, text) of a new message; a message needs one or the other, or an attachment."""
    if email is not None:
        return _email_body(email)
    body_html, body_text = _body(body, is_html=is_html, is_markdown=is_markdown)
    if not body_text and not attachments:
        raise ValidationError(_("A message needs some text or an attachment."))
    return body_html, body_text


def _new_search_vector(subject: str, text: str) -> RawSQL:
    """A new ticket's search vector: the subject (weight A) and its first message (weight B)."""
    return RawSQL("setweight(to_tsvector('helpdesk', %s), 'A') || setweight(to_tsvector('helpdesk', %s), 'B')",
                  [subject, text[:SEARCH_TEXT_LIMIT]], output_field=SearchVectorField())  # fmt: skip


def _save_with_message(ticket: Ticket, message: Message, fields: Sequence[str] = ()) -> None:
    _save_with_messages(ticket, [message], fields)


def _save_with_messages(ticket: Ticket, messages: Sequence[Message], fields: Sequence[str] = ()) -> None:
    """Save a ticket messages were just added to: the given fields, the message count, and the messages'
    words added to the search vector (weight B), in one UPDATE. The caller holds the row lock."""
    ticket.message_count += len(messages)
    ticket.updated_at = messages[-1].created_at
    values = {name: getattr(ticket, name) for name in {*fields, "message_count", "updated_at"}}
    text = " ".join(message.body_text for message in messages)[:SEARCH_TEXT_LIMIT]
    appended = RawSQL("coalesce(search_vector, ''::tsvector) || setweight(to_tsvector('helpdesk', %s), 'B')",
                      [text], output_field=SearchVectorField())  # fmt: skip
    Ticket.objects.filter(pk=ticket.pk).update(**values, search_vector=appended)


def _save_tickets_with_messages(changed: Iterable[tuple[Ticket, Sequence[str], Sequence[Message]]]) -> None:
    """``_save_with_messages`` for several tickets: one UPDATE for each set of changed fields (a batch of
    inbound email: replies to 20 tickets, one statement). The caller holds the rows' locks."""
    groups: dict[frozenset, list[tuple[Ticket, list[Message]]]] = {}
    for ticket, fields, messages in changed:
        groups.setdefault(frozenset(fields), []).append((ticket, messages))
    for fields, items in groups.items():
        if len(items) == 1:
            _save_with_messages(items[0][0], items[0][1], fields)
            continue
        for ticket, messages in items:
            ticket.message_count += len(messages)
            ticket.updated_at = messages[-1].created_at
        model_fields = [Ticket._meta.pk, *(Ticket._meta.get_field(name) for name in
                                           sorted({*fields, "message_count", "updated_at"}))]  # fmt: skip
        values, params = unnest(model_fields, [ticket for ticket, _messages in items], connection)
        texts = [" ".join(message.body_text for message in messages)[:SEARCH_TEXT_LIMIT] for _t, messages in items]
        columns = [field.column for field in model_fields]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Ticket._meta.db_table} AS t SET {', '.join(f'{c} = v.{c}' for c in columns[1:])}, "
                "search_vector = coalesce(t.search_vector, ''::tsvector) "
                "|| setweight(to_tsvector('helpdesk', v.words), 'B') "
                f"FROM {values[:-1]}, %s::text[]) AS v({', '.join(columns)}, words) WHERE t.id = v.{columns[0]}",
                [*params, texts],
            )


def ticket_search_refresh(*, ticket_id: int) -> None:
    """Rebuild a ticket's search vector from its subject (weight A) and all its messages (weight B)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE tickets_ticket t SET search_vector =
                setweight(to_tsvector('helpdesk', t.subject), 'A')
                || setweight(to_tsvector('helpdesk', left(coalesce(
                    (SELECT string_agg(m.body_text, ' ' ORDER BY m.created_at, m.id)
                     FROM tickets_message m WHERE m.ticket_id = t.id), ''), %s)), 'B')
            WHERE t.id = %s
            """,
            [SEARCH_TEXT_LIMIT, ticket_id],
        )


@dataclass
class _NewMessage:
    """A message to write (see ``_add_messages``); ``content`` is (HTML, text) from ``_message_body``."""

    ticket: Ticket
    kind: str
    content: tuple[str, str]
    channel: str
    author_user: User | None = None
    author_customer: Customer | None = None
    attachments: Sequence = ()
    when: object = None
    email: EmailDetails | None = None
    outbound_message_id: str = ""
    events: Sequence[TicketEvent] = ()
    with_ticket: bool = False  # written with a new ticket, whose Cc was set on it already


def _add_message(ticket: Ticket, **details) -> Message:
    """Write one message, its attachments and its audit row. The caller saves the ticket
    (``_save_with_message``)."""
    return _add_messages([_NewMessage(ticket, **details)])[0]


def _add_messages(new: Sequence[_NewMessage]) -> list[Message]:
    """Write messages in one INSERT, their attachments, and their audit rows (with each one's ``events``)
    in one more."""
    messages = [
        Message(
            ticket=item.ticket,
            kind=item.kind,
            body_html=item.content[0],
            body_text=item.content[1],
            channel=item.channel,
            author_user=item.author_user,
            author_customer=item.author_customer,
            created_at=item.when or timezone.now(),
            email_message_id=item.email.message_id[:255] if item.email else item.outbound_message_id,
            delivery_status=Message.DeliveryStatus.QUEUED if item.outbound_message_id else "",
            automatic=item.email is not None and item.email.automatic,
        )
        for item in new
    ]  # fmt: skip
    insert_rows(Message, messages)
    attachments_store_many((message, item.attachments) for item, message in zip(new, messages, strict=True))
    events = []
    for item, message in zip(new, messages, strict=True):
        if item.email is not None and item.email.cc and not item.with_ticket:
            _add_cc(item.ticket, item.email.cc)
        item.ticket.updated_at = message.created_at
        events += [*item.events, _new_event(item.ticket, TicketEvent.Kind.MESSAGE, actor=item.author_user,
                                            customer=item.author_customer, new=item.kind, message=message,
                                            when=message.created_at)]  # fmt: skip
    insert_rows(TicketEvent, events)
    return messages


def _add_cc(ticket: Ticket, addresses: Sequence[str], *, save: bool = True) -> None:
    """Remember the addresses a customer copied in: not the customer, not our mailboxes (nor their
    support+token@ reply addresses)."""
    from .mail.models import is_our_address

    known = {address.lower() for address in (ticket.email_cc or [])} | {ticket.customer.email.lower()}
    new = [a for a in dict.fromkeys(a.strip().lower() for a in addresses)
           if a and a not in known and not is_our_address(a)]  # fmt: skip
    if new:
        ticket.email_cc = [*(ticket.email_cc or []), *new][:50]
        if save:
            Ticket.objects.filter(pk=ticket.pk).update(email_cc=ticket.email_cc)


def _apply_status(ticket: Ticket, status: str, *, actor=None, customer=None, when=None) -> list[str]:
    """Change the status in memory and record it; returns the changed field names (not saved)."""
    if status not in Status.values:
        raise ValidationError(_("Unknown status “%(status)s”."), params={"status": status})
    old = ticket.status
    if old == status:
        return []
    if old == Status.CLOSED:
        raise InvalidTransition(_("A closed ticket cannot be changed; a new message opens a follow-up ticket."))
    now = when or timezone.now()
    fields = ["status", "status_changed_at"]
    ticket.status, ticket.status_changed_at = status, now
    if status in Ticket.RESOLVED_STATUSES and old not in Ticket.RESOLVED_STATUSES:
        ticket.resolved_at = now
        fields.append("resolved_at")
    if status == Status.SOLVED:
        from .tasks import send_surveys_task

        send_surveys_task.delay_on_commit(ticket.pk)
    elif status not in Ticket.RESOLVED_STATUSES and old in Ticket.RESOLVED_STATUSES:
        ticket.resolved_at = None
        fields.append("resolved_at")
    if status == Status.CLOSED:
        ticket.closed_at = now
        fields.append("closed_at")
    _event(ticket, TicketEvent.Kind.FIELD, actor=actor, customer=customer, field="status", old=old, new=status,
           when=now)  # fmt: skip
    sla.sla_on_status(ticket, old=old, new=status, when=now)
    return fields


# --- create ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewTicket:
    """A ticket to open: ``ticket_create``'s arguments, for ``tickets_create``."""

    customer: Customer
    subject: str
    body: str
    channel: str
    queue: Queue
    priority: str = Ticket.Priority.NORMAL
    body_is_html: bool = False
    created_by: User | None = None
    assignee: User | None = None
    tags: Iterable[str] = ()
    attachments: Sequence = ()
    follow_up_of: Ticket | None = None
    email: EmailDetails | None = None
    portal_submission: uuid.UUID | None = None


def ticket_create(
    *,
    customer: Customer,
    subject: str,
    body: str,
    channel: str,
    queue: Queue,
    priority: str = Ticket.Priority.NORMAL,
    body_is_html: bool = False,
    created_by: User | None = None,
    assignee: User | None = None,
    tags: Iterable[str] = (),
    attachments: Sequence = (),
    follow_up_of: Ticket | None = None,
    email: EmailDetails | None = None,
    portal_submission: uuid.UUID | None = None,
) -> Ticket:
    """Open a ticket. The one path for every channel: portal, email, agent UI, API, chat.

    ``created_by`` is the agent who opened it on the customer's behalf (phone, walk-in, outbound
    email); such tickets get no acknowledgement and, per METRICS.md, no first response time.
    ``email``: the ticket comes from an inbound email (its body, Message-ID and Cc).
    ``portal_submission``: the portal form's one-time id, unique (``tickets.portal.services``).
    """
    return tickets_create([NewTicket(customer=customer, subject=subject, body=body, channel=channel, queue=queue,
                                     priority=priority, body_is_html=body_is_html, created_by=created_by,
                                     assignee=assignee, tags=tags, attachments=attachments,
                                     follow_up_of=follow_up_of, email=email,
                                     portal_submission=portal_submission)])[0]  # fmt: skip


@transaction.atomic
def tickets_create(drafts: Sequence[NewTicket]) -> list[Ticket]:
    """Open tickets, each as ``ticket_create`` describes, all or none: several at once (a batch of inbound
    email) take the same few statements as one."""
    checked = [_check_new_ticket(draft) for draft in drafts]
    now = timezone.now()
    tickets = []
    for draft, (subject, content, kind) in zip(drafts, checked, strict=True):
        ticket = Ticket(
            subject=subject,
            priority=draft.priority,
            priority_rank=Ticket.PRIORITY_RANK[draft.priority],
            queue=draft.queue,
            customer=draft.customer,
            channel=draft.channel,
            created_by=draft.created_by,
            assignee=draft.assignee,
            follow_up_of=draft.follow_up_of,
            portal_submission=draft.portal_submission,
            created_at=now,
            updated_at=now,
            # the first message's counters and words go in with the ticket: no UPDATE after the message
            message_count=1,
            last_customer_message_at=now if kind == Message.Kind.CUSTOMER else None,
            last_agent_reply_at=now if kind == Message.Kind.REPLY else None,
            search_vector=_new_search_vector(subject, content[1]),
        )
        if draft.email is not None and draft.email.cc:
            _add_cc(ticket, draft.email.cc, save=False)
        ticket.acknowledgement_due = (draft.created_by is None and draft.channel in ACKNOWLEDGED_CHANNELS
                                      and not (draft.email and draft.email.automatic))  # fmt: skip
        tickets.append(ticket)
    _mark_for_routing(tickets)
    Ticket.objects.bulk_create(tickets)
    _facts_stale(ticket.pk for ticket in tickets)
    new_messages = []
    for ticket, draft, (_subject, content, kind) in zip(tickets, drafts, checked, strict=True):
        del ticket.search_vector  # deferred from now on: a later save() must not write the expression again
        created = _new_event(ticket, TicketEvent.Kind.CREATED, actor=draft.created_by,
                             customer=None if draft.created_by else draft.customer, new=draft.channel, when=now)  # fmt: skip
        new_messages.append(_NewMessage(
            ticket, kind=kind, content=content, channel=draft.channel, author_user=draft.created_by,
            author_customer=draft.customer if kind == Message.Kind.CUSTOMER else None,
            attachments=draft.attachments, when=now, email=draft.email, events=[created], with_ticket=True,
        ))  # fmt: skip
    for ticket, message in zip(tickets, _add_messages(new_messages), strict=True):
        ticket.first_message = message  # for callers that go on with it (inbound email), saving a query
    sla.sla_on_create(tickets, now=now)
    for ticket, draft in zip(tickets, drafts, strict=True):
        _after_create(ticket, draft, now)
    acknowledged = [ticket.pk for ticket in tickets if ticket.acknowledgement_due]
    if acknowledged:
        from .tasks import send_acknowledgement_task

        # robust: with Redis down the ticket is still created; the outbound sweep acknowledges it later
        send_acknowledgement_task.delay_on_commit(*acknowledged)
    routed = [ticket.pk for ticket in tickets if ticket.needs_routing]
    if routed:
        from .tasks import route_tickets_task

        # robust: with Redis down the ticket is still created; the routing sweep assigns it later
        transaction.on_commit(lambda: route_tickets_task.delay(*routed), robust=True)
    return tickets


def _mark_for_routing(tickets: Sequence[Ticket]) -> None:
    """Mark the new tickets that ``tickets.routing`` has work for: all of them when routing rules run on
    new tickets, else the unassigned ones of teams that assign automatically (both read from the cache)."""
    if selectors.rules_run_on_create():
        for ticket in tickets:
            ticket.needs_routing = True
        return
    automatic = selectors.automatic_teams()
    for ticket in tickets:
        if ticket.assignee_id is None:
            ticket.needs_routing = ticket.queue.team_id in automatic


def _check_new_ticket(draft: NewTicket) -> tuple[str, tuple[str, str], str]:
    """(subject, content, kind of the first message) of a ticket to open, or ValidationError."""
    subject = " ".join((draft.subject or "").split())[:255]
    if not subject and draft.email is not None:
        subject = _("(no subject)")
    if not subject:
        raise ValidationError(_("A ticket needs a subject."))
    if draft.channel not in Ticket.Channel.values:
        raise ValidationError(_("Unknown channel “%(channel)s”."), params={"channel": draft.channel})
    if draft.priority not in Ticket.Priority.values:
        raise ValidationError(_("Unknown priority “%(priority)s”."), params={"priority": draft.priority})
    if draft.email is None:
        attachment_validate_all(draft.attachments)
    if draft.assignee is not None:
        _check_assignable(draft.assignee, draft.queue)
    content = _message_body(draft.body, is_html=draft.body_is_html, email=draft.email, attachments=draft.attachments)
    # An agent's outbound email: the agent writes to the customer first.
    outbound = draft.created_by is not None and draft.channel == Ticket.Channel.AGENT
    return subject, content, Message.Kind.REPLY if outbound else Message.Kind.CUSTOMER


def _after_create(ticket: Ticket, draft: NewTicket, now) -> None:
    """Assignee, tags and follow-up link of a new ticket (agents' and follow-up tickets only)."""
    if draft.assignee is not None:
        _event(ticket, TicketEvent.Kind.FIELD, actor=draft.created_by, field="assignee", new=draft.assignee.pk,
               when=now)  # fmt: skip
        if draft.assignee != draft.created_by:
            _notify_assigned(ticket, draft.assignee, actor=draft.created_by)
    if draft.tags:
        _set_tags(ticket, add=draft.tags, actor=draft.created_by)
    if draft.follow_up_of is not None:
        TicketLink.objects.create(from_ticket=ticket, to_ticket=draft.follow_up_of, created_by=draft.created_by)


# --- messages ----------------------------------------------------------------------------------


def _follow_merges(ticket: Ticket) -> Ticket:
    seen = set()
    while ticket.merged_into_id is not None and ticket.pk not in seen:
        seen.add(ticket.pk)
        ticket = Ticket.objects.get(pk=ticket.merged_into_id)
    return ticket


@dataclass(frozen=True)
class CustomerMessage:
    """A message from a customer: ``ticket_add_customer_message``'s arguments, for
    ``tickets_add_customer_messages``."""

    ticket: Ticket
    body: str
    channel: str
    customer: Customer | None = None
    body_is_html: bool = False
    attachments: Sequence = ()
    email: EmailDetails | None = None


def ticket_add_customer_message(
    *,
    ticket: Ticket,
    body: str,
    channel: str,
    customer: Customer | None = None,
    body_is_html: bool = False,
    attachments: Sequence = (),
    email: EmailDetails | None = None,
) -> tuple[Ticket, Message]:
    """A message from the customer. Returns the ticket it landed on and the message.

    Solved or pending tickets reopen; a closed ticket is final, so the message opens a new ticket
    linked to it; a merged ticket passes the message on to the ticket it was merged into.
    """
    return tickets_add_customer_messages([CustomerMessage(ticket=ticket, body=body, channel=channel,
                                                          customer=customer, body_is_html=body_is_html,
                                                          attachments=attachments, email=email)])[0]  # fmt: skip


@transaction.atomic
def tickets_add_customer_messages(items: Sequence[CustomerMessage]) -> list[tuple[Ticket, Message]]:
    """Customer messages, each as ``ticket_add_customer_message`` describes, in order, all or none: several
    at once (a batch of inbound email) take a few statements more than one."""
    for item in items:
        if item.email is None:
            attachment_validate_all(item.attachments)
    targets = [_follow_merges(item.ticket) for item in items]
    customers = [item.customer or target.customer for item, target in zip(items, targets, strict=True)]
    # Lock every ticket once, in id order, so that two batches cannot deadlock.
    locked = {t.pk: t for t in Ticket.objects.select_for_update(of=("self",)).select_related("customer")
              .filter(pk__in={t.pk for t in targets}).order_by("pk")}  # fmt: skip
    results: list = [None] * len(items)
    closed = [(index, item, locked[target.pk]) for index, (item, target) in enumerate(zip(items, targets, strict=True))
              if locked[target.pk].status == Status.CLOSED]  # fmt: skip
    follow_ups = tickets_create([
        NewTicket(customer=customers[index], subject=ticket.subject, body=item.body,
                  body_is_html=item.body_is_html, channel=item.channel, queue=ticket.queue, priority=ticket.priority,
                  attachments=item.attachments, follow_up_of=ticket, email=item.email)
        for index, item, ticket in closed
    ]) if closed else []  # fmt: skip
    for (index, _item, _ticket), follow_up in zip(closed, follow_ups, strict=True):
        results[index] = (follow_up, follow_up.first_message)
    open_items = [(index, item, locked[target.pk]) for index, (item, target)
                  in enumerate(zip(items, targets, strict=True)) if results[index] is None]  # fmt: skip
    new = [
        _NewMessage(ticket, kind=Message.Kind.CUSTOMER, channel=item.channel,
                    content=_message_body(item.body, is_html=item.body_is_html, email=item.email,
                                          attachments=item.attachments),
                    author_customer=customers[index], attachments=item.attachments, email=item.email)
        for index, item, ticket in open_items
    ]  # fmt: skip
    changed: dict[int, tuple[Ticket, list[str], list[Message]]] = {}
    for (index, _item, ticket), message in zip(open_items, _add_messages(new) if new else [], strict=True):
        results[index] = (ticket, message)
        ticket.last_customer_message_at = message.created_at
        _ticket, fields, messages = changed.setdefault(ticket.pk, (ticket, ["last_customer_message_at"], []))
        messages.append(message)
        if ticket.status in (Status.SOLVED, Status.PENDING):
            fields += _apply_status(ticket, Status.OPEN, customer=message.author_customer, when=message.created_at)
        sla.sla_on_customer_message(ticket, when=message.created_at)
    _save_tickets_with_messages(changed.values())
    for ticket, _fields, messages in changed.values():
        if ticket.assignee_id is not None:
            _notify_customer_replied(ticket, messages)
    if changed:
        _facts_stale(changed)
        _rules_on_customer_messages(list(changed))
    return results


def _rules_on_customer_messages(ticket_ids: list[int]) -> None:
    """Queue the routing rules that run when a customer writes on a ticket, if there are any."""
    from .rules.models import Rule
    from .tasks import run_rules_task

    if Rule.objects.filter(active=True, on_customer_message=True).exists():
        for ticket_id in ticket_ids:
            transaction.on_commit(lambda ticket_id=ticket_id: run_rules_task.delay(ticket_id, "customer_message"),
                                  robust=True)  # fmt: skip


def _notify_customer_replied(ticket: Ticket, messages: Sequence[Message]) -> None:
    from .notifications import notification_add
    from .tasks import notify_customer_replied_task

    for message in messages:
        notification_add(recipient_id=ticket.assignee_id, kind=Notification.Kind.CUSTOMER_REPLIED, ticket=ticket,
                         message=message)  # fmt: skip
        notify_customer_replied_task.delay_on_commit(message.pk)


@transaction.atomic
def ticket_reply(
    *,
    ticket: Ticket,
    author: User,
    body: str,
    body_is_html: bool = False,
    body_is_markdown: bool = False,
    status: str | None = None,
    attachments: Sequence = (),
) -> Message:
    """A public reply by an agent, optionally setting the status in the same step
    ("reply and mark pending"). The first such reply is the ticket's first response.
    ``body_is_markdown``: the agent wrote Markdown (the composer's format)."""
    attachment_validate_all(attachments)
    ticket = _locked(ticket)
    _refuse_if_merged(ticket)
    if ticket.status == Status.CLOSED:
        raise InvalidTransition(_("This ticket is closed; replies are no longer possible."))
    from .mail.outbound import new_reply_message_id

    content = _message_body(body, is_html=body_is_html, is_markdown=body_is_markdown, attachments=attachments)
    message = _add_message(ticket, kind=Message.Kind.REPLY, content=content, channel=ticket.channel,
                           author_user=author, attachments=attachments,
                           outbound_message_id=new_reply_message_id(ticket))  # fmt: skip
    now = message.created_at
    ticket.last_agent_reply_at = now
    fields = ["last_agent_reply_at"]
    if ticket.first_response_at is None and not ticket.opened_by_agent:
        ticket.first_response_at = now
        fields.append("first_response_at")
    sla.sla_on_agent_reply(ticket, when=now)
    new_status = status or (Status.OPEN if ticket.status == Status.NEW else None)
    if new_status:
        fields += _apply_status(ticket, new_status, actor=author, when=now)
    _save_with_message(ticket, message, fields)
    _facts_stale([ticket.pk])
    # Every public reply goes to the customer by email, sent after commit.
    from .tasks import send_reply_task

    send_reply_task.delay_on_commit(message.pk)
    return message


@transaction.atomic
def ticket_add_note(*, ticket: Ticket, author: User | None, body: str, body_is_html: bool = False,
                    body_is_markdown: bool = False, attachments: Sequence = ()) -> Message:  # fmt: skip
    """An internal note: agents only, never sent to the customer, not a response. ``author`` None: the
    help desk itself noted it (a bounce, an automation)."""
    attachment_validate_all(attachments)
    ticket = _locked(ticket)
    _refuse_if_merged(ticket)
    content = _message_body(body, is_html=body_is_html, is_markdown=body_is_markdown, attachments=attachments)
    message = _add_message(ticket, kind=Message.Kind.NOTE, content=content, channel=ticket.channel,
                           author_user=author, attachments=attachments)  # fmt: skip
    _save_with_message(ticket, message)
    if author is not None and "@" in message.body_text:
        from .notifications import mentioned_agents, notification_add
        from .tasks import notify_mentioned_task

        for agent in mentioned_agents(ticket=ticket, text=message.body_text, author=author):
            notification_add(recipient_id=agent.pk, kind=Notification.Kind.MENTIONED, ticket=ticket, message=message,
                             actor=author)  # fmt: skip
            notify_mentioned_task.delay_on_commit(message.pk, agent.pk)
    return message


@transaction.atomic
def ticket_add_system_message(*, ticket: Ticket, body: str, outbound_message_id: str = "") -> Message:
    """A message the system wrote (acknowledgement, automation). Never a response. ``outbound_message_id``:
    it is emailed to the customer with this Message-ID (the caller queues the sending)."""
    ticket = _locked(ticket)
    message = _add_message(ticket, kind=Message.Kind.SYSTEM, content=_message_body(body, is_html=False),
                           channel=ticket.channel, outbound_message_id=outbound_message_id)  # fmt: skip
    _save_with_message(ticket, message)
    return message


# --- fields ------------------------------------------------------------------------------------


@transaction.atomic
def ticket_set_status(*, ticket: Ticket, status: str, actor: User | None) -> Ticket:
    ticket = _locked(ticket)
    fields = _apply_status(ticket, status, actor=actor)
    if fields:
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=[*fields, "updated_at"])
        _facts_stale([ticket.pk])
    return ticket


@transaction.atomic
def ticket_set_priority(*, ticket: Ticket, priority: str, actor: User | None) -> Ticket:
    if priority not in Ticket.Priority.values:
        raise ValidationError(_("Unknown priority “%(priority)s”."), params={"priority": priority})
    ticket = _locked(ticket)
    _refuse_if_closed(ticket)
    if ticket.priority != priority:
        _event(ticket, TicketEvent.Kind.FIELD, actor=actor, field="priority", old=ticket.priority, new=priority)
        ticket.priority = priority
        ticket.priority_rank = Ticket.PRIORITY_RANK[priority]
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=["priority", "priority_rank", "updated_at"])
        sla.sla_on_change(ticket, when=ticket.updated_at)
        _facts_stale([ticket.pk])
    return ticket


def _notify_assigned(ticket: Ticket, assignee: User, *, actor: User | None) -> None:
    from .notifications import notification_add
    from .tasks import notify_assigned_task

    notification_add(recipient_id=assignee.pk, kind=Notification.Kind.ASSIGNED, ticket=ticket, actor=actor)
    notify_assigned_task.delay_on_commit(ticket.pk, assignee.pk)


def _check_assignable(assignee: User, queue: Queue) -> None:
    if not assignee.is_active:
        raise ValidationError(_("%(name)s is not an active user."), params={"name": assignee})
    if not assignee.is_admin and not assignee.teams.filter(pk=queue.team_id).exists():
        raise ValidationError(
            _("%(name)s is not in the team of queue “%(queue)s”."), params={"name": assignee, "queue": queue}
        )


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee: User | None, actor: User | None) -> Ticket:
    """Assign to an agent of the queue's team (or an admin), or unassign with ``None``."""
    ticket = _locked(ticket)
    _refuse_if_closed(ticket)
    if assignee is not None:
        _check_assignable(assignee, ticket.queue)
    if ticket.assignee_id != (assignee.pk if assignee else None):
        _event(ticket, TicketEvent.Kind.FIELD, actor=actor, field="assignee", old=ticket.assignee_id or "",
               new=assignee.pk if assignee else "")  # fmt: skip
        ticket.assignee = assignee
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=["assignee", "updated_at"])
        _facts_stale([ticket.pk])
        if assignee is not None and assignee != actor:
            _notify_assigned(ticket, assignee, actor=actor)
    return ticket


@transaction.atomic
def ticket_set_queue(*, ticket: Ticket, queue: Queue, actor: User | None) -> Ticket:
    """Move to another queue; an assignee outside the new queue's team is unassigned."""
    ticket = _locked(ticket)
    _refuse_if_closed(ticket)
    if ticket.queue_id == queue.pk:
        return ticket
    now = timezone.now()
    _event(ticket, TicketEvent.Kind.FIELD, actor=actor, field="queue", old=ticket.queue_id, new=queue.pk, when=now)
    ticket.queue = queue
    fields = ["queue", "updated_at"]
    assignee = ticket.assignee
    if assignee is not None and not assignee.is_admin and not assignee.teams.filter(pk=queue.team_id).exists():
        _event(ticket, TicketEvent.Kind.FIELD, actor=actor, field="assignee", old=assignee.pk, when=now)
        ticket.assignee = None
        fields.append("assignee")
    ticket.updated_at = now
    ticket.save(update_fields=fields)
    sla.sla_on_change(ticket, when=now)
    _facts_stale([ticket.pk])
    return ticket


def _set_tags(ticket: Ticket, *, add: Iterable[str] = (), remove: Iterable[str] = (), actor=None) -> None:
    add_names = {n.strip().lower()[:50] for n in add if n and n.strip()}
    remove_names = {n.strip().lower() for n in remove if n and n.strip()} - add_names
    current = set(ticket.tags.values_list("name", flat=True))
    to_add = add_names - current
    to_remove = remove_names & current
    if to_add:
        Tag.objects.bulk_create([Tag(name=n) for n in to_add], ignore_conflicts=True)
        ticket.tags.add(*Tag.objects.filter(name__in=to_add))
    if to_remove:
        ticket.tags.remove(*Tag.objects.filter(name__in=to_remove))
    for name in sorted(to_add):
        _event(ticket, TicketEvent.Kind.FIELD, actor=actor, field="tags", new=name)
    for name in sorted(to_remove):
        _event(ticket, TicketEvent.Kind.FIELD, actor=actor, field="tags", old=name)


@transaction.atomic
def ticket_tag(*, ticket: Ticket, actor: User | None, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Ticket:
    """Add and remove tags (names are case-insensitive and created on first use)."""
    ticket = _locked(ticket)
    _refuse_if_closed(ticket)
    _set_tags(ticket, add=add, remove=remove, actor=actor)
    ticket.updated_at = timezone.now()
    ticket.save(update_fields=["updated_at"])
    return ticket


def _refuse_if_closed(ticket: Ticket) -> None:
    if ticket.status == Status.CLOSED:
        raise InvalidTransition(_("A closed ticket cannot be changed."))


def _refuse_if_merged(ticket: Ticket) -> None:
    if ticket.merged_into_id is not None:
        raise InvalidTransition(
            _("This ticket was merged into %(reference)s; write there instead."),
            params={"reference": f"{settings.TICKET_REFERENCE_PREFIX}-{ticket.merged_into_id}"},
        )


# --- merge and link ----------------------------------------------------------------------------


@transaction.atomic
def ticket_merge(*, source: Ticket, target: Ticket, actor: User | None) -> Ticket:
    """Merge ``source`` into ``target``: its messages and tags move, it is closed, and its reference
    keeps pointing (redirecting) to ``target``. The customers may differ (the same request sent
    from two addresses); the target keeps its own."""
    if source.pk == target.pk:
        raise ValidationError(_("A ticket cannot be merged into itself."))
    # Lock both rows in id order so two merges of the same pair cannot deadlock.
    locked = {t.pk: t for t in Ticket.objects.select_for_update(of=("self",)).filter(pk__in=[source.pk, target.pk])
              .order_by("pk")}  # fmt: skip
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id or target.merged_into_id:
        raise ValidationError(_("A ticket that was merged away cannot be merged again."))
    if target.status == Status.CLOSED:
        raise InvalidTransition(_("Tickets cannot be merged into a closed ticket."))
    now = timezone.now()
    moved = Message.objects.filter(ticket=source).update(ticket=target)
    _set_tags(target, add=list(source.tags.values_list("name", flat=True)), actor=actor)
    _event(target, TicketEvent.Kind.MERGED, actor=actor, field="merged_from", new=source.reference, when=now)
    _event(source, TicketEvent.Kind.MERGED, actor=actor, field="merged_into", new=target.reference, when=now)
    target.message_count += moved
    target.updated_at = now
    if target.first_response_at is None and source.first_response_at is not None:
        target.first_response_at = source.first_response_at
    target.save(update_fields=["message_count", "updated_at", "first_response_at"])
    fields = _apply_status(source, Status.CLOSED, actor=actor, when=now) if source.status != Status.CLOSED else []
    source.merged_into = target
    source.message_count = 0
    source.updated_at = now
    source.save(update_fields=[*fields, "merged_into", "message_count", "updated_at"])
    ticket_search_refresh(ticket_id=target.pk)
    ticket_search_refresh(ticket_id=source.pk)
    _facts_stale([source.pk, target.pk])
    return target


@transaction.atomic
def ticket_link(*, ticket: Ticket, other: Ticket, actor: User | None) -> TicketLink:
    """Link two related tickets; linking twice is a no-op."""
    if ticket.pk == other.pk:
        raise ValidationError(_("A ticket cannot be linked to itself."))
    a, b = sorted([ticket, other], key=lambda t: t.pk)
    link, created = TicketLink.objects.get_or_create(from_ticket=a, to_ticket=b, defaults={"created_by": actor})
    if created:
        _event(ticket, TicketEvent.Kind.LINKED, actor=actor, field="link", new=other.reference)
        _event(other, TicketEvent.Kind.LINKED, actor=actor, field="link", new=ticket.reference)
    return link


# --- acknowledgement ---------------------------------------------------------------------------


def ticket_send_acknowledgement(*, ticket_id: int) -> bool:
    """Email the customer that their request arrived (see ``tickets.mail.outbound``). Idempotent: sends at
    most once per ticket. Returns True when an email was sent now."""
    from .mail.outbound import acknowledgement_send

    return acknowledgement_send(ticket_id=ticket_id)


# --- bulk --------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    changed: int = 0
    errors: list[str] = dc_field(default_factory=list)


UNCHANGED = object()  # "leave the assignee as it is", since None means "unassign"


def tickets_bulk_update(
    *,
    tickets: Sequence[Ticket],
    actor: User,
    assignee: object = UNCHANGED,  # a User, None to unassign, or UNCHANGED
    status: str | None = None,
    priority: str | None = None,
    add_tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
) -> BulkResult:
    """Apply one change to many tickets, each through its own service in its own transaction: a
    ticket that cannot take the change (closed, assignee outside its team) is reported, the rest change."""
    result = BulkResult()
    add_tags, remove_tags = list(add_tags), list(remove_tags)
    for ticket in tickets:
        try:
            with transaction.atomic():
                if assignee is not UNCHANGED:
                    ticket_assign(ticket=ticket, assignee=assignee, actor=actor)
                if status:
                    ticket_set_status(ticket=ticket, status=status, actor=actor)
                if priority:
                    ticket_set_priority(ticket=ticket, priority=priority, actor=actor)
                if add_tags or remove_tags:
                    ticket_tag(ticket=ticket, actor=actor, add=add_tags, remove=remove_tags)
        except ValidationError as error:
            result.errors.append(f"{ticket.reference}: {' '.join(error.messages)}")
        else:
            result.changed += 1
    return result


def tickets_bulk_merge(*, tickets: Sequence[Ticket], actor: User) -> tuple[Ticket, BulkResult]:
    """Merge the selected tickets into the oldest of them (the lowest number)."""
    if len(tickets) < 2:
        raise ValidationError(_("Select at least two tickets to merge."))
    target, *sources = sorted(tickets, key=lambda t: t.pk)
    result = BulkResult()
    for source in sources:
        try:
            ticket_merge(source=source, target=target, actor=actor)
        except ValidationError as error:
            result.errors.append(f"{source.reference}: {' '.join(error.messages)}")
        else:
            result.changed += 1
    return target, result
