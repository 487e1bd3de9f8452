"""The in-memory report engine (``reports.engine``, issue 8): its headline figures equal the SQL reference
(``reports.selectors.dashboard_figures_sql``) key by key, value by value and type by type, on the
hand-computed week of test_report_metrics and on random facts; it follows every change of the fact tables,
including one whose transaction commits after a later one."""

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.db import connection

from customers.models import Organization, Segment
from reports import engine as report_engine
from reports import selectors
from reports.engine import pg_avg, pg_percentiles
from reports.models import FactChange, SLAFact, SpanFact, SurveyFact, TicketFact
from reports.selectors import Period, ReportFilters, dashboard_figures, dashboard_figures_sql
from reports.services import facts_refresh_stale
from tickets import services
from tickets.models import Ticket

from . import test_report_metrics
from .factories import CustomerFactory, QueueFactory, TeamFactory, UserFactory
from .test_report_metrics import NOW, PARIS_WEEK, WEEK

desk = test_report_metrics.desk  # the hand-computed week (a fixture)


def assert_same(found: dict, expected: dict) -> None:
    """Equal keys in the same order, equal values of the same types (no tolerance)."""
    for name in ("current", "previous"):
        assert list(found[name]) == list(expected[name])
        for key, value in expected[name].items():
            assert (key, found[name][key], type(found[name][key])) == (key, value, type(value)), name


NO_FILTERS = ReportFilters()


def both(period, filters=NO_FILTERS, now=NOW):
    return (dashboard_figures(period=period, filters=filters, now=now),
            dashboard_figures_sql(period=period, filters=filters, now=now))  # fmt: skip


# --- PostgreSQL's arithmetic ------------------------------------------------------------------------


def test_means_and_percentiles_are_postgresqls(db):
    rng = random.Random(8)
    cases = [[1], [1, 2], [0, 0, 7], [10**9, 3, 5], [rng.randrange(0, 2_000_000) for _n in range(997)],
             [rng.randrange(0, 50) for _n in range(1000)], [2_147_483_647] * 3 + [1]]  # fmt: skip
    with connection.cursor() as cursor:
        for values in cases:
            cursor.execute(
                "SELECT avg(v), percentile_cont(ARRAY[0.5, 0.9]::float8[]) WITHIN GROUP (ORDER BY v) "
                "FROM unnest(%s::int[]) v",
                [values],
            )
            mean, percentiles = cursor.fetchone()
            array = np.array(values, dtype=np.int32)
            assert pg_avg(int(array.sum(dtype=np.int64)), len(values)) == float(mean)
            assert pg_percentiles(array) == percentiles


# --- the hand-computed week -------------------------------------------------------------------------


def test_the_engine_equals_sql_on_the_hand_computed_week(desk):
    other_org_segment = Segment.objects.create(name="X members", organization=desk["x"])
    cases = [
        ReportFilters(),
        ReportFilters(queue=desk["billing"].pk),
        ReportFilters(team=desk["tech"].team_id),
        ReportFilters(agent=desk["a"].pk),
        ReportFilters(agent=desk["b"].pk, queue=desk["tech"].pk),
        ReportFilters(channel="email"),
        ReportFilters(priority="normal"),
        ReportFilters(priority="urgent"),
        ReportFilters(organization=desk["x"].pk),
        ReportFilters(segment=other_org_segment),
        ReportFilters(queue=desk["billing"].pk, team=desk["billing"].team_id, organization=desk["x"].pk),
    ]
    periods = [WEEK, PARIS_WEEK, Period(date(2026, 2, 1), date(2026, 3, 13), "America/New_York"),
               Period(date(2026, 3, 4), date(2026, 3, 5), "Pacific/Auckland")]  # fmt: skip
    for period in periods:
        for filters in cases:
            assert_same(*both(period, filters))


def test_the_engine_reads_the_changes_of_its_own_transaction(desk):
    assert_same(*both(WEEK))
    TicketFact.objects.filter(created_at__gte=datetime(2026, 3, 3, tzinfo=UTC)).delete()
    engine_figures, sql_figures = both(WEEK)
    assert_same(engine_figures, sql_figures)
    assert engine_figures["current"]["created"] == 3  # C1, C2, C3, all on Monday


