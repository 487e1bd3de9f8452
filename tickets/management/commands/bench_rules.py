"""``manage.py bench_rules``: the time to route one new ticket through ``--rules`` routing rules (issue 7
target: 100 rules in at most 50 ms), on the current dataset.

It adds that many rules named "Bench rule N" (once; each with four conditions, any of which would do (so all four are tried): subject word, body contains,
customer domain and priority, none of which match the bench ticket, plus one action), and one last rule
that matches and raises the priority. Each run opens a new ticket and times ``tickets_route`` on it: the
rules' loading, the matching and the actions, and the audit rows. Changes the dataset: bench databases only.
"""

import statistics
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from customers.models import Customer
from tickets.management.commands.bench import percentile
from tickets.models import Queue, Ticket
from tickets.routing import tickets_route
from tickets.rules.models import Rule
from tickets.services import ticket_create


class Command(BaseCommand):
    help = "Time routing a new ticket through the routing rules (adds bench rules to the dataset)."

    def add_arguments(self, parser):
        parser.add_argument("--rules", type=int, default=100)
        parser.add_argument("--runs", type=int, default=30)
        parser.add_argument("--force", action="store_true", help="run even when DEBUG is off")

    def handle(self, *args, rules, runs, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError("bench_rules adds rules to the dataset; run it on a bench database, or --force.")
        self._rules(rules)
        queue, customer = Queue.objects.order_by("pk").first(), Customer.objects.order_by("pk").first()
        if queue is None or customer is None:
            raise CommandError("The dataset has no queue or customer: run `manage.py seed` first.")
        timings = []
        for run in range(runs + 1):
            ticket = ticket_create(customer=customer, queue=queue, subject=f"Bench routing {run}", channel="phone",
                                   body="The grinder makes a noise since Monday.")  # fmt: skip
            started = time.perf_counter()
            tickets_route([ticket.pk])
            if run:  # the first one warms up
                timings.append((time.perf_counter() - started) * 1000)
        ticket.refresh_from_db()
        if ticket.priority != "high" or ticket.needs_routing:
            raise CommandError("The matching rule did not run: the bench measured nothing useful.")
        self.stdout.write(f"{Ticket.objects.count():,} tickets, {Rule.objects.filter(active=True).count()} active rules, "
                          f"{runs} runs: routing one new ticket took {statistics.median(timings):.1f} ms median, "
                          f"{percentile(timings, 0.95):.1f} ms p95.")  # fmt: skip

    def _rules(self, count: int) -> None:
        have = Rule.objects.filter(name__startswith="Bench rule ").count()
        for number in range(have, count):
            rule = Rule.objects.create(
                name=f"Bench rule {number}", position=number, match_all=False
            )  # any: all 4 tried
            rule.conditions.create(field="subject", operator="matches_word", value=f"zeppelin{number}")
            rule.conditions.create(field="body", operator="contains", value=f"unobtainium {number}")
            rule.conditions.create(field="customer_domain", operator="is", value=f"nowhere{number}.example")
            rule.conditions.create(field="priority", operator="is", value="urgent")
            rule.actions.create(action="add_tags", value=f"bench{number}", position=0)
        last, _created = Rule.objects.get_or_create(name="Bench rule matching", defaults={"position": 10_000})
        if not last.conditions.exists():
            last.conditions.create(field="subject", operator="contains", value="bench routing")
            last.actions.create(action="set_priority", value="high", position=0)
