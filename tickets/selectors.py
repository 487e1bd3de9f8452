"""Reads of tickets that depend on who is asking.

An agent sees the tickets of their teams' queues and the tickets assigned to them; owners and
admins see all. A ticket the user may not see does not exist for them (404, not 403).
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import OperationalError, connection, transaction
from django.db.models import Count, F, Prefetch, Q, QuerySet, Value
from django.http import Http404
from django.utils import timezone
from psycopg.errors import QueryCanceled

from helpdesk.cached import cached
from helpdesk.models import User

from .models import Attachment, Message, Queue, Ticket, TicketEvent

SEARCH_CONFIG = "helpdesk"
PORTAL_QUEUES_KEY = "portal:queues"
RULES_ON_CREATE_KEY = "tickets:rules-on-create"
AUTOMATIC_TEAMS_KEY = "tickets:automatic-teams"


def portal_queues() -> list[Queue]:
    """The topics of the portal's request form: the queues put on the portal, else the first queue."""
    # Every form the portal shows and every request sent reads them: from the cache (helpdesk.cached), in one
    # query for both cases when it has to (there are a handful of queues), sorted by the database's collation.
    queues = cached(PORTAL_QUEUES_KEY, lambda: list(Queue.objects.order_by("-on_portal", "name")))
    on_portal = [queue for queue in queues if queue.on_portal]
    if on_portal or not queues:
        return on_portal
    return [min(queues, key=lambda queue: queue.pk)]


def rules_run_on_create() -> bool:
    """Whether an active routing rule runs on new tickets. Every new ticket asks: from the cache
    (helpdesk.cached), dropped whenever a rule changes."""
    from .rules.models import Rule

    return cached(RULES_ON_CREATE_KEY, lambda: Rule.objects.filter(active=True, on_create=True).exists())


def automatic_teams() -> frozenset[int]:
    """The ids of the teams that assign their new tickets automatically (round robin, least open). Every new
    ticket asks: from the cache, dropped whenever a team's settings change (not when round robin moves on)."""
    from helpdesk.models import Team

    return cached(AUTOMATIC_TEAMS_KEY, lambda: frozenset(
        Team.objects.exclude(assignment=Team.Assignment.MANUAL).values_list("pk", flat=True)))  # fmt: skip


def portal_submission_ticket(*, submission, email: str) -> Ticket | None:
    """The ticket a portal form with this one-time id already opened for this address, if any (a form sent
    again). Another address's ticket is never returned: the id alone does not open someone else's request."""
    if submission is None:
        return None
    # By the unique id alone (an index probe, the common answer being "none"), then the address in Python:
    # the same rule as ``Customer.objects.with_email`` (stripped, any case), without a join on every send.
    # Two columns, not the ticket's seventy: building the query costs more CPU than running it.
    found = Ticket.objects.filter(portal_submission=submission).values_list("pk", "customer__email").first()
    if found is None or found[1].strip().lower() != email.strip().lower():
        return None
    return Ticket.objects.select_related("customer").get(pk=found[0])


def portal_tickets_of(customer) -> QuerySet[Ticket]:
    """The requests a customer signed in to the portal sees: their own and, when their organization
    shares requests, its other members' (not merged ones: they live on in the ticket they joined)."""
    mine = Q(customer_id=customer.pk)
    organization = customer.organization
    if organization is not None and organization.shared_tickets:
        mine |= Q(customer__organization_id=organization.pk)
    return Ticket.objects.filter(mine, merged_into__isnull=True).select_related("customer")


def queues_visible_to(user: User) -> QuerySet[Queue]:
    if user.is_admin:
        return Queue.objects.all()
    return Queue.objects.filter(team__members=user)


def tickets_visible_to(user: User) -> QuerySet[Ticket]:
    if not user.is_authenticated or not user.is_active:
        return Ticket.objects.none()
    if user.is_admin:
        return Ticket.objects.all()
    # A subquery of queue ids: one query for the whole list, and no join, so indexes led by
    # queue_id serve it.
    queue_ids = Queue.objects.filter(team__members=user).values("id")
    return Ticket.objects.filter(Q(queue_id__in=queue_ids) | Q(assignee=user))


def access_ticket(user: User, ticket_id) -> Ticket:
    """The ticket if ``user`` may see it; ``Http404`` otherwise (never a 403 that leaks existence)."""
    try:
        ticket_id = int(ticket_id)
    except (TypeError, ValueError):
        raise Http404("No such ticket.") from None
    ticket = (
        tickets_visible_to(user)
        .select_related("queue", "customer__organization", "assignee")
        .filter(pk=ticket_id)
        .first()
    )
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
    "due": [F("sla_due_at").asc(nulls_last=True), "-priority_rank", "id"],  # the SLA target due first
}


