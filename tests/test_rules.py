"""Routing rules: conditions (every field and operator), all/any, order and stop, actions through the
ticket services with an audit row per rule, the admin (regex validation, dry run) and query counts."""

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Organization, Segment
from helpdesk.calendars import Calendar, OpeningInterval
from helpdesk.models import Team
from tickets.models import Message, TicketEvent
from tickets.rules.engine import rules_evaluate, rules_run
from tickets.rules.models import Rule, RuleAction, RuleCondition

from .factories import UserFactory

Field, Op, Act = RuleCondition.Field, RuleCondition.Operator, RuleAction.Action


def make_rule(name="Rule", *, conditions=(), actions=(), **fields) -> Rule:
    rule = Rule.objects.create(name=name, **fields)
    for field, operator, value in conditions:
        RuleCondition.objects.create(rule=rule, field=field, operator=operator, value=value)
    for position, (action, value) in enumerate(actions):
        RuleAction.objects.create(rule=rule, action=action, value=value, position=position)
    return rule


def matches(ticket, *condition, **fields) -> bool:
    """Whether a rule with this one condition (the only rule) matches the ticket."""
    Rule.objects.all().delete()
    rule = make_rule(conditions=[condition], **fields)
    return rules_evaluate(ticket) == [rule]


@pytest.fixture
def rich_ticket(customer, make_ticket):
    customer.organization = Organization.objects.create(name="Acme")
    customer.tags = ["vip", "beta"]
    customer.language = "de"
    customer.save()
    return make_ticket(subject="Refund! for order 1042", body="Please send a refund, the parcel was broken.")


@pytest.mark.parametrize(("field", "operator", "value", "expected"), [
    (Field.CHANNEL, Op.IS, "portal", True),
    (Field.CHANNEL, Op.IS, "EMAIL", False),
    (Field.CHANNEL, Op.IS_NOT, "email", True),
    (Field.QUEUE, Op.IS, "general", True),
    (Field.QUEUE, Op.IS, "General", True),
    (Field.QUEUE, Op.IS_NOT, "invoices", True),
    (Field.SUBJECT, Op.CONTAINS, "ORDER 10", True),
    (Field.SUBJECT, Op.NOT_CONTAINS, "order", False),
    (Field.SUBJECT, Op.IS, "refund! for order 1042", True),
    (Field.BODY, Op.CONTAINS, "parcel was broken", True),
    (Field.BODY, Op.CONTAINS, "Refund!", False),
    (Field.SUBJECT_OR_BODY, Op.CONTAINS, "parcel", True),
    (Field.SUBJECT_OR_BODY, Op.CONTAINS, "1042", True),
    (Field.SUBJECT_OR_BODY, Op.NOT_CONTAINS, "invoice", True),
    (Field.CUSTOMER_EMAIL, Op.IS, "Ann@Customer.example", True),
    (Field.CUSTOMER_EMAIL, Op.CONTAINS, "@customer.", True),
    (Field.CUSTOMER_DOMAIN, Op.IS, "customer.example", True),
    (Field.CUSTOMER_DOMAIN, Op.IS, "example", False),
    (Field.CUSTOMER_DOMAIN, Op.REGEX, r"\.example$", True),
    (Field.ORGANIZATION, Op.IS, "acme", True),
    (Field.ORGANIZATION, Op.IS_NOT, "Globex", True),
    (Field.CUSTOMER_TAG, Op.IS, "VIP", True),
    (Field.CUSTOMER_TAG, Op.IS_NOT, "beta", False),
    (Field.CUSTOMER_TAG, Op.IS, "gold", False),
    (Field.LANGUAGE, Op.IS, "de", True),
    (Field.LANGUAGE, Op.IS_NOT, "de", False),
    (Field.PRIORITY, Op.IS, "normal", True),
    (Field.PRIORITY, Op.IS, "urgent", False),
    (Field.SUBJECT, Op.MATCHES_WORD, "refund", True),
    (Field.SUBJECT, Op.REGEX, r"order \d{4}$", True),
    (Field.SUBJECT, Op.REGEX, r"^order", False),
])  # fmt: skip
def test_each_field_and_operator(rich_ticket, field, operator, value, expected):
    assert matches(rich_ticket, field, operator, value) is expected


