"""``manage.py bench_sla``: the time of one SLA sweep tick (``tickets.sla.services.sla_sweep``) on the current
dataset, with ``--open`` open tickets each running a first response and a resolution timer.

It changes the dataset (meant for the bench database only): when fewer tickets are open, the newest closed
ones are opened again; every open ticket without timers gets two, due over the next 30 days (set with
SQL, as ``tickets.seeding`` writes tickets). Then it times ticks with nothing due, and ticks where
``--due`` targets have just come due (each run makes that many due, so each tick warns and breaches them,
with the escalation: an audit event and a notification per breach). Prints a Markdown table.
"""

import statistics
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from tickets.management.commands.bench import percentile
from tickets.models import SLAPolicy, SLATimer, Ticket
from tickets.sla.services import sla_sweep

OPEN = ("new", "open", "pending", "on_hold")


class Command(BaseCommand):
    help = "Time SLA sweep ticks over the open tickets of the current dataset (changes the dataset)."

    def add_arguments(self, parser):
        parser.add_argument("--open", type=int, default=50_000, help="open tickets with running timers")
        parser.add_argument("--due", type=int, nargs="+", default=[0, 50, 1000], help="targets due per tick")
        parser.add_argument("--runs", type=int, default=10)
        parser.add_argument("--force", action="store_true", help="run even when DEBUG is off")

    def handle(self, *args, open, due, runs, force, **options):
        from django.conf import settings

        if not settings.DEBUG and not force:
            raise CommandError("bench_sla changes the dataset; run it on a bench database with DEBUG on, or --force.")
        policy, _created = SLAPolicy.objects.get_or_create(
            name="Bench", defaults={"first_response_minutes": 240, "resolution_minutes": 2880, "business_hours": False,
                                    "notify_assignee": True})  # fmt: skip
        with transaction.atomic():
            self._open_tickets(open)
            self._timers(policy)
        running = SLATimer.objects.filter(stopped_at__isnull=True).count()
        self.stdout.write(f"{Ticket.objects.count():,} tickets, {Ticket.objects.filter(status__in=OPEN).count():,} open, "
                          f"{running:,} running SLA timers; {runs} ticks each.\n")  # fmt: skip
        self.stdout.write("| targets due per tick | median ms | p95 ms | warned + breached per tick |")
        self.stdout.write("|---:|---:|---:|---|")
        for count in due:
            timings, outcomes = [], set()
            for _ in range(runs):
                self._make_due(count)
                started = time.perf_counter()
                outcome = sla_sweep()
                timings.append((time.perf_counter() - started) * 1000)
                outcomes.add(outcome)
            self.stdout.write(f"| {count:,} | {statistics.median(timings):.1f} | {percentile(timings, 0.95):.1f} | "
                              f"{', '.join(f'{w} + {b}' for w, b in sorted(outcomes))} |")  # fmt: skip

    def _open_tickets(self, wanted: int) -> None:
        missing = wanted - Ticket.objects.filter(status__in=OPEN, merged_into__isnull=True).count()
        if missing > 0:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE tickets_ticket SET status = 'open', resolved_at = NULL, closed_at = NULL WHERE id IN "
                    "(SELECT id FROM tickets_ticket WHERE status IN ('solved', 'closed') AND merged_into_id IS NULL "
                    "ORDER BY id DESC LIMIT %s)", [missing])  # fmt: skip

    def _timers(self, policy: SLAPolicy) -> None:
        """Two running timers for each open ticket that has none, due at random times in the next 30 days."""
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO tickets_slatimer (ticket_id, policy_id, kind, started_at, target_seconds, paused_seconds,
                                              due_at, warn_at)
                SELECT t.id, %s, k.kind, t.created_at, k.seconds, 0, d.due, d.due - interval '15 minutes'
                FROM tickets_ticket t
                CROSS JOIN (VALUES ('first_response', 14400), ('resolution', 172800)) AS k(kind, seconds)
                CROSS JOIN LATERAL (SELECT %s::timestamptz + random() * interval '30 days' + interval '1 hour' AS due) d
                WHERE t.status IN ('new', 'open', 'pending', 'on_hold') AND t.merged_into_id IS NULL
                  AND NOT EXISTS (SELECT 1 FROM tickets_slatimer s WHERE s.ticket_id = t.id)
                """,
                [policy.pk, now],
            )
            cursor.execute("ANALYZE tickets_slatimer")

    def _make_due(self, count: int) -> None:
        """``count`` running timers come due now (their warning too), as if time had moved on."""
        if not count:
            return
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tickets_slatimer SET due_at = %s, warn_at = %s WHERE id IN (SELECT id FROM tickets_slatimer "
                "WHERE stopped_at IS NULL AND breached_at IS NULL AND warned_at IS NULL AND due_at IS NOT NULL "
                "ORDER BY due_at DESC LIMIT %s)", [now, now, count])  # fmt: skip
