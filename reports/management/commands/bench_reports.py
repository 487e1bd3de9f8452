"""Time the dashboard's figures on whatever database this runs against (issue 8: a 90-day dashboard with any
filter within 500 ms of server time, 12 months within 1 s, on 1M tickets). Read-only.

The headline figures from the in-memory engine (``reports.engine``: its first load, then warm uses, each of
which reads the change feed) and, with ``--sql``, from the SQL reference; ``--page``: the whole dashboard page
(the view, rendered, for the first owner or admin; no session is written); ``--check``: whether the engine's
figures, series and tables equal the SQL selectors' for each case."""

import statistics
import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db.models import Count
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from reports import engine as report_engine
from reports import selectors
from reports.models import TicketFact
from reports.selectors import (
    Period,
    ReportFilters,
    backlog_per_day,
    dashboard_figures,
    dashboard_figures_sql,
    volume_per_day,
)


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _typed(value):
    """A value with the type of each of its parts, to compare exactly."""
    if isinstance(value, dict):
        return [(key, _typed(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (value, type(value))


class Command(BaseCommand):
    help = "Time the headline figures (engine, and SQL with --sql) and the page (--page) for 90 days and 12 months."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=10)
        parser.add_argument("--time-zone", default="UTC")
        parser.add_argument("--sql", action="store_true", help="also time the SQL reference")
        parser.add_argument("--page", action="store_true", help="also time the whole dashboard page")
        parser.add_argument("--series", action="store_true", help="also time the volume and backlog series")
        parser.add_argument(
            "--check", action="store_true", help="compare the engine with the SQL selectors (figures, series, tables)"
        )

    def handle(self, *args, runs, time_zone, sql, page, series, check, **options):
        today = timezone.localdate()
        queue, agent = (
            TicketFact.objects.filter(**{f"{column}__isnull": False}).values(column).annotate(n=Count("pk"))
            .order_by("-n").values_list(column, flat=True).first()
            for column in ("queue_id", "agent_id")
        )  # fmt: skip
        cases = [("no filter", ReportFilters(), {}), ("queue", ReportFilters(queue=queue), {"queue": queue}),
                 ("agent", ReportFilters(agent=agent), {"agent": agent}),
                 ("channel email", ReportFilters(channel="email"), {"channel": "email"}),
                 ("queue + priority high", ReportFilters(queue=queue, priority="high"),
                  {"queue": queue, "priority": "high"})]  # fmt: skip
        self.stdout.write(f"{TicketFact.objects.count()} ticket facts; {runs} runs each")

        rss_before = _rss_mib()
        started = time.perf_counter()
        state = report_engine.engine()
        with state.lock:
            state.load()
        load_ms = (time.perf_counter() - started) * 1000
        rows = {name: table.rows for name, table in state.tables.items()}
        self.stdout.write(f"engine first load {load_ms:.0f} ms ({rows}); arrays {state.nbytes() / 2**20:.0f} MiB, "
                          f"process RSS {rss_before:.0f} -> {_rss_mib():.0f} MiB "
                          f"(peak {report_engine.memory_rss_bytes() / 2**20:.0f} MiB)")  # fmt: skip

        request_user = None
        if page:
            from helpdesk.models import User

            request_user = User.objects.filter(role__in=[User.Role.OWNER, User.Role.ADMIN]).order_by("pk").first()
        for days, preset in ((90, "90d"), (365, "12m")):
            period = Period(today - timedelta(days=days) + timedelta(days=1), today + timedelta(days=1), time_zone)
            for name, filters, query in cases:
                self._time(
                    f"{days:>3} days  {name:<22} engine",
                    runs,
                    lambda period=period, filters=filters: dashboard_figures(period=period, filters=filters),
                )
                if sql:
                    self._time(
                        f"{days:>3} days  {name:<22} SQL   ",
                        max(1, runs // 2),
                        lambda period=period, filters=filters: dashboard_figures_sql(period=period, filters=filters),
                    )
                if series:
                    self._time(
                        f"{days:>3} days  {name:<22} series",
                        max(1, runs // 2),
                        lambda period=period, filters=filters: (
                            volume_per_day(period=period, filters=filters),
                            backlog_per_day(period=period, filters=filters),
                        ),
                    )
                if check:
                    self.stdout.write(f"{days:>3} days  {name:<22} engine = SQL: {self._check(period, filters)}")
                if request_user is not None:
                    self._time(
                        f"{days:>3} days  {name:<22} page  ",
                        max(1, runs // 2),
                        lambda preset=preset, query=query: self._page(request_user, preset, query, time_zone),
                    )
        self.stdout.write(f"process RSS at the end {_rss_mib():.0f} MiB")  # fmt: skip

    def _time(self, label: str, runs: int, call) -> None:
        timings = []
        for _run in range(runs):
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        self.stdout.write(f"{label}  p50 {statistics.median(timings):7.1f} ms  p95 {p95:7.1f} ms")

    @staticmethod
    def _check(period, filters) -> str:
        """Which of the engine's results differ from the SQL selectors' (values and types): "all equal", or
        their names."""
        now = timezone.now()
        with report_engine.engine().current() as facts:
            found = {"figures": facts.headline_figures(period=period, filters=filters, now=now)}
            for name in ("volume_per_day", "times_per_week", "surveys_per_week", "created_by_channel",
                         "created_heatmap", "frt_distribution"):  # fmt: skip
                found[name] = getattr(facts, name)(period=period, filters=filters)
            found["backlog_per_day"] = facts.backlog_per_day(period=period, filters=filters, now=now)
            for dimension in selectors.DIMENSIONS:
                found[dimension] = facts.breakdown(dimension=dimension, period=period, filters=filters, now=now)
        expected = {"figures": dashboard_figures_sql(period=period, filters=filters, now=now)}
        for name in ("volume_per_day", "times_per_week", "surveys_per_week", "created_by_channel",
                     "created_heatmap", "frt_distribution"):  # fmt: skip
            expected[name] = getattr(selectors, name)(period=period, filters=filters)
        expected["backlog_per_day"] = selectors.backlog_per_day(period=period, filters=filters, now=now)
        for dimension in selectors.DIMENSIONS:
            expected[dimension] = selectors.breakdown(dimension=dimension, period=period, filters=filters, now=now)
        differ = [name for name in expected if _typed(found[name]) != _typed(expected[name])]
        return "all equal" if not differ else "DIFFERENT: " + ", ".join(differ)

    @staticmethod
    def _page(user, preset: str, query: dict, time_zone: str) -> None:
        from reports.views import dashboard_view

        request = RequestFactory().get(reverse("reports:dashboard"), {"period": preset, "tz": time_zone, **query})
        request.user = user
        response = dashboard_view(request)
        assert response.status_code == 200, response.status_code
