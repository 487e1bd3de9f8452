"""``manage.py seed``: load a large realistic dataset fast (for benchmarks), and report the rate."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tickets.seeding import SeedStats, seed_dataset


class Command(BaseCommand):
    help = "Generate tickets, conversations and their history with COPY, and print the loading rate."

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, required=True)
        parser.add_argument("--messages-per-ticket", type=float, default=5.0, help="average (default 5)")
        parser.add_argument("--customers", type=int, required=True)
        parser.add_argument("--agents", type=int, default=20)
        parser.add_argument("--teams", type=int, default=4)
        parser.add_argument("--queues", type=int, default=8)
        parser.add_argument("--days", type=int, default=365, help="tickets are spread over this many days")
        parser.add_argument("--seed", type=int, default=1, help="random seed (the same seed gives the same data)")
        parser.add_argument(
            "--long-tickets", type=int, default=3, help="tickets with exactly 100 messages, for the ticket page"
        )
        indexes = parser.add_mutually_exclusive_group()
        indexes.add_argument("--defer-indexes", dest="defer_indexes", action="store_true", default=None)
        indexes.add_argument("--keep-indexes", dest="defer_indexes", action="store_false")
        parser.add_argument("--force", action="store_true", help="seed even when DEBUG is off")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError("Refusing to add generated tickets while DEBUG is off; use --force if you mean it.")
        if options["tickets"] < 1 or options["customers"] < 1:
            raise CommandError("--tickets and --customers must be at least 1.")

        def progress(stats: SeedStats) -> None:
            self.stdout.write(
                f"  {stats.tickets:>10,} tickets {stats.messages:>11,} messages  {stats.seconds:8.1f} s"
                f"  ({stats.tickets_per_second:,.0f} tickets/s)"
            )

        stats = seed_dataset(
            tickets=options["tickets"],
            messages_per_ticket=options["messages_per_ticket"],
            customers=options["customers"],
            agents=options["agents"],
            teams=options["teams"],
            queues=options["queues"],
            days=options["days"],
            seed=options["seed"],
            long_tickets=options["long_tickets"],
            defer_indexes=options["defer_indexes"],
            on_progress=progress if options["verbosity"] > 1 or options["tickets"] >= 100_000 else None,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {stats.tickets:,} tickets (#{stats.first_id}–#{stats.last_id}), {stats.messages:,} messages, "
                f"{stats.events:,} events and {stats.surveys:,} surveys in {stats.seconds:.1f} s: "
                f"{stats.tickets_per_second:,.0f} tickets/s, "
                f"{stats.messages_per_second:,.0f} messages/s"
                + (" (indexes and foreign keys rebuilt at the end)" if stats.indexes_deferred else "")
            )
        )
        if stats.long_ticket_ids:
            self.stdout.write(f"Tickets with 100 messages: {', '.join(f'#{i}' for i in stats.long_ticket_ids)}")
