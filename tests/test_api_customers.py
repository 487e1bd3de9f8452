"""The customers API: the list (the agent list's search and filters, with ``customers_visible_to``), retrieve,
create through ``customer_create``, changes through ``customer_update`` with ETags; notes about a customer;
other email addresses; the internal notes of a ticket among its messages. Exact query counts on the lists."""

import uuid

import pytest
from django.urls import reverse

from customers import services
from customers.models import Customer, CustomerEmail, CustomerEvent, CustomerNote, CustomField, Organization, Segment
from tickets import services as ticket_services

from .api_fixtures import client_with, token_for
from .factories import CustomerFactory, UserFactory

LIST = reverse("api:customer-list")


def detail(customer_id) -> str:
    return reverse("api:customer-detail", args=[customer_id])


def notes_url(customer_id, note_id=None) -> str:
    if note_id is None:
        return reverse("api:customer-note-list", args=[customer_id])
    return reverse("api:customer-note-detail", args=[customer_id, note_id])


def emails_url(customer_id, email_id=None) -> str:
    if email_id is None:
        return reverse("api:customer-email-list", args=[customer_id])
    return reverse("api:customer-email-detail", args=[customer_id, email_id])


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def walk(client, url) -> list[int]:
    seen = []
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    return seen


@pytest.fixture
def theirs(make_ticket, other_queue):
    """A customer whose only ticket is in another team's queue: not visible to ``agent``."""
    customer = CustomerFactory(email="hidden@example.com", name="Hidden Person")
    make_ticket(customer=customer, queue=other_queue, subject="Other team's business")
    return customer


# --- list ------------------------------------------------------------------------------------------


def test_an_agent_lists_the_customers_they_may_see(api_as, ticket, customer, theirs):
    newcomer = CustomerFactory(email="new@example.com", name="Zoe Newcomer")
    assert ids(api_as("agent").get(LIST)) == [customer.pk, newcomer.pk]  # by name
    assert ids(api_as("other_agent").get(LIST)) == [theirs.pk, newcomer.pk]
    assert set(ids(api_as("admin_user").get(LIST))) == {customer.pk, newcomer.pk, theirs.pk}


def test_a_row_has_the_record_its_addresses_and_its_tickets(api_as, ticket, customer, agent):
    shop = Organization.objects.create(name="Corner Shop")
    services.customer_update(customer=customer, actor=agent, organization=shop, tags=["vip"], phone="+44 1")
    services.customer_email_add(customer=customer, email="ann@work.example", actor=agent)
    row = api_as("agent").get(LIST).json()["results"][0]
    other = customer.other_emails.get()
    assert {key: row[key] for key in ("id", "email", "name", "phone", "organization", "language", "time_zone", "tags",
                                      "custom_fields", "other_emails", "email_bouncing_at", "ticket_count")} == {
        "id": customer.pk, "email": "ann@customer.example", "name": "Ann Smith", "phone": "+44 1",
        "organization": {"id": shop.pk, "name": "Corner Shop"}, "language": "", "time_zone": "", "tags": ["vip"],
        "custom_fields": {}, "other_emails": [{"id": other.pk, "email": "ann@work.example",
                                               "created_at": row["other_emails"][0]["created_at"]}],
        "email_bouncing_at": None, "ticket_count": 1}  # fmt: skip
    assert row["last_ticket_at"] is not None and row["created_at"] and row["updated_at"]


def test_the_list_searches_and_filters_as_the_agent_list(api_as, customer):
    shop = Organization.objects.create(name="Corner Shop")
    ann = CustomerFactory(name="Ann Example", email="ann@example.com", phone="+44 20 7946 0000", tags=["vip"],
                          organization=shop)  # fmt: skip
    bob = CustomerFactory(name="Bob Other", email="bob@example.com")
    CustomerEmail.objects.create(customer=bob, email="bobby@work.example")
    annie = CustomerFactory(name="Annie Later", email="later@example.com")
    vips = Segment.objects.create(name="VIP", tags=["vip"])
    client = api_as("agent")

    assert ids(client.get(LIST, {"q": "ANN@EX"})) == [ann.pk]
    assert ids(client.get(LIST, {"q": "ann"})) == [ann.pk, customer.pk, annie.pk]  # starts with it, by name
    assert ids(client.get(LIST, {"q": "work.example"})) == [bob.pk]  # another address
    assert ids(client.get(LIST, {"q": "7946"})) == [ann.pk]
    assert ids(client.get(LIST, {"tag": "VIP"})) == [ann.pk]
    assert ids(client.get(LIST, {"organization": shop.pk})) == [ann.pk]
    assert ids(client.get(LIST, {"segment": vips.pk})) == [ann.pk]
    assert ids(client.get(LIST, {"q": "nobody"})) == []