def assert_same_series(period, filters, now):
    """Each chart series and table of the engine equals its SQL selector, with the same types."""
    with report_engine.engine().current() as facts:
        found = {
            "volume": facts.volume_per_day(period=period, filters=filters),
            "backlog": facts.backlog_per_day(period=period, filters=filters, now=now),
            "times": facts.times_per_week(period=period, filters=filters),
            "surveys": facts.surveys_per_week(period=period, filters=filters),
            "frt": facts.frt_distribution(period=period, filters=filters),
            "frt_business": facts.frt_distribution(period=period, filters=filters, business=True),
            "channels": facts.created_by_channel(period=period, filters=filters),
            "heatmap": facts.created_heatmap(period=period, filters=filters),
            **{
                f"table {dimension}": facts.breakdown(dimension=dimension, period=period, filters=filters, now=now)
                for dimension in selectors.DIMENSIONS
            },
        }
    expected = {
        "volume": selectors.volume_per_day(period=period, filters=filters),
        "backlog": selectors.backlog_per_day(period=period, filters=filters, now=now),
        "times": selectors.times_per_week(period=period, filters=filters),
        "surveys": selectors.surveys_per_week(period=period, filters=filters),
        "frt": selectors.frt_distribution(period=period, filters=filters),
        "frt_business": selectors.frt_distribution(period=period, filters=filters, business=True),
        "channels": selectors.created_by_channel(period=period, filters=filters),
        "heatmap": selectors.created_heatmap(period=period, filters=filters),
        **{
            f"table {dimension}": selectors.breakdown(dimension=dimension, period=period, filters=filters, now=now)
            for dimension in selectors.DIMENSIONS
        },
    }

    def typed(value):
        if isinstance(value, dict):
            return [(key, typed(item)) for key, item in value.items()]
        if isinstance(value, list):
            return [typed(item) for item in value]
        return (value, type(value))

    for name, value in expected.items():
        assert typed(found[name]) == typed(value), name


def test_the_engines_series_equal_sql_on_the_hand_computed_week(desk):
    for period in (WEEK, PARIS_WEEK, Period(date(2026, 2, 1), date(2026, 3, 13), "America/New_York")):
        for filters in (NO_FILTERS, ReportFilters(queue=desk["billing"].pk), ReportFilters(agent=desk["b"].pk),
                        ReportFilters(organization=desk["x"].pk, channel="email")):  # fmt: skip
            assert_same_series(period, filters, NOW)


# --- random facts -------------------------------------------------------------------------------------

START = datetime(2026, 1, 1, tzinfo=UTC)


def _instant(rng, start, days):
    moment = start + timedelta(seconds=rng.randrange(0, days * 86_400))
    return moment.replace(microsecond=rng.choice([0, 0, 1, 500_000, 999_999]))


