"""Read-only resources: queues and agents, with the agent screens' permissions and fixed query counts."""

import pytest
from django.urls import reverse

from .factories import QueueFactory, UserFactory


def test_an_agent_lists_their_teams_queues_only(api_as, queue, other_queue):
    response = api_as("agent").get(reverse("api:queue-list"))
    assert response.status_code == 200
    assert response.json()["results"] == [{"id": queue.pk, "name": "General", "slug": "general", "team": "Support"}]
    assert api_as("agent").get(reverse("api:queue-detail", args=[other_queue.pk])).status_code == 404
    assert {q["id"] for q in api_as("admin_user").get(reverse("api:queue-list")).json()["results"]} == {
        queue.pk, other_queue.pk}  # fmt: skip


def test_agents_are_whom_the_agent_can_assign_to(api_as, agent, other_agent, admin_user, team):
    colleague = UserFactory(full_name="Cleo Colleague", teams=[team])
    response = api_as("agent").get(reverse("api:agent-list"))
    assert {row["id"] for row in response.json()["results"]} == {agent.pk, colleague.pk, admin_user.pk}
    assert api_as("agent").get(reverse("api:agent-detail", args=[other_agent.pk])).status_code == 404
    row = api_as("agent").get(reverse("api:agent-detail", args=[colleague.pk])).json()
    assert row == {"id": colleague.pk, "name": "Cleo Colleague", "email": colleague.email, "role": "agent",
                   "available": True}  # fmt: skip


@pytest.mark.parametrize("count", [1, 20])
def test_queue_list_queries_do_not_grow(client, agent, team, count, django_assert_num_queries):
    for n in range(count):
        QueueFactory(team=team, name=f"Queue {n:02}", slug=f"queue-{n}")
    client.force_login(agent)
    with django_assert_num_queries(3):  # session, user, queues with their teams
        assert len(client.get(reverse("api:queue-list")).json()["results"]) == count


@pytest.mark.parametrize("count", [1, 20])
def test_agent_list_queries_do_not_grow(client, agent, team, count, django_assert_num_queries):
    for _n in range(count - 1):
        UserFactory(teams=[team])
    client.force_login(agent)
    with django_assert_num_queries(3):  # session, user, agents
        assert len(client.get(reverse("api:agent-list")).json()["results"]) == count


@pytest.mark.parametrize("name", ["api:queue-list", "api:agent-list"])
def test_resources_refuse_anonymous_clients_and_writes(api_as, db, name):
    assert api_as("anonymous").get(reverse(name)).status_code == 401
    assert api_as("agent").post(reverse(name), {}, format="json").status_code == 405
