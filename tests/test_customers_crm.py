"""The agents' customer screens (issue 6): who sees whom, the list, the customer page with its timeline,
editing the record, other addresses, notes and preferences, and the customer panel on the ticket page."""

import pytest
from django.urls import reverse
from django.utils import timezone

from customers import selectors, services
from customers.models import Customer, CustomerEmail, CustomerEvent, CustomerNote, CustomField, Organization
from tickets import services as ticket_services
from tickets.surveys.models import Survey

from .factories import CustomerFactory


@pytest.fixture
def theirs(make_ticket, other_queue):
    """A customer whose only ticket is in another team's queue."""
    customer = CustomerFactory(email="hidden@example.com", name="Hidden Person")
    make_ticket(customer=customer, queue=other_queue, subject="Other team's business")
    return customer


# --- who sees whom ------------------------------------------------------------------------------


def test_agents_see_customers_of_their_tickets_and_customers_without_any(agent, admin_user, ticket, theirs):
    newcomer = CustomerFactory(email="new@example.com")
    assert set(selectors.customers_visible_to(agent)) == {ticket.customer, newcomer}
    assert set(selectors.customers_visible_to(admin_user)) == {ticket.customer, newcomer, theirs}


@pytest.mark.parametrize(
    ("role", "expected"), [("anonymous", 302), ("agent", 404), ("other_agent", 200), ("admin_user", 200)]
)
def test_the_customer_page_is_refused_to_agents_outside_the_customers_teams(as_role, theirs, role, expected):
    response = as_role(role).get(f"/customers/{theirs.pk}/")
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "url",
    ["/customers/{id}/edit/", "/customers/{id}/notes/", "/customers/{id}/preferences/", "/customers/{id}/emails/"],
)
def test_every_change_is_refused_for_a_customer_the_agent_cannot_see(as_role, theirs, url):
    client = as_role("agent")
    assert (
        client.post(url.format(id=theirs.pk), {"body": "x", "key": "k", "value": "v", "email": "a@b.c"}).status_code
        == 404
    )
    assert not CustomerNote.objects.exists() and not theirs.preferences.exists() and not theirs.other_emails.exists()


# --- the list -----------------------------------------------------------------------------------


def test_the_list_finds_by_name_email_other_address_phone_tag_and_organization(as_role, make_ticket):
    shop = Organization.objects.create(name="Corner Shop")
    ann = CustomerFactory(name="Ann Example", email="ann@example.com", phone="+44 20 7946 0000", tags=["vip"],
                          organization=shop)  # fmt: skip
    bob = CustomerFactory(name="Bob Other", email="bob@example.com")
    CustomerEmail.objects.create(customer=bob, email="bobby@work.example")
    make_ticket(customer=ann)
    client = as_role("agent")

    def names(query: str) -> list[str]:
        return [c.name for c in client.get(f"/customers/?{query}").context["customers"]]

    assert names("") == ["Ann Example", "Ann Smith", "Bob Other"]
    assert names("q=ANN@EX") == ["Ann Example"] and names("q=work.example") == ["Bob Other"]
    assert names("q=7946") == ["Ann Example"] and names("tag=VIP") == ["Ann Example"]
    assert names(f"organization={shop.pk}") == ["Ann Example"] and names("q=nobody") == []
    html = client.get("/customers/?q=nobody").content.decode()
    assert "No customer matches" in html
    row = client.get("/customers/").context["customers"][0]
    assert row.ticket_count == 1 and row.last_ticket_at is not None


def test_the_list_takes_the_same_queries_for_2_or_30_customers(as_role, make_ticket, django_assert_num_queries):
    client = as_role("agent")
    for i in range(2):
        make_ticket(customer=CustomerFactory(email=f"c{i}@example.com"))
    with django_assert_num_queries(6):  # session, user, page ids, page rows, organizations, segments
        client.get("/customers/")
    for i in range(2, 30):
        make_ticket(customer=CustomerFactory(email=f"c{i}@example.com"))
    with django_assert_num_queries(6):
        client.get("/customers/")