def random_desk(seed: int = 1, tickets: int = 300) -> dict:
    """Tickets with random facts in all four tables (the facts need not follow from a history here: the
    engine and SQL must agree on any facts)."""
    rng = random.Random(seed)
    teams = [TeamFactory(), TeamFactory()]
    queues = [QueueFactory(team=teams[n % 2]) for n in range(4)]
    agents = [UserFactory(teams=[teams[n % 2]]) for n in range(5)]
    orgs = [Organization.objects.create(name=f"Org {n}") for n in range(3)]
    customers = [CustomerFactory(organization=rng.choice([None, *orgs]), tags=rng.choice([[], ["vip"]]))
                 for _n in range(25)]  # fmt: skip
    made = Ticket.objects.bulk_create([
        Ticket(subject=f"t{n}", queue=rng.choice(queues), customer=rng.choice(customers), channel="email")
        for n in range(tickets)
    ])  # fmt: skip
    facts, spans, slas, surveys = [], [], [], []
    for ticket in made:
        dims = {"queue_id": rng.choice(queues).pk, "channel": rng.choice(Ticket.Channel.values),
                "priority": rng.choice(Ticket.Priority.values), "customer_id": rng.choice(customers).pk,
                "agent_id": rng.choice([None, *(a.pk for a in agents)])}  # fmt: skip
        created = _instant(rng, START, 120)
        fact = TicketFact(ticket_id=ticket.pk, created_at=created, opened_by_agent=rng.random() < 0.1,
                          reopened=rng.random() < 0.2, **dims)  # fmt: skip
        if not fact.opened_by_agent and rng.random() < 0.8:
            fact.first_response_at = created + timedelta(seconds=rng.choice([0, 60, 3600, rng.randrange(0, 400_000)]))
            fact.frt_seconds = int((fact.first_response_at - created).total_seconds())
            fact.frt_business_seconds = rng.randrange(0, fact.frt_seconds + 1)
            fact.frt_agent_id = rng.choice([None, *(a.pk for a in agents)])
        if rng.random() < 0.7:
            fact.resolved_at = created + timedelta(
                seconds=rng.randrange(0, 2_000_000), microseconds=rng.randrange(10**6)
            )
            fact.resolution_seconds = int((fact.resolved_at - created).total_seconds())
            fact.resolution_business_seconds = rng.randrange(0, fact.resolution_seconds + 1)
        facts.append(fact)
        opened = created
        for n in range(rng.choice([1, 1, 2, 3])):
            end = opened + timedelta(seconds=rng.randrange(1, 900_000))
            last = n == 2 or rng.random() < 0.5
            spans.append(SpanFact(ticket_id=ticket.pk, opened_at=opened,
                                  resolved_at=(fact.resolved_at if last else end), **dims))  # fmt: skip
            if last:
                break
            opened = end + timedelta(seconds=rng.randrange(1, 90_000))
        for kind in rng.sample(["first_response", "next_response", "resolution"], rng.randrange(0, 4)):
            slas.append(SLAFact(ticket_id=ticket.pk, kind=kind, met=rng.choice([True, False, None]),
                                at=_instant(rng, created, 20), **dims))  # fmt: skip
        for kind, (low, high) in rng.sample([("csat", (1, 5)), ("nps", (0, 10)), ("ces", (1, 7))], rng.randrange(0, 4)):
            sent = _instant(rng, created, 10)
            answered = sent + timedelta(seconds=rng.randrange(0, 900_000)) if rng.random() < 0.6 else None
            surveys.append(SurveyFact(ticket_id=ticket.pk, kind=kind, sent_at=sent, answered_at=answered,
                                      score=rng.randint(low, high) if answered else None, **dims))  # fmt: skip
    TicketFact.objects.bulk_create(facts)
    SpanFact.objects.bulk_create(spans)
    SLAFact.objects.bulk_create(slas)
    SurveyFact.objects.bulk_create(surveys)
    vip = Segment.objects.create(name=f"VIP {seed}", tags=["vip"])
    return {"teams": teams, "queues": queues, "agents": agents, "orgs": orgs, "segment": vip,
            "tickets": [t.pk for t in made], "rng": rng}  # fmt: skip


def random_cases(data: dict, rng: random.Random, count: int):
    zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland", "Australia/Lord_Howe",
             "Asia/Kathmandu"]  # fmt: skip
    filters = [
        ReportFilters(),
        ReportFilters(queue=data["queues"][0].pk),
        ReportFilters(team=data["teams"][1].pk),
        ReportFilters(agent=data["agents"][0].pk),
        ReportFilters(agent=data["agents"][1].pk, channel="email"),
        ReportFilters(channel="chat"),
        ReportFilters(priority="high"),
        ReportFilters(organization=data["orgs"][0].pk),
        ReportFilters(segment=data["segment"]),
        ReportFilters(team=data["teams"][0].pk, priority="low", organization=data["orgs"][1].pk),
    ]
    for n in range(count):
        start = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 110))
        period = Period(start, start + timedelta(days=rng.choice([1, 7, 30, 90])), rng.choice(zones))
        now = _instant(rng, START, 150)
        yield period, filters[n % len(filters)], now


@pytest.fixture
def random_facts(db):
    return random_desk()


def test_the_engine_equals_sql_on_random_facts(random_facts):
    rng = random.Random(2)
    seen = set()
    for period, filters, now in random_cases(random_facts, rng, 60):
        found, expected = both(period, filters, now)
        assert_same(found, expected)
        seen |= {key for key, value in found["current"].items() if value}
    # every figure was something other than zero or None somewhere
    assert set(found["current"]) - seen == set()
    for period, filters, now in random_cases(random_facts, rng, 30):
        assert_same_series(period, filters, now)
    # an SLA target due exactly now is breached now (at <= now)
    due = SLAFact.objects.filter(met=None).order_by("at").first()
    period = Period(due.at.date() - timedelta(days=2), due.at.date() + timedelta(days=1))
    assert_same(*both(period, ReportFilters(), due.at))