def test_a_customer_without_organization_or_tags(ticket):
    assert not matches(ticket, Field.ORGANIZATION, Op.IS, "acme")
    assert matches(ticket, Field.CUSTOMER_TAG, Op.IS_NOT, "vip")


@pytest.mark.parametrize(("text", "expected"), [
    ("I want a Refund!", True), ("refund", True), ("(refund)", True), ("no refunds here", False),
    ("prerefund", False), ("REFUND please", True),
])  # fmt: skip
def test_word_matching_is_word_aware_and_case_insensitive(make_ticket, text, expected):
    ticket = make_ticket(subject=text)
    assert matches(ticket, Field.SUBJECT, Op.MATCHES_WORD, "refund") is expected


def test_segment_condition(rich_ticket):
    Segment.objects.create(name="VIPs", tags=["vip"])
    other = Segment.objects.create(name="Gold", tags=["gold"])
    assert matches(rich_ticket, Field.SEGMENT, Op.IS, "vips")
    assert not matches(rich_ticket, Field.SEGMENT, Op.IS, str(other.pk))
    assert matches(rich_ticket, Field.SEGMENT, Op.IS_NOT, "Gold")


@pytest.fixture
def office_hours(db):
    calendar = Calendar.objects.create(name="Office", time_zone="Europe/London", is_default=True)
    OpeningInterval.objects.bulk_create([OpeningInterval(calendar=calendar, weekday=day, opens=time(9), closes=time(17))
                                         for day in range(5)])  # fmt: skip
    return calendar


@pytest.mark.parametrize(("moment", "in_hours"), [
    (datetime(2025, 3, 5, 10, 0, tzinfo=UTC), True),  # a Wednesday, 10:00 in London
    (datetime(2025, 3, 5, 18, 0, tzinfo=UTC), False),  # after closing
    (datetime(2025, 3, 8, 10, 0, tzinfo=UTC), False),  # a Saturday
])  # fmt: skip
def test_business_hours_condition(office_hours, ticket, moment, in_hours):
    with time_machine.travel(moment, tick=False):
        assert matches(ticket, Field.BUSINESS_HOURS, Op.IS, "yes") is in_hours
        assert matches(ticket, Field.BUSINESS_HOURS, Op.IS, "no") is not in_hours
        assert matches(ticket, Field.BUSINESS_HOURS, Op.IS_NOT, "yes") is not in_hours


def test_without_a_calendar_it_is_always_business_hours(ticket):
    assert matches(ticket, Field.BUSINESS_HOURS, Op.IS, "yes")


@pytest.mark.parametrize(("match_all", "expected"), [(True, False), (False, True)])
def test_all_or_any_conditions(ticket, match_all, expected):
    conditions = [(Field.CHANNEL, Op.IS, "portal"), (Field.CHANNEL, Op.IS, "email")]
    rule = make_rule(conditions=conditions, match_all=match_all)
    assert (rules_evaluate(ticket) == [rule]) is expected


def test_a_rule_without_conditions_matches_every_ticket(ticket):
    rule = make_rule()
    assert rules_evaluate(ticket) == [rule]


def test_rules_match_in_position_order_and_skip_inactive(ticket):
    third = make_rule("third", position=30)
    first = make_rule("first", position=10)
    make_rule("off", position=15, active=False)
    second = make_rule("second", position=20)
    assert rules_evaluate(ticket) == [first, second, third]


def test_a_matching_rule_that_stops_ends_the_run(ticket):
    first = make_rule("first", position=1)
    make_rule("no match", position=2, conditions=[(Field.CHANNEL, Op.IS, "email")], stop=True)
    stopper = make_rule("stopper", position=3, stop=True)
    make_rule("after", position=4)
    assert rules_evaluate(ticket) == [first, stopper]


def test_a_stop_action_ends_the_run_too(ticket):
    stopper = make_rule("stopper", position=1, actions=[(Act.STOP, "")])
    make_rule("after", position=2, actions=[(Act.SET_PRIORITY, "high")])
    assert rules_run(ticket, event="create") == ["stopper: stop"]
    ticket.refresh_from_db()
    assert ticket.priority == "normal" and rules_evaluate(ticket) == [stopper]


