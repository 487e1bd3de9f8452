"""Dashboard figures (issue 8) against values worked out by hand from a history laid out below.

Calendar: the default one, UTC, Mon–Fri 09:00–17:00. SLA policy for every ticket: first response 60 and
resolution 480 business minutes (no next-response target). Period: Mon 2 – Sun 8 March 2026 (UTC), the
previous one Mon 23 Feb – Sun 1 March; figures are read at Thu 12 March 12:00. Queues: Billing (CSAT + NPS)
and Tech (CSAT + CES). Agent A is in both teams, B in Tech. Organization X: customers c1 and c3.

  ticket      queue   channel  cust  created          history
  P1          Billing email    c1    Fri 27 Feb 17:55  assigned A 17:56; A replies Mon 2 09:10; solved Mon 10:00
  P2          Tech    portal   c2    Wed 25 Feb 10:00  assignee B; B replies 11:00; solved Thu 26 10:00 (surveys
                                                       sent, CSAT 2 at 12:00); customer writes Mon 2 12:00
                                                       (reopens); B solves Tue 3 12:00
  P3          Billing email    c3    Thu 26 Feb 14:00  nothing since
  C8          Billing email    c1    Sun 1 Mar 23:30   assignee A; A replies Mon 2 09:00; solved 09:30
  C1          Billing email    c1    Mon 2 09:00       assigned A 09:05; A replies 09:30; solved 11:00 (surveys
                                                       sent; CSAT 5, NPS 10 at 12:00)
  C2          Billing portal   c2    Mon 2 10:00       assignee A; A replies 12:00 setting pending; customer
                                                       writes Tue 3 10:00; A replies 11:00 solving (surveys
                                                       sent; CSAT 3, NPS 6 on Wed 4 10:00)
  C3          Tech    email    c3    Mon 2 20:00       assigned B Tue 3 08:00; B replies 09:30; solved Wed 4
                                                       09:30; assigned A 09:45; reopened 10:00; solved 11:00
                                                       (surveys sent; CES 6 on Thu 5 10:00, CSAT unanswered)
  C4          Tech    phone    c2    Tue 3 14:00       opened by B for the customer, assignee B; solved 15:00
  C5          Billing chat     c1    Thu 5 09:00       nothing since
  C6          Tech    email    c2    Fri 6 16:00       assignee B; B replies 16:30 setting pending
  C7          Billing email    c2    Sun 8 23:30       nothing since (Mon 9 00:30 in Paris: outside the week)
"""

from datetime import UTC, date, datetime, time

import pytest
import time_machine

from customers.models import Organization
from helpdesk.calendars import Calendar, OpeningInterval
from reports.models import StaleFact, TicketFact
from reports.selectors import (
    Period,
    ReportFilters,
    backlog_per_day,
    breakdown,
    created_by_channel,
    created_heatmap,
    dashboard_figures,
    dashboard_figures_sql,
    figure_ticket_ids,
    frt_distribution,
    surveys_per_week,
    times_per_week,
    volume_per_day,
)
from reports.services import facts_refresh_stale
from tickets import services
from tickets.models import SLAPolicy, Ticket
from tickets.surveys.models import Survey
from tickets.surveys.services import survey_answer, surveys_send

from .factories import CustomerFactory, QueueFactory, TeamFactory, UserFactory

WEEK = Period(date(2026, 3, 2), date(2026, 3, 9))
PARIS_WEEK = Period(date(2026, 3, 2), date(2026, 3, 9), "Europe/Paris")
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)


