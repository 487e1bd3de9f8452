"""Merging two customers: everything of the source moves to the target, nothing is lost or cascade-deleted;
the route is for any agent who can see both customers."""

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.merge import customer_merge
from customers.models import (
    Customer,
    CustomerEmail,
    CustomerEvent,
    CustomerNote,
    CustomerPreference,
    Organization,
)
from customers.services import customer_get_or_create
from helpdesk.audit import AuditEntry
from helpdesk.errors import ValidationError
from tickets import services
from tickets.models import Message, Ticket, TicketEvent
from tickets.surveys.models import Survey

ROLES = ["anonymous", "other_agent", "agent", "admin_user", "owner"]


@pytest.fixture
def organization(db):
    return Organization.objects.create(name="Acme", domains=["customer.example"])


@pytest.fixture
def source(other_customer, organization, make_ticket, customer, agent):
    """Bob, with a record full of things to move; Ann (``customer``) is the target."""
    bob = other_customer
    bob.phone, bob.language, bob.time_zone, bob.organization = "+1 555 0100", "de", "Europe/Berlin", organization
    bob.tags, bob.custom_fields = ["wholesale", "vip"], {"plan": "silver", "loyalty": "L-1"}
    bob.save()
    first = make_ticket(customer=bob, subject="Bob's first")
    Ticket.objects.filter(pk=first.pk).update(email_cc=["ann@customer.example", "carol@customer.example"])
    solved = make_ticket(customer=bob, subject="Bob's second")
    services.ticket_set_status(ticket=solved, status="solved", actor=agent)
    Survey.objects.create(ticket=solved, customer=bob, kind="csat", score=4, comment="Quick.",
                          answered_at=timezone.now())  # fmt: skip
    CustomerNote.objects.create(customer=bob, author=agent, body="Prefers phone calls.")
    CustomerPreference.objects.create(customer=bob, key="Drink", value="tea")
    CustomerPreference.objects.create(customer=bob, key="Size", value="L")
    CustomerEmail.objects.create(customer=bob, email="bob.jones@work.example")
    CustomerEvent.objects.create(customer=bob, actor=agent, kind="changed", field="phone", new_value="+1 555 0100")
    # Bob, copied in, wrote on Ann's ticket: the message's author (and its audit row) move too.
    anns = make_ticket(customer=customer, subject="Ann's")
    services.ticket_add_customer_message(ticket=anns, body="Me too.", channel="email", customer=bob)
    return bob


@pytest.fixture
def target(customer):
    customer.tags, customer.custom_fields = ["vip"], {"plan": "gold"}
    customer.save()
    CustomerPreference.objects.create(customer=customer, key="drink", value="coffee")
    return customer


def _references(customer_id) -> dict[str, int]:
    """How many rows of each table point at the customer, through every foreign key to Customer."""
    counts = {}
    for relation in Customer._meta.related_objects:
        model, field = relation.related_model, relation.field.name
        counts[f"{model._meta.label_lower}.{field}"] = model._base_manager.filter(
            **{f"{field}_id": customer_id}
        ).count()
    return counts


def test_every_row_of_the_source_moves_to_the_target(source, target, agent):
    before_source, before_target = _references(source.pk), _references(target.pk)
    tickets_before = Ticket.objects.count()

    merged = customer_merge(source=source, target=target, actor=agent)

    assert merged.pk == target.pk and not Customer.objects.filter(pk=source.pk).exists()
    after = _references(target.pk)
    # Two preferences had one key ("Drink" / "drink"): the target's stays; one address and seven events (merged, six fields filled in) are new.
    expected_new = {"customers.customerpreference.customer": -1, "customers.customeremail.customer": 1,
                    "customers.customerevent.customer": 7}  # fmt: skip
    for key, count in after.items():
        assert count == before_source[key] + before_target[key] + expected_new.get(key, 0), key
    assert Ticket.objects.count() == tickets_before
    assert set(Ticket.objects.filter(customer=target).values_list("subject", flat=True)) == {
        "Bob's first", "Bob's second", "Ann's"}  # fmt: skip
    assert Message.objects.filter(body_text="Me too.").get().author_customer_id == target.pk
    assert TicketEvent.objects.filter(actor_customer_id=target.pk).exists()
    assert Survey.objects.get().customer_id == target.pk


