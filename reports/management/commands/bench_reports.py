"""Time the dashboard's figures on whatever database this runs against (issue 8: a 90-day dashboard with any
filter within 500 ms of server time, 12 months within 1 s, on 1M tickets). Read-only."""

import statistics
import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils import timezone

from reports.models import TicketFact
from reports.selectors import (
    Period,
    ReportFilters,
    backlog_per_day,
    dashboard_figures,
    volume_per_day,
)


class Command(BaseCommand):
    help = "Time dashboard_figures (and the day series) for 90 days and 12 months, unfiltered and filtered: p50/p95."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=10)
        parser.add_argument("--time-zone", default="UTC")
        parser.add_argument("--series", action="store_true", help="also time the volume and backlog series")

    def handle(self, *args, runs, time_zone, series, **options):
        today = timezone.localdate()
        queue, agent = (
            TicketFact.objects.filter(**{f"{column}__isnull": False}).values(column).annotate(n=Count("pk"))
            .order_by("-n").values_list(column, flat=True).first()
            for column in ("queue_id", "agent_id")
        )  # fmt: skip
        cases = [("no filter", ReportFilters()), ("queue", ReportFilters(queue=queue)),
                 ("agent", ReportFilters(agent=agent)), ("channel email", ReportFilters(channel="email")),
                 ("queue + priority high", ReportFilters(queue=queue, priority="high"))]  # fmt: skip
        self.stdout.write(f"{TicketFact.objects.count()} ticket facts; {runs} runs each")
        for days in (90, 365):
            period = Period(today - timedelta(days=days), today, time_zone)
            for name, filters in cases:
                timings = []
                for _run in range(runs):
                    started = time.perf_counter()
                    dashboard_figures(period=period, filters=filters)
                    if series:
                        volume_per_day(period=period, filters=filters)
                        backlog_per_day(period=period, filters=filters)
                    timings.append((time.perf_counter() - started) * 1000)
                timings.sort()
                p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
                self.stdout.write(f"{days:>3} days  {name:<24} p50 {statistics.median(timings):7.1f} ms  "
                                  f"p95 {p95:7.1f} ms")  # fmt: skip
