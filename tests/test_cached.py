"""The portal's topics and branding come from the cache (helpdesk.cached): no query for them on a page, a change
shows on the next page, and with Redis unreachable they come from the database."""

import pytest
from django.urls import reverse

from helpdesk.branding import Branding

from .factories import QueueFactory

URL = reverse("portal:request_new")
UNREACHABLE = {"default": {"BACKEND": "helpdesk.redis_cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}


@pytest.fixture
def topics(team):
    return [QueueFactory(name=name, team=team, on_portal=True) for name in ("Billing", "Orders")]


def test_a_second_form_reads_neither_topics_nor_branding(client, topics, django_assert_num_queries):
    client.get(URL)
    with django_assert_num_queries(0):
        html = client.get(URL).content.decode()
    assert ">Billing</option>" in html and ">Orders</option>" in html


def test_a_saved_queue_shows_on_the_next_form(client, topics, team):
    client.get(URL)
    topics[0].name = "Invoices"
    topics[0].save()
    QueueFactory(name="Returns", team=team, on_portal=True)
    html = client.get(URL).content.decode()
    assert ">Invoices</option>" in html and ">Returns</option>" in html and "Billing" not in html
    topics[1].delete()
    assert ">Orders</option>" not in client.get(URL).content.decode()


def test_saved_branding_shows_on_the_next_page(client, topics):
    client.get(URL)
    branding = Branding.current()
    branding.name = "Café Zoë"
    branding.primary_colour = "#0b5a3c"
    branding.save()
    html = client.get(URL).content.decode()
    assert "Café Zoë" in html and "#0b5a3c" in html


def test_without_redis_the_form_reads_the_database(client, topics, settings, caplog):
    settings.CACHES = UNREACHABLE
    Branding.objects.create(pk=1, name="Café Zoë")
    html = client.get(URL).content.decode()
    assert ">Billing</option>" in html and "Café Zoë" in html
    assert "Cache unreachable" in caplog.text