@dataclass(frozen=True)
class TicketFilters:
    """Filters an agent combines freely on any list or search (empty = no filter).

    ``assignee`` is "me", "none" or a user id; the dates are whole days in the viewer's time zone,
    both included.
    """

    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    assignee: str = ""
    tag: str = ""
    created_from: date | None = None
    created_to: date | None = None

    @property
    def active(self) -> int:
        """How many filters are set (shown on the filter button)."""
        return sum(bool(v) for v in (self.statuses, self.priorities, self.channels, self.assignee, self.tag)) + (
            self.created_from is not None or self.created_to is not None
        )


def _start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _filtered(qs: QuerySet[Ticket], *, user: User, filters: TicketFilters | None) -> QuerySet[Ticket]:
    if filters is None:
        return qs
    if filters.statuses:
        qs = qs.filter(status__in=filters.statuses)
    if filters.priorities:
        qs = qs.filter(priority__in=filters.priorities)
    if filters.channels:
        qs = qs.filter(channel__in=filters.channels)
    if filters.assignee == "me":
        qs = qs.filter(assignee=user)
    elif filters.assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif filters.assignee.isdigit():
        qs = qs.filter(assignee_id=int(filters.assignee))
    if filters.tag:
        qs = qs.filter(tags__name=filters.tag.strip().lower())
    if filters.created_from:
        qs = qs.filter(created_at__gte=_start_of_day(filters.created_from))
    if filters.created_to:
        qs = qs.filter(created_at__lt=_start_of_day(filters.created_to + timedelta(days=1)))
    return qs


def ticket_list(
    *,
    user: User,
    view: str = "open",
    queue_id: int | None = None,
    filters: TicketFilters | None = None,
    sort: str = "updated",
) -> QuerySet[Ticket]:
    """The tickets of one list view and filters, with what a list row shows loaded in the same query."""
    qs = tickets_visible_to(user).filter(LIST_VIEWS.get(view, LIST_VIEWS["open"]), merged_into__isnull=True)
    if view == "mine":
        qs = qs.filter(assignee=user)
    if queue_id:
        qs = qs.filter(queue_id=queue_id)
    qs = _filtered(qs, user=user, filters=filters)
    return (
        qs.select_related("queue", "customer", "assignee")
        .defer("search_vector")
        .order_by(*SORTS.get(sort, SORTS["updated"]))
    )


# Ranking every match of a common word ("order" is in a third of a shop's tickets) would sort
# hundreds of thousands of rows; search ranks the most recently updated matches instead.
SEARCH_CANDIDATES = 500
# How the candidates are found (see docs/performance.md, "Search"). Either all matches come from the GIN
# index and the newest are kept (cost: a heap visit per match), or the tickets are walked newest first
# until SEARCH_CANDIDATES match (cost: about tickets / matches × SEARCH_CANDIDATES rows tested, each
# cheaper than a heap visit). Postgres's estimate of the matches picks the cheaper. It cannot know that
# a word common overall may be rare among the tickets one agent sees, so a walk that runs longer than
# SEARCH_WALK_MS is stopped and the GIN index answers after all.
SEARCH_WALK_MS = 100
WALK_ROW_COST = 0.25  # a row tested on the walk, relative to a heap visit for a GIN match (measured: 0.28)
# The GIN-only plans: bitmap scans, with enough memory that the bitmaps stay exact.
_BITMAP_ONLY = {"enable_seqscan": "off", "enable_indexscan": "off", "work_mem": "32MB", "statement_timeout": "0"}
_ANY_PLAN = {"enable_seqscan": "on", "enable_indexscan": "on"}


def _search_visible(user: User) -> Q:
    """``tickets_visible_to`` as literal ids, so the planner can combine it with the word's GIN index."""
    if user.is_admin:
        return Q()
    queues = Queue.objects.filter(team__members=user)
    # Tickets assigned to the user in another team's queue: few, found in the assignee index.
    elsewhere = Ticket.objects.filter(assignee=user).exclude(queue__in=queues).order_by()[:10_000]
    rows = (
        queues.annotate(is_queue=Value(True))
        .values_list("id", "is_queue")
        .union(elsewhere.annotate(is_queue=Value(False)).values_list("id", "is_queue"), all=True)
    )  # one query for both lists
    queue_ids, ticket_ids = [], []
    for pk, is_queue in rows:
        (queue_ids if is_queue else ticket_ids).append(pk)
    visible = Q(pk__in=[])
    if queue_ids:
        visible |= Q(queue_id__in=queue_ids)
    if ticket_ids:
        visible |= Q(pk__in=ticket_ids)
    return visible