def test_the_list_answers_htmx_with_the_results_only(as_role, customer):
    html = as_role("agent").get("/customers/?q=ann", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="customer-search"' not in html and customer.email in html


# --- the customer page and its timeline ---------------------------------------------------------


def test_the_timeline_holds_everything_about_the_customer_newest_first(as_role, agent, ticket, customer):
    reply = ticket_services.ticket_reply(ticket=ticket, author=agent, body="It ships tomorrow.")
    ticket_services.ticket_add_note(ticket=ticket, author=agent, body="Warehouse is slow.")
    Survey.objects.create(ticket=ticket, customer=customer, kind=Survey.Kind.CSAT, score=5, comment="Lovely",
                          answered_at=timezone.now())  # fmt: skip
    services.customer_note_add(customer=customer, author=agent, body="Prefers phone calls.")
    services.customer_update(customer=customer, actor=agent, phone="+1 555 0100")
    response = as_role("agent").get(f"/customers/{customer.pk}/")
    kinds = [entry.kind for entry in response.context["timeline"]]
    assert kinds == ["event", "note", "survey", "message", "message", "message", "ticket"]
    html = response.content.decode()
    for text in ["It ships tomorrow.", "Warehouse is slow.", "Lovely", "Prefers phone calls.", "+1 555 0100",
                 ticket.reference]:  # fmt: skip
        assert text in html
    assert response.context["timeline"][4].item == reply


def test_the_timeline_leaves_out_tickets_of_other_teams(as_role, customer, make_ticket, other_queue, queue):
    make_ticket(customer=customer, queue=other_queue, subject="Other team's business")
    make_ticket(customer=customer, queue=queue, subject="Ours")
    html = as_role("agent").get(f"/customers/{customer.pk}/").content.decode()
    assert "Ours" in html and "Other team" not in html


def test_the_timeline_pages_back_with_older(as_role, agent, customer, make_ticket, settings, monkeypatch):
    monkeypatch.setattr(selectors, "TIMELINE_PAGE", 3)
    for i in range(4):
        make_ticket(customer=customer, subject=f"Request {i}")  # a ticket and its message each: 8 items
    client = as_role("agent")
    first = client.get(f"/customers/{customer.pk}/")
    assert first.context["more"] is True and len(first.context["timeline"]) == 3
    before = first.context["timeline"][-1].at.isoformat()
    second = client.get(f"/customers/{customer.pk}/", {"before": before})
    assert all(entry.at < first.context["timeline"][-1].at for entry in second.context["timeline"])
    partial = client.get(f"/customers/{customer.pk}/", {"before": before}, HTTP_HX_REQUEST="true").content.decode()
    assert "Older" in partial and "Request 1" in partial and "<aside" not in partial


def test_the_customer_page_takes_a_fixed_number_of_queries(as_role, agent, customer, make_ticket,
                                                          django_assert_num_queries):  # fmt: skip
    client = as_role("agent")
    make_ticket(customer=customer)
    # Session, user, the customer (visible?), the customer again with its organization, other addresses,
    # preferences, notes; the timeline: tickets by last update, their newest messages, those messages,
    # tickets, notes, survey answers, record changes; segments; custom fields.
    with django_assert_num_queries(16) as first:
        client.get(f"/customers/{customer.pk}/")
    for i in range(10):
        ticket = make_ticket(customer=customer, subject=f"More {i}")
        ticket_services.ticket_reply(ticket=ticket, author=agent, body="Answer")
        services.customer_note_add(customer=customer, author=agent, body=f"Note {i}", pinned=i % 2 == 0)
        services.customer_preference_set(customer=customer, key=f"Key {i}", value="v", actor=agent)
    with django_assert_num_queries(len(first.captured_queries)):
        client.get(f"/customers/{customer.pk}/")


# --- editing ------------------------------------------------------------------------------------


def test_editing_the_record_keeps_a_trail_of_each_change(as_role, agent, customer):
    CustomField.objects.create(name="Loyalty card", key="loyalty", kind="number")
    CustomField.objects.create(name="Birthday", key="birthday", kind="date")
    CustomField.objects.create(name="Plan", key="plan", kind="choice", choices=["basic", "pro"])
    response = as_role("agent").post(f"/customers/{customer.pk}/edit/", {
        "name": "Ann Example", "phone": "+44 1", "language": "fr", "time_zone": "Europe/Paris", "tags": "VIP, vip, regular",
        "custom_loyalty": "1042", "custom_birthday": "1990-05-17", "custom_plan": "pro",
    })  # fmt: skip
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.phone, customer.language, customer.time_zone, customer.tags) == (
        "+44 1", "fr", "Europe/Paris", ["regular", "vip"])  # fmt: skip
    assert customer.custom_fields == {"loyalty": 1042, "birthday": "1990-05-17", "plan": "pro"}
    changed = set(CustomerEvent.objects.filter(customer=customer).values_list("field", flat=True))
    assert changed == {
        "name",
        "phone",
        "language",
        "time_zone",
        "tags",
        "custom:loyalty",
        "custom:birthday",
        "custom:plan",
    }
    assert CustomerEvent.objects.get(field="tags").new_value == "regular, vip"


