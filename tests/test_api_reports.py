"""The dashboard's figures through the API: the same numbers as the selectors (and so as the page and its CSV,
which tests/test_report_views.py ties to them), the same filters and the same permissions.

The history is the hand-computed week of tests/test_report_metrics.py (``desk``), read at its ``NOW``."""

import pytest
import time_machine
from django.urls import reverse

from reports.selectors import ReportFilters, dashboard_figures

from . import test_report_metrics
from .test_report_metrics import NOW, WEEK

desk = test_report_metrics.desk  # the hand-computed week (a fixture)

URL = "api:report-figures"
WEEK_QUERY = {"period": "custom", "start": "2026-03-02", "end": "2026-03-08", "tz": "UTC"}


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def test_the_api_gives_the_dashboard_figures(api_as, desk, at_now):
    owner_client = api_as("owner")
    response = owner_client.get(reverse(URL), WEEK_QUERY)

    assert response.status_code == 200
    body = response.json()
    expected = dashboard_figures(period=WEEK, now=NOW)
    assert body["current"] == pytest.approx(expected["current"])
    assert body["previous"] == pytest.approx(expected["previous"])
    assert body["period"] == {"start": "2026-03-02", "end": "2026-03-09", "time_zone": "UTC"}
    assert body["previous_period"] == {"start": "2026-02-23", "end": "2026-03-02", "time_zone": "UTC"}
    # spot checks against the hand-computed week
    assert body["current"]["created"] == 7 and body["current"]["resolved"] == 7 and body["current"]["backlog"] == 4
    assert body["current"]["frt_business_median"] == 1800


def test_filters_are_those_of_the_dashboard(api_as, desk, at_now):
    billing = desk["billing"]
    body = api_as("owner").get(reverse(URL), {**WEEK_QUERY, "queue": billing.pk, "channel": "email"}).json()
    expected = dashboard_figures(period=WEEK, filters=ReportFilters(queue=billing.pk, channel="email"), now=NOW)
    assert body["current"] == pytest.approx(expected["current"])
    assert body["current"]["created"] < dashboard_figures(period=WEEK, now=NOW)["current"]["created"]


def test_bad_filters_are_a_400_with_the_reason(api_as, db):
    response = api_as("owner").get(reverse(URL), {"period": "custom", "start": "2026-03-08", "end": "2026-03-01"})
    assert response.status_code == 400
    assert "end" in response.json()["error"]["fields"]
    assert api_as("owner").get(reverse(URL), {"queue": 999_999}).status_code == 400


def test_an_agent_gets_their_own_figures_and_not_another_teams(api_as, agent, other_queue, other_agent, db):
    client = api_as("agent")
    assert client.get(reverse(URL)).status_code == 200
    refused = client.get(reverse(URL), {"queue": other_queue.pk})
    assert refused.status_code == 400 and "queue" in refused.json()["error"]["fields"]
    assert client.get(reverse(URL), {"agent": other_agent.pk}).status_code == 400


def test_anonymous_clients_are_refused_and_nobody_writes(api_as, db):
    assert api_as("anonymous").get(reverse(URL)).status_code == 401
    assert api_as("owner").post(reverse(URL), {}, format="json").status_code == 405