def test_the_targets_values_win_and_its_empty_ones_are_filled_in(source, target, agent, organization):
    customer_merge(source=source, target=target, actor=agent)

    target.refresh_from_db()
    assert target.name == "Ann Smith" and target.email == "ann@customer.example"  # kept
    assert (target.phone, target.language, target.time_zone, target.organization) == (
        "+1 555 0100", "de", "Europe/Berlin", organization)  # fmt: skip
    assert target.tags == ["vip", "wholesale"]
    assert target.custom_fields == {"plan": "gold", "loyalty": "L-1"}
    assert dict(target.preferences.values_list("key", "value")) == {"drink": "coffee", "Size": "L"}
    assert sorted(target.other_emails.values_list("email", flat=True)) == [
        "bob.jones@work.example", "bob@customer.example"]  # fmt: skip


def test_the_merge_is_on_the_timeline_and_in_the_audit_log(source, target, agent):
    source_id, last_event = source.pk, CustomerEvent.objects.order_by("pk").last().pk
    customer_merge(source=source, target=target, actor=agent)

    merged = target.events.get(kind="merged")
    assert (merged.actor, merged.field, merged.old_value, merged.new_value) == (
        agent, "merged_from", str(source_id), "Bob Jones <bob@customer.example>")  # fmt: skip
    filled = dict(target.events.filter(kind="changed", pk__gt=last_event).values_list("field", "new_value"))
    assert filled == {"phone": "+1 555 0100", "language": "de", "time_zone": "Europe/Berlin",
                      "organization": "Acme", "tags": "vip, wholesale", "custom:loyalty": "L-1"}  # fmt: skip
    assert target.events.filter(kind="changed", field="phone", pk__lte=last_event).exists()  # Bob's history moved
    entry = AuditEntry.objects.get(action="customer.merge")
    assert entry.actor == agent and entry.target == f"customer {target.pk}"
    assert entry.details["source_id"] == source_id and entry.details["moved"]["tickets"] == 2
    assert "bob" not in str(entry.details).lower()  # ids and counts only: the audit log is never erased


def test_the_source_copied_target_address_is_dropped_from_cc(source, target, agent):
    customer_merge(source=source, target=target, actor=agent)
    assert Ticket.objects.get(subject="Bob's first").email_cc == ["carol@customer.example"]


def test_mail_from_the_merged_address_joins_the_target(source, target, agent):
    customer_merge(source=source, target=target, actor=agent)
    assert customer_get_or_create(email="BOB@customer.example").pk == target.pk
    assert customer_get_or_create(email="bob.jones@work.example").pk == target.pk


def test_a_customer_cannot_be_merged_into_itself(target, agent):
    with pytest.raises(ValidationError):
        customer_merge(source=target, target=target, actor=agent)
    assert Customer.objects.filter(pk=target.pk).exists()
    assert not CustomerEvent.objects.exists() and not AuditEntry.objects.exists()


def test_a_customer_merged_away_meanwhile_is_refused(source, target, agent, customer):
    stale = Customer.objects.get(pk=source.pk)
    customer_merge(source=source, target=target, actor=agent)
    with pytest.raises(ValidationError):
        customer_merge(source=stale, target=target, actor=agent)


def test_every_relation_to_customer_is_a_foreign_key_the_merge_moves():
    """A many-to-many to Customer would be lost with the source: merge.py must learn to move it first."""
    assert all(not relation.many_to_many for relation in Customer._meta.related_objects)