# --- keeping current ----------------------------------------------------------------------------------


@pytest.fixture
def committed_facts(transactional_db):
    return random_desk(seed=3, tickets=120)


def test_every_change_is_seen_by_the_next_use(committed_facts, django_capture_on_commit_callbacks):
    data, rng = committed_facts, random.Random(4)
    period = Period(date(2026, 1, 1), date(2026, 4, 1))
    now = datetime(2026, 4, 1, tzinfo=UTC)
    assert_same(*both(period, now=now))
    loads = report_engine.engine().stats["loads"]

    # a ticket's facts change
    changed = data["tickets"][0]
    TicketFact.objects.filter(pk=changed).update(created_at=datetime(2026, 2, 1, tzinfo=UTC), channel="chat")
    SurveyFact.objects.filter(ticket_id=changed).delete()
    found, expected = both(period, now=now)
    assert_same(found, expected)
    assert_same(*both(period, ReportFilters(channel="chat"), now))

    # the facts of a deleted ticket vanish, those of a new one appear
    gone = data["tickets"][1]
    Ticket.objects.filter(pk=gone).delete()  # cascades to its facts
    assert not TicketFact.objects.filter(pk=gone).exists()
    assert_same(*both(period, now=now))

    # a merged ticket: the refresh removes its facts
    with django_capture_on_commit_callbacks(execute=False):
        source, target = (Ticket.objects.get(pk=pk) for pk in data["tickets"][2:4])
        services.ticket_merge(source=source, target=target, actor=None)
    facts_refresh_stale()
    assert not TicketFact.objects.filter(pk=source.pk).exists()
    assert_same(*both(period, now=now))

    # many changes, one table compacted on the way
    for pk in data["tickets"][4:60]:
        TicketFact.objects.filter(pk=pk).update(resolved_at=None, resolution_seconds=None,
                                                resolution_business_seconds=None)  # fmt: skip
        assert_same(*both(period, ReportFilters(queue=data["queues"][rng.randrange(4)].pk), now))
    state = report_engine.engine()
    assert state.stats["loads"] == loads  # all of it by patches, none by loading again
    assert state.tables["ticket"].rows == TicketFact.objects.count()
    assert state.tables["span"].rows == SpanFact.objects.count()


def test_a_change_committed_late_is_still_seen(committed_facts):
    """Transaction L writes first (the lower feed id) but commits after E: an engine that kept a cursor on
    the feed's ids would skip L's change once it had read E's."""
    data = committed_facts
    period = Period(date(2026, 1, 1), date(2026, 4, 1))
    now = datetime(2026, 4, 1, tzinfo=UTC)
    assert_same(*both(period, now=now))
    late_ticket, early_ticket = data["tickets"][10], data["tickets"][11]
    TicketFact.objects.filter(pk=late_ticket).update(created_at=datetime(2025, 6, 1, tzinfo=UTC))
    TicketFact.objects.filter(pk=early_ticket).update(created_at=datetime(2025, 6, 1, tzinfo=UTC))
    before = dashboard_figures(period=period, now=now)["current"]["created"]

    mark = FactChange.objects.order_by("-pk").values_list("pk", flat=True).first()
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.autocommit = False
        other.execute("UPDATE reports_ticketfact SET created_at = '2026-02-10 10:00+00' WHERE ticket_id = %s",
                      [late_ticket])  # fmt: skip
        TicketFact.objects.filter(pk=early_ticket).update(created_at=datetime(2026, 2, 11, tzinfo=UTC))
        assert not FactChange.objects.filter(pk__gt=mark, ticket_id=late_ticket).exists()  # not committed yet
        found, expected = both(period, now=now)
        assert_same(found, expected)
        assert found["current"]["created"] == before + 1  # the early one only
        other.commit()
    finally:
        other.close()
    late, early = (FactChange.objects.get(pk__gt=mark, ticket_id=pk) for pk in (late_ticket, early_ticket))
    assert late.pk < early.pk  # the late writer's feed row has the lower id, committed last
    found, expected = both(period, now=now)
    assert_same(found, expected)
    assert found["current"]["created"] == before + 2


