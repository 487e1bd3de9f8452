"""Organizations: a new customer joins the one that lists their email domain; the ticket page shows it."""

from django.urls import reverse

from customers.models import Organization
from customers.services import customer_get_or_create


def test_a_new_customer_joins_the_organization_of_their_domain(db):
    cafe = Organization.objects.create(name="Café Lumière", domains=["lumiere.example", "lumiere.example.fr"])

    assert customer_get_or_create(email="Marie@Lumiere.Example.fr").organization == cafe
    assert customer_get_or_create(email="ann@elsewhere.example").organization is None
    assert customer_get_or_create(email="bob@sub.lumiere.example").organization is None  # exact domains only


def test_an_existing_customer_keeps_their_organization(db, customer):
    Organization.objects.create(name="Customers Inc", domains=["customer.example"])
    assert customer_get_or_create(email=customer.email).organization is None


def test_domains_are_normalised_when_saved_from_a_form(db):
    org = Organization(name="Shop", domains=[" Shop.Example ", "@shop.example", "other.example"])
    org.full_clean()
    assert org.domains == ["other.example", "shop.example"]


def test_ticket_page_shows_the_organization(client, agent, ticket, customer):
    client.force_login(agent)
    assert "No organization" in client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()

    customer.organization = Organization.objects.create(name="Café Lumière")
    customer.save()
    page = client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert "Café Lumière" in page and "No organization" not in page