def _set(cursor, settings: dict[str, str]) -> None:
    """Planner settings for the rest of the search only (undone with its savepoint)."""
    calls = ", ".join("set_config(%s, %s, true)" for _ in settings)
    cursor.execute(f"SELECT {calls}", [part for item in settings.items() for part in item])


def _estimated_rows(qs: QuerySet) -> int:
    """Postgres's estimate of how many rows ``qs`` returns (0 for a query that cannot match)."""
    explained = qs.explain(format="json")
    return int(json.loads(explained)[0]["Plan"]["Plan Rows"]) if explained else 0


def _walk_is_cheaper(estimated_matches: int) -> bool:
    """Walking costs WALK_ROW_COST × tickets / matches × candidates, the index one visit per match: the two
    meet where matches² = WALK_ROW_COST × candidates × tickets."""
    tickets = _ticket_count_estimate()
    return estimated_matches**2 > WALK_ROW_COST * SEARCH_CANDIDATES * tickets


def _ticket_count_estimate() -> int:
    """The table's size as the planner knows it (kept up to date by autovacuum's ANALYZE); at least 1, also
    for a table never analyzed yet (reltuples -1), so that the index is preferred until the size is known."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT greatest(reltuples, 1)::bigint FROM pg_class WHERE oid = 'tickets_ticket'::regclass")
        return cursor.fetchone()[0]


def _search_candidate_ids(matches: QuerySet[Ticket]) -> list[int]:
    """The ids of the ``SEARCH_CANDIDATES`` most recently updated of ``matches``, newest first."""
    newest_first = matches.order_by("-updated_at", "-id")
    walk = _walk_is_cheaper(_estimated_rows(matches))
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # Read-only, in a savepoint rolled back at the end: the planner settings go with it, also when
        # the caller's transaction goes on.
        savepoint = transaction.savepoint()
        try:
            if walk:
                _set(cursor, _ANY_PLAN | {"statement_timeout": str(SEARCH_WALK_MS)})
                try:
                    with transaction.atomic():
                        return _newest_ids(newest_first)
                except OperationalError as error:
                    if not isinstance(error.__cause__, QueryCanceled):
                        raise
            _set(cursor, _BITMAP_ONLY)
            return _newest_ids(newest_first)
        finally:
            transaction.savepoint_rollback(savepoint)


def _newest_ids(newest_first: QuerySet[Ticket]) -> list[int]:
    return list(newest_first.values_list("pk", flat=True)[:SEARCH_CANDIDATES])


def ticket_search(
    *, user: User, query: str, queue_id: int | None = None, filters: TicketFilters | None = None
) -> QuerySet[Ticket]:
    """Full-text search over subject and messages: stemmed, accent-insensitive, websearch syntax.

    Results are the ``SEARCH_CANDIDATES`` most recently updated matching tickets, ranked by
    relevance (subject words weigh more than message words), newest first among equals.
    """
    if not user.is_authenticated or not user.is_active:
        return Ticket.objects.none()
    search_query = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
    matches = Ticket.objects.filter(_search_visible(user), search_vector=search_query, merged_into__isnull=True)
    if queue_id:
        matches = matches.filter(queue_id=queue_id)
    matches = _filtered(matches, user=user, filters=filters)
    return (
        Ticket.objects.filter(pk__in=_search_candidate_ids(matches))
        .annotate(rank=SearchRank(F("search_vector"), search_query))
        .select_related("queue", "customer", "assignee")
        .defer("search_vector")
        .order_by("-rank", "-updated_at", "-id")
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


# --- agent screens -----------------------------------------------------------------------------


def ticket_list_counts(*, user: User) -> tuple[dict[str, int], dict[int, int]]:
    """The counts of the ticket list's sidebar, in one query: per view (mine, unassigned, open, pending,
    on hold) and per queue (its open tickets, keyed by queue id), from one count per queue and status of the
    open tickets ``user`` may see. Every ticket of a queue the user sees is one they may see, so a visible
    queue's count is all of its open tickets.

    Only the unresolved views are counted: they are what agents act on, and the partial index of open
    tickets (``ticket_open_counts``: queue, assignee, status) answers the query alone. ``solved`` and
    ``all`` grow forever and get no count.
    """
    open_tickets = tickets_visible_to(user).filter(status__in=Ticket.OPEN_STATUSES, merged_into__isnull=True)
    # Count a column of the index (queue_id, never null), not the id: Django refuses COUNT(*) with a filter.
    groups = (
        open_tickets.order_by()
        .values_list("queue_id", "status")
        .annotate(
            mine=Count("queue", filter=Q(assignee=user)),
            unassigned=Count("queue", filter=Q(assignee__isnull=True)),
            total=Count("queue"),
        )
    )
    views = dict.fromkeys(("mine", "unassigned", "open", "pending", "on_hold"), 0)
    queues: dict[int, int] = {}
    for queue_id, status, mine, unassigned, total in groups:
        views["mine"] += mine
        views["unassigned"] += unassigned
        views["open"] += total
        if status in (Ticket.Status.PENDING, Ticket.Status.ON_HOLD):
            views[status] += total
        queues[queue_id] = queues.get(queue_id, 0) + total
    return views, queues


def queues_with_open_counts(*, user: User, counts: dict[int, int] | None = None) -> list[Queue]:
    """The user's queues by name, each with ``open_count``: from ``counts`` (``ticket_list_counts``'s per
    queue) when given, else counted here (one more query)."""
    if counts is None:
        counts = ticket_list_counts(user=user)[1]
    queues = list(queues_visible_to(user).order_by("name"))
    for queue in queues:
        queue.open_count = counts.get(queue.pk, 0)
    return queues


def customer_recent_tickets(*, user: User, customer_id: int, exclude_id: int | None = None,
                            limit: int = 5) -> list[Ticket]:  # fmt: skip
    """The customer's latest tickets that ``user`` may see, newest first."""
    tickets = tickets_visible_to(user).filter(customer_id=customer_id, merged_into__isnull=True)
    if exclude_id is not None:
        tickets = tickets.exclude(pk=exclude_id)
    return list(tickets.only("id", "subject", "status", "created_at").order_by("-created_at", "-id")[:limit])


