"""The owners' dashboard (issue 8): who sees what, the same numbers on the page, in the CSV and from the
selectors, filter errors, the tickets behind a figure, the weekly email, and the page's query count.

The history is the hand-computed week of tests/test_report_metrics.py (``desk``), read at its ``NOW``.
"""

import csv
import io
import re
from datetime import UTC, datetime
from html import unescape

import pytest
import time_machine
from django.urls import get_resolver, reverse
from django.utils.html import escape

from reports import display
from reports.models import TicketFact, WeeklySummary
from reports.selectors import ReportFilters, breakdown, dashboard_figures, figure_ticket_ids, key_names
from reports.services import weekly_summaries_send

from . import test_report_metrics
from .factories import UserFactory
from .test_report_metrics import NOW, WEEK, ids

desk = test_report_metrics.desk  # the hand-computed week (a fixture)

ROLES = ["anonymous", "other_agent", "agent", "admin_user", "owner"]
WEEK_QUERY = {"period": "custom", "start": "2026-03-02", "end": "2026-03-08", "tz": "UTC"}
# Every route of the reports app, with what it needs: a route added without an entry fails
# test_every_reports_route_is_covered.
ROUTES = {
    "dashboard": ([], {}),
    "tickets": ([], {"figure": "created"}),
    "export": (["figures"], {}),
}


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def test_every_reports_route_is_covered():
    resolver = next(p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "reports")
    names = {name for name in resolver.reverse_dict if isinstance(name, str)}
    assert names == set(ROUTES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ROUTES))
def test_who_may_open_the_reports(as_role, role, name, queue):
    args, query = ROUTES[name]
    url = reverse(f"reports:{name}", args=args)
    response = as_role(role).get(url, query)
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(f"{reverse('login')}?next={url}")
    else:
        assert response.status_code == 200  # every staff member sees at least their own figures


@pytest.mark.parametrize("role", ["agent", "admin_user", "owner"])
def test_the_nav_links_to_the_reports(as_role, role):
    html = as_role(role).get(reverse("tickets:list")).content.decode()
    assert f'href="{reverse("reports:dashboard")}"' in html


def test_reports_refuse_post(client, owner):
    client.force_login(owner)
    assert client.post(reverse("reports:dashboard")).status_code == 405


# --- the same numbers everywhere ------------------------------------------------------------------


def _options(html: str, name: str) -> set[str]:
    """The values of a filter's choices (ids of different models can be equal: not the whole page)."""
    select = re.search(rf'<select name="{name}".*?</select>', html, flags=re.DOTALL)
    return set(re.findall(r'value="([^"]*)"', select.group(0))) if select else set()


def _cards(html: str) -> dict[str, str]:
    found = re.findall(r'data-figure="(\w+)">\s*<p class="stat-card__label">[^<]*</p>\s*'
                       r'<p class="stat-card__value">(?:<a href="[^"]*">)?([^<]*)<', html)  # fmt: skip
    return {key: unescape(value) for key, value in found}


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _shown(value) -> str:
    return "" if value is None else str(value)


@pytest.mark.parametrize("basis", ["business", "calendar"])
def test_the_page_the_csv_and_the_selectors_agree(client, desk, at_now, basis):
    owner = UserFactory(role="owner")
    client.force_login(owner)
    query = {**WEEK_QUERY, "basis": basis}
    figures = dashboard_figures(period=WEEK, now=NOW)
    business = basis == "business"

    cards = _cards(client.get(reverse("reports:dashboard"), query).content.decode())
    rows = _csv(client.get(reverse("reports:export", args=["figures"]), query))

    expected = display.headline_rows(figures, business=business)
    assert len(cards) == len(expected) == len(rows) - 1
    for row, line in zip(expected, rows[1:], strict=True):
        key = row["key"]
        assert cards[key] == display.value_text(row["kind"], figures["current"][key])
        assert line == [key, row["label"], _shown(row["current"]), _shown(row["previous"])]
    # spot checks against the hand-computed figures
    assert cards["created"] == "7" and cards["resolved"] == "7" and cards["backlog"] == "4"
    assert cards["reopen_rate"] == "28.6 %" and cards["csat"] == "50.0 %" and cards["nps"] == "0"
    if business:
        assert cards["frt_business_median"] == "30 min"  # 1800 s
        assert rows[1:][5][:3] == ["frt_business_median", "First response time: Median", "1800"]
    else:
        assert cards["frt_median"] == "5 h 45 min"  # 20 700 s
        assert cards["resolution_p90"] == "4 d 1 h"  # 348 660 s = 96.85 h