def test_a_rolled_back_change_is_forgotten(committed_facts):
    period = Period(date(2026, 1, 1), date(2026, 4, 1))
    now = datetime(2026, 4, 1, tzinfo=UTC)
    before = dashboard_figures(period=period, now=now)
    from django.db import transaction

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        TicketFact.objects.all().delete()
        assert dashboard_figures(period=period, now=now)["current"]["created"] == 0
        1 / 0  # noqa: B018
    assert_same(dashboard_figures(period=period, now=now), before)
    assert_same(*both(period, now=now))


def test_a_use_without_changes_takes_one_query(committed_facts, django_assert_num_queries):
    period = Period(date(2026, 1, 1), date(2026, 4, 1))
    dashboard_figures(period=period)
    with django_assert_num_queries(1):  # the change feed
        dashboard_figures(period=period)
    with django_assert_num_queries(3):  # the change feed, the team's queues, the organization's customers
        dashboard_figures(period=period, filters=ReportFilters(team=committed_facts["teams"][0].pk,
                                                               organization=committed_facts["orgs"][0].pk))  # fmt: skip
    TicketFact.objects.filter(pk=committed_facts["tickets"][5]).update(reopened=True)
    with django_assert_num_queries(5):  # the change feed, then the changed ticket's rows of each table
        dashboard_figures(period=period)


def test_the_change_feed_is_written_with_the_facts_and_pruned_after_a_day(random_facts):
    from django.utils import timezone

    from reports.services import fact_changes_prune
    from reports.tasks import refresh_stale_facts_task

    assert FactChange.objects.filter(ticket_id__in=random_facts["tickets"]).count() == len(random_facts["tickets"])
    FactChange.objects.filter(ticket_id=random_facts["tickets"][0]).update(
        changed_at=timezone.now() - timedelta(days=1, seconds=1)
    )
    assert fact_changes_prune() == 1
    FactChange.objects.filter(ticket_id=random_facts["tickets"][1]).update(
        changed_at=timezone.now() - timedelta(days=2)
    )
    assert refresh_stale_facts_task() == 0  # the beat sweep prunes too
    assert not FactChange.objects.filter(ticket_id=random_facts["tickets"][1]).exists()
    assert FactChange.objects.filter(ticket_id__in=random_facts["tickets"]).count() == len(random_facts["tickets"]) - 2


# --- warm-up in gunicorn's master -------------------------------------------------------------------


def test_warm_up_loads_the_tables_and_closes_the_connection(committed_facts):
    """gunicorn.conf.py's when_ready: the tables are loaded before the workers fork, and no connection is left
    open for them to share."""
    state = report_engine.engine()
    state.tables = None
    loads = state.stats["loads"]
    seconds = report_engine.warm_up()
    assert seconds is not None and seconds >= 0
    assert connection.connection is None
    assert state.stats["loads"] == loads + 1 and state.tables["ticket"].rows == TicketFact.objects.count()
    period, now = Period(date(2026, 1, 1), date(2026, 4, 1)), datetime(2026, 4, 1, tzinfo=UTC)
    assert_same(*both(period, now=now))  # a worker's first use: brought up to date, not loaded again
    assert state.stats["loads"] == loads + 1


def test_warm_up_without_a_readable_database_leaves_the_load_to_the_first_use(committed_facts, monkeypatch):
    from django.db import OperationalError

    def refused(self):
        raise OperationalError("connection refused")

    monkeypatch.setattr(report_engine.Engine, "load", refused)
    assert report_engine.warm_up() is None
    assert connection.connection is None


def test_an_engine_unused_for_half_a_day_loads_again_and_one_used_recently_patches(committed_facts):
    """The change feed keeps a day: within ``RELOAD_AFTER`` (half of it) an engine, or a worker forked from
    gunicorn's master, is brought up to date from the feed; after it, it loads everything again."""
    period, now = Period(date(2026, 1, 1), date(2026, 4, 1)), datetime(2026, 4, 1, tzinfo=UTC)
    state = report_engine.engine()
    assert_same(*both(period, now=now))
    loads = state.stats["loads"]
    TicketFact.objects.filter(pk=committed_facts["tickets"][0]).update(channel="chat")
    state.used_at -= report_engine.RELOAD_AFTER - 60
    assert_same(*both(period, ReportFilters(channel="chat"), now))
    assert state.stats["loads"] == loads
    state.used_at -= report_engine.RELOAD_AFTER + 1
    assert_same(*both(period, now=now))
    assert state.stats["loads"] == loads + 1