def assignable_agents(*, queue: Queue, current_id: int | None = None) -> QuerySet[User]:
    """Active agents of the queue's team and active owners/admins (plus the current assignee, if any,
    so a form can show who holds the ticket)."""
    allowed = Q(is_active=True) & (Q(teams=queue.team_id) | Q(role__in=[User.Role.OWNER, User.Role.ADMIN]))
    if current_id is not None:
        allowed |= Q(pk=current_id)
    return User.objects.filter(pk__in=User.objects.filter(allowed).values("pk")).order_by("full_name", "email")


def _event_value(field: str, value: str, users: dict, queues: dict) -> str:
    if not value:
        return ""
    if field == "status":
        return str(Ticket.Status(value).label) if value in Ticket.Status.values else value
    if field == "priority":
        return str(Ticket.Priority(value).label) if value in Ticket.Priority.values else value
    if field == "assignee":
        return str(users.get(int(value), value)) if value.isdigit() else value
    if field == "queue":
        return str(queues.get(int(value), value)) if value.isdigit() else value
    return value


def ticket_events(*, ticket: Ticket, limit: int = 50) -> list[TicketEvent]:
    """The latest audit rows, newest first, each with ``old_display`` and ``new_display``: values made
    readable (status labels, people's and queues' names), looked up in at most two more queries."""
    events = list(ticket.events.select_related("actor", "actor_customer").order_by("-created_at", "-id")[:limit])
    ids: dict[str, set[int]] = {"assignee": set(), "queue": set()}
    for event in events:
        if event.field in ids:
            ids[event.field].update(int(v) for v in (event.old_value, event.new_value) if v.isdigit())
    users = User.objects.in_bulk(ids["assignee"]) if ids["assignee"] else {}
    queues = Queue.objects.in_bulk(ids["queue"]) if ids["queue"] else {}
    for event in events:
        if event.kind == TicketEvent.Kind.CREATED:
            channels = dict(Ticket.Channel.choices)
            event.old_display, event.new_display = "", str(channels.get(event.new_value, event.new_value))
        elif event.kind == TicketEvent.Kind.MESSAGE:
            kinds = dict(Message.Kind.choices)
            event.old_display, event.new_display = "", str(kinds.get(event.new_value, event.new_value))
        else:
            event.old_display = _event_value(event.field, event.old_value, users, queues)
            event.new_display = _event_value(event.field, event.new_value, users, queues)
    return events


def bulk_assignees(*, user: User) -> QuerySet[User]:
    """Whom ``user`` may pick in the list's bulk "assign to": active members of their teams and the
    active owners/admins (everyone active, for an admin). Each ticket still checks its own queue."""
    allowed = Q(is_active=True)
    if not user.is_admin:
        allowed &= Q(teams__members=user) | Q(role__in=[User.Role.OWNER, User.Role.ADMIN])
    return User.objects.filter(pk__in=User.objects.filter(allowed).values("pk")).order_by("full_name", "email")