def test_the_merge_takes_a_fixed_number_of_queries(source, target, agent, django_assert_num_queries):
    # savepoint; lock 2 rows; the tickets' report facts marked stale; tickets; preferences read, drop, move; 6 other relations (addresses, notes,
    # events, messages, ticket events, surveys); the source's address; organization (filled in); save;
    # events; audit; delete: Django's collector checks the 8 relations again (a ticket left would raise,
    # PROTECT), then the row; release.
    with django_assert_num_queries(28):
        customer_merge(source=source, target=target, actor=agent)


def test_merging_bare_customers_takes_fewer_queries(customer, other_customer, agent, django_assert_num_queries):
    with django_assert_num_queries(25):  # no preferences to drop or move, no organization to read
        customer_merge(source=other_customer, target=customer, actor=agent)


# --- the route ---------------------------------------------------------------------------------------


@pytest.fixture
def both(make_ticket, customer, other_customer):
    """Ann and Bob, each with a ticket in the agent's team's queue."""
    make_ticket(customer=customer)
    make_ticket(customer=other_customer)
    return customer, other_customer


@pytest.mark.parametrize("role", ROLES)
def test_merge_route_by_role(as_role, both, role):
    target, source = both
    url = reverse("customers:merge", args=[target.pk])
    client = as_role(role)

    page = client.get(url, {"q": "bob"})
    response = client.post(url, {"source": source.pk})

    if role == "anonymous":
        assert page.status_code == response.status_code == 302
        assert response.url.startswith(reverse("login"))
    elif role == "other_agent":
        assert page.status_code == response.status_code == 404
    else:
        assert page.status_code == 200 and "bob@customer.example" in page.content.decode()
        assert response.status_code == 302 and response.url == reverse("customers:detail", args=[target.pk])
    assert Customer.objects.filter(pk=source.pk).exists() == (role in ("anonymous", "other_agent"))


def test_a_source_the_agent_cannot_see_is_not_found(as_role, both, make_ticket, other_queue):
    target, _bob = both
    hidden = Customer.objects.create(email="hidden@customer.example")
    make_ticket(customer=hidden, queue=other_queue)
    client = as_role("agent")

    assert client.get(reverse("customers:merge", args=[target.pk]), {"source": hidden.pk}).status_code == 404
    assert client.post(reverse("customers:merge", args=[target.pk]), {"source": hidden.pk}).status_code == 404
    assert client.post(reverse("customers:merge", args=[target.pk]), {"source": "x"}).status_code == 404
    assert Customer.objects.filter(pk=hidden.pk).exists()
    # Nor does the search show them.
    assert "hidden@" not in client.get(reverse("customers:merge", args=[target.pk]), {"q": "hidden"}).content.decode()
    assert "hidden@" not in client.get(reverse("customers:merge", args=[target.pk]), {"q": hidden.pk}).content.decode()


def test_the_page_finds_by_number_and_confirms_before_merging(as_role, both):
    target, source = both
    client = as_role("agent")
    url = reverse("customers:merge", args=[target.pk])

    found = client.get(url, {"q": f"#{source.pk}"}).content.decode()
    assert "bob@customer.example" in found and f'name="source" value="{source.pk}"' in found
    assert f'value="{target.pk}"' not in found  # not itself

    confirm = client.get(url, {"q": "bob", "source": source.pk}).content.decode()
    assert 'method="post"' in confirm and f'<input type="hidden" name="source" value="{source.pk}">' in confirm
    assert Customer.objects.filter(pk=source.pk).exists()  # GET never merges


def test_merging_into_itself_by_the_route_is_an_error_not_a_merge(as_role, both):
    target, _source = both
    client = as_role("agent")
    response = client.post(reverse("customers:merge", args=[target.pk]), {"source": target.pk}, follow=True)
    assert response.status_code == 200
    assert "cannot be merged into itself" in response.content.decode()
    assert Customer.objects.filter(pk=target.pk).exists() and not AuditEntry.objects.exists()
