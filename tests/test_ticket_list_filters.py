"""The filters of the ticket list screen: parsed from the URL, combined, shown, and cleared."""

import re

import pytest
from django.urls import reverse

from tickets import services

LIST_URL = reverse("tickets:list")


def rows(response) -> list[str]:
    return re.findall(r'<td class="col-ref">([A-Z]+-\d+)</td>', response.content.decode())


@pytest.fixture
def tickets(make_ticket, agent):
    email = make_ticket(subject="By email", channel="email", priority="high")
    portal = make_ticket(subject="By portal", channel="portal", assignee=agent)
    services.ticket_tag(ticket=portal, actor=agent, add=["vip"])
    return email, portal


def test_filters_in_the_url_narrow_the_list(client, agent, tickets):
    email, portal = tickets
    client.force_login(agent)
    assert rows(client.get(LIST_URL, {"view": "all", "channel": "email"})) == [email.reference]
    assert rows(client.get(LIST_URL, {"view": "all", "priority": ["high", "low"]})) == [email.reference]
    assert rows(client.get(LIST_URL, {"view": "all", "assignee": "me", "tag": "VIP"})) == [portal.reference]
    assert rows(client.get(LIST_URL, {"view": "all", "channel": "email", "assignee": "me"})) == []


def test_filters_apply_to_search(client, agent, tickets):
    email, _ = tickets
    client.force_login(agent)
    assert rows(client.get(LIST_URL, {"q": "order", "channel": "email"})) == [email.reference]


def test_the_panel_shows_the_active_filters_and_a_clear_link(client, agent, tickets):
    client.force_login(agent)
    html = client.get(LIST_URL, {"view": "all", "channel": ["email", "portal"], "tag": "vip"}).content.decode()
    assert re.search(r"<details class=\"filters\" open>", html)
    assert re.search(r'Filters <span class="count">2</span>', html)
    assert re.search(r'value="email"[^>]*checked', html) and re.search(r'value="portal"[^>]*checked', html)
    assert 'name="tag" value="vip"' in html
    clear = re.search(r'<a href="([^"]*)">Clear filters</a>', html).group(1)
    assert "channel" not in clear and "tag" not in clear and "view=all" in clear


def test_without_filters_the_panel_is_closed(client, agent, tickets):
    client.force_login(agent)
    html = client.get(LIST_URL).content.decode()
    assert '<details class="filters">' in html
    assert "Clear filters" not in html


@pytest.mark.parametrize(
    "params",
    [
        {"status": "done"},
        {"priority": "whenever"},
        {"assignee": "someone"},
        {"created_from": "yesterday"},
        {"created_to": "2026-02-30"},
        {"tag": "x" * 500},
    ],
)
def test_bad_filter_values_are_ignored_not_errors(client, agent, tickets, params):
    client.force_login(agent)
    response = client.get(LIST_URL, {"view": "all", **params})
    assert response.status_code == 200
    assert len(rows(response)) == 2


def test_filtered_list_keeps_its_query_count(client, agent, tickets, django_assert_num_queries):
    client.force_login(agent)
    params = {"view": "all", "status": ["new", "open"], "priority": "high", "tag": "vip", "created_from": "2020-01-01"}
    with django_assert_num_queries(7):  # as without: session, user, queues, rows, counts, assignees, saved views
        client.get(LIST_URL, params)
