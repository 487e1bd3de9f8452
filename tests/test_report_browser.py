"""The reports dashboard in a real browser (Chromium): the charts draw, without console errors, at desktop
and phone width. Screenshots go to var/screenshots/ for a person to look at."""

import pytest
import time_machine
from playwright.sync_api import expect

from . import test_report_metrics
from .factories import UserFactory
from .test_report_metrics import NOW
from .test_screens import DESKTOP, PHONE, browser, horizontal_overflow, open_page, screenshot, sign_in  # noqa: F401

desk = test_report_metrics.desk  # the hand-computed week (a fixture)
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WEEK = "?period=custom&start=2026-03-02&end=2026-03-08&tz=UTC&basis=business"


def _open_dashboard(browser, live_server, user, viewport):  # noqa: F811
    page = open_page(browser, live_server, viewport=viewport)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, user)
    page.goto(f"/reports/{WEEK}")
    return page, errors


@pytest.mark.parametrize(("viewport", "name"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_dashboard_draws_its_charts(browser, live_server, desk, viewport, name):  # noqa: F811 (browser)
    owner = UserFactory(email="owner@staff.example", full_name="Olive Owner", role="owner")
    with time_machine.travel(NOW, tick=True):
        page, errors = _open_dashboard(browser, live_server, owner, viewport)
        expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
        canvases = page.locator("canvas[data-chart]")
        expect(canvases).to_have_count(6)
        # Chart.js has drawn: each canvas is sized and registered as a chart
        page.wait_for_function(
            "Array.from(document.querySelectorAll('canvas[data-chart]'))"
            ".every((c) => window.Chart && window.Chart.getChart(c) && c.width > 0)"
        )
        expect(page.locator('[data-figure="created"] .stat-card__value')).to_have_text("7")
        assert page.locator("table.heatmap td.heat--4").count() >= 1
        assert horizontal_overflow(page) <= 0
        page.wait_for_timeout(700)  # the charts' entry animation
        screenshot(page, f"reports-dashboard-{name}.png")
        assert errors == []


def test_an_agent_sees_their_own_figures_and_the_empty_state(browser, live_server, desk):  # noqa: F811
    with time_machine.travel(NOW, tick=True):
        page, errors = _open_dashboard(browser, live_server, desk["b"], PHONE)
        expect(page.locator(".report-summary")).to_contain_text("Only you")
        page.goto("/reports/?period=custom&start=2025-01-06&end=2025-01-12&tz=UTC")
        expect(page.get_by_role("heading", name="No tickets in this period")).to_be_visible()
        screenshot(page, "reports-empty-phone.png")
        page.goto("/reports/?period=custom&start=2026-03-08&end=2026-03-02")
        expect(page.get_by_role("alert")).to_contain_text("The end date is before the start date.")
        screenshot(page, "reports-error-phone.png")
        assert [error for error in errors if "status of 400" not in error] == []  # the error page is a 400