@pytest.mark.parametrize("dimension", ["agent", "queue", "channel", "organization"])
def test_each_table_and_its_csv_agree(client, desk, at_now, dimension):
    client.force_login(UserFactory(role="admin"))
    html = client.get(reverse("reports:dashboard"), WEEK_QUERY).content.decode()
    rows = _csv(client.get(reverse("reports:export", args=[dimension]), WEEK_QUERY))
    found = breakdown(dimension=dimension, period=WEEK, now=NOW)
    names = key_names({dimension: found})

    assert rows == [[_shown(cell) for cell in row]
                    for row in display.table_csv(dimension, found, names=names, business=True)]  # fmt: skip
    table = html[html.index(f'data-table="{dimension}"') :]
    table = table[: table.index("</table>")]
    for row in found:
        name = display.key_name(dimension, row["key"], names)
        shown = re.search(rf'<th scope="row">{re.escape(escape(name))}</th>(.*?)</tr>', table).group(1)
        cells = [unescape(cell) for cell in re.findall(r"<td>(?:<a href=\"[^\"]*\">)?([^<]*)", shown)]
        assert cells[0] == str(row["created"]) and cells[1] == str(row["resolved"])
        assert cells[3] == display.duration_text(row.get("frt_business_median"))
        line = next(line for line in rows[1:] if line[0] == name)
        assert line[2:4] == [str(row["created"]), str(row["resolved"])]
        assert line[7] == _shown(display.rounded("duration", row.get("frt_business_median")))


def test_the_csv_escapes_formulas(client, desk, at_now):
    desk["billing"].name = "=HYPERLINK(1)"
    desk["billing"].save(update_fields=["name"])
    client.force_login(UserFactory(role="owner"))
    rows = _csv(client.get(reverse("reports:export", args=["queue"]), WEEK_QUERY))
    assert ["'=HYPERLINK(1)", str(desk["billing"].pk)] == rows[1][:2]


def test_an_unknown_table_is_a_404(client, owner):
    client.force_login(owner)
    assert client.get(reverse("reports:export", args=["salaries"])).status_code == 404


# --- filters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "message"), [
    ({"period": "custom", "start": "2026-03-08", "end": "2026-03-02"}, "The end date is before the start date."),
    ({"period": "custom", "start": "2020-01-01", "end": "2026-03-02"}, "Choose a period of at most three years."),
    ({"period": "custom", "start": "2026-03-02"}, "Choose both dates of a custom period."),
    ({"period": "custom", "start": "yesterday", "end": "2026-03-02"}, "Enter a valid date."),
    ({"period": "forever"}, "Select a valid choice."),
    ({"queue": "999999"}, "Choose one of the list"),
    ({"queue": "abc"}, "Choose one of the list"),
    ({"agent": "999999"}, "Choose one of the list"),
    ({"tz": "Mars/Olympus"}, "Select a valid choice."),
    ({"basis": "lunar"}, "Select a valid choice."),
])  # fmt: skip
def test_invalid_filters_show_a_form_error(client, owner, query, message):
    client.force_login(owner)
    for name in ("dashboard", "tickets"):
        response = client.get(reverse(f"reports:{name}"), {**query, "figure": "created"})
        assert response.status_code == 400
        html = unescape(response.content.decode())
        assert 'role="alert"' in html and message in html
        assert "data-figure=" not in html
    export = client.get(reverse("reports:export", args=["figures"]), query)
    assert export.status_code == 400 and message in export.content.decode()


