"""Time the API's ticket list (issue 9: 100 tickets on the 1M dataset within 100 ms p95) through the real URL,
authentication (a personal token), throttling, view, selectors and serializer, inside this process."""

import statistics
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import api_token_create
from helpdesk.models import User
from tickets.management.commands.bench import percentile

READS = [
    ("open tickets, newest first", {"page_size": 100}),
    ("all tickets, newest first", {"page_size": 100, "view": "all"}),
    ("second page of all tickets", None),  # the cursor of the read above
    ("search 'grinder'", {"page_size": 100, "view": "all", "q": "grinder"}),
]


class Command(BaseCommand):
    help = "Median and p95 server time of GET /api/v1/tickets/?page_size=100 for an agent and an admin."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=30)

    def handle(self, *args, runs, **options):
        agent = User.objects.filter(is_active=True, role=User.Role.AGENT, teams__isnull=False).order_by("pk").first()
        admin = User.objects.filter(is_active=True, role__in=[User.Role.ADMIN, User.Role.OWNER]).order_by("pk").first()
        if agent is None or admin is None:
            raise CommandError("The bench needs an active agent in a team and an admin: run `manage.py seed` first.")
        self.stdout.write("| read | as | median ms | p95 ms | notes |\n|---|---|---:|---:|---|")
        with override_settings(DEBUG=False, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
                               API_RATE_LIMIT=10**9):  # fmt: skip
            for who, user in (("agent", agent), ("admin", admin)):
                token_row, token = api_token_create(user=user, name="bench_api", scope="read")
                try:
                    self._reads(who, token, runs)
                finally:
                    ApiToken.objects.filter(pk=token_row.pk).delete()

    def _reads(self, who: str, token: str, runs: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        next_url = None
        for read, params in READS:
            url, data = ("/api/v1/tickets/", params) if params is not None else (next_url, None)
            if url is None:
                self.stdout.write(f"| {read} | {who} | | | no second page: fewer than 100 tickets |")
                continue
            response = client.get(url, data)  # the warm-up run
            if response.status_code != 200:
                raise CommandError(f"GET {url} as {who} answered {response.status_code}: {response.content[:300]}")
            body = response.json()
            next_url = next_url or body.get("next")
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                client.get(url, data)
                timings.append((time.perf_counter() - started) * 1000)
            self.stdout.write(f"| {read} | {who} | {statistics.median(timings):.1f} | {percentile(timings, 0.95):.1f} | "
                              f"{len(body['results'])} tickets |")  # fmt: skip
