"""Segments: saved filters over customers (issue 6), on the customer list and the customer page."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.models import CustomField, Organization, Segment
from customers.segments import customer_in_segment, segment_members, segments_of
from tickets.surveys.models import Survey

from .factories import CustomerFactory


@pytest.fixture
def people(db):
    shop = Organization.objects.create(name="Corner Shop")
    return {
        "vip": CustomerFactory(email="vip@example.com", tags=["vip", "wholesale"], language="de"),
        "shop": CustomerFactory(
            email="owner@shop.example", organization=shop, custom_fields={"plan": "pro", "seats": 5}
        ),
        "plain": CustomerFactory(email="plain@example.com"),
    }


def members(**conditions) -> set[str]:
    return {customer.email for customer in segment_members(Segment(name="s", **conditions))}


def test_conditions_on_the_record(people):
    assert members(tags=["vip", "press"]) == {"vip@example.com"}
    assert members(organization=people["shop"].organization) == {"owner@shop.example"}
    assert members(language="de") == {"vip@example.com"}
    plan = CustomField.objects.create(name="Plan", key="plan", kind="choice", choices=["basic", "pro"])
    seats = CustomField.objects.create(name="Seats", key="seats", kind="number")
    assert members(custom_field=plan, custom_value="pro") == {"owner@shop.example"}
    assert members(custom_field=seats, custom_value="5") == {"owner@shop.example"}
    assert members(custom_field=seats, custom_value="6") == set()
    assert members(tags=["vip"], language="fr") == set()  # every condition must hold
    assert members() == {"vip@example.com", "owner@shop.example", "plain@example.com"}


def test_more_than_n_tickets_in_the_last_days(people, make_ticket):
    regular = people["plain"]
    with time_machine.travel(timezone.now() - timedelta(days=60)):
        make_ticket(customer=regular, subject="Long ago")
    for i in range(3):
        make_ticket(customer=regular, subject=f"Lately {i}")
    make_ticket(customer=people["vip"], subject="Once")
    assert members(min_tickets=3, tickets_within_days=30) == {"plain@example.com"}
    assert members(min_tickets=4, tickets_within_days=30) == set()
    assert members(min_tickets=4) == {"plain@example.com"}  # ever


def test_csat_below_counts_the_latest_answer_only(people, make_ticket):
    def answer(customer, score, days_ago):
        ticket = make_ticket(customer=customer)
        Survey.objects.create(ticket=ticket, customer=customer, kind=Survey.Kind.CSAT, score=score,
                              answered_at=timezone.now() - timedelta(days=days_ago))  # fmt: skip

    answer(people["vip"], 1, days_ago=10)
    answer(people["vip"], 5, days_ago=1)  # happy again
    answer(people["shop"], 5, days_ago=10)
    answer(people["shop"], 2, days_ago=1)
    assert members(last_csat_below=3) == {"owner@shop.example"}
    segment = Segment.objects.create(name="Unhappy last time", last_csat_below=3)
    assert customer_in_segment(people["shop"], segment) and not customer_in_segment(people["vip"], segment)


def test_a_segment_needs_what_its_conditions_need(people):
    plan = CustomField.objects.create(name="Plan", key="plan")
    for fields in ({"custom_field": plan}, {"tickets_within_days": 30}, {"last_csat_below": 9}):
        with pytest.raises(ValidationError):
            Segment(name="x", **fields).full_clean()


def test_the_customer_page_shows_segments_and_the_list_filters_by_one(people, as_role, django_assert_num_queries):
    vip = Segment.objects.create(name="VIP", tags=["vip"])
    Segment.objects.create(name="German speakers", language="de")
    Segment.objects.create(name="Shop people", organization=people["shop"].organization)
    with django_assert_num_queries(2):
        assert [s.name for s in segments_of(people["vip"])] == ["German speakers", "VIP"]
    client = as_role("agent")
    html = client.get(f"/customers/{people['vip'].pk}/").content.decode()
    assert "German speakers" in html and "VIP" in html and "Shop people" not in html
    listed = client.get(f"/customers/?segment={vip.pk}").context["customers"]
    assert [c.email for c in listed] == ["vip@example.com"]
    assert client.get("/customers/?segment=999999").context["customers"] == []
    assert len(client.get("/customers/?segment=oops&q=example").context["customers"]) == 3  # a bad value is ignored
