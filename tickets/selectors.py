"""Reads of tickets that depend on who is asking.

An agent sees the tickets of their teams' queues and the tickets assigned to them; owners and
admins see all. A ticket the user may not see does not exist for them (404, not 403).
"""

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, Prefetch, Q, QuerySet
from django.http import Http404

from helpdesk.models import User

from .models import Attachment, Message, Queue, Ticket

SEARCH_CONFIG = "helpdesk"


def queues_visible_to(user: User) -> QuerySet[Queue]:
    if user.is_admin:
        return Queue.objects.all()
    return Queue.objects.filter(team__members=user)


def tickets_visible_to(user: User) -> QuerySet[Ticket]:
    if not user.is_authenticated or not user.is_active:
        return Ticket.objects.none()
    if user.is_admin:
        return Ticket.objects.all()
    team_ids = list(user.teams.values_list("id", flat=True))
    return Ticket.objects.filter(Q(queue__team_id__in=team_ids) | Q(assignee=user))


def access_ticket(user: User, ticket_id) -> Ticket:
    """The ticket if ``user`` may see it; ``Http404`` otherwise (never a 403 that leaks existence)."""
    try:
        ticket_id = int(ticket_id)
    except (TypeError, ValueError):
        raise Http404("No such ticket.") from None
    ticket = tickets_visible_to(user).select_related("queue", "customer", "assignee").filter(pk=ticket_id).first()
    if ticket is None:
        raise Http404("No such ticket.")
    return ticket


LIST_VIEWS = {
    "mine": Q(status__in=Ticket.OPEN_STATUSES),  # plus assignee=user, added below
    "unassigned": Q(status__in=Ticket.OPEN_STATUSES, assignee__isnull=True),
    "open": Q(status__in=Ticket.OPEN_STATUSES),
    "pending": Q(status=Ticket.Status.PENDING),
    "on_hold": Q(status=Ticket.Status.ON_HOLD),
    "solved": Q(status=Ticket.Status.SOLVED),
    "all": Q(),
}
SORTS = {
    "updated": ["-updated_at", "-id"],
    "created": ["-created_at", "-id"],
    "priority": ["-priority_rank", "-updated_at", "-id"],
}


def ticket_list(
    *,
    user: User,
    view: str = "open",
    queue_id: int | None = None,
    status: str | None = None,
    sort: str = "updated",
) -> QuerySet[Ticket]:
    """The tickets of one list view, with what a list row shows loaded in the same query."""
    qs = tickets_visible_to(user).filter(LIST_VIEWS.get(view, LIST_VIEWS["open"]), merged_into__isnull=True)
    if view == "mine":
        qs = qs.filter(assignee=user)
    if queue_id:
        qs = qs.filter(queue_id=queue_id)
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("queue", "customer", "assignee").order_by(*SORTS.get(sort, SORTS["updated"]))


def ticket_search(*, user: User, query: str) -> QuerySet[Ticket]:
    """Full-text search over subject and messages: ranked, stemmed, accent-insensitive."""
    search_query = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
    return (
        tickets_visible_to(user)
        .filter(search_vector=search_query, merged_into__isnull=True)
        .annotate(rank=SearchRank(F("search_vector"), search_query))
        .select_related("queue", "customer", "assignee")
        .order_by("-rank", "-updated_at")
    )


def ticket_messages(*, ticket: Ticket, include_internal: bool = True) -> QuerySet[Message]:
    """The conversation oldest first, with authors and attachments loaded."""
    qs = ticket.messages.all()
    if not include_internal:
        qs = qs.filter(kind__in=Message.PUBLIC_KINDS)
    return qs.select_related("author_user", "author_customer").prefetch_related(
        Prefetch("attachments", queryset=Attachment.objects.order_by("id"))
    )


def access_attachment(user: User, attachment_id) -> Attachment:
    try:
        attachment_id = int(attachment_id)
    except (TypeError, ValueError):
        raise Http404("No such attachment.") from None
    attachment = (
        Attachment.objects.select_related("message").filter(pk=attachment_id,
                                                             message__ticket__in=tickets_visible_to(user)).first()
    )  # fmt: skip
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment
