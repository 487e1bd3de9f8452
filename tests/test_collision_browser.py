"""Two agents on one ticket in two browser contexts: each sees the other, and a reply written while
the customer wrote is held back once with a notice."""

import pytest
from playwright.sync_api import expect

from tickets import presence, services
from tickets.models import Message

from .factories import UserFactory
from .test_screens import browser, open_page, sign_in  # noqa: F401 (fixture)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_two_agents_see_each_other_and_the_collision_notice(browser, live_server, agent, team, ticket):  # noqa: F811
    presence._client().delete(presence._key(ticket.pk))
    mate = UserFactory(email="sam@staff.example", full_name="Sam Lee", teams=[team])
    first = open_page(browser, live_server)
    sign_in(first, agent)
    first.goto(f"/tickets/{ticket.pk}/")
    second = open_page(browser, live_server)
    sign_in(second, mate)
    second.goto(f"/tickets/{ticket.pk}/")
    expect(second.locator("#presence-list")).to_contain_text(f"{agent.get_short_name()} is viewing")

    # Sam starts typing; the first agent's page learns it at its next poll (every 10 s).
    second.locator("textarea[data-reply-box]").fill("Great, glad it arrived!")
    expect(first.locator("#presence-list")).to_contain_text("Sam is replying", timeout=15_000)

    # Meanwhile the customer writes again: Sam's send is held back once, with the text kept.
    services.ticket_add_customer_message(ticket=ticket, body="Actually, it arrived damaged.", channel="email")
    second.get_by_role("button", name="Send reply").click()
    expect(second.get_by_role("alert")).to_contain_text("New messages arrived while you were writing")
    expect(second.locator("text=Actually, it arrived damaged.")).to_be_visible()
    expect(second.locator("textarea[data-reply-box]")).to_have_value("Great, glad it arrived!")
    assert not ticket.messages.filter(kind=Message.Kind.REPLY).exists()

    second.locator("textarea[data-reply-box]").fill("Sorry to hear that! A replacement is on its way.")
    second.get_by_role("button", name="Send reply").click()
    expect(second.locator("text=Reply added.")).to_be_visible()
    assert ticket.messages.filter(kind=Message.Kind.REPLY).count() == 1
