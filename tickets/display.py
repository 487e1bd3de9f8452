"""What the agent screens print, made as plain strings in Python.

A list page shows 50 rows of nine cells, the ticket page up to hundreds of messages and events.
Resolving each cell through the template engine (attribute lookups, ``date`` filters, ``reverse``,
a translation per row) cost about 40 ms a page on the 1M-ticket bench; made here it costs a few.
The templates only print the strings (auto-escaped as ever).
"""

from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from .models import Ticket


@dataclass(frozen=True, slots=True)
class TicketRow:
    pk: int
    reference: str
    url: str
    subject: str
    customer: str
    status: str
    status_label: str
    priority: str
    priority_label: str
    queue: str
    assignee: str  # empty: unassigned
    updated_iso: str
    updated_title: str
    updated_ago: str
    select_label: str
    sla_state: str = ""  # "", "ok", "soon" (within the hour) or "breached"
    sla_label: str = ""


def relative_time(when: datetime, now: datetime) -> str:
    """ "just now", "5 minutes ago", "2 days ago": the largest unit only."""
    if (now - when).total_seconds() < 60:
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(when, now, depth=1)}


class DateTimes:
    """Formats instants for one page: ISO for ``datetime=`` and the locale's long form, cached per minute
    (the long form shows no seconds)."""

    def __init__(self):
        self._long: dict[datetime, str] = {}

    def iso(self, when: datetime) -> str:
        return timezone.localtime(when).isoformat(timespec="seconds")

    def long(self, when: datetime) -> str:
        minute = timezone.localtime(when).replace(second=0, microsecond=0)
        if minute not in self._long:
            self._long[minute] = date_format(minute, "DATETIME_FORMAT")
        return self._long[minute]


def conversation_display(messages, events, *, attachment_url: str = "") -> None:
    """Set what the ticket page prints on each message and event: ``created_iso`` and ``created_long``;
    for messages also ``kind_label``, ``author_label`` (empty for the help desk itself) and
    ``attachment_list``, each attachment with its ``download_url`` (``attachment_url`` with "{}" for its
    id; the agents' download by default)."""
    times = DateTimes()
    attachment_url = attachment_url or reverse("tickets:attachment", args=[0]).replace("/0/", "/{}/")
    for item in (*messages, *events):
        item.created_iso, item.created_long = times.iso(item.created_at), times.long(item.created_at)
    kinds = {"note": _("Internal note"), "reply": _("Reply"), "system": _("Automatic message"),
             "customer": _("Customer")}  # fmt: skip
    for message in messages:
        message.kind_label = kinds[message.kind]
        customer, user = message.author_customer, message.author_user
        message.author_label = (customer.name or customer.email) if customer else str(user) if user else ""
        message.attachment_list = list(message.attachments.all())  # prefetched
        for attachment in message.attachment_list:
            attachment.download_url = attachment_url.format(attachment.pk)


# The columns ``ticket_rows`` reads: the list's query loads these alone (the ticket, its queue, customer and
# assignee whole are about 70 columns a row, most of them dates to parse).
ROW_FIELDS = ("subject", "status", "priority", "updated_at", "sla_due_at", "queue__name", "customer__name",
              "customer__email", "assignee__full_name", "assignee__email")  # fmt: skip


def ticket_rows(tickets: list[Ticket]) -> list[TicketRow]:
    now = timezone.now()
    times = DateTimes()
    # One reverse() for the page: every ticket URL differs only in the number.
    url_pattern = reverse("tickets:detail", args=[0]).replace("/0/", "/{}/")
    select = _("Select %(reference)s")
    status_labels, priority_labels = dict(Ticket.Status.choices), dict(Ticket.Priority.choices)
    rows = []
    for ticket in tickets:
        customer = ticket.customer
        rows.append(
            TicketRow(
                pk=ticket.pk,
                reference=ticket.reference,
                url=url_pattern.format(ticket.pk),
                subject=ticket.subject,
                customer=customer.name or customer.email,
                status=ticket.status,
                status_label=status_labels[ticket.status],
                priority=ticket.priority,
                priority_label=priority_labels[ticket.priority],
                queue=ticket.queue.name,
                assignee=str(ticket.assignee) if ticket.assignee_id else "",
                updated_iso=times.iso(ticket.updated_at),
                updated_title=times.long(ticket.updated_at),
                updated_ago=relative_time(ticket.updated_at, now),
                select_label=select % {"reference": ticket.reference},
                **sla_badge(ticket.sla_due_at, now),
            )
        )
    return rows


SOON = 3600  # seconds: a target due within the hour is shown as urgent


def sla_badge(due: datetime | None, now: datetime) -> dict[str, str]:
    """The list's SLA badge: time left on the earliest running target, or how long it is overdue."""
    if due is None:
        return {}
    left = (due - now).total_seconds()
    if left <= 0:
        return {"sla_state": "breached", "sla_label": _("Overdue %(time)s") % {"time": timesince(due, now, depth=1)}}
    return {"sla_state": "soon" if left <= SOON else "ok",
            "sla_label": _("Due in %(time)s") % {"time": timesince(now, due, depth=1)}}  # fmt: skip