@pytest.mark.parametrize("preset", ["7d", "30d", "90d", "this_month", "last_month", "12m"])
def test_every_period_preset_renders(client, desk, at_now, preset):
    client.force_login(UserFactory(role="owner"))
    response = client.get(reverse("reports:dashboard"), {"period": preset})
    assert response.status_code == 200


def test_the_default_time_zone_is_the_viewers(client, desk, at_now):
    viewer = UserFactory(role="owner", time_zone="Europe/Paris")
    client.force_login(viewer)
    html = client.get(reverse("reports:dashboard"), {k: v for k, v in WEEK_QUERY.items() if k != "tz"}).content
    html = html.decode()
    assert '<option value="Europe/Paris" selected>' in html
    # In Paris, C8 (Sun 23:30 UTC) moves into the week and C7 out: still 7 created, 3 the week before
    assert _cards(html)["created"] == "7" and "(before: 3)" in html


def test_an_empty_period_says_so(client, desk, at_now):
    client.force_login(UserFactory(role="owner"))
    html = client.get(reverse("reports:dashboard"), {**WEEK_QUERY, "start": "2025-01-06", "end": "2025-01-12"})
    html = html.content.decode()
    assert "No tickets in this period" in html and "data-figure=" not in html and "<canvas" not in html


# --- permissions ----------------------------------------------------------------------------------


def test_an_agent_sees_their_own_figures_by_default(client, desk, at_now):
    b = desk["b"]
    client.force_login(b)
    html = client.get(reverse("reports:dashboard"), WEEK_QUERY).content.decode()
    own = dashboard_figures(period=WEEK, filters=ReportFilters(agent=b.pk), now=NOW)["current"]
    cards = _cards(html)
    assert cards["resolved"] == str(own["resolved"]) == "2"  # P2, C4
    assert cards["backlog"] == "1" and "Only you" in html
    # the choices are b's: Tech (their team's queue), themselves
    queues, agents = _options(html, "queue"), _options(html, "agent")
    assert str(desk["tech"].pk) in queues and str(desk["billing"].pk) not in queues
    assert str(b.pk) in agents and str(desk["a"].pk) not in agents
    # the CSV is the same view
    rows = _csv(client.get(reverse("reports:export", args=["figures"]), WEEK_QUERY))
    assert rows[2][:3] == ["resolved", "Tickets solved", "2"]


def test_an_agent_sees_their_teams_figures(client, desk, at_now):
    client.force_login(desk["b"])
    html = client.get(reverse("reports:dashboard"), {**WEEK_QUERY, "team": desk["tech"].team_id}).content.decode()
    team = dashboard_figures(period=WEEK, filters=ReportFilters(team=desk["tech"].team_id), now=NOW)["current"]
    assert _cards(html)["created"] == str(team["created"]) == "3"


@pytest.mark.parametrize("refused", ["billing_queue", "billing_team", "other_agent"])
def test_an_agent_cannot_ask_for_another_team_or_agent(client, desk, at_now, refused):
    b = desk["b"]
    query = {"billing_queue": {"queue": desk["billing"].pk}, "billing_team": {"team": desk["billing"].team_id},
             "other_agent": {"agent": desk["a"].pk}}[refused]  # fmt: skip
    client.force_login(b)
    for name, args in (("dashboard", []), ("tickets", []), ("export", ["queue"])):
        response = client.get(reverse(f"reports:{name}", args=args), {**WEEK_QUERY, **query, "figure": "created"})
        assert response.status_code == 400
        assert "you may not see the figures of this one" in unescape(response.content.decode())
        assert "Billing," not in response.content.decode()