def test_rules_run_only_on_their_event(ticket):
    make_rule("on create", on_create=True, on_customer_message=False, actions=[(Act.ADD_TAGS, "new")])
    make_rule("on message", on_create=False, on_customer_message=True, actions=[(Act.ADD_TAGS, "again")])
    assert rules_run(ticket, event="create") == ["on create: tags + new"]
    assert rules_run(ticket, event="customer_message") == ["on message: tags + again"]
    assert set(ticket.tags.values_list("name", flat=True)) == {"new", "again"}


def test_actions_are_applied_through_the_services_and_audited(ticket, other_queue, other_team, customer):
    billing_agent = UserFactory(email="billing@staff.example", teams=[other_team])
    make_rule("Refunds", position=1, conditions=[(Field.SUBJECT, Op.CONTAINS, "order")], actions=[
        (Act.SET_QUEUE, "invoices"), (Act.SET_PRIORITY, "high"), (Act.ADD_TAGS, "refund, Urgent-Check"),
        (Act.ASSIGN_AGENT, "Billing@Staff.example"), (Act.ADD_NOTE, "Check the refund policy."),
    ])  # fmt: skip
    lines = rules_run(ticket, event="create")
    assert lines == ["Refunds: queue → invoices; priority → high; tags + refund, Urgent-Check; "
                     "assigned → billing@staff.example; note added"]  # fmt: skip
    ticket.refresh_from_db()
    assert (ticket.queue, ticket.priority, ticket.assignee) == (other_queue, "high", billing_agent)
    assert set(ticket.tags.values_list("name", flat=True)) == {"refund", "urgent-check"}
    note = ticket.messages.get(kind=Message.Kind.NOTE)
    assert note.body_text == "Check the refund policy." and note.author_user is None
    rule_events = list(TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.RULE))
    assert [(e.field, e.old_value, e.new_value, e.actor_id) for e in rule_events] == [
        ("rule", "create", lines[0], None)
    ]
    # each change has its own field event, by the system
    changed = set(TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.FIELD, actor=None)
                  .values_list("field", flat=True))  # fmt: skip
    assert {"queue", "priority", "tags", "assignee"} <= changed


def test_set_queue_by_id_and_assign_by_strategy(ticket, other_queue, other_team):
    billing_agent = UserFactory(email="billing@staff.example", teams=[other_team])
    other_team.assignment = Team.Assignment.ROUND_ROBIN
    other_team.save()
    make_rule(actions=[(Act.SET_QUEUE, str(other_queue.pk)), (Act.ASSIGN_BY_STRATEGY, "")])
    rules_run(ticket, event="create")
    ticket.refresh_from_db()
    assert (ticket.queue, ticket.assignee) == (other_queue, billing_agent)


def test_a_failing_action_is_noted_and_the_others_run(ticket, other_agent):
    make_rule("Mixed", actions=[(Act.ASSIGN_AGENT, other_agent.email), (Act.SET_QUEUE, "nowhere"),
                                (Act.ASSIGN_BY_STRATEGY, ""), (Act.SET_PRIORITY, "urgent")])  # fmt: skip
    [line] = rules_run(ticket, event="create")
    assert "assign_agent failed" in line and "queue “nowhere” not found" in line
    assert "no agent available" in line and line.endswith("priority → urgent")
    ticket.refresh_from_db()
    assert ticket.assignee is None and ticket.priority == "urgent"


def test_conditions_see_the_ticket_as_it_arrived(ticket):
    make_rule("raise", position=1, actions=[(Act.SET_PRIORITY, "urgent")])
    make_rule("urgent ones", position=2, conditions=[(Field.PRIORITY, Op.IS, "urgent")], actions=[(Act.ADD_TAGS, "x")])
    assert rules_run(ticket, event="create") == ["raise: priority → urgent"]


def test_no_rules_no_events(ticket):
    assert rules_run(ticket, event="create") == []
    assert not TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.RULE).exists()


def test_queries_do_not_grow_with_the_number_of_rules(ticket, django_assert_max_num_queries):
    def add_rules(count):
        for i in range(count):
            make_rule(f"r{i}", position=10 + i, conditions=[
                (Field.SUBJECT, Op.REGEX, rf"\bcase {i}\b"), (Field.CUSTOMER_DOMAIN, Op.IS, "other.example"),
                (Field.BODY, Op.MATCHES_WORD, f"word{i}"), (Field.QUEUE, Op.IS_NOT, "general"),
            ], actions=[(Act.SET_PRIORITY, "high"), (Act.ADD_TAGS, "x")])  # fmt: skip

    make_rule("matches", position=1, conditions=[(Field.CHANNEL, Op.IS, "portal")], actions=[(Act.ADD_TAGS, "seen")])
    add_rules(1)
    with CaptureQueriesContext(connection) as few:
        rules_run(ticket, event="create")
    add_rules(99)  # 101 rules
    TicketEvent.objects.filter(kind=TicketEvent.Kind.RULE).delete()
    with django_assert_max_num_queries(len(few.captured_queries)):
        lines = rules_run(ticket, event="create")
    assert lines == ["matches: tags + seen"]


