"""``manage.py bench``: the server time of the main reads, on whatever dataset is in the database.

Each page is requested through the real URL, middleware, view and template with ``django.test.Client``
inside this process (signed in with ``force_login`` as an agent and as an admin), and each selector is
timed alone (evaluated, first 50 rows), so template cost shows as the difference. Every response must
be a 200. Prints a Markdown table of the median and 95th percentile in milliseconds.
"""

import math
import statistics
import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from helpdesk.models import User
from tickets.models import Message, Ticket
from tickets.selectors import (
    ticket_list,
    ticket_list_counts,
    ticket_messages,
    ticket_search,
)

LIST_READS = (
    ("view=open", {"view": "open"}),
    ("view=mine", {"view": "mine"}),
    ("view=unassigned", {"view": "unassigned"}),
    ("view=pending", {"view": "pending"}),
    ("view=open&queue", {"view": "open", "queue": "QUEUE"}),
    ("view=open&sort=priority", {"view": "open", "sort": "priority"}),
    ("view=open&sort=created", {"view": "open", "sort": "created"}),
)
# From very common to absent in the seeded text (see tickets.seeding: TOPICS, ITEMS, RARE_ASIDES).
SEARCH_WORDS = ("order", "refund", "grinder", "gluten", "kombucha", "sauerkraut", "zeppelin")
PAGE = 50
# The agent workspace's targets for server time at p95 (issue 3): search pages 200 ms, the sidebar
# counts 50 ms, every other page 100 ms. A read over its target is marked **over target**.
TARGET_MS = {"search": 200, "counts": 50, "other": 100}


def target_ms(read: str) -> int:
    if "q=" in read or read.startswith("ticket_search"):
        return TARGET_MS["search"]
    return TARGET_MS["counts"] if read.startswith("sidebar counts") else TARGET_MS["other"]


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks, as Postgres ``percentile_cont``."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class Command(BaseCommand):
    help = "Time the ticket list, search and ticket page (views and selectors) on the current dataset."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=30, help="timed runs per read (after one warm-up run)")
        parser.add_argument("--only", choices=["views", "selectors"], help="time only the views or the selectors")
        parser.add_argument("--words", nargs="+", default=list(SEARCH_WORDS), help="search terms to time")

    def handle(self, *args, **options):
        if options["runs"] < 1:
            raise CommandError("--runs must be at least 1.")
        self.runs = options["runs"]
        ticket, agent, admin = self._subjects()
        queue_id = ticket.queue_id
        tickets, messages = Ticket.objects.count(), Message.objects.count()
        self.stdout.write(
            f"Dataset: {tickets:,} tickets, {messages:,} messages. Agent {agent.email} "
            f"(teams: {', '.join(agent.teams.values_list('name', flat=True))}), admin {admin.email}, "
            f"queue {queue_id}, ticket #{ticket.pk} with {ticket.message_count} messages. {self.runs} runs each.\n"
        )
        self.stdout.write("| read | as | median ms | p95 ms | notes |")
        self.stdout.write("|---|---|---:|---:|---|")
        hosts = [*settings.ALLOWED_HOSTS, "testserver"]
        with override_settings(DEBUG=False, ALLOWED_HOSTS=hosts):
            for who, user in (("agent", agent), ("admin", admin)):
                if options["only"] != "selectors":
                    self._views(who, user, queue_id, ticket, options["words"])
                if options["only"] != "views":
                    self._selectors(who, user, queue_id, ticket, options["words"])

    def _subjects(self) -> tuple[Ticket, User, User]:
        """A ticket with 100 messages (else the longest), an agent of its team, and an admin."""
        ticket = (
            Ticket.objects.filter(message_count=100, merged_into__isnull=True).order_by("pk").first()
            or Ticket.objects.filter(merged_into__isnull=True).order_by("-message_count", "pk").first()
        )
        if ticket is None:
            raise CommandError("There are no tickets: run `manage.py seed` or `manage.py demo_data` first.")
        agents = User.objects.filter(is_active=True, role=User.Role.AGENT)
        agent = (
            agents.filter(pk=ticket.assignee_id).first()
            or agents.filter(teams__queues=ticket.queue_id).order_by("pk").first()
        )
        admin = User.objects.filter(is_active=True, role__in=[User.Role.ADMIN, User.Role.OWNER]).order_by("pk").first()
        if agent is None or admin is None:
            raise CommandError("The bench needs an active agent in the ticket's team and an active admin or owner.")
        return ticket, agent, admin

    def _time(self, read: str, who: str, call: Callable[[], object], describe: Callable[[object], str]) -> None:
        with CaptureQueriesContext(connection) as queries:  # the warm-up run also counts the SQL queries
            result = call()
        note = f"{describe(result)}, {len(queries)} queries"
        timings = []
        for _ in range(self.runs):
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1000)
        median, p95 = statistics.median(timings), percentile(timings, 0.95)
        flag = " **over target**" if p95 > target_ms(read) else ""
        self.stdout.write(f"| `{read}` | {who} | {median:.1f} | {p95:.1f} | {note}{flag} |")

    def _get(self, client: Client, url: str, who: str):
        response = client.get(url)
        if response.status_code != 200:
            raise CommandError(f"GET {url} as {who} answered {response.status_code}, not 200.")
        return response

    def _views(self, who: str, user: User, queue_id: int, ticket: Ticket, words: list[str]) -> None:
        client = Client()
        client.force_login(user)
        list_url = reverse("tickets:list")
        urls = [
            f"{list_url}?{urlencode({k: queue_id if v == 'QUEUE' else v for k, v in params.items()})}"
            for _, params in LIST_READS
        ]
        urls += [f"{list_url}?{urlencode({'q': word})}" for word in words]
        urls.append(reverse("tickets:detail", args=[ticket.pk]))
        for url in urls:
            self._time(
                f"GET {url}", who, lambda url=url: self._get(client, url, who), lambda r: f"{len(r.content):,} B"
            )

    def _selectors(self, who: str, user: User, queue_id: int, ticket: Ticket, words: list[str]) -> None:
        def rows(result) -> str:
            return f"{len(result)} rows"

        for label, params in LIST_READS:
            kwargs = {
                "view": params["view"],
                "sort": params.get("sort", "updated"),
                "queue_id": queue_id if "queue" in params else None,
            }
            self._time(
                f"ticket_list({label})[:50]", who, lambda k=kwargs: list(ticket_list(user=user, **k)[:PAGE]), rows
            )
        for word in words:
            self._time(
                f"ticket_search({word!r})[:50]",
                who,
                lambda w=word: list(ticket_search(user=user, query=w)[:PAGE]),
                rows,
            )
        self._time(f"ticket_messages(#{ticket.pk})", who, lambda: list(ticket_messages(ticket=ticket)), rows)
        self._time(
            "sidebar counts (views and queues)",
            who,
            lambda: ticket_list_counts(user=user),
            lambda result: f"{len(result[0])} views, {len(result[1])} queues",
        )
