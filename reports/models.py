"""Per-ticket report facts (issue 8): what every figure of ../shared/METRICS.md needs, one row per ticket,
computed from the raw history by ``reports.facts.facts_compute`` and nothing else.

- ``TicketFact``: creation, first response (calendar and business seconds), final resolution (both bases),
  reopened, and the attribution columns (queue, channel, priority, customer, agent). The figures aggregate
  over it in SQL (exact ``percentile_cont`` medians and p90s over the facts of a period).
- ``SpanFact``: the intervals in which a ticket was unresolved (creation to first resolution, each reopening
  to the next resolution, the last one open-ended while the ticket is unresolved): the backlog at any
  instant is the number of spans covering it, exact under reopenings.
- ``SLAFact``: one row per measured SLA target (met when its event came in time, at the event; breached
  at the due time, also while it still runs).
- ``SurveyFact``: each survey sent and its answer.
- ``StaleFact``: tickets whose facts must be computed again, written by the ticket services in the same
  transaction as the change (``reports.services.facts_mark_stale``).

Side tables repeat the attribution columns so that a filtered figure never needs a join. Team and
organization are not stored: they are read through the queue and the customer (always current).
Merged-away tickets have no facts (``reports.facts``).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Dimensions(models.Model):
    """The columns every figure can be cut by (METRICS.md, "Periods and filters")."""

    queue = models.ForeignKey("tickets.Queue", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    channel = models.CharField(max_length=10)
    priority = models.CharField(max_length=10)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # The assignee at the final resolution; the current assignee while the ticket is unresolved.
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )

    class Meta:
        abstract = True


class TicketFact(Dimensions):
    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, primary_key=True, related_name="report_fact"
    )
    created_at = models.DateTimeField()
    opened_by_agent = models.BooleanField(default=False)  # no first response time (METRICS.md)
    first_response_at = models.DateTimeField(null=True)
    frt_seconds = models.PositiveIntegerField(null=True)
    frt_business_seconds = models.PositiveIntegerField(null=True)
    # The assignee when the first response was sent (the agent of the FRT figures).
    frt_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True)  # the final resolution; empty while unresolved
    resolution_seconds = models.PositiveIntegerField(null=True)
    resolution_business_seconds = models.PositiveIntegerField(null=True)
    reopened = models.BooleanField(default=False)  # reopened at least once after a resolution

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="fact_created"),
            models.Index(fields=["first_response_at"], name="fact_first_response"),
            models.Index(fields=["resolved_at"], name="fact_resolved"),
            models.Index(fields=["queue", "created_at"], name="fact_queue_created"),
            models.Index(fields=["agent", "resolved_at"], name="fact_agent_resolved"),
            models.Index(
                fields=["created_at"],
                condition=Q(first_response_at__isnull=True, resolved_at__isnull=True, opened_by_agent=False),
                name="fact_awaiting_response",
            ),
        ]

    def __str__(self):
        return f"facts of #{self.ticket_id}"


class SpanFact(Dimensions):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+", db_index=False)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True)  # empty: unresolved now

    class Meta:
        indexes = [
            models.Index(fields=["ticket"], name="span_ticket"),
            models.Index(fields=["opened_at"], name="span_opened"),
            models.Index(fields=["resolved_at"], name="span_resolved"),
            models.Index(fields=["opened_at"], condition=Q(resolved_at__isnull=True), name="span_open_now"),
        ]

    def __str__(self):
        return f"#{self.ticket_id} unresolved {self.opened_at} – {self.resolved_at}"


class SLAFact(Dimensions):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20)  # SLATimer.Kind
    # True: met, at the event; False: breached, at the due time; None: running, due at ``at`` (breached
    # once ``at`` has passed).
    met = models.BooleanField(null=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["ticket"], name="slafact_ticket"),
            models.Index(fields=["at"], name="slafact_at"),
        ]

    def __str__(self):
        return f"#{self.ticket_id} {self.kind} met={self.met} at {self.at}"


class SurveyFact(Dimensions):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=4)  # Survey.Kind
    sent_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True)
    score = models.PositiveSmallIntegerField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["ticket"], name="surveyfact_ticket"),
            models.Index(fields=["sent_at"], name="surveyfact_sent"),
            models.Index(fields=["answered_at"], name="surveyfact_answered"),
        ]

    def __str__(self):
        return f"#{self.ticket_id} {self.kind} {self.score}"


class StaleFact(models.Model):
    """A ticket whose facts are out of date. ``version`` grows with each mark, so a refresh that read an
    older version leaves the row for the next one."""

    ticket_id = models.BigIntegerField(primary_key=True)
    version = models.PositiveIntegerField(default=1)

    def __str__(self):
        return f"#{self.ticket_id} stale ({self.version})"


class Xid8Field(models.BigIntegerField):
    """A PostgreSQL ``xid8`` (a transaction id that never wraps around), set by the database."""

    def db_type(self, connection):
        return "xid8"


class FactChange(models.Model):
    """The change feed of the report facts, for the in-memory engine (``reports.engine``): one row per
    ticket whose fact rows (any of the four tables) a transaction inserted, updated, deleted or truncated,
    written by triggers on the fact tables in that same transaction (migration 0003), so no writer, ORM or
    raw SQL, can bypass it. ``xid`` is the writing transaction: a reader that remembers the snapshot its
    data came from reads exactly the changes that snapshot did not see, however late they commit.
    ``ticket_id`` -1: the fact tables were truncated. Rows older than a day are pruned by the beat sweep
    (``reports.services.fact_changes_prune``)."""

    id = models.BigAutoField(primary_key=True)
    ticket_id = models.BigIntegerField()
    xid = Xid8Field()
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["xid", "ticket_id"], name="factchange_once")]
        indexes = [models.Index(fields=["changed_at"], name="factchange_changed_at")]

    def __str__(self):
        return f"#{self.ticket_id} changed by {self.xid}"


class WeeklySummary(models.Model):
    """The weekly summary email of one week, sent to one owner or admin: recorded in the transaction that
    sends it, so the task, retried or run twice, sends it once (``reports.services.weekly_summaries_send``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField()  # the Monday
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "week_start"], name="weekly_summary_once")]

    def __str__(self):
        return f"weekly summary of {self.week_start} to user {self.user_id}"
