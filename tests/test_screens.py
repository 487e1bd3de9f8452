"""The agent screens in a real browser: Debian's Chromium driven by Playwright against the live server.

Screenshots go to var/screenshots/ for a person to look at.
"""

import os
import re
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import expect

from tickets import services
from tickets.models import Ticket

from .factories import PASSWORD, CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        message = "Debian's chromium is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)  # .ci/run installs it, so in CI a missing browser is an error
        pytest.skip(message)
    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test itself
    # (services building data, assertions) are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, live_server, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport, base_url=live_server.url)
    context.set_default_timeout(10_000)
    return context.new_page()


def sign_in(page, user, *, screenshot_name=None):
    page.goto("/login/")
    if screenshot_name:
        screenshot(page, screenshot_name)
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/tickets/")


def screenshot(page, name):
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page repeats the sticky top bar
    page.screenshot(path=SCREENSHOTS / name, full_page=True)


def horizontal_overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def png(width: int, height: int, rgb=(31, 95, 191)) -> bytes:
    """A small solid-colour PNG, made here rather than shipped."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def tickets(make_ticket, agent, admin_user, queue, customer):
    """A small, realistic list: a few customers, priorities and states."""
    bob = CustomerFactory(name="Bob Jones", email="bob@customer.example")
    made = [
        make_ticket(subject="Order 1042 has not arrived", priority=Ticket.Priority.HIGH,
                    body="Hello, I ordered a kettle two weeks ago and it has not arrived yet. Can you help?"),
        make_ticket(subject="Refund for a damaged mug", customer=bob, priority=Ticket.Priority.URGENT,
                    body="The mug was broken in the box. I would like my money back."),
        make_ticket(subject="Cannot sign in to my account", priority=Ticket.Priority.LOW,
                    body="The sign-in page says my password is wrong, but it is not."),
        make_ticket(subject="Invoice shows the wrong billing address", customer=bob,
                    body="Please correct the street name on invoice 2231."),
    ]  # fmt: skip
    services.ticket_add_system_message(ticket=made[0], body="We got your request and will reply soon.")
    services.ticket_add_customer_message(
        ticket=made[0], channel=Ticket.Channel.EMAIL, body="Here is a photo of the label and my receipt.",
        attachments=[SimpleUploadedFile("label.png", png(160, 100), content_type="image/png"),
                     SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 receipt", content_type="application/pdf")],
    )  # fmt: skip
    services.ticket_assign(ticket=made[0], assignee=agent, actor=admin_user)
    services.ticket_reply(ticket=made[2], author=agent, body="Could you tell us which browser you use?",
                          status=Ticket.Status.PENDING)  # fmt: skip
    services.ticket_add_note(ticket=made[2], author=agent, body="Probably the SSO change from Monday.")
    return made


def test_sign_in_search_open_with_the_keyboard_and_reply(browser, live_server, agent, tickets):
    page = open_page(browser, live_server)
    sign_in(page, agent, screenshot_name="login.png")

    # The stylesheet is served and applied.
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(245, 246, 248)"
    assert page.locator("tr[data-row]").count() == 4
    screenshot(page, "desktop-list.png")

    # Sorting updates the rows in place, too.
    page.get_by_label("Sort").select_option("priority")
    expect(page.locator("tr[data-row] .col-subject").first).to_have_text("Refund for a damaged mug")
    page.wait_for_url("**sort=priority**")

    # "/" focuses the search; typing narrows the rows in place and the URL follows.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "ticket-search"
    page.keyboard.type("arrived")
    expect(page.locator("tr[data-row]")).to_have_count(1)
    page.wait_for_url("**q=arrived**")

    # Escape leaves the box; j selects the first row and Enter opens it.
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.rowLink") == ""
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tickets/{tickets[0].pk}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Order 1042 has not arrived"

    # "r" goes to the reply box, Ctrl+Enter sends; the reply shows up in the conversation.
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.name") == "body"
    page.keyboard.type("Thanks Ann, the parcel left our warehouse today.")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"**/tickets/{tickets[0].pk}/#message-*")
    reply = page.locator(".message--reply").last
    assert "the parcel left our warehouse today" in reply.inner_text()
    assert page.get_by_role("status").filter(has_text="Reply added.").is_visible()
    assert horizontal_overflow(page) == 0
    screenshot(page, "desktop-detail.png")

    # Back in the browser's history: the searched list, as it was.
    page.go_back()
    page.go_back()
    expect(page.locator("tr[data-row]")).to_have_count(1)
    assert page.get_by_label("Search tickets").input_value() == "arrived"


def test_internal_note_and_status_change_from_the_ticket_page(browser, live_server, agent, tickets):
    ticket = tickets[2]  # pending, with a reply and a note
    page = open_page(browser, live_server)
    sign_in(page, agent)
    page.goto(f"/tickets/{ticket.pk}/")
    assert page.locator(".message--note").count() == 1

    page.get_by_role("radio", name="Internal note").check()
    assert not page.locator(".composer__status").is_visible()  # notes do not change the status
    page.get_by_label("Message").fill("Asked IT to check the SSO logs.")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_url(f"**/tickets/{ticket.pk}/#message-*")
    assert page.locator(".message--note").count() == 2

    page.get_by_label("Status", exact=True).select_option("solved")
    page.locator("form[action$='/status/'] button").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").filter(has_text="Status set to “Solved”.").is_visible()
    assert page.locator(".ticket-meta .badge").inner_text() == "Solved"
    assert "changed the status from Pending to Solved" in page.locator(".events").inner_text()


def test_phone_width_nothing_overflows(browser, live_server, agent, tickets):
    page = open_page(browser, live_server, viewport=PHONE)
    sign_in(page, agent)
    assert horizontal_overflow(page) == 0
    # The sidebar collapses above the list.
    sidebar = page.locator(".sidebar").bounding_box()
    results = page.locator("#ticket-results").bounding_box()
    assert sidebar["y"] + sidebar["height"] <= results["y"]
    screenshot(page, "phone-list.png")

    page.goto(f"/tickets/{tickets[2].pk}/")
    assert horizontal_overflow(page) == 0
    screenshot(page, "phone-detail.png")

    page.goto("/login/")  # signed in: goes straight back to the list
    page.wait_for_url("**/tickets/")


def test_empty_view_has_a_designed_empty_state(browser, live_server, agent, tickets):
    page = open_page(browser, live_server)
    sign_in(page, agent)
    page.goto("/tickets/?view=on_hold")
    empty = page.locator("[data-empty-state]")
    assert empty.is_visible()
    assert "Nothing is on hold" in empty.inner_text()
    screenshot(page, "empty-state.png")

    page.goto("/tickets/?q=xylophone")
    assert "No tickets match “xylophone”" in page.locator("[data-empty-state]").inner_text()


def test_bell_shows_unread_count_and_leads_to_the_ticket(browser, live_server, agent, tickets):
    page = open_page(browser, live_server)
    sign_in(page, agent)  # the fixture had an admin assign the first ticket to this agent
    expect(page.locator(".bell__count")).to_have_text("1")  # loaded by htmx after the page

    page.locator(".bell").click()
    page.wait_for_url("**/tickets/notifications/")
    screenshot(page, "notifications.png")
    page.get_by_role("link", name=f"assigned you {tickets[0].reference}").click()

    page.wait_for_url(f"**/tickets/{tickets[0].pk}/")
    assert page.locator(".bell__count").count() == 0
    expect(page.locator(".bell")).to_contain_text("No unread notifications")


def test_customer_follows_and_answers_a_request_from_the_link(browser, live_server, agent, tickets, settings):
    from tickets.portal.links import follow_token

    ticket = tickets[0]
    services.ticket_reply(ticket=ticket, author=agent, body_is_markdown=True,
                          body="Sorry about that! The courier says it arrives **tomorrow** before noon.")  # fmt: skip
    for viewport, name in ((DESKTOP, "portal-request.png"), (PHONE, "phone-portal-request.png")):
        page = open_page(browser, live_server, viewport=viewport)
        page.goto(f"/help/requests/{follow_token(ticket)}/")
        expect(page.get_by_role("heading", name=ticket.subject)).to_be_visible()
        expect(page.get_by_text("Warehouse")).to_have_count(0)
        assert horizontal_overflow(page) == 0
        screenshot(page, name)
    page.get_by_label("Your message").fill("Thank you, I will be at home.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Thank you, your message was added.")).to_be_visible()
    expect(page.locator(".message--yours").last).to_contain_text("I will be at home")
    screenshot(page, "phone-portal-replied.png")

    settings.PORTAL_LINK_DAYS = 0  # every link is too old now
    page.goto(f"/help/requests/{follow_token(ticket)}/")
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    screenshot(page, "phone-portal-expired.png")
    page.get_by_role("button", name="Email me a new link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()


def test_customer_asks_for_help_on_the_portal(browser, live_server, queue, team):
    from .factories import QueueFactory

    queue.on_portal = True
    queue.save()
    QueueFactory(name="Billing and refunds", team=team, on_portal=True)
    for viewport, name in ((DESKTOP, "portal-new-request.png"), (PHONE, "phone-portal-new-request.png")):
        page = open_page(browser, live_server, viewport=viewport)
        page.goto("/help/")
        page.get_by_role("link", name="Ask for help").first.click()
        expect(page.get_by_role("heading", name="How can we help?")).to_be_visible()
        assert horizontal_overflow(page) == 0
        screenshot(page, name)
    from knowledge_base.demo import demo_help_center_load

    demo_help_center_load()
    page.get_by_label("Subject").press_sequentially("Which grind for my moka pot")
    expect(page.locator("#kb-suggestions").get_by_role("link", name="Which grind for my coffee maker?")).to_be_visible()
    screenshot(page, "phone-portal-new-request-suggestions.png")
    page.get_by_label("Your email address").fill("zoe@example")
    page.get_by_label("Subject").fill("The grinder makes a noise")
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_text("Please check the fields marked below.")).to_be_visible()
    expect(page.get_by_label("Subject")).to_have_value("The grinder makes a noise")  # nothing typed is lost
    screenshot(page, "phone-portal-new-request-errors.png")
    page.get_by_label("Your email address").fill("zoe@example.com")
    page.get_by_label("Your question or problem").fill("Since Monday it rattles when it starts.")
    page.get_by_label("Topic").select_option(label="Billing and refunds")
    page.get_by_label("Attach files").set_input_files(
        files=[{"name": "noise.png", "mimeType": "image/png", "buffer": png(40, 30)}]
    )
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_text("Thank you! We got your request")).to_be_visible()
    expect(page.get_by_role("link", name="noise.png")).to_be_visible()
    ticket = Ticket.objects.get()
    assert ticket.queue.name == "Billing and refunds" and ticket.channel == "portal"


def test_customer_signs_in_by_email_link_and_sees_their_requests(browser, live_server, tickets, mailoutbox):
    import re

    customer = tickets[0].customer
    page = open_page(browser, live_server, viewport=PHONE)
    page.goto("/help/")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Your email address").fill(customer.email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = re.search(r"http://\S+/help/sign-in/\S+/", mailoutbox[0].body).group(0)
    page.goto(link.replace("http://127.0.0.1:8000", ""))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    expect(page.locator(".portal-requests__item")).to_have_count(2)  # Ann's two; Bob's are not shown
    assert horizontal_overflow(page) == 0
    screenshot(page, "phone-portal-my-requests.png")
    page.get_by_role("link", name=tickets[0].subject).click()
    expect(page.get_by_role("heading", name=tickets[0].subject)).to_be_visible()


def test_customer_rates_the_help_after_a_click_on_the_page(browser, live_server, agent, tickets, mailoutbox):
    import re

    from tickets.surveys.services import surveys_send

    ticket = tickets[0]
    ticket.queue.survey_ces = True
    ticket.queue.save()
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.SOLVED, actor=agent)
    surveys_send(ticket_id=ticket.pk)
    link = re.search(r"http://\S+/rate/\?csat=5", mailoutbox[-1].body).group(0).replace("http://127.0.0.1:8000", "")
    page = open_page(browser, live_server, viewport=PHONE)
    page.goto(link)
    expect(page.get_by_role("radio", name="5").first).to_be_checked()
    assert horizontal_overflow(page) == 0
    page.locator("fieldset", has_text="How easy").get_by_role("radio", name="6").check()
    page.get_by_label("Anything to tell us?").fill("Fast and friendly.")
    screenshot(page, "phone-portal-rate.png")
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_text("Thank you for your feedback!")).to_be_visible()
    assert dict(ticket.surveys.values_list("kind", "score")) == {"csat": 5, "ces": 6}


def test_agent_inserts_a_suggested_article_into_the_reply(browser, live_server, agent, tickets):
    from knowledge_base.demo import demo_help_center_load

    demo_help_center_load()
    page = open_page(browser, live_server)
    sign_in(page, agent)
    page.goto(f"/tickets/{tickets[0].pk}/")  # "Order 1042 has not arrived"
    suggestions = page.locator(".suggested-articles")
    expect(suggestions.get_by_text("Where is my order?")).to_be_visible()
    screenshot(page, "desktop-detail-suggestions.png")
    suggestions.locator("li", has_text="Where is my order?").get_by_role("link", name="Insert link").click()
    expect(page.locator("[data-reply-box]")).to_have_value(
        re.compile(r"^\[Where is my order\?\]\(http.*/help/articles/")
    )


def test_customer_searches_reads_and_votes_in_the_help_center(browser, live_server, db):
    from helpdesk.branding import Branding
    from knowledge_base.demo import demo_help_center_load
    from knowledge_base.models import Article

    demo_help_center_load()
    Branding.objects.create(pk=1, name="Bean & Crumb", primary_colour="#7a3e00", logo=png(64, 64, (122, 62, 0)),
                            logo_content_type="image/png")  # fmt: skip
    for viewport, prefix in ((DESKTOP, ""), (PHONE, "phone-")):
        page = open_page(browser, live_server, viewport=viewport)
        page.goto("/help/")
        expect(page.get_by_role("link", name="Bean & Crumb")).to_be_visible()
        expect(page.get_by_role("heading", name="How can we help?")).to_be_visible()
        assert horizontal_overflow(page) == 0
        screenshot(page, f"{prefix}kb-home.png")
    page.get_by_label("Search the help center").fill("retrun")  # a typo
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="Returning an item")).to_be_visible()
    page.get_by_label("Search the help center").fill("parcel tracking")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".kb-results mark").first).to_be_visible()
    screenshot(page, "phone-kb-search.png")
    page.get_by_role("link", name="Where is my order?").click()
    expect(page.get_by_role("heading", name="Where is my order?")).to_be_visible()
    assert horizontal_overflow(page) == 0
    page.get_by_placeholder("What could be better? (optional)").fill("Which courier do you use?")
    page.get_by_role("button", name="No").click()
    expect(page.get_by_text("Thank you for your feedback!")).to_be_visible()
    screenshot(page, "phone-kb-article.png")
    article = Article.objects.get(title="Where is my order?")
    assert (article.helpful_no, article.votes.get().comment) == (1, "Which courier do you use?")


# --- accessibility of the customers' pages ------------------------------------------------------

AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core from the npm registry (`make vendor`)


def serious_accessibility_problems(page) -> list[str]:
    """What axe-core finds on the page with a serious or critical impact (WCAG 2.x A and AA rules)."""
    # Evaluated by the browser's DevTools protocol, which the page's Content-Security-Policy (no inline script)
    # does not govern, unlike add_script_tag's inline <script>.
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    assert result["passes"], "axe-core ran no rule"
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}× e.g. {v['nodes'][0]['target']})"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip


def test_portal_pages_pass_an_accessibility_scan(browser, live_server, agent, tickets, mailoutbox, settings):
    from knowledge_base.demo import demo_help_center_load
    from tickets.portal.links import follow_token
    from tickets.surveys.services import surveys_send

    demo_help_center_load()
    ticket = tickets[0]
    ticket.queue.on_portal = True
    ticket.queue.save()
    services.ticket_reply(ticket=ticket, author=agent, body="It arrives tomorrow.")
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.SOLVED, actor=agent)
    surveys_send(ticket_id=ticket.pk)
    token = follow_token(ticket)
    pages = ["/help/", "/help/search/?q=order", "/help/search/?q=zeppelin", "/help/categories/orders/",
             "/help/articles/where-is-my-order/", "/help/requests/new/", f"/help/requests/{token}/",
             f"/help/requests/{token}/rate/?csat=4", "/help/sign-in/"]  # fmt: skip
    problems = {}
    check = open_page(browser, live_server)
    check.set_content('<html lang="en"><title>t</title><body><main><img src="x.png"></main></body></html>')
    assert any(p.startswith("image-alt") for p in serious_accessibility_problems(check))  # the scan can fail
    for viewport in (DESKTOP, PHONE):
        page = open_page(browser, live_server, viewport=viewport)
        for url in pages:
            page.goto(url)
            found = serious_accessibility_problems(page)
            if found:
                problems[f"{url} at {viewport['width']}px"] = found
        page.goto("/help/requests/new/")
        page.get_by_role("button", name="Send request").click()  # the form with its errors
        if found := serious_accessibility_problems(page):
            problems[f"request form with errors at {viewport['width']}px"] = found
    assert problems == {}


def test_agents_search_articles_and_read_one(browser, live_server, agent, make_article):
    make_article("Tracking your parcel", body="Use the **tracking code** from your email.")
    make_article("Courier phone numbers", body="DPD parcel desk: 0123", visibility="internal")
    for viewport, prefix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = open_page(browser, live_server, viewport)
        sign_in(page, agent)
        page.get_by_role("link", name="Articles").first.click()
        page.get_by_label("Search articles").fill("parcel")
        page.locator(".kb-results mark").first.wait_for()
        screenshot(page, f"{prefix}-articles.png")
        assert horizontal_overflow(page) == 0
        page.get_by_role("link", name="Courier phone numbers").click()
        page.get_by_role("heading", name="About this article").wait_for()
        assert horizontal_overflow(page) == 0
        screenshot(page, f"{prefix}-article.png")
        page.context.close()


def test_a_visitor_reads_the_help_center_in_their_language(browser, live_server, queue):
    from django.utils import translation

    page = open_page(browser, live_server, viewport=PHONE)
    page.goto("/help/requests/new/")
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Change").click()
    with translation.override("de"):
        expect(page.get_by_role("link", name=translation.gettext("Ask for help"))).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "de" and page.url.endswith("/help/requests/new/")
    assert horizontal_overflow(page) == 0
    screenshot(page, "phone-portal-german.png")


def test_agents_find_a_customer_and_see_their_timeline(browser, live_server, agent, tickets, customer):
    from customers import services

    services.customer_note_add(customer=customer, author=agent, body="Iced caramel macchiato, oat milk", pinned=True)
    services.customer_preference_set(customer=customer, key="Contact by", value="Phone, mornings", actor=agent)
    for viewport, prefix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = open_page(browser, live_server, viewport)
        sign_in(page, agent)
        page.get_by_role("link", name="Customers").first.click()
        page.get_by_label("Search customers").fill(customer.email[:4])
        expect(page.get_by_role("link", name="Bob Jones")).to_have_count(0)
        screenshot(page, f"{prefix}-customers.png")
        assert horizontal_overflow(page) == 0
        page.get_by_role("link", name=customer.name).click()
        page.get_by_role("heading", name="Timeline").wait_for()
        expect(page.locator(".customer-note").get_by_text("Iced caramel macchiato, oat milk")).to_be_visible()
        assert horizontal_overflow(page) == 0
        screenshot(page, f"{prefix}-customer.png")
        page.context.close()


def test_admins_import_customers_and_open_the_erase_and_merge_pages(browser, live_server, admin_user, tickets,
                                                                   customer, tmp_path):  # fmt: skip
    upload = tmp_path / "customers.csv"
    upload.write_text("email,name,tags\nnew@example.com,New Person,vip\nnot-an-address,Broken,\n", encoding="utf-8")
    page = open_page(browser, live_server, PHONE)
    sign_in(page, admin_user)
    page.goto("/customers/import/")
    screenshot(page, "phone-customer-import.png")
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("not-an-address").first).to_be_visible()
    assert horizontal_overflow(page) == 0
    screenshot(page, "phone-customer-import-errors.png")
    for action in ("merge", "erase"):
        page.goto(f"/customers/{customer.pk}/{action}/")
        assert horizontal_overflow(page) == 0
        screenshot(page, f"phone-customer-{action}.png")


def test_sla_badges_in_the_list_and_on_the_ticket_page(browser, live_server, agent, make_ticket, queue):
    from tickets.models import SLAPolicy

    SLAPolicy.objects.create(name="Standard", first_response_minutes=60, resolution_minutes=480, business_hours=False)
    with time_machine.travel(timezone.now() - timedelta(hours=2)):
        make_ticket(subject="Parcel never arrived", priority="high")
    make_ticket(subject="Change my delivery address")
    page = open_page(browser, live_server)
    sign_in(page, agent)
    page.goto("/tickets/?view=open&sort=due")
    expect(page.locator(".sla-badge--breached")).to_have_count(1)
    screenshot(page, "desktop-sla-list.png")
    page.get_by_role("link", name="Parcel never arrived").click()
    expect(page.get_by_role("heading", name="SLA")).to_be_visible()
    screenshot(page, "desktop-sla-ticket.png")