def test_an_agents_table_links_only_to_what_they_may_open(client, desk, at_now):
    client.force_login(desk["b"])
    html = client.get(reverse("reports:dashboard"), {**WEEK_QUERY, "team": desk["tech"].team_id}).content.decode()
    links = re.findall(r'href="(/reports/tickets/\?[^"]*)"', html)
    assert links and all(f"agent={desk['a'].pk}&" not in unescape(link) for link in links)
    for link in {unescape(link) for link in links}:
        assert client.get(link).status_code == 200


# --- the tickets behind a figure ------------------------------------------------------------------


@pytest.mark.parametrize(("figure", "filters"), [
    ("created", {}),
    ("resolved", {"organization": "x"}),
    ("backlog", {}),
    ("sla_first_response_breached", {}),
    ("frt", {"agent": "a"}),
    ("csat_sent", {}),
    ("reopened", {"channel": "email"}),
])  # fmt: skip
def test_the_tickets_behind_a_figure(client, desk, at_now, figure, filters):
    client.force_login(UserFactory(role="owner"))
    values = {name: desk[value].pk if name in ("organization", "agent") else value for name, value in filters.items()}
    response = client.get(reverse("reports:tickets"), {**WEEK_QUERY, **values, "figure": figure})
    assert response.status_code == 200
    listed = sorted(int(pk) for pk in re.findall(r'data-ticket="(\d+)"', response.content.decode()))
    expected = list(figure_ticket_ids(figure=figure, period=WEEK, filters=ReportFilters(**values), now=NOW))
    assert listed == expected and expected


def test_every_number_on_the_page_opens_its_tickets(client, desk, at_now):
    client.force_login(UserFactory(role="owner"))
    html = client.get(reverse("reports:dashboard"), WEEK_QUERY).content.decode()
    created = next(unescape(link) for link in re.findall(r'href="(/reports/tickets/\?[^"]*)"', html)
                   if "figure=created" in link)  # fmt: skip
    listed = re.findall(r'data-ticket="(\d+)"', client.get(created).content.decode())
    assert sorted(map(int, listed)) == ids(desk, "C1", "C2", "C3", "C4", "C5", "C6", "C7")


def test_the_tickets_page_explains_an_unknown_figure_and_pages(client, desk, at_now, settings, monkeypatch):
    client.force_login(UserFactory(role="owner"))
    response = client.get(reverse("reports:tickets"), {**WEEK_QUERY, "figure": "salary"})
    assert response.status_code == 400 and "does not name a figure" in response.content.decode()
    monkeypatch.setattr("reports.views.PAGE_SIZE", 3)
    first = client.get(reverse("reports:tickets"), {**WEEK_QUERY, "figure": "created"}).content.decode()
    second = client.get(reverse("reports:tickets"), {**WEEK_QUERY, "figure": "created", "page": 3}).content.decode()
    assert len(re.findall(r"data-ticket=", first)) == 3 and 'rel="next"' in first
    assert len(re.findall(r"data-ticket=", second)) == 1 and "7 tickets" in second


# --- query count ----------------------------------------------------------------------------------


def test_the_dashboard_takes_the_same_queries_whatever_the_tickets(client, desk, at_now, django_assert_num_queries):
    client.force_login(UserFactory(role="owner"))
    url = reverse("reports:dashboard")
    client.get(url, WEEK_QUERY)  # the in-memory engine loaded (reports.engine)
    # session + user (2), the filters' choices (queues, teams, agents, organizations, segments: 5), the
    # figures, series, heat map and tables from the engine (5: its change feed, then the rows of each fact table for the tickets
    # changed since, here all those of this test's transaction), the tables from the engine (1: the customers'
    # organizations) and their names (3)
    with django_assert_num_queries(16):
        assert client.get(url, WEEK_QUERY).status_code == 200
    TicketFact.objects.filter(created_at__gte=datetime(2026, 3, 3, tzinfo=UTC)).delete()
    with django_assert_num_queries(16):
        assert client.get(url, WEEK_QUERY).status_code == 200


# --- the weekly email -----------------------------------------------------------------------------


