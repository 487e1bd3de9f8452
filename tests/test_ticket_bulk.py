"""Bulk actions from the ticket list: one action on the ticked tickets, each checked on its own."""

import pytest
from django.urls import reverse

from tickets import services
from tickets.models import Ticket, TicketEvent

from .factories import UserFactory

BULK_URL = reverse("tickets:bulk")
LIST_URL = reverse("tickets:list")


@pytest.fixture
def three(make_ticket):
    return [make_ticket(subject=f"Ticket {n}") for n in range(3)]


def post(client, tickets, action, **extra):
    return client.post(BULK_URL, {"ticket": [t.pk for t in tickets], "action": action, **extra})


def fresh(tickets):
    return [Ticket.objects.get(pk=t.pk) for t in tickets]


def test_assign_to_me(client, agent, three):
    client.force_login(agent)
    response = post(client, three[:2], "assign:me", next=f"{LIST_URL}?view=all")
    assert response.status_code == 302 and response["Location"] == f"{LIST_URL}?view=all"
    assert [t.assignee_id for t in fresh(three)] == [agent.pk, agent.pk, None]
    assert TicketEvent.objects.filter(field="assignee", actor=agent).count() == 2


def test_assign_to_a_teammate_and_unassign(client, agent, team, three):
    mate = UserFactory(teams=[team])
    client.force_login(agent)
    post(client, three, f"assign:{mate.pk}")
    assert {t.assignee_id for t in fresh(three)} == {mate.pk}
    post(client, three, "assign:none")
    assert {t.assignee_id for t in fresh(three)} == {None}


def test_assign_to_someone_outside_my_teams_is_refused(client, agent, other_agent, three):
    client.force_login(agent)
    response = post(client, three, f"assign:{other_agent.pk}")
    assert response.status_code == 302
    assert {t.assignee_id for t in fresh(three)} == {None}


@pytest.mark.parametrize(("action", "field", "value"), [("status:pending", "status", "pending"),
                                                        ("priority:urgent", "priority", "urgent")])  # fmt: skip
def test_status_and_priority(client, agent, three, action, field, value):
    client.force_login(agent)
    post(client, three, action)
    assert {getattr(t, field) for t in fresh(three)} == {value}


def test_closed_is_not_offered_in_bulk(client, agent, three):
    client.force_login(agent)
    post(client, three, "status:closed")
    assert {t.status for t in fresh(three)} == {"new"}


def test_add_and_remove_a_tag(client, agent, three):
    client.force_login(agent)
    post(client, three, "tag_add", tag="Refund")
    assert [list(t.tags.values_list("name", flat=True)) for t in three] == [["refund"]] * 3
    post(client, three[:1], "tag_remove", tag="refund")
    assert [t.tags.count() for t in three] == [0, 1, 1]


def test_tag_action_needs_a_tag(client, agent, three):
    client.force_login(agent)
    response = post(client, three, "tag_add", tag=" ")
    assert response.status_code == 302
    assert not TicketEvent.objects.filter(field="tags").exists()


def test_merge_into_the_oldest(client, agent, three):
    client.force_login(agent)
    post(client, three, "merge")
    oldest, *others = fresh(three)
    assert oldest.merged_into_id is None and oldest.message_count == 3
    assert [t.merged_into_id for t in others] == [oldest.pk, oldest.pk]


def test_merge_needs_two_tickets(client, agent, three):
    client.force_login(agent)
    response = post(client, three[:1], "merge")
    assert response.status_code == 302
    assert fresh(three)[0].merged_into_id is None


def test_tickets_that_cannot_change_are_reported_and_the_rest_change(client, agent, three):
    services.ticket_set_status(ticket=three[0], status="closed", actor=agent)
    client.force_login(agent)
    response = post(client, three, "priority:high", next=LIST_URL)
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "Updated 2 tickets." in messages
    assert any(m.startswith(three[0].reference) for m in messages)
    assert [t.priority for t in fresh(three)] == ["normal", "high", "high"]


def test_unknown_action_or_no_selection_changes_nothing(client, agent, three):
    client.force_login(agent)
    assert post(client, three, "delete:all").status_code == 302
    assert post(client, [], "assign:me").status_code == 302
    assert {t.assignee_id for t in fresh(three)} == {None}


def test_next_must_stay_on_this_site(client, agent, three):
    client.force_login(agent)
    response = post(client, three, "assign:me", next="https://evil.example/")
    assert response["Location"] == LIST_URL


def test_another_teams_agent_gets_404_and_changes_nothing(client, other_agent, three):
    client.force_login(other_agent)
    assert post(client, three, "assign:me").status_code == 404
    assert {t.assignee_id for t in fresh(three)} == {None}


def test_anonymous_is_sent_to_sign_in(client, three):
    response = post(client, three, "assign:none")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_get_is_not_allowed(client, agent):
    client.force_login(agent)
    assert client.get(BULK_URL).status_code == 405


def test_admin_can_act_on_any_team(client, admin_user, three, other_queue, make_ticket):
    theirs = make_ticket(queue=other_queue)
    client.force_login(admin_user)
    post(client, [*three, theirs], "status:solved")
    assert {t.status for t in fresh([*three, theirs])} == {"solved"}
