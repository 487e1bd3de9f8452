"""Keyboard shortcuts of the agent screens (static/js/keys.js) in a real browser, plus the "?" dialog's markup.

The browser tests reuse the Chromium launch and helpers of test_screens.py.
"""

import pytest
from playwright.sync_api import expect

from .test_screens import DESKTOP, PHONE, SCREENSHOTS, browser, open_page, sign_in  # noqa: F401 (fixture)

browser_test = pytest.mark.browser


def open_ticket(browser, live_server, agent, ticket):  # noqa: F811
    page = open_page(browser, live_server)
    sign_in(page, agent)
    page.goto(f"/tickets/{ticket.pk}/")
    return page


def active(page, expression):
    return page.evaluate(f"document.activeElement.{expression}")


# The dialog's markup ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_shortcuts_dialog_only_on_signed_in_pages(client, agent):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b"data-shortcuts" not in response.content
    assert b"<dialog" not in response.content

    client.force_login(agent)
    response = client.get("/tickets/")
    content = response.content.decode()
    assert '<dialog class="shortcuts" id="shortcuts" aria-labelledby="shortcuts-title" data-shortcuts>' in content
    assert ">Keyboard shortcuts</h2>" in content
    assert '<form method="dialog">' in content
    assert "<dl" in content and "<kbd>?</kbd>" in content and "<kbd>a</kbd>" in content


# In the browser ------------------------------------------------------------------------------------


@browser_test
@pytest.mark.django_db(transaction=True)
def test_question_mark_opens_the_shortcuts_and_escape_closes_them(browser, live_server, agent, make_ticket):  # noqa: F811
    make_ticket()
    page = open_page(browser, live_server)
    sign_in(page, agent)
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_hidden()

    page.keyboard.press("j")  # a row link has focus: it gets it back when the dialog closes
    assert active(page, "dataset.rowLink") == ""
    page.keyboard.press("Shift+Slash")  # "?" as typed on a US layout
    expect(dialog).to_be_visible()
    assert page.evaluate("document.querySelector('dialog[data-shortcuts]').matches(':modal')")
    assert "Assign the ticket to me" in dialog.inner_text()

    page.keyboard.press("j")  # no shortcut fires behind the dialog
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert active(page, "dataset.rowLink") == ""

    # The close button, and the account menu's entry, do the same.
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    page.locator(".user-menu__button").click()
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


@browser_test
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport, name", [(DESKTOP, "desktop-shortcuts.png"), (PHONE, "phone-shortcuts.png")])
def test_shortcuts_dialog_screenshot(browser, live_server, agent, make_ticket, viewport, name):  # noqa: F811
    make_ticket()
    page = open_page(browser, live_server, viewport=viewport)
    sign_in(page, agent)
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    page.screenshot(path=SCREENSHOTS / name)


@browser_test
@pytest.mark.django_db(transaction=True)
def test_n_starts_an_internal_note(browser, live_server, agent, make_ticket):  # noqa: F811
    page = open_ticket(browser, live_server, agent, make_ticket())
    assert page.get_by_role("radio", name="Reply to customer").is_checked()

    page.keyboard.press("n")
    assert page.get_by_role("radio", name="Internal note").is_checked()
    assert active(page, "name") == "body"
    expect(page.get_by_role("button", name="Add note")).to_be_visible()


@browser_test
@pytest.mark.django_db(transaction=True)
def test_a_assigns_the_ticket_to_me(browser, live_server, agent, make_ticket):  # noqa: F811
    ticket = make_ticket()
    assert ticket.assignee_id != agent.pk
    page = open_ticket(browser, live_server, agent, ticket)

    page.keyboard.press("a")
    expect(page.get_by_role("status").filter(has_text="Assigned to")).to_be_visible()
    page.wait_for_url(f"**/tickets/{ticket.pk}/")
    ticket.refresh_from_db()
    assert ticket.assignee_id == agent.pk
    expect(page.locator("form[data-assign-me]")).to_have_count(0)

    page.keyboard.press("a")  # already mine: nothing to do, no request
    page.wait_for_timeout(300)
    expect(page.get_by_role("status").filter(has_text="Assigned to")).to_have_count(1)


@browser_test
@pytest.mark.django_db(transaction=True)
def test_s_focuses_the_status_select(browser, live_server, agent, make_ticket):  # noqa: F811
    page = open_ticket(browser, live_server, agent, make_ticket())
    page.keyboard.press("s")
    assert active(page, "id") == "prop-status"
    assert active(page, "tagName") == "SELECT"


@browser_test
@pytest.mark.django_db(transaction=True)
def test_letters_typed_in_the_composer_are_text_not_shortcuts(browser, live_server, agent, make_ticket):  # noqa: F811
    ticket = make_ticket()
    assignee_before = ticket.assignee_id
    assert assignee_before != agent.pk
    page = open_ticket(browser, live_server, agent, ticket)

    page.keyboard.press("r")
    page.keyboard.type("a sn?")
    assert page.get_by_label("Message").input_value() == "a sn?"
    assert page.get_by_role("radio", name="Reply to customer").is_checked()
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    page.wait_for_timeout(300)  # give a wrongly sent assign form the time to leave
    ticket.refresh_from_db()
    assert ticket.assignee_id == assignee_before
    assert active(page, "name") == "body"

    # Nor with a modifier held: Ctrl+a selects the text, it does not assign.
    page.get_by_label("Message").blur()
    page.keyboard.press("Control+a")
    page.wait_for_timeout(300)
    ticket.refresh_from_db()
    assert ticket.assignee_id == assignee_before
