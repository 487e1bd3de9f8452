"""``manage.py bench_customers``: the server time of the customer screens on the current dataset (issue 6).

The customer with the most tickets is the subject: its page (newest timeline page and an older one), and the
customer list: first page, a late page, and searches as agents type them (part of a name, of an email, a
whole address, a word that matches nothing). Requests go through the real URL, middleware, view and template
with ``django.test.Client`` signed in as an admin and as an agent of a team that holds the customer's
tickets; each must answer 200. Prints a Markdown table of the median and 95th percentile in milliseconds.
"""

import statistics
import time
from urllib.parse import urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count
from django.test import Client, override_settings
from django.urls import reverse

from customers.models import Customer
from helpdesk.models import User
from tickets.management.commands.bench import percentile
from tickets.models import Ticket

TARGET_MS = 100  # issue 6: customer page and customer search, p95 server time


class Command(BaseCommand):
    help = "Time the customer page of the busiest customer and the customer search on the current dataset."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=30, help="timed runs per read (after one warm-up run)")

    def handle(self, *args, runs, **options):
        if runs < 1:
            raise CommandError("--runs must be at least 1.")
        busiest = Ticket.objects.values("customer_id").annotate(n=Count("pk")).order_by("-n").first()
        if busiest is None:
            raise CommandError("There are no tickets: run `manage.py seed` first.")
        customer = Customer.objects.get(pk=busiest["customer_id"])
        queue_id = Ticket.objects.filter(customer=customer).values_list("queue_id", flat=True).first()
        agent = User.objects.filter(is_active=True, role=User.Role.AGENT, teams__queues=queue_id).order_by("pk").first()
        admin = User.objects.filter(is_active=True, role__in=[User.Role.ADMIN, User.Role.OWNER]).order_by("pk").first()
        if agent is None or admin is None:
            raise CommandError("The bench needs an active agent of the customer's team and an active admin.")
        self.stdout.write(
            f"Dataset: {Customer.objects.count():,} customers, {Ticket.objects.count():,} tickets. Subject: customer "
            f"#{customer.pk} with {busiest['n']:,} tickets; agent {agent.email}, admin {admin.email}. {runs} runs each.\n"
        )
        self.stdout.write("| read | as | median ms | p95 ms | notes |")
        self.stdout.write("|---|---|---:|---:|---|")
        page_url = reverse("customers:detail", args=[customer.pk])
        middle = Ticket.objects.filter(customer=customer).order_by("-created_at").values_list("created_at", flat=True)
        older = middle[busiest["n"] // 2]
        name_part = customer.name.split()[-1][:5] if customer.name else customer.email[:5]
        searches = [name_part, customer.email.split("@")[0][:4], customer.email, "zzqx"]
        list_url = reverse("customers:list")
        reads = [("customer page", page_url), ("customer page, older", f"{page_url}?{urlencode({'before': older.isoformat()})}"),
                 ("customer list", list_url), ("customer list page 200", f"{list_url}?page=200")]  # fmt: skip
        reads += [(f"search “{q}”", f"{list_url}?{urlencode({'q': q})}") for q in searches]
        hosts = [*settings.ALLOWED_HOSTS, "testserver"]
        with override_settings(DEBUG=False, ALLOWED_HOSTS=hosts):
            for who, user in (("agent", agent), ("admin", admin)):
                client = Client()
                client.force_login(user)
                for read, url in reads:
                    self._time(client, read, who, url, runs)

    def _time(self, client: Client, read: str, who: str, url: str, runs: int) -> None:
        queries = []  # counted with a wrapper: the request_started signal empties connection.queries

        def count(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            response = client.get(url)
        if response.status_code != 200:
            raise CommandError(f"GET {url} as {who} answered {response.status_code}, not 200.")
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        median, p95 = statistics.median(timings), percentile(timings, 0.95)
        flag = " **over target**" if p95 > TARGET_MS else ""
        self.stdout.write(f"| {read} | {who} | {median:.1f} | {p95:.1f} | {len(queries)} queries{flag} |")