@pytest.mark.parametrize("params", [{"organization": "shop"}, {"segment": "0"}, {"q": "x" * 201},
                                    {"tag": "x" * 51}, {"organization": str(2**63)}])  # fmt: skip
def test_a_filter_that_does_not_parse_is_a_400_naming_it(api_as, db, params):
    response = api_as("agent").get(LIST, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid" and set(response.json()["error"]["fields"]) == set(params)


@pytest.mark.parametrize("query", [None, "example"])
def test_pages_follow_the_cursor_without_gaps_or_repeats(api_as, db, query):
    made = [CustomerFactory(name=f"Person {n % 3}", email=f"p{n}@example.com").pk for n in range(7)]
    url = LIST + "?page_size=2" + (f"&q={query}" if query else "")
    seen = walk(api_as("agent"), url)
    assert sorted(seen) == sorted(made) and len(seen) == 7


@pytest.mark.parametrize("query", [None, "example"])
@pytest.mark.parametrize("count", [1, 20])
def test_the_list_takes_the_same_queries_for_1_or_20_customers(client, agent, make_ticket, query, count,
                                                               django_assert_num_queries):  # fmt: skip
    shop = Organization.objects.create(name="Corner Shop")
    for n in range(count):
        customer = CustomerFactory(email=f"c{n}@example.com", organization=shop)
        CustomerEmail.objects.create(customer=customer, email=f"other{n}@example.com")
        make_ticket(customer=customer)
    client.force_login(agent)
    # session, user, the page of customers (visibility, organization, ticket count and last ticket: one query),
    # their other addresses; a search finds the other addresses first (one more)
    with django_assert_num_queries(5 if query else 4):
        response = client.get(LIST, {"q": query} if query else {})
    assert len(response.json()["results"]) == count + 1  # and the ``customer`` of ``make_ticket``


# --- retrieve ----------------------------------------------------------------------------------------


def test_a_customer_comes_with_an_etag(api_as, customer):
    response = api_as("agent").get(detail(customer.pk))
    assert response.status_code == 200 and response.json()["email"] == "ann@customer.example"
    customer.refresh_from_db()
    stamp = int(customer.updated_at.timestamp()) * 10**6 + customer.updated_at.microsecond
    assert response["ETag"] == f'"{customer.pk}-{stamp}"'


def test_a_customer_the_agent_may_not_see_is_a_404(api_as, theirs):
    response = api_as("agent").get(detail(theirs.pk))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}
    assert api_as("agent").get(detail(999_999)).status_code == 404


def test_the_customer_takes_a_fixed_number_of_queries(client, agent, ticket, customer, django_assert_num_queries):
    for n in range(3):
        services.customer_email_add(customer=customer, email=f"ann{n}@work.example", actor=agent)
    client.force_login(agent)
    with django_assert_num_queries(4):  # session, user, the customer with its stats, its other addresses
        assert len(client.get(detail(customer.pk)).json()["other_emails"]) == 3


# --- create ------------------------------------------------------------------------------------------