# --- admin -----------------------------------------------------------------------------------------


def rule_form(**overrides):
    data = {
        "name": "Refunds", "position": "1", "active": "on", "match_all": "on", "on_create": "on",
        "conditions-TOTAL_FORMS": "1", "conditions-INITIAL_FORMS": "0",
        "conditions-0-field": "subject", "conditions-0-operator": "regex", "conditions-0-value": "refund(s",
        "actions-TOTAL_FORMS": "1", "actions-INITIAL_FORMS": "0",
        "actions-0-action": "set_priority", "actions-0-value": "high", "actions-0-position": "0",
    }  # fmt: skip
    return {**data, **overrides}


def test_a_bad_regex_is_a_form_error(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:tickets_rule_add"), rule_form())
    assert response.status_code == 200
    assert "This is not a valid regular expression" in response.content.decode()
    assert not Rule.objects.exists()
    response = client.post(reverse("admin:tickets_rule_add"), rule_form(**{"conditions-0-value": r"refunds?\b"}))
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert [str(c.value) for c in rule.conditions.all()] == [r"refunds?\b"]
    assert [(a.action, a.value) for a in rule.actions.all()] == [("set_priority", "high")]


def test_the_admin_checks_values(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:tickets_rule_add"), rule_form(**{
        "conditions-0-field": "business_hours", "conditions-0-operator": "contains", "conditions-0-value": "maybe",
        "actions-0-value": "whenever",
    }))  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 200 and not Rule.objects.exists()
    assert "can only be compared with" in page and "One of: low, normal, high, urgent." in page


def test_the_list_is_ordered_and_links_the_dry_run(client, admin_user):
    make_rule("second", position=2)
    make_rule("first", position=1)
    client.force_login(admin_user)
    page = client.get(reverse("admin:tickets_rule_changelist")).content.decode()
    assert page.index(">first<") < page.index(">second<")
    assert reverse("admin:tickets_rule_dry_run") in page and 'name="form-0-position"' in page


def test_the_dry_run_shows_matches_and_changes_nothing(client, admin_user, ticket):
    make_rule("Orders", position=1, conditions=[(Field.SUBJECT, Op.MATCHES_WORD, "order")],
              actions=[(Act.SET_PRIORITY, "urgent"), (Act.ADD_NOTE, "Look at it")])  # fmt: skip
    make_rule("Email only", position=2, conditions=[(Field.CHANNEL, Op.IS, "email")])
    client.force_login(admin_user)
    events_before = TicketEvent.objects.count()
    response = client.get(reverse("admin:tickets_rule_dry_run"), {"ticket": ticket.pk, "event": "create"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Orders" in page and "Set priority: urgent" in page and "Add an internal note: Look at it" in page
    assert "Email only" not in page
    ticket.refresh_from_db()
    assert ticket.priority == "normal" and ticket.messages.count() == 1
    assert TicketEvent.objects.count() == events_before


def test_the_dry_run_of_an_unknown_ticket(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("admin:tickets_rule_dry_run"), {"ticket": 999999}).content.decode()
    assert "There is no ticket with this number." in page


@pytest.mark.parametrize("who", ["anonymous", "agent", "other_agent"])
def test_only_admins_use_rules_and_the_dry_run(client, request, ticket, who):
    """Customers have no user account (the portal signs them in by link): agents are the users to keep out."""
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    for url in (reverse("admin:tickets_rule_changelist"), reverse("admin:tickets_rule_dry_run")):
        response = client.get(url, {"ticket": ticket.pk})
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_rule_parts_read_as_sentences():
    assert str(RuleAction(action=Act.STOP)) == "Stop processing further rules"
    assert str(RuleCondition(field=Field.SUBJECT, operator=Op.CONTAINS, value="x")) == "Subject contains “x”"
