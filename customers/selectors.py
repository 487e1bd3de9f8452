"""Reads of customers that depend on who is asking."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Prefetch, Q, Subquery, Value, When
from django.db.models.functions import Coalesce

from helpdesk.models import User

from .models import Customer, CustomerEmail, CustomerNote, CustomerPreference, Segment
from .segments import segment_condition

SEARCH_MAX_LIMIT = 50


def customers_visible_to(user: User):
    """Who ``user`` may look up. Owners and admins: everyone. Agents: the customers with a ticket they can
    see (in their teams' queues or assigned to them), and customers with no ticket yet (new or imported
    ones, so an agent can open the first ticket for them); not customers whose every ticket is in other
    teams' queues: a team's customers' history stays with that team. (Decision for issue 6.)"""
    from tickets.models import Ticket
    from tickets.selectors import tickets_visible_to

    if not user.is_authenticated or not user.is_active:
        return Customer.objects.none()
    if user.is_admin:
        return Customer.objects.all()
    theirs = tickets_visible_to(user).filter(customer_id=OuterRef("pk"))
    anyones = Ticket.objects.filter(customer_id=OuterRef("pk"))
    return Customer.objects.filter(Exists(theirs) | ~Exists(anyones))


def _best_first(query: str) -> Case:
    """An exact email, then emails and names that start with ``query``, then the rest."""
    return Case(
        When(email__iexact=query, then=Value(0)),
        When(Q(email__istartswith=query) | Q(name__istartswith=query), then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def customer_search(*, user: User, query: str, limit: int = 10) -> list[Customer]:
    """Customers whose email or name contains ``query`` (case-insensitive), best first (``_best_first``),
    each group by name. Only customers ``user`` may see (``customers_visible_to``)."""
    query = " ".join((query or "").split())[:200]
    if not query:
        return []
    limit = max(1, min(limit, SEARCH_MAX_LIMIT))
    matches = customers_visible_to(user).filter(Q(email__icontains=query) | Q(name__icontains=query))
    return list(matches.annotate(rank=_best_first(query)).order_by("rank", "name", "email", "pk")[:limit])


def access_customer(user: User, customer_id) -> Customer | None:
    """The customer if ``user`` may see it, else ``None`` (an id that does not parse is ``None`` too)."""
    try:
        customer_id = int(customer_id)
    except (TypeError, ValueError):
        return None
    return customers_visible_to(user).filter(pk=customer_id).first()


# --- the agents' customer screens ----------------------------------------------------------------

LIST_PAGE = 50
TIMELINE_PAGE = 30  # a screenful; "Older" brings the next


def customers_filtered(*, user: User, query: str = "", organization_id: int | None = None, tag: str = "",
                       segment_id: int | None = None):  # fmt: skip
    """Customers ``user`` may see whose name, email, other address or phone contains ``query`` (best first,
    then by name), in an organization, with a tag; by name without ``query``. The list page and the CSV
    export filter the same way. The search is served by the trigram indexes (one more query finds the
    other addresses first, so the conditions stay one OR of indexable ones)."""
    customers = customers_visible_to(user)
    query = " ".join((query or "").split())[:200]
    if query:
        others = list(CustomerEmail.objects.filter(email__icontains=query).values_list("customer_id", flat=True)[:1000])
        customers = customers.filter(Q(email__icontains=query) | Q(name__icontains=query) | Q(phone__icontains=query)
                                     | Q(pk__in=others))  # fmt: skip
    if organization_id:
        customers = customers.filter(organization_id=organization_id)
    if tag:
        customers = customers.filter(tags__contains=[tag])
    if segment_id:
        segment = Segment.objects.select_related("custom_field").filter(pk=segment_id).first()
        customers = customers.filter(segment_condition(segment)) if segment else customers.none()
    if query:
        return customers.annotate(rank=_best_first(query)).order_by("rank", "name", "email", "pk")
    return customers.order_by("name", "email", "pk")


def customer_list_page(*, user: User, query: str = "", organization_id: int | None = None, tag: str = "",
                       segment_id: int | None = None, page: int = 1) -> tuple[list[Customer], bool]:  # fmt: skip
    """One page of ``customers_filtered`` for the list page, and whether another follows. Each customer
    comes with its organization, number of tickets and when it last asked, computed for the page's rows
    only. No total count: counting every visible customer would cost more than the page."""
    from tickets.models import Ticket

    start = (page - 1) * LIST_PAGE
    matches = customers_filtered(
        user=user, query=query, organization_id=organization_id, tag=tag, segment_id=segment_id
    )
    ids = list(matches.values_list("pk", flat=True)[start : start + LIST_PAGE + 1])
    tickets = Ticket.objects.filter(customer_id=OuterRef("pk")).order_by()
    rows = (
        Customer.objects.filter(pk__in=ids[:LIST_PAGE])
        .select_related("organization")
        .annotate(
            ticket_count=Coalesce(Subquery(tickets.values("customer_id").annotate(n=Count("pk")).values("n")), 0),
            last_ticket_at=Subquery(tickets.order_by("-created_at").values("created_at")[:1]),
        )
    )
    position = {pk: index for index, pk in enumerate(ids)}
    return sorted(rows, key=lambda customer: position[customer.pk]), len(ids) > LIST_PAGE


def customers_with_ticket_stats(customers):
    """``customers`` (a queryset, in its order) with their organization and other addresses, and, as on the
    list page, their number of tickets (``ticket_count``) and when they last asked (``last_ticket_at``): the
    API's customers. The two are subqueries of the select list, which Postgres computes after the LIMIT, for
    the rows of a page only."""
    from tickets.models import Ticket

    tickets = Ticket.objects.filter(customer_id=OuterRef("pk")).order_by()
    return (
        customers.select_related("organization")
        .prefetch_related(Prefetch("other_emails", CustomerEmail.objects.order_by("email", "pk")))
        .annotate(
            ticket_count=Coalesce(Subquery(tickets.values("customer_id").annotate(n=Count("pk")).values("n")), 0),
            last_ticket_at=Subquery(tickets.order_by("-created_at").values("created_at")[:1]),
        )
    )


def customer_notes(*, customer: Customer):
    """The notes about ``customer`` with their authors: pinned first, then newest first (as the customer page)."""
    return customer.notes.select_related("author").order_by("-pinned", "-created_at", "-pk")


def customer_profile(*, user: User, customer_id) -> Customer | None:
    """One customer with what the customer page shows beside the timeline, or None if not visible."""
    customer = access_customer(user, customer_id)
    if customer is None:
        return None
    return (
        Customer.objects.select_related("organization")
        .prefetch_related(
            "other_emails", "preferences", Prefetch("notes", CustomerNote.objects.select_related("author"))
        )
        .get(pk=customer.pk)
    )


def customer_panel(*, customer_id: int) -> dict:
    """What the ticket page shows about its customer: pinned notes and preferences (two queries)."""
    return {
        "pinned_notes": list(
            CustomerNote.objects.filter(customer_id=customer_id, pinned=True).select_related("author")
        ),
        "preferences": list(CustomerPreference.objects.filter(customer_id=customer_id)),
    }


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # "ticket", "message", "note", "survey", "event"
    item: object


def _newest_messages(tickets, *, before: datetime | None, limit: int) -> list:
    """The ``limit`` newest messages (older than ``before``) on ``tickets``, without sorting all their
    messages: a ticket's ``updated_at`` is never earlier than its newest message (``tickets.services``
    sets it on every message), so tickets are read newest-updated first, a batch at a time, until the
    next batch cannot hold anything newer than what was found. One or two batches for most customers,
    each an index range on (customer, updated_at) and one on the messages' (ticket, created_at, id)."""
    from tickets.models import Message

    older = {"created_at__lt": before} if before else {}
    # A ticket opened at or after ``before`` has no message before it.
    candidates = tickets.filter(**older).order_by("-updated_at", "-pk").values_list("pk", "updated_at")
    batch, start, found = limit * 2, 0, []
    while True:
        rows = list(candidates[start : start + batch])
        if rows:
            newest = Message.objects.filter(ticket_id__in=[pk for pk, _at in rows], **older)
            found = sorted([*found, *newest.order_by("-created_at", "-pk").values_list("created_at", "pk")[:limit]],
                           reverse=True)[:limit]  # fmt: skip
        start += batch
        if len(rows) < batch or (len(found) == limit and found[-1][0] > rows[-1][1]):
            break
    ids = [pk for _at, pk in found]
    return list(
        Message.objects.filter(pk__in=ids).select_related("ticket", "author_user").order_by("-created_at", "-pk")
    )


def customer_timeline(*, user: User, customer: Customer, before: datetime | None = None,
                      limit: int = TIMELINE_PAGE) -> list[TimelineItem]:  # fmt: skip
    """Everything about the customer, newest first: tickets opened, their messages (on every channel;
    internal notes too, as on the ticket page), notes about them, survey answers and changes to their
    record; only what ``user`` may see. ``before`` pages back: ``limit`` items older than it.
    Seven queries a page for most customers, each reading a bounded range of an index."""
    from tickets.selectors import tickets_visible_to
    from tickets.surveys.models import Survey

    tickets = tickets_visible_to(user).filter(customer=customer)
    older = {"created_at__lt": before} if before else {}
    sources = [
        ("ticket", tickets.filter(**older).select_related("queue").order_by("-created_at", "-pk"), "created_at"),
        ("message", _newest_messages(tickets, before=before, limit=limit), "created_at"),
        ("note", customer.notes.filter(**older).select_related("author").order_by("-created_at", "-pk"), "created_at"),
        ("survey", Survey.objects.filter(customer=customer, ticket__in=tickets.values("pk"), answered_at__isnull=False,
                                         **({"answered_at__lt": before} if before else {}))
         .select_related("ticket").order_by("-answered_at", "-pk"), "answered_at"),
        ("event", customer.events.filter(**older).select_related("actor").order_by("-created_at", "-pk"), "created_at"),
    ]  # fmt: skip
    items = [TimelineItem(getattr(row, field), kind, row) for kind, rows, field in sources for row in rows[:limit]]
    # Newest first; at the same instant, a ticket before its first message before what followed.
    return sorted(items, key=lambda entry: (entry.at, _KIND_ORDER[entry.kind], entry.item.pk), reverse=True)[:limit]


_KIND_ORDER = {"ticket": 0, "message": 1, "survey": 2, "note": 3, "event": 4}
