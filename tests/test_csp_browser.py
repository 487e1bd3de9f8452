"""The Content-Security-Policy (settings.CONTENT_SECURITY_POLICY) in a real browser: the main screens of agents,
owners and customers, and the API docs, load and work (htmx swaps, Chart.js draws, Swagger UI renders) with
not a single violation reported by Chromium."""

import pytest
import time_machine
from playwright.sync_api import expect

from tickets.portal.links import follow_token

from . import test_report_metrics
from .factories import UserFactory
from .test_report_metrics import NOW
from .test_screens import browser, open_page, sign_in, tickets  # noqa: F401 (fixtures)

desk = test_report_metrics.desk  # the hand-computed week of the reports tests (a fixture)
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Reports every violation to the test, from each page before its own scripts run (the event fires on the
# document; Chromium also logs "Refused to ..." on the console, collected below as a second witness).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} `
                            + `in ${event.sourceFile || event.documentURI}:${event.lineNumber}`);
});
"""


def watched_page(browser, live_server, **kwargs):  # noqa: F811 (browser)
    """A page, and the list that receives every CSP violation and console error it meets."""
    page = open_page(browser, live_server, **kwargs)
    problems = []
    page.context.expose_function("reportCspViolation", lambda text: problems.append(text))
    page.context.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: problems.append(f"{message.text} ({message.location.get('url')})")
            if message.type == "error" else None)  # fmt: skip
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


def visit(page, url: str) -> None:
    response = page.goto(url)
    assert response.ok, f"{url}: {response.status}"
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, f"{url}: {policy!r}"


def test_agent_screens_and_api_docs_without_violations(browser, live_server, agent, tickets):  # noqa: F811
    page, problems = watched_page(browser, live_server)
    sign_in(page, agent)

    # The ticket list: htmx loads the bell's count after the page, and the search narrows the rows in place.
    visit(page, "/tickets/")
    expect(page.locator(".bell__count")).to_have_text("1")
    page.get_by_label("Search tickets").press_sequentially("arrived")
    expect(page.locator("tr[data-row]")).to_have_count(1)
    page.wait_for_url("**q=arrived**")

    # The ticket page with attachments, an internal note through the composer, the status form.
    ticket = tickets[0]
    visit(page, f"/tickets/{ticket.pk}/")
    expect(page.get_by_role("link", name="receipt.pdf")).to_be_visible()
    page.get_by_role("radio", name="Internal note").check()
    page.get_by_label("Message").fill("Checked with the courier.")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_url(f"**/tickets/{ticket.pk}/#message-*")
    expect(page.locator(".message--note")).to_have_count(1)

    visit(page, "/tickets/notifications/")
    visit(page, "/customers/")
    visit(page, "/articles/")
    visit(page, "/account/")

    # Swagger UI from the sidecar's static files, its start-up script from ?script: it fetches and shows the schema.
    visit(page, "/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Help Desk API")
    expect(page.locator(".opblock").first).to_be_visible()
    page.locator(".opblock-summary").first.click()  # opens an operation (React re-renders, styles set by script)
    expect(page.locator(".opblock-body").first).to_be_visible()

    assert problems == []


def test_the_reports_dashboard_draws_its_charts_without_violations(browser, live_server, desk):  # noqa: F811
    owner = UserFactory(email="owner@staff.example", role="owner")
    with time_machine.travel(NOW, tick=True):
        page, problems = watched_page(browser, live_server)
        sign_in(page, owner)
        visit(page, "/reports/?period=custom&start=2026-03-02&end=2026-03-08&tz=UTC&basis=business")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('canvas[data-chart]'))"
            ".every((c) => window.Chart && window.Chart.getChart(c) && c.width > 0)"
        )
        expect(page.locator('[data-figure="created"] .stat-card__value')).to_have_text("7")
        page.wait_for_timeout(300)  # the charts' entry animation runs (and sets styles) after the first frame
    assert problems == []


def test_portal_and_help_center_without_violations(browser, live_server, agent, tickets, queue):  # noqa: F811
    from knowledge_base.demo import demo_help_center_load

    queue.on_portal = True
    queue.save()
    demo_help_center_load()
    page, problems = watched_page(browser, live_server)

    # The brand colour comes from the one inline <style>, allowed by the response's nonce: it applies.
    visit(page, "/help/")
    primary = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--color-primary')")
    assert primary.strip() == "#1f5fbf"
    page.get_by_role("link", name="Which grind for my coffee maker?").first.click()
    expect(page.get_by_role("heading", name="Which grind for my coffee maker?")).to_be_visible()

    # The request form's article suggestions arrive by htmx while the customer types.
    visit(page, "/help/requests/new/")
    page.get_by_label("Subject").press_sequentially("Which grind for my moka pot")
    expect(page.locator("#kb-suggestions").get_by_role("link", name="Which grind for my coffee maker?")).to_be_visible()

    # A customer's request from the link in their email, and the sign-in page.
    visit(page, f"/help/requests/{follow_token(tickets[0])}/")
    expect(page.get_by_role("heading", name=tickets[0].subject)).to_be_visible()
    visit(page, "/help/sign-in/")
    assert problems == []


def test_admin_pages_without_violations(browser, live_server, admin_user, tickets, make_article):  # noqa: F811
    article = make_article("Where is my order")
    page, problems = watched_page(browser, live_server)
    sign_in(page, admin_user)
    visit(page, "/admin/")
    visit(page, f"/admin/tickets/ticket/{tickets[0].pk}/change/")
    visit(page, "/admin/helpdesk/user/")
    visit(page, f"/admin/helpdesk/user/{admin_user.pk}/change/")
    visit(page, "/admin/tickets/rule/add/")
    visit(page, "/admin/tickets/queue/add/")
    # The article form: a slug filled in from the title as one types, an autocomplete (select2) of related articles.
    visit(page, f"/admin/knowledge_base/article/{article.pk}/change/")
    page.locator(".select2-selection").first.click()
    expect(page.locator(".select2-results")).to_be_visible()
    visit(page, "/admin/knowledge_base/article/add/")
    page.get_by_label("Title").press_sequentially("Returns and refunds")
    expect(page.get_by_label("Slug")).to_have_value("returns-and-refunds")
    # The admin's pages have no <link rel="icon">: the browser's own /favicon.ico request is a 404, not a violation.
    assert [problem for problem in problems if not problem.endswith("/favicon.ico)")] == []