def test_the_weekly_summary_is_sent_once_in_each_recipients_language(transactional_db, desk, smtp_server):
    owner = UserFactory(email="owner@staff.example", full_name="Olga Owner", role="owner", language="de")
    admin = UserFactory(email="admin@staff.example", full_name="Adam Admin", role="admin", language="")
    UserFactory(email="gone@staff.example", role="owner", is_active=False)
    monday = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # last week: 2–8 March, against 23 Feb – 1 March

    with time_machine.travel(monday, tick=False):
        assert weekly_summaries_send() == 2
        assert weekly_summaries_send() == 0  # run twice, or retried: once per person and week

    assert sorted(message["To"] for message in smtp_server.messages) == [admin.email, owner.email]
    assert WeeklySummary.objects.filter(week_start="2026-03-02").count() == 2
    german = next(message for message in smtp_server.messages if message["To"] == owner.email)
    english = next(message for message in smtp_server.messages if message["To"] == admin.email)
    assert german["Subject"].strip() == "Ihr Helpdesk letzte Woche: 2. März 2026 – 8. März 2026"
    assert english["Subject"].strip() == "Your help desk last week: March 2, 2026 – March 8, 2026"
    text = english.get_body(preferencelist=("plain",)).get_content()
    assert "Tickets created: 7 (▲ 75 %; before: 4)" in text
    assert "/reports/?period=custom&start=2026-03-02&end=2026-03-08&tz=UTC" in text
    html = german.get_body(preferencelist=("html",)).get_content()
    assert 'lang="de"' in html and "/reports/?period=custom" in html
    # desk members are agents: no email for them
    assert desk["a"].email not in {message["To"] for message in smtp_server.messages}


def test_a_failed_send_is_sent_again_on_retry(transactional_db, smtp_server):
    UserFactory(email="owner@staff.example", role="owner")
    smtp_server.refuse = True
    with time_machine.travel(datetime(2026, 3, 9, 7, 0, tzinfo=UTC), tick=False):
        with pytest.raises(Exception):  # noqa: B017 (the SMTP error: the task retries on it)
            weekly_summaries_send()
        assert not WeeklySummary.objects.exists()
        smtp_server.refuse = False
        assert weekly_summaries_send() == 1
    assert len(smtp_server.messages) == 1


def test_the_weekly_summary_waits_for_monday_seven_in_the_default_calendars_time_zone(transactional_db, smtp_server):
    from helpdesk.calendars import Calendar

    UserFactory(email="owner@staff.example", role="owner")
    Calendar.objects.create(name="Auckland", time_zone="Pacific/Auckland", is_default=True)  # UTC+13 in March
    with time_machine.travel(datetime(2026, 3, 8, 17, 59, tzinfo=UTC), tick=False):  # Monday 06:59 there
        assert weekly_summaries_send() == 0
    with time_machine.travel(datetime(2026, 3, 8, 18, 0, tzinfo=UTC), tick=False):  # Monday 07:00 there
        assert weekly_summaries_send() == 1
    assert WeeklySummary.objects.get().week_start.isoformat() == "2026-03-02"
    with time_machine.travel(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), tick=False):  # later that week: nothing more
        assert weekly_summaries_send() == 0
    assert len(smtp_server.messages) == 1


def test_a_summary_missed_on_monday_goes_out_later_that_week(transactional_db, smtp_server):
    UserFactory(email="owner@staff.example", role="owner")
    with time_machine.travel(datetime(2026, 3, 12, 15, 0, tzinfo=UTC), tick=False):  # Thursday: workers were down
        assert weekly_summaries_send() == 1
    assert WeeklySummary.objects.get().week_start.isoformat() == "2026-03-02"


def test_the_weekly_summary_is_in_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["weekly-report-summary"]
    assert entry["task"] == "reports.tasks.send_weekly_summaries_task"
    from reports.tasks import send_weekly_summaries_task

    assert send_weekly_summaries_task.name == entry["task"]