def test_a_wrong_value_shows_the_form_again_with_what_was_typed(as_role, customer):
    CustomField.objects.create(name="Birthday", key="birthday", kind="date")
    CustomField.objects.create(name="Plan", key="plan", kind="choice", choices=["basic", "pro"])
    response = as_role("agent").post(f"/customers/{customer.pk}/edit/", {
        "name": "Typed name", "time_zone": "Mars/Olympus", "custom_birthday": "17.05.", "custom_plan": "gold"})  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 400 and 'value="Typed name"' in html
    assert html.count('class="field__error"') == 3
    customer.refresh_from_db()
    assert customer.name != "Typed name" and not CustomerEvent.objects.exists()


# --- other addresses ----------------------------------------------------------------------------


def test_mail_from_another_address_of_a_customer_joins_them(agent, customer):
    services.customer_email_add(customer=customer, email="Ann@Work.example", actor=agent)
    assert services.customer_get_or_create(email="ann@work.EXAMPLE") == customer
    assert Customer.objects.count() == 1


def test_an_address_of_someone_else_is_refused_with_a_reason(as_role, customer, other_customer):
    client = as_role("agent")
    response = client.post(f"/customers/{customer.pk}/emails/", {"email": other_customer.email.upper()}, follow=True)
    assert "Merge the two customers instead" in response.content.decode()
    response = client.post(f"/customers/{customer.pk}/emails/", {"email": "not an address"}, follow=True)
    assert "Enter a valid email address." in response.content.decode()
    assert not CustomerEmail.objects.exists()


def test_making_another_address_primary_swaps_them(as_role, agent, customer):
    old = customer.email
    customer.email_bouncing_at = timezone.now()
    customer.save()
    other = services.customer_email_add(customer=customer, email="ann@new.example", actor=agent)
    as_role("agent").post(f"/customers/{customer.pk}/emails/{other.pk}/primary/")
    customer.refresh_from_db()
    assert customer.email == "ann@new.example" and customer.email_bouncing_at is None
    assert list(customer.other_emails.values_list("email", flat=True)) == [old]


# --- notes and preferences ----------------------------------------------------------------------


def test_notes_are_added_pinned_and_deleted_by_their_author_or_an_admin(as_role, agent, customer, client,
                                                                       admin_user):  # fmt: skip
    agent_client = as_role("agent")
    agent_client.post(f"/customers/{customer.pk}/notes/", {"body": "Iced caramel macchiato, four pumps"})
    note = CustomerNote.objects.get()
    assert note.author == agent and not note.pinned
    agent_client.post(f"/customers/{customer.pk}/notes/{note.pk}/pin/", {"pinned": "1"})
    note.refresh_from_db()
    assert note.pinned
    other_note = services.customer_note_add(customer=customer, author=admin_user, body="From the owner")
    agent_client.post(f"/customers/{customer.pk}/notes/{other_note.pk}/delete/")
    assert CustomerNote.objects.filter(pk=other_note.pk).exists()  # not the agent's
    agent_client.post(f"/customers/{customer.pk}/notes/{note.pk}/delete/")
    assert not CustomerNote.objects.filter(pk=note.pk).exists()


def test_a_preference_is_set_once_per_name_in_any_case(as_role, customer):
    client = as_role("agent")
    client.post(f"/customers/{customer.pk}/preferences/", {"key": "Usual order", "value": "Flat white"})
    client.post(f"/customers/{customer.pk}/preferences/", {"key": "usual  ORDER", "value": "Oat latte"})
    assert list(customer.preferences.values_list("key", "value")) == [("Usual order", "Oat latte")]
    assert list(customer.events.values_list("field", "old_value", "new_value")) == [
        ("preference:Usual order", "Flat white", "Oat latte"), ("preference:Usual order", "", "Flat white")]  # fmt: skip
    preference = customer.preferences.get()
    client.post(f"/customers/{customer.pk}/preferences/{preference.pk}/delete/")
    assert not customer.preferences.exists()