def test_create_adds_a_customer_who_joins_the_organization_of_their_domain(api_as, agent):
    shop = Organization.objects.create(name="Corner Shop", domains=["shop.example"])
    CustomField.objects.create(name="Loyalty card", key="loyalty", kind="number")
    response = api_as("agent").post(LIST, {"email": " Nia@Shop.example ", "name": "Nia", "phone": "+33 1",
                                           "language": "fr", "time_zone": "Europe/Paris", "tags": ["VIP", "vip "],
                                           "custom_fields": {"loyalty": "1042"}}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    customer = Customer.objects.get(pk=response.json()["id"])
    assert (customer.email, customer.name, customer.phone, customer.language, customer.time_zone) == (
        "Nia@Shop.example", "Nia", "+33 1", "fr", "Europe/Paris")  # fmt: skip
    assert customer.tags == ["vip"] and customer.custom_fields == {"loyalty": 1042} and customer.organization == shop
    assert response["Location"] == f"http://testserver{detail(customer.pk)}" and response["ETag"]
    assert response.json()["organization"] == {"id": shop.pk, "name": "Corner Shop"}
    assert response.json()["ticket_count"] == 0
    event = CustomerEvent.objects.get(customer=customer)
    assert (event.actor, event.field, event.old_value, event.new_value) == (agent, "email", "", "Nia@Shop.example")


def test_a_new_customer_is_visible_to_every_agent_until_their_first_ticket(api_as, db):
    response = api_as("agent").post(LIST, {"email": "new@example.com", "organization": None}, format="json")
    assert response.status_code == 201
    assert Customer.objects.get().organization is None
    assert api_as("other_agent").get(detail(response.json()["id"])).status_code == 200


@pytest.mark.parametrize("email", ["ANN@customer.example", "ann@WORK.example"])
def test_an_address_that_is_a_customers_already_is_a_400_with_the_reason(api_as, customer, agent, email):
    services.customer_email_add(customer=customer, email="ann@work.example", actor=agent)
    response = api_as("agent").post(LIST, {"email": email, "name": "Someone"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"email": ["A customer with this email address exists already."]}
    assert Customer.objects.count() == 1


def test_the_unique_constraint_decides_between_concurrent_creates(db, agent, monkeypatch):
    import customers.services as customer_services

    monkeypatch.setattr(customer_services, "_address_taken", lambda email, by_other_than: False)  # the check missed it
    CustomerFactory(email="twice@example.com")
    with pytest.raises(customer_services.ValidationError) as error:
        customer_services.customer_create(email="TWICE@example.com", actor=agent)
    assert error.value.message_dict == {"email": ["A customer with this email address exists already."]}


@pytest.mark.parametrize(("data", "field"), [
    ({"email": "not an address"}, "email"),
    ({"name": "Nobody"}, "email"),
    ({"email": "a@example.com", "language": "xx"}, "language"),
    ({"email": "a@example.com", "time_zone": "Mars/Olympus"}, "time_zone"),
    ({"email": "a@example.com", "organization": 999_999}, "organization"),
    ({"email": "a@example.com", "tags": ["x" * 51]}, "tags.0"),
    ({"email": "a@example.com", "custom_fields": {"unknown": "x"}}, "custom_fields.unknown"),
    ({"email": "a@example.com", "custom_fields": {"birthday": "17.05."}}, "custom_fields.birthday"),
    ({"email": "a@example.com", "custom_fields": {"plan": "gold"}}, "custom_fields.plan"),
    ({"email": "a@example.com", "custom_fields": {"plan": ["pro"]}}, "custom_fields.plan"),
    ({"email": "a@example.com", "phone": "1" * 51}, "phone"),
    ({"email": "a@example.com", "name": "nul\x00"}, "name"),
])  # fmt: skip
def test_create_refuses_bad_input_and_creates_nothing(api_as, db, data, field):
    CustomField.objects.create(name="Birthday", key="birthday", kind="date")
    CustomField.objects.create(name="Plan", key="plan", kind="choice", choices=["basic", "pro"])
    response = api_as("agent").post(LIST, data, format="json")
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid" and field in body["fields"], body
    assert not Customer.objects.exists()


def test_the_same_idempotency_key_twice_makes_one_customer(api_as, db):
    client, key = api_as("agent"), str(uuid.uuid4())
    first = client.post(LIST, {"email": "once@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client.post(LIST, {"email": "once@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Location"] == first["Location"] and again["ETag"] == first["ETag"]
    assert again["Idempotent-Replayed"] == "true" and Customer.objects.count() == 1
    other = client.post(LIST, {"email": "other@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert other.status_code == 422 and Customer.objects.count() == 1


# --- update ------------------------------------------------------------------------------------------


def test_patch_changes_the_record_through_customer_update_with_a_trail(api_as, customer, agent):
    CustomField.objects.create(name="Loyalty card", key="loyalty", kind="number")
    CustomField.objects.create(name="Birthday", key="birthday", kind="date")
    services.customer_update(customer=customer, actor=agent, custom_fields={"loyalty": 7, "old": "kept"})
    shop = Organization.objects.create(name="Corner Shop")
    client = api_as("agent")
    etag = client.get(detail(customer.pk))["ETag"]
    response = client.patch(detail(customer.pk), {
        "phone": "+44 1", "organization": shop.pk, "tags": ["Regular", "VIP"], "time_zone": "Europe/London",
        "custom_fields": {"loyalty": None, "birthday": "1990-05-17"}}, format="json", HTTP_IF_MATCH=etag)  # fmt: skip
    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert (customer.phone, customer.organization, customer.tags, customer.time_zone) == (
        "+44 1", shop, ["regular", "vip"], "Europe/London")  # fmt: skip
    assert customer.custom_fields == {"old": "kept", "birthday": "1990-05-17"}
    assert set(CustomerEvent.objects.filter(customer=customer, actor=agent).values_list("field", flat=True)) >= {
        "phone", "organization", "tags", "time_zone", "custom:loyalty", "custom:birthday"}  # fmt: skip
    assert response["ETag"] != etag and response.json()["phone"] == "+44 1"


def test_patch_with_a_stale_etag_is_a_412_and_changes_nothing(api_as, customer, agent):
    client = api_as("agent")
    etag = client.get(detail(customer.pk))["ETag"]
    services.customer_update(customer=customer, actor=agent, phone="+1")  # a colleague meanwhile
    response = client.patch(detail(customer.pk), {"phone": "+2"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 412 and response.json()["error"]["code"] == "precondition_failed"
    customer.refresh_from_db()
    assert customer.phone == "+1"


def test_patch_without_a_change_keeps_the_etag_and_writes_no_event(api_as, customer):
    client = api_as("agent")
    etag = client.get(detail(customer.pk))["ETag"]
    response = client.patch(detail(customer.pk), {"name": "Ann Smith"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200 and response["ETag"] == etag and not CustomerEvent.objects.exists()


def test_patch_refuses_bad_input_and_a_customer_the_agent_may_not_see(api_as, customer, theirs):
    client = api_as("agent")
    response = client.patch(detail(customer.pk), {"language": "klingon", "organization": 0}, format="json")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"language", "organization"}
    assert client.patch(detail(theirs.pk), {"phone": "+1"}, format="json").status_code == 404
    theirs.refresh_from_db()
    assert theirs.phone == "" and not CustomerEvent.objects.exists()


def test_put_and_delete_are_not_offered(api_as, customer):
    assert api_as("agent").put(detail(customer.pk), {"name": "X"}, format="json").status_code == 405
    assert api_as("admin_user").delete(detail(customer.pk)).status_code == 405


# --- notes about a customer ----------------------------------------------------------------------------


def test_notes_are_listed_pinned_first_then_newest(api_as, customer, agent, admin_user):
    old = services.customer_note_add(customer=customer, author=agent, body="Old")
    pinned = services.customer_note_add(customer=customer, author=admin_user, body="Pinned", pinned=True)
    new = services.customer_note_add(customer=customer, author=agent, body="New")
    services.customer_note_add(customer=CustomerFactory(), author=agent, body="Someone else's")
    response = api_as("agent").get(notes_url(customer.pk))
    assert ids(response) == [pinned.pk, new.pk, old.pk]
    row = response.json()["results"][0]
    assert (row["body"], row["pinned"], row["author"]) == (
        "Pinned", True, {"id": admin_user.pk, "name": admin_user.get_full_name(), "email": admin_user.email})  # fmt: skip
    assert walk(api_as("agent"), notes_url(customer.pk) + "?page_size=1") == [pinned.pk, new.pk, old.pk]


def test_an_agent_writes_pins_and_deletes_their_note(api_as, customer, agent):
    client = api_as("agent")
    response = client.post(notes_url(customer.pk), {"body": "  Iced caramel macchiato  "}, format="json")
    assert response.status_code == 201, response.content
    note = CustomerNote.objects.get()
    assert (note.body, note.author, note.pinned) == ("Iced caramel macchiato", agent, False)
    assert response["Location"] == f"http://testserver{notes_url(customer.pk, note.pk)}"
    assert client.get(notes_url(customer.pk, note.pk)).json()["body"] == "Iced caramel macchiato"

    response = client.patch(notes_url(customer.pk, note.pk), {"pinned": True}, format="json")
    assert response.status_code == 200 and response.json()["pinned"] is True
    note.refresh_from_db()
    assert note.pinned
    assert client.delete(notes_url(customer.pk, note.pk)).status_code == 204
    assert not CustomerNote.objects.exists()


@pytest.mark.parametrize(("role", "expected"), [("agent", 403), ("admin_user", 204), ("owner", 204)])
def test_only_its_author_or_an_admin_deletes_a_note(api_as, customer, team, role, expected):
    author = UserFactory(teams=[team])
    note = services.customer_note_add(customer=customer, author=author, body="Mine")
    response = api_as(role).delete(notes_url(customer.pk, note.pk))
    assert response.status_code == expected
    if expected == 403:
        assert response.json()["error"]["message"] == "Only its author or an admin can delete a note."
    assert CustomerNote.objects.filter(pk=note.pk).exists() == (expected == 403)


@pytest.mark.parametrize(("data", "field"), [({"body": ""}, "body"), ({"body": "   "}, "body"), ({}, "body"),
                                             ({"body": "x" * 5001}, "body"), ({"body": "x", "pinned": "maybe"},
                                                                               "pinned")])  # fmt: skip
def test_a_note_needs_a_body(api_as, customer, data, field):
    response = api_as("agent").post(notes_url(customer.pk), data, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not CustomerNote.objects.exists()


def test_pinning_needs_the_pinned_field(api_as, customer, agent):
    note = services.customer_note_add(customer=customer, author=agent, body="x")
    response = api_as("agent").patch(notes_url(customer.pk, note.pk), {}, format="json")
    assert response.status_code == 400 and "pinned" in response.json()["error"]["fields"]


def test_notes_of_a_customer_the_agent_may_not_see_do_not_exist_for_them(api_as, theirs, customer, other_agent):
    note = services.customer_note_add(customer=theirs, author=other_agent, body="Secret")
    client = api_as("agent")
    assert client.get(notes_url(theirs.pk)).status_code == 404
    assert client.get(notes_url(theirs.pk, note.pk)).status_code == 404
    assert client.post(notes_url(theirs.pk), {"body": "x"}, format="json").status_code == 404
    assert client.patch(notes_url(theirs.pk, note.pk), {"pinned": True}, format="json").status_code == 404
    assert client.delete(notes_url(theirs.pk, note.pk)).status_code == 404
    # nor through a customer they see
    assert client.get(notes_url(customer.pk, note.pk)).status_code == 404
    assert api_as("admin_user").delete(notes_url(customer.pk, note.pk)).status_code == 404
    assert list(CustomerNote.objects.values_list("body", "pinned")) == [("Secret", False)]


def test_a_note_written_twice_with_one_idempotency_key_is_one_note(api_as, customer):
    client = api_as("agent")
    for _attempt in range(2):
        response = client.post(notes_url(customer.pk), {"body": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="n1")
        assert response.status_code == 201
    assert CustomerNote.objects.count() == 1 and response["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("count", [1, 20])
def test_the_notes_take_the_same_queries_for_1_or_20(client, agent, customer, count, django_assert_num_queries):
    for n in range(count):
        services.customer_note_add(customer=customer, author=UserFactory(), body=f"Note {n}", pinned=n % 2 == 0)
    client.force_login(agent)
    with django_assert_num_queries(4):  # session, user, the customer (visible?), its notes with their authors
        assert len(client.get(notes_url(customer.pk)).json()["results"]) == count


# --- other email addresses ----------------------------------------------------------------------------------


def test_other_addresses_are_added_listed_made_primary_and_removed(api_as, customer, agent):
    client = api_as("agent")
    response = client.post(emails_url(customer.pk), {"email": "ann@work.example"}, format="json")
    assert response.status_code == 201, response.content
    other = CustomerEmail.objects.get()
    assert response.json() == {"id": other.pk, "email": "ann@work.example", "created_at": response.json()["created_at"]}
    assert ids(client.get(emails_url(customer.pk))) == [other.pk]
    assert CustomerEvent.objects.filter(customer=customer, field="other_emails", actor=agent).exists()

    response = client.post(reverse("api:customer-email-primary", args=[customer.pk, other.pk]))
    assert response.status_code == 200 and response.json()["email"] == "ann@work.example" and response["ETag"]
    assert response.json()["other_emails"][0]["email"] == "ann@customer.example"
    customer.refresh_from_db()
    assert customer.email == "ann@work.example"

    assert client.delete(emails_url(customer.pk, other.pk)).status_code == 204
    assert not CustomerEmail.objects.exists()


@pytest.mark.parametrize(("email", "message"), [
    ("bob@customer.example", "bob@customer.example is already the address of a customer. Merge the two customers "
                             "instead."),
    ("ANN@customer.example", "ANN@customer.example is already the address of a customer. Merge the two customers "
                             "instead."),
    ("not an address", "Enter a valid email address."),
])  # fmt: skip
def test_an_address_of_someone_is_a_400_with_the_reason(api_as, customer, other_customer, email, message):
    response = api_as("agent").post(emails_url(customer.pk), {"email": email}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"email": [message]}
    assert not CustomerEmail.objects.exists()


def test_addresses_of_a_customer_the_agent_may_not_see_do_not_exist_for_them(api_as, theirs, customer, agent):
    other = services.customer_email_add(customer=theirs, email="hidden@work.example", actor=None)
    client = api_as("agent")
    assert client.get(emails_url(theirs.pk)).status_code == 404
    assert client.post(emails_url(theirs.pk), {"email": "x@example.com"}, format="json").status_code == 404
    assert client.delete(emails_url(theirs.pk, other.pk)).status_code == 404
    assert client.delete(emails_url(customer.pk, other.pk)).status_code == 404  # not this customer's
    assert client.post(reverse("api:customer-email-primary", args=[customer.pk, other.pk])).status_code == 404
    assert list(CustomerEmail.objects.values_list("email", flat=True)) == ["hidden@work.example"]


@pytest.mark.parametrize("count", [1, 20])
def test_the_addresses_take_the_same_queries_for_1_or_20(client, agent, customer, count, django_assert_num_queries):
    for n in range(count):
        CustomerEmail.objects.create(customer=customer, email=f"ann{n}@work.example")
    client.force_login(agent)
    with django_assert_num_queries(4):  # session, user, the customer (visible?), the addresses
        assert len(client.get(emails_url(customer.pk)).json()["results"]) == count


# --- a ticket's internal notes ---------------------------------------------------------------------------


def test_a_tickets_internal_notes_are_its_messages_of_kind_note(api_as, ticket, agent):
    note = ticket_services.ticket_add_note(ticket=ticket, author=agent, body="Call them")
    ticket_services.ticket_reply(ticket=ticket, author=agent, body="Hello")
    url = reverse("api:ticket-messages", args=[ticket.pk])
    client = api_as("agent")
    assert ids(client.get(url, {"kind": "note"})) == [note.pk]
    assert len(ids(client.get(url, {"kind": ["customer", "reply"]}))) == 2
    assert len(ids(client.get(url))) == 3
    response = client.get(url, {"kind": "secret"})
    assert response.status_code == 400 and "kind" in response.json()["error"]["fields"]
    assert api_as("other_agent").get(url, {"kind": "note"}).status_code == 404


@pytest.mark.parametrize("count", [1, 20])
def test_the_messages_take_the_same_queries_for_1_or_20(agent, ticket, count, django_assert_num_queries):
    for n in range(count):
        ticket_services.ticket_add_note(ticket=ticket, author=agent, body=f"Note {n}")
    client = client_with(token_for(agent))
    client.get(LIST)  # the token's first use notes when it was used (once a minute)
    # token with its user, the ticket (visible?), the notes with their authors, their attachments
    with django_assert_num_queries(4):
        response = client.get(reverse("api:ticket-messages", args=[ticket.pk]), {"kind": "note"})
    assert len(response.json()["results"]) == count
