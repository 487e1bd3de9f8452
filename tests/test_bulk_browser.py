"""Bulk assign in a real browser: tick rows (or all), pick the action, apply."""

import pytest
from playwright.sync_api import expect

from tickets.models import Ticket

from .test_screens import browser, open_page, sign_in  # noqa: F401 (fixture)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_select_all_and_assign_to_me(browser, live_server, agent, make_ticket):  # noqa: F811
    tickets = [make_ticket(subject=f"Parcel {n}") for n in range(3)]
    page = open_page(browser, live_server)
    sign_in(page, agent)
    page.locator("[data-bulk-all]").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("3")
    page.locator("[data-bulk-item]").nth(1).uncheck()
    expect(page.locator("[data-bulk-count]")).to_have_text("2")
    page.select_option("#bulk-action", "assign:me")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator("text=Updated 2 tickets.")).to_be_visible()
    assigned = Ticket.objects.filter(pk__in=[t.pk for t in tickets], assignee=agent).count()
    assert assigned == 2