def test_the_ticket_page_shows_pinned_notes_and_preferences(as_role, agent, ticket, customer):
    services.customer_note_add(customer=customer, author=agent, body="Call before noon", pinned=True)
    services.customer_note_add(customer=customer, author=agent, body="Unpinned detail")
    services.customer_preference_set(customer=customer, key="Contact by", value="phone", actor=agent)
    html = as_role("agent").get(f"/tickets/{ticket.pk}/").content.decode()
    assert "Call before noon" in html and "Unpinned detail" not in html
    assert "Contact by" in html and f'href="/customers/{customer.pk}/"' in html


# --- organizations on the portal ----------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True])
def test_members_see_each_others_requests_only_when_the_organization_shares_them(client, queue, shared):
    from tickets.portal.sign_in import SESSION_KEY

    shop = Organization.objects.create(name="Corner Shop", shared_tickets=shared)
    ann = CustomerFactory(email="ann@shop.example", organization=shop)
    colleague = CustomerFactory(email="bo@shop.example", name="Bo", organization=shop)
    stranger = CustomerFactory(email="zed@elsewhere.example")
    for who, subject in [(ann, "Ann's order"), (colleague, "Bo's order"), (stranger, "Zed's order")]:
        ticket_services.ticket_create(customer=who, queue=queue, subject=subject, body="x", channel="portal")
    session = client.session
    session[SESSION_KEY] = ann.pk
    session.save()
    page = client.get("/help/my-requests/").content.decode()
    assert "Ann&#x27;s order" in page and "Zed&#x27;s order" not in page
    assert ("Bo&#x27;s order" in page) is shared and ("asked by Bo" in page) is shared


def test_the_newest_messages_are_found_across_batches_of_tickets(agent, customer, make_ticket):
    """Messages are read a few tickets at a time (newest updated first); the result must equal sorting all."""
    from datetime import timedelta

    import time_machine

    from tickets.models import Message, Ticket

    start = timezone.now() - timedelta(days=30)
    tickets = []
    for day in range(9):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            tickets.append(make_ticket(customer=customer, subject=f"Day {day}"))
    for day, ticket in [(20, tickets[0]), (21, tickets[5]), (22, tickets[0]), (23, tickets[8])]:
        with time_machine.travel(start + timedelta(days=day), tick=False):
            ticket_services.ticket_reply(ticket=ticket, author=agent, body=f"Reply on day {day}")
    all_tickets = Ticket.objects.filter(customer=customer)
    for before in [None, start + timedelta(days=21, hours=1), start + timedelta(days=4, hours=1)]:
        for limit in (1, 2, 3, 5):
            expected = Message.objects.filter(
                ticket__customer=customer, **({"created_at__lt": before} if before else {})
            )
            expected = list(expected.order_by("-created_at", "-pk")[:limit])
            assert selectors._newest_messages(all_tickets, before=before, limit=limit) == expected, (before, limit)


def every_customer_route(customer_id: int) -> list[tuple[str, str]]:
    """(method, URL) of every route of the customers app, with real ids, so a new one cannot be missed."""
    from django.urls import get_resolver

    routes = []
    for pattern in get_resolver().url_patterns:
        if getattr(pattern, "namespace", None) != "customers":
            continue
        for name in pattern.reverse_dict:
            if not isinstance(name, str):
                continue
            params = pattern.reverse_dict.getlist(name)[0][0][0][1]
            kwargs = {param: customer_id if param == "customer_id" else 1 for param in params}
            routes.append(("post" if name not in {"list", "detail", "edit", "merge", "erase", "import", "export_csv"}
                           else "get", reverse(f"customers:{name}", kwargs=kwargs)))  # fmt: skip
    return routes


def test_every_customer_route_sends_anonymous_visitors_to_sign_in(client, customer):
    routes = every_customer_route(customer.pk)
    assert len(routes) >= 15
    for method, url in routes:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), (method, url)
