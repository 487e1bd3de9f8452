"""The new-ticket page: an agent opens a ticket on a customer's behalf (phone call or walk-in, or an
email the agent writes first), picking the customer by search or entering a new one."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from customers.models import Customer
from customers.selectors import customer_search
from tickets.models import Message, Ticket

from .factories import CustomerFactory
from .test_screens import DESKTOP, PHONE, browser, horizontal_overflow, open_page, screenshot, sign_in  # noqa: F401

NEW_URL = reverse("tickets:new")
SEARCH_URL = reverse("tickets:new_customers")


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def post_data(queue, **overrides) -> dict:
    data = {
        "customer_id": "",
        "email": "",
        "name": "",
        "channel": "phone",
        "queue": str(queue.pk),
        "priority": "high",
        "subject": "Kettle stopped working",
        "body": "Called in: the kettle no longer heats up.",
        "assign_to_me": "on",
    }
    return data | overrides


# --- search ------------------------------------------------------------------------------------


def test_customer_search_matches_email_and_name_case_insensitively_best_first(agent, customer, other_customer):
    annie = CustomerFactory(email="zed@example.com", name="Joanna Ann")
    assert customer_search(user=agent, query="ANN@customer.example") == [customer]
    assert customer_search(user=agent, query="jones") == [other_customer]
    # "ann" starts Ann Smith's email and name; it is only inside Joanna Ann's name.
    assert customer_search(user=agent, query="ann") == [customer, annie]
    assert customer_search(user=agent, query="   ") == []
    assert customer_search(user=agent, query="customer.example", limit=1) == [customer]


def test_new_ticket_page_renders_for_an_agent(agent_client, queue, other_queue):
    response = agent_client.get(NEW_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert "New ticket" in html
    assert "Phone call or walk-in (you note what the customer said)" in html
    assert "Email to the customer (you write first)" in html
    assert f'<option value="{queue.pk}"' in html
    assert f'<option value="{other_queue.pk}"' not in html  # another team's queue is not offered
    assert 'name="assign_to_me" checked' in html


def test_search_endpoint_finds_by_email_and_name_case_insensitively(agent_client, customer, other_customer):
    by_email = agent_client.get(SEARCH_URL, {"q": "ANN@CUSTOMER"})
    by_name = agent_client.get(SEARCH_URL, {"q": "bob jo"})

    assert by_email.status_code == by_name.status_code == 200
    assert f'value="{customer.pk}"' in by_email.content.decode()
    assert f'value="{other_customer.pk}"' not in by_email.content.decode()
    assert f'value="{other_customer.pk}"' in by_name.content.decode()
    assert "<html" not in by_name.content.decode()  # just the partial


def test_search_endpoint_empty_states(agent_client, customer):
    nothing = agent_client.get(SEARCH_URL, {"q": "nobody-like-this"})
    blank = agent_client.get(SEARCH_URL)

    assert "No customer matches “nobody-like-this”" in nothing.content.decode()
    assert "Type part of a name or email address" in blank.content.decode()


def test_search_endpoint_keeps_the_chosen_customer(agent_client, customer, other_customer):
    response = agent_client.get(SEARCH_URL, {"q": "bob", "customer_id": customer.pk})

    html = response.content.decode()
    assert f'value="{customer.pk}" form="new-ticket" checked' in html
    assert f'value="{other_customer.pk}"' in html


def test_search_without_javascript_rerenders_the_page_with_matches(agent_client, customer):
    response = agent_client.get(NEW_URL, {"q": "ann"})

    html = response.content.decode()
    assert "<html" in html
    assert f'value="{customer.pk}"' in html
    assert 'value="ann"' in html


# --- create ------------------------------------------------------------------------------------


def test_post_with_an_existing_customer_creates_a_phone_ticket(
    agent_client, agent, customer, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = agent_client.post(NEW_URL, post_data(queue, customer_id=str(customer.pk)))

    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response.url == ticket.get_absolute_url()
    assert (ticket.customer, ticket.channel, ticket.created_by, ticket.assignee) == (customer, "phone", agent, agent)
    assert (ticket.queue, ticket.priority, ticket.subject) == (queue, "high", "Kettle stopped working")
    first = ticket.messages.get()
    assert (first.kind, first.author_customer, first.author_user) == (Message.Kind.CUSTOMER, customer, agent)
    assert callbacks == []  # no acknowledgement for a ticket an agent opened
    ticket.refresh_from_db()
    assert ticket.acknowledged_at is None
    page = agent_client.get(response.url)
    assert f"Ticket {ticket.reference} created." in page.content.decode()


def test_post_with_a_new_customer_email_creates_the_customer(agent_client, queue):
    response = agent_client.post(NEW_URL, post_data(queue, email="New.Person@Example.com", name="New Person",
                                                     assign_to_me=""))  # fmt: skip

    customer = Customer.objects.get(email__iexact="new.person@example.com")
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert (ticket.customer, customer.name, ticket.assignee) == (customer, "New Person", None)


def test_post_with_a_known_email_reuses_the_customer(agent_client, customer, queue):
    agent_client.post(NEW_URL, post_data(queue, email="ANN@customer.example"))

    assert Customer.objects.count() == 1
    assert Ticket.objects.get().customer == customer


def test_outbound_email_starts_with_the_agents_reply(agent_client, agent, customer, queue):
    agent_client.post(NEW_URL, post_data(queue, customer_id=str(customer.pk), channel="agent",
                                         body="Hello Ann, your replacement kettle ships today."))  # fmt: skip

    ticket = Ticket.objects.get()
    first = ticket.messages.get()
    assert ticket.channel == Ticket.Channel.AGENT
    assert (first.kind, first.author_user, first.author_customer) == (Message.Kind.REPLY, agent, None)


def test_a_queue_of_another_team_is_refused(agent_client, customer, other_queue):
    response = agent_client.post(NEW_URL, post_data(other_queue, customer_id=str(customer.pk)))

    assert response.status_code == 200
    assert "Choose one of your team&#x27;s queues." in response.content.decode()
    assert not Ticket.objects.exists()


def test_an_unknown_customer_id_is_refused(agent_client, queue):
    response = agent_client.post(NEW_URL, post_data(queue, customer_id="999999"))

    assert "That customer does not exist (any more). Search again." in response.content.decode()
    assert not Ticket.objects.exists()


def test_a_bad_email_keeps_what_was_typed_and_shows_the_error(agent_client, queue):
    response = agent_client.post(NEW_URL, post_data(queue, email="not-an-email", name="Kim Lee",
                                                    body="Line one\nLine two"))  # fmt: skip

    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid email address." in html
    assert 'value="not-an-email"' in html
    assert 'value="Kim Lee"' in html
    assert 'value="Kettle stopped working"' in html
    assert "Line one\nLine two</textarea>" in html
    assert '<option value="high" selected>' in html
    assert not Ticket.objects.exists() and not Customer.objects.exists()


def test_no_customer_at_all_asks_for_one(agent_client, queue):
    response = agent_client.post(NEW_URL, post_data(queue))

    assert "Choose a customer above, or enter the new customer&#x27;s email address." in response.content.decode()
    assert not Ticket.objects.exists()


def test_a_service_error_rerenders_the_form_and_creates_no_customer(agent_client, queue):
    response = agent_client.post(NEW_URL, post_data(queue, email="kim@example.com", subject="   "))

    assert response.status_code == 200
    assert "This field is required." in response.content.decode() or "A ticket needs a subject." in (
        response.content.decode()
    )
    assert not Customer.objects.exists()


@pytest.mark.parametrize("url", [NEW_URL, SEARCH_URL])
def test_anonymous_is_sent_to_sign_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_anonymous_post_is_sent_to_sign_in(client, queue, customer):
    response = client.post(NEW_URL, post_data(queue, customer_id=str(customer.pk)))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert not Ticket.objects.exists()


# --- query counts ------------------------------------------------------------------------------


def test_query_count_of_the_new_ticket_page(agent_client, queue, customer, django_assert_num_queries):
    # Session, user, the user's queues.
    with django_assert_num_queries(3):
        agent_client.get(NEW_URL)


def test_query_count_of_the_customer_search(agent_client, customer, other_customer, django_assert_num_queries):
    # Session, user, the matches.
    with django_assert_num_queries(3):
        agent_client.get(SEARCH_URL, {"q": "customer.example"})


# --- in a browser ------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_open_a_ticket_for_a_caller_in_the_browser(browser, live_server, agent, queue, customer, other_customer):  # noqa: F811
    page = open_page(browser, live_server)
    sign_in(page, agent)
    page.get_by_role("link", name="New ticket").click()
    page.wait_for_url("**/tickets/new/")
    screenshot(page, "new-ticket-empty.png")

    page.get_by_label("Find a customer by name or email").type("ann sm")
    option = page.get_by_role("radio", name="Ann Smith")
    expect(option).to_be_visible()
    expect(page.get_by_role("radio", name="Bob Jones")).to_have_count(0)
    option.check()
    expect(page.get_by_label("Email address")).to_be_hidden()  # the new customer's fields go away
    page.get_by_label("Phone call or walk-in").check()
    page.get_by_label("Priority").select_option("high")
    page.get_by_label("Subject").fill("Kettle stopped working")
    page.get_by_label("Message").fill("Ann called: the kettle no longer heats up since Tuesday.")
    screenshot(page, "new-ticket-desktop.png")
    assert horizontal_overflow(page) == 0

    page.get_by_role("button", name="Create ticket").click()
    ticket = Ticket.objects.get()
    page.wait_for_url(f"**/tickets/{ticket.pk}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Kettle stopped working"
    expect(page.locator(".flash--success")).to_contain_text(f"Ticket {ticket.reference} created.")
    assert (ticket.customer_id, ticket.channel, ticket.created_by_id) == (customer.pk, "phone", agent.pk)
    screenshot(page, "new-ticket-created.png")

    phone = open_page(browser, live_server, viewport=PHONE)
    sign_in(phone, agent)
    phone.goto("/tickets/new/?q=bob")
    expect(phone.get_by_role("radio", name="Bob Jones")).to_be_visible()
    phone.get_by_label("Subject").fill("x" * 3)
    phone.get_by_role("button", name="Create ticket").click()  # no customer: the error shows
    expect(phone.locator(".form-error")).to_be_visible()
    screenshot(phone, "new-ticket-phone.png")
    assert horizontal_overflow(phone) == 0