def utc(month, day, hour, minute=0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def at(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def desk(db, django_capture_on_commit_callbacks):
    calendar = Calendar.objects.create(name="Office", time_zone="UTC", is_default=True)
    OpeningInterval.objects.bulk_create([OpeningInterval(calendar=calendar, weekday=day, opens=time(9), closes=time(17))
                                         for day in range(5)])  # fmt: skip
    SLAPolicy.objects.create(name="Standard", first_response_minutes=60, resolution_minutes=480)
    billing_team, tech_team = TeamFactory(name="Billing team"), TeamFactory(name="Tech team")
    billing = QueueFactory(name="Billing", team=billing_team, survey_csat=True, survey_nps=True, survey_ces=False)
    tech = QueueFactory(name="Tech", team=tech_team, survey_csat=True, survey_nps=False, survey_ces=True)
    a = UserFactory(email="a@staff.example", teams=[billing_team, tech_team])
    b = UserFactory(email="b@staff.example", teams=[tech_team])
    x = Organization.objects.create(name="X")
    c1 = CustomerFactory(email="c1@x.example", organization=x)
    c2 = CustomerFactory(email="c2@mail.example")
    c3 = CustomerFactory(email="c3@x.example", organization=x)
    t = {}

    def create(name, when, queue, channel, customer, **extra):
        with at(when):
            t[name] = services.ticket_create(customer=customer, queue=queue, channel=channel, subject=name,
                                             body="Hello", **extra)  # fmt: skip

    def step(when, action, name, **kwargs):
        with at(when):
            ticket = Ticket.objects.get(pk=t[name].pk)
            return action(ticket=ticket, **kwargs)

    def send_and_answer(name, when, answers):
        with at(when):
            sent = {survey.kind: survey for survey in surveys_send(ticket_id=t[name].pk)}
        for kind, (answered, score) in answers.items():
            with at(answered):
                survey_answer(survey=sent[kind], score=score)
        return sent

    reply, status, assign = services.ticket_reply, services.ticket_set_status, services.ticket_assign
    with django_capture_on_commit_callbacks(execute=False):
        create("P2", utc(2, 25, 10), tech, "portal", c2, assignee=b)
        step(utc(2, 25, 11), reply, "P2", author=b, body="Looking")
        step(utc(2, 26, 10), status, "P2", status="solved", actor=b)
        assert set(send_and_answer("P2", utc(2, 26, 10), {"csat": (utc(2, 26, 12), 2)})) == {"csat", "ces"}
        create("P3", utc(2, 26, 14), billing, "email", c3)
        create("P1", utc(2, 27, 17, 55), billing, "email", c1)
        step(utc(2, 27, 17, 56), assign, "P1", assignee=a, actor=a)
        create("C8", utc(3, 1, 23, 30), billing, "email", c1, assignee=a)
        step(utc(3, 2, 9), reply, "C8", author=a, body="Done")
        step(utc(3, 2, 9, 30), status, "C8", status="solved", actor=a)
        create("C1", utc(3, 2, 9), billing, "email", c1)
        step(utc(3, 2, 9, 5), assign, "C1", assignee=a, actor=a)
        step(utc(3, 2, 9, 10), reply, "P1", author=a, body="Sorry for the wait")
        step(utc(3, 2, 9, 30), reply, "C1", author=a, body="Here you go")
        create("C2", utc(3, 2, 10), billing, "portal", c2, assignee=a)
        step(utc(3, 2, 10), status, "P1", status="solved", actor=a)
        step(utc(3, 2, 11), status, "C1", status="solved", actor=a)
        send_and_answer("C1", utc(3, 2, 11), {"csat": (utc(3, 2, 12), 5), "nps": (utc(3, 2, 12), 10)})
        step(utc(3, 2, 12), reply, "C2", author=a, body="Which order?", status="pending")
        with at(utc(3, 2, 12)):
            services.ticket_add_customer_message(ticket=t["P2"], body="It broke again", channel="portal")
        create("C3", utc(3, 2, 20), tech, "email", c3)
        step(utc(3, 3, 8), assign, "C3", assignee=b, actor=b)
        step(utc(3, 3, 9, 30), reply, "C3", author=b, body="On it")
        with at(utc(3, 3, 10)):
            services.ticket_add_customer_message(ticket=t["C2"], body="Order 7", channel="portal")
        step(utc(3, 3, 11), reply, "C2", author=a, body="Refunded", status="solved")
        send_and_answer("C2", utc(3, 3, 11), {"csat": (utc(3, 4, 10), 3), "nps": (utc(3, 4, 10), 6)})
        step(utc(3, 3, 12), status, "P2", status="solved", actor=b)
        create("C4", utc(3, 3, 14), tech, "phone", c2, created_by=b, assignee=b)
        step(utc(3, 3, 15), status, "C4", status="solved", actor=b)
        step(utc(3, 4, 9, 30), status, "C3", status="solved", actor=b)
        step(utc(3, 4, 9, 45), assign, "C3", assignee=a, actor=a)
        step(utc(3, 4, 10), status, "C3", status="open", actor=a)
        step(utc(3, 4, 11), status, "C3", status="solved", actor=a)
        send_and_answer("C3", utc(3, 4, 11), {"ces": (utc(3, 5, 10), 6)})
        create("C5", utc(3, 5, 9), billing, "chat", c1)
        create("C6", utc(3, 6, 16), tech, "email", c2, assignee=b)
        step(utc(3, 6, 16, 30), reply, "C6", author=b, body="Can you send a photo?", status="pending")
        create("C7", utc(3, 8, 23, 30), billing, "email", c2)
    with at(NOW):
        facts_refresh_stale()
    assert not StaleFact.objects.exists()
    return {"tickets": {name: ticket.pk for name, ticket in t.items()}, "a": a, "b": b, "billing": billing,
            "tech": tech, "x": x}  # fmt: skip


def ids(desk, *names):
    return sorted(desk["tickets"][name] for name in names)


def test_the_facts_of_the_week(desk):
    facts = {f.ticket_id: f for f in TicketFact.objects.all()}
    p1 = facts[desk["tickets"]["P1"]]
    # Friday 17:55 to Monday 09:10: 63 h 15 min on the clock, 10 business minutes
    assert (p1.frt_seconds, p1.frt_business_seconds, p1.frt_agent_id) == (227_700, 600, desk["a"].pk)
    c3 = facts[desk["tickets"]["C3"]]
    # the first response's agent is B (assigned then); the final resolution's is A; reopened once
    assert (c3.frt_agent_id, c3.agent_id, c3.reopened) == (desk["b"].pk, desk["a"].pk, True)
    assert (c3.resolution_seconds, c3.resolution_business_seconds) == (140_400, 36_000)  # Mon 20:00 → Wed 11:00
    assert facts[desk["tickets"]["C4"]].first_response_at is None  # opened by an agent: no FRT
    assert facts[desk["tickets"]["C2"]].reopened is False  # pending → open is not a reopening


def test_headline_figures_unfiltered(desk):
    figures = dashboard_figures(period=WEEK, now=NOW)
    current, previous = figures["current"], figures["previous"]
    # created in the week: C1–C7; before: P1, P2, P3, C8
    assert (current["created"], previous["created"]) == (7, 4)
    # final resolutions in the week: P1, P2 (Tue, after its reopening), C1, C2, C3, C4, C8; none before
    assert (current["resolved"], previous["resolved"]) == (7, 0)
    assert current["reopened"] == 2 and current["reopen_rate"] == pytest.approx(100 * 2 / 7)  # P2, C3
    assert previous["reopen_rate"] is None
    # FRT in the week (C4 opened by an agent has none): calendar 1800 (C1), 1800 (C6), 7200 (C2),
    # 34200 (C8), 48600 (C3), 227700 (P1); business 0 (C8), 600 (P1), 1800 ×3, 7200 (C2)
    assert current["frt_count"] == 6
    assert current["frt_mean"] == pytest.approx(321_300 / 6)  # 53550
    assert current["frt_median"] == pytest.approx(20_700)  # between 7200 and 34200
    assert current["frt_p90"] == pytest.approx(138_150)  # rank 4.5: 48600 + (227700 − 48600) / 2
    assert current["frt_business_mean"] == pytest.approx(2_200)  # 13200 / 6
    assert current["frt_business_median"] == pytest.approx(1_800)
    assert current["frt_business_p90"] == pytest.approx(4_500)  # between 1800 and 7200
    # the week before: P2 only, 1 h
    assert (previous["frt_count"], previous["frt_median"], previous["frt_business_p90"]) == (1, 3600, 3600)
    # resolution, calendar: 3600 (C4), 7200 (C1), 36000 (C8), 90000 (C2), 140400 (C3), 230700 (P1),
    # 525600 (P2: Wed 25 Feb 10:00 → Tue 3 Mar 12:00); business: 1800, 3600, 3600, 7200, 32400, 36000, 122400
    assert current["resolution_count"] == 7
    assert current["resolution_mean"] == pytest.approx(1_033_500 / 7)
    assert current["resolution_median"] == pytest.approx(90_000)
    assert current["resolution_p90"] == pytest.approx(348_660)  # rank 5.4: 230700 + 0.4 × 294900
    assert current["resolution_business_mean"] == pytest.approx(207_000 / 7)
    assert current["resolution_business_median"] == pytest.approx(7_200)
    assert current["resolution_business_p90"] == pytest.approx(70_560)  # 36000 + 0.4 × 86400
    assert previous["resolution_count"] == 0 and previous["resolution_median"] is None
    # surveys: CSAT answers in the week 5 (C1) and 3 (C2); sent C1, C2, C3, two answered. Before: P2's 2.
    assert (current["csat_answers"], current["csat"]) == (2, 50.0)
    assert current["csat_response_rate"] == pytest.approx(200 / 3)
    assert (previous["csat_answers"], previous["csat"], previous["csat_response_rate"]) == (1, 0.0, 100.0)
    # NPS: 10 (promoter) and 6 (detractor): 50 % − 50 % = 0
    assert (current["nps_answers"], current["nps"], current["nps_response_rate"]) == (2, 0, 100.0)
    assert (previous["nps"], previous["nps_response_rate"]) == (None, None)
    # CES: C3's 6; P2's CES sent before, never answered
    assert (current["ces"], current["ces_response_rate"]) == (6.0, 100.0)
    assert (previous["ces"], previous["ces_response_rate"]) == (None, 0.0)
    # SLA first response: met P1, C1, C3, C6, C8; breached C2 (due Mon 11:00) and C5 (still running past
    # Thu 10:00). The week before: met P2, breached P3.
    assert (current["sla_first_response_met"], current["sla_first_response_breached"]) == (5, 2)
    assert current["sla_first_response_compliance"] == pytest.approx(500 / 7)
    assert previous["sla_first_response_compliance"] == 50.0
    # resolution: met P1, C1, C2 (paused while pending: due Tue 16:00), C4, C8; breached C3 (due Tue 17:00)
    # and C5 (running). P2's, solved again late after its reopening, breached at its due time, Thu 26 Feb.
    assert (current["sla_resolution_met"], current["sla_resolution_breached"]) == (5, 2)
    assert (previous["sla_resolution_met"], previous["sla_resolution_breached"]) == (0, 2)  # P2, P3
    assert current["sla_next_response_compliance"] is None  # no such target
    # backlog at the end of the week: P3, C5, C6, C7; at its start: P1, P3, C8 (P2 was solved then)
    assert (current["backlog"], previous["backlog"]) == (4, 3)
    assert current["awaiting_first_response"] == 3  # P3, C5, C7


def test_headline_figures_for_a_queue(desk):
    current = dashboard_figures(period=WEEK, filters=ReportFilters(queue=desk["billing"].pk), now=NOW)["current"]
    # Billing: P1, P3, C1, C2, C5, C7, C8
    assert (current["created"], current["resolved"], current["reopen_rate"]) == (4, 4, 0.0)
    # FRT: 1800, 7200, 34200, 227700 / business 0, 600, 1800, 7200
    assert current["frt_mean"] == pytest.approx(67_725)
    assert current["frt_median"] == pytest.approx(20_700)
    assert current["frt_p90"] == pytest.approx(169_650)  # rank 2.7: 34200 + 0.7 × 193500
    assert current["frt_business_mean"] == pytest.approx(2_400)
    assert current["frt_business_median"] == pytest.approx(1_200)
    assert current["frt_business_p90"] == pytest.approx(5_580)
    # resolution: 7200, 36000, 90000, 230700 / business 1800, 3600, 7200, 32400
    assert current["resolution_mean"] == pytest.approx(90_975)
    assert current["resolution_median"] == pytest.approx(63_000)
    assert current["resolution_p90"] == pytest.approx(188_490)
    assert current["resolution_business_mean"] == pytest.approx(11_250)
    assert current["resolution_business_median"] == pytest.approx(5_400)
    assert current["resolution_business_p90"] == pytest.approx(24_840)
    assert (current["csat"], current["nps"]) == (50.0, 0)
    assert (current["sla_first_response_met"], current["sla_first_response_breached"]) == (3, 2)
    assert current["sla_resolution_compliance"] == 80.0  # met P1, C1, C2, C8; breached C5
    assert (current["backlog"], current["awaiting_first_response"]) == (3, 3)  # P3, C5, C7


def test_headline_figures_for_an_agent(desk):
    current = dashboard_figures(period=WEEK, filters=ReportFilters(agent=desk["a"].pk), now=NOW)["current"]
    # A: assignee at the final resolution of P1, C1, C2, C3 (reassigned before its reopening), C8
    assert (current["created"], current["resolved"], current["reopened"]) == (3, 5, 1)  # C1, C2, C3; C3
    # FRT by the assignee at the first response: P1, C1, C2, C8 (C3's was B's)
    assert current["frt_count"] == 4 and current["frt_p90"] == pytest.approx(169_650)
    # resolution: 7200, 36000, 90000, 140400, 230700 / business 1800, 3600, 7200, 32400, 36000
    assert current["resolution_mean"] == pytest.approx(100_860)
    assert current["resolution_median"] == pytest.approx(90_000)
    assert current["resolution_p90"] == pytest.approx(194_580)  # rank 3.6: 140400 + 0.6 × 90300
    assert current["resolution_business_mean"] == pytest.approx(16_200)
    assert current["resolution_business_p90"] == pytest.approx(34_560)
    assert (current["csat_answers"], current["csat_sent"], current["ces"]) == (2, 3, 6.0)
    assert (current["backlog"], current["awaiting_first_response"]) == (0, 0)
    b = dashboard_figures(period=WEEK, filters=ReportFilters(agent=desk["b"].pk), now=NOW)["current"]
    assert (b["frt_count"], b["frt_median"]) == (2, 25_200)  # C3 48600 and C6 1800
    assert (b["resolved"], b["backlog"]) == (2, 1)  # P2, C4; C6


def test_headline_figures_for_a_channel_and_an_organization(desk):
    email = dashboard_figures(period=WEEK, filters=ReportFilters(channel="email"), now=NOW)["current"]
    # email: P1, P3, C1, C3, C6, C7, C8; FRT 1800, 1800, 34200, 48600, 227700 / 0, 600, 1800, 1800, 1800
    assert (email["created"], email["resolved"], email["reopen_rate"]) == (4, 4, 25.0)
    assert email["frt_mean"] == pytest.approx(62_820)
    assert email["frt_median"] == pytest.approx(34_200)
    assert email["frt_p90"] == pytest.approx(156_060)  # rank 3.6: 48600 + 0.6 × 179100
    assert (email["frt_business_mean"], email["frt_business_median"]) == (1_200, 1_800)
    org = dashboard_figures(period=WEEK, filters=ReportFilters(organization=desk["x"].pk), now=NOW)["current"]
    # X (c1, c3): P1, P3, C1, C3, C5, C8; resolution 7200, 36000, 140400, 230700 / 1800, 3600, 7200, 36000
    assert (org["created"], org["resolved"], org["reopen_rate"]) == (3, 4, 25.0)
    assert org["resolution_mean"] == pytest.approx(103_575)
    assert org["resolution_median"] == pytest.approx(88_200)
    assert org["resolution_p90"] == pytest.approx(203_610)
    assert org["resolution_business_mean"] == pytest.approx(12_150)
    assert org["resolution_business_median"] == pytest.approx(5_400)
    assert org["resolution_business_p90"] == pytest.approx(27_360)
    assert org["backlog"] == 2  # P3, C5


def test_the_viewers_time_zone_moves_tickets_across_the_boundary(desk):
    # Paris is UTC+1: the week is [1 Mar 23:00, 8 Mar 23:00) UTC. C8 (Sun 23:30 UTC) moves in, C7 out.
    figures = dashboard_figures(period=PARIS_WEEK, now=NOW)
    assert (figures["current"]["created"], figures["previous"]["created"]) == (7, 3)
    assert (figures["current"]["backlog"], figures["previous"]["backlog"]) == (3, 2)  # P3 C5 C6; P1 P3
    assert list(figure_ticket_ids(figure="created", period=PARIS_WEEK, now=NOW)) == ids(
        desk, "C1", "C2", "C3", "C4", "C5", "C6", "C8"
    )
    assert list(figure_ticket_ids(figure="created", period=WEEK, now=NOW)) == ids(
        desk, "C1", "C2", "C3", "C4", "C5", "C6", "C7"
    )
    days = volume_per_day(period=PARIS_WEEK)
    assert [day["created"] for day in days] == [4, 1, 0, 1, 1, 0, 0]  # C8 and C3 (21:00) on Monday
    assert created_heatmap(period=PARIS_WEEK)[0][0] == 1  # C8 at Monday 00:30 in Paris


def test_series(desk):
    assert [(d["created"], d["resolved"]) for d in volume_per_day(period=WEEK)] == [
        (3, 3), (1, 3), (0, 1), (1, 0), (1, 0), (0, 0), (1, 0)
    ]  # fmt: skip
    # start 3 (P1, P3, C8); Mon −P1 −C8 +C2 +C3 +P2 reopened = 4; Tue −C2 −P2 = 2; Wed −C3 = 1; Thu +C5;
    # Fri +C6; Sun +C7
    assert [d["backlog"] for d in backlog_per_day(period=WEEK, now=NOW)] == [4, 2, 1, 2, 3, 3, 4]
    assert created_by_channel(period=WEEK) == {"chat": 1, "email": 4, "phone": 1, "portal": 1}
    grid = created_heatmap(period=WEEK)
    assert (grid[0][9], grid[0][10], grid[0][20], grid[1][14], grid[3][9], grid[4][16], grid[6][23]) == (1,) * 7
    assert sum(map(sum, grid)) == 7
    # < 1 h: C1, C6; 1–4 h: C2 (2 h); 8–24 h: C8 (9.5 h), C3 (13.5 h); 1–3 days: P1 (63.25 h)
    assert [b["count"] for b in frt_distribution(period=WEEK)] == [2, 1, 0, 2, 1, 0]
    # business: 0, 600, 1800 ×3 under an hour; C2's 7200 (2 h) in 1–4 h
    assert [b["count"] for b in frt_distribution(period=WEEK, business=True)] == [5, 1, 0, 0, 0, 0]
    weekly = times_per_week(period=WEEK)
    assert [(w["week"], w["count"], w["median"]) for w in weekly["frt"]] == [(date(2026, 3, 2), 6, 20_700)]
    assert [(w["week"], w["business_median"]) for w in weekly["resolution"]] == [(date(2026, 3, 2), 7_200)]
    assert surveys_per_week(period=WEEK) == [
        {"week": date(2026, 3, 2), "csat_answers": 2, "csat": 50.0, "nps_answers": 2, "nps": 0}
    ]


def test_tables(desk):
    by_queue = {row["key"]: row for row in breakdown(dimension="queue", period=WEEK, now=NOW)}
    billing, tech = by_queue[desk["billing"].pk], by_queue[desk["tech"].pk]
    assert (billing["created"], billing["resolved"], billing["frt_count"], billing["backlog"]) == (4, 4, 4, 3)
    # Tech: created C3, C4, C6; resolved P2, C3, C4, of which P2 and C3 were reopened; C6 unresolved
    assert (tech["created"], tech["resolved"], tech["reopen_rate"], tech["backlog"]) == (3, 3, 200 / 3, 1)
    # SLA, Billing: first response met P1, C1, C8, breached C2, C5; resolution met P1, C1, C2, C8, breached C5.
    # Tech: the rest of the week's (5, 2) and (5, 2): first response met C3, C6; resolution one each way.
    assert [billing[f"sla_first_response_{x}"] for x in ("met", "breached")] == [3, 2]
    assert [billing[f"sla_resolution_{x}"] for x in ("met", "breached", "compliance")] == [4, 1, 80.0]
    assert (billing["sla_met"], billing["sla_breached"], billing["sla_compliance"]) == (7, 3, 70.0)
    assert [tech[f"sla_first_response_{x}"] for x in ("met", "breached", "compliance")] == [2, 0, 100.0]
    assert [tech[f"sla_resolution_{x}"] for x in ("met", "breached")] == [1, 1]
    assert (tech["sla_met"], tech["sla_breached"], tech["sla_compliance"]) == (3, 1, 75.0)
    assert billing["sla_next_response_compliance"] is None  # no such target
    for queue in ("billing", "tech"):  # each row is its queue's headline figures
        figures = dashboard_figures(period=WEEK, filters=ReportFilters(queue=desk[queue].pk), now=NOW)["current"]
        assert {key: by_queue[desk[queue].pk][key] for key in figures if key.startswith("sla_")} == {
            key: value for key, value in figures.items() if key.startswith("sla_")
        }
    by_agent = {row["key"]: row for row in breakdown(dimension="agent", period=WEEK, now=NOW)}
    a, b = by_agent[desk["a"].pk], by_agent[desk["b"].pk]
    assert (a["resolved"], a["frt_count"], a["csat"]) == (5, 4, 50.0)
    assert (b["resolved"], b["frt_count"], b["frt_median"]) == (2, 2, 25_200)
    assert by_agent[None]["created"] == 2  # C5, C7 (unassigned)
    by_org = {row["key"]: row for row in breakdown(dimension="organization", period=WEEK, now=NOW)}
    assert (by_org[desk["x"].pk]["resolved"], by_org[None]["resolved"]) == (4, 3)
    by_channel = {row["key"]: row for row in breakdown(dimension="channel", period=WEEK, now=NOW)}
    assert by_channel["email"]["created"] == 4


def test_the_tickets_behind_the_figures(desk):
    def behind(figure, **filters):
        return list(figure_ticket_ids(figure=figure, period=WEEK, filters=ReportFilters(**filters), now=NOW))

    assert behind("reopened") == ids(desk, "P2", "C3")
    assert behind("backlog") == ids(desk, "P3", "C5", "C6", "C7")
    assert behind("awaiting_first_response") == ids(desk, "P3", "C5", "C7")
    assert behind("sla_first_response_breached") == ids(desk, "C2", "C5")
    assert behind("sla_breached", queue=desk["billing"].pk) == ids(desk, "C2", "C5")  # any target
    assert behind("frt", agent=desk["a"].pk) == ids(desk, "P1", "C1", "C2", "C8")
    assert behind("csat_sent") == ids(desk, "C1", "C2", "C3")
    assert behind("resolved", organization=desk["x"].pk) == ids(desk, "P1", "C1", "C3", "C8")


def test_the_figures_take_the_same_queries_whatever_the_tickets(desk, django_assert_num_queries):
    # the SQL reference (the engine's queries: tests/test_report_engine.py)
    filters = ReportFilters(queue=desk["billing"].pk, team=desk["billing"].team_id, organization=desk["x"].pk)
    with django_assert_num_queries(5):
        dashboard_figures_sql(period=WEEK, filters=filters, now=NOW)
    TicketFact.objects.filter(created_at__gte=utc(3, 3, 0)).delete()
    with django_assert_num_queries(5):
        dashboard_figures_sql(period=WEEK, filters=filters, now=NOW)


def test_a_survey_answer_changes_the_figures_once_refreshed(desk):
    survey = Survey.objects.get(ticket_id=desk["tickets"]["C3"], kind="csat")
    with at(utc(3, 6, 9)):
        survey_answer(survey=survey, score=4)
    assert StaleFact.objects.filter(ticket_id=desk["tickets"]["C3"]).exists()
    facts_refresh_stale()
    current = dashboard_figures(period=WEEK, now=NOW)["current"]
    assert (current["csat_answers"], current["csat"]) == (3, pytest.approx(200 / 3))
