"""Resources: queues, agents, teams, canned responses, SLA policies, the knowledge base and survey
answers, with the agent screens' permissions and fixed query counts."""

import pytest
from django.urls import reverse
from django.utils import timezone

from knowledge_base.models import Article, Category, Section
from tickets.models import CannedResponse
from tickets.sla.models import SLAPolicy
from tickets.surveys.models import Survey

from .factories import QueueFactory, TeamFactory, UserFactory


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


@pytest.mark.parametrize("name", ["api:queue-list", "api:agent-list", "api:team-list", "api:sla-policy-list",
                                  "api:survey-answer-list"])  # fmt: skip
def test_resources_refuse_anonymous_clients_and_writes(api_as, db, name):
    # Canned responses and the knowledge base are written too: tests/test_api_writes.py.
    assert api_as("anonymous").get(reverse(name)).status_code == 401
    assert api_as("agent").post(reverse(name), {}, format="json").status_code == 405


# --- teams, canned responses, SLA policies, the knowledge base, survey answers ----------------------------


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_an_agent_lists_their_own_teams_an_admin_all(api_as, agent, team, other_team):
    response = api_as("agent").get(reverse("api:team-list"))
    assert response.json()["results"] == [{"id": team.pk, "name": "Support", "assignment": "manual", "lead": None}]
    assert _ids(api_as("other_agent").get(reverse("api:team-list"))) == {other_team.pk}
    assert _ids(api_as("admin_user").get(reverse("api:team-list"))) == {team.pk, other_team.pk}
    assert _ids(api_as("owner").get(reverse("api:team-list"))) == {team.pk, other_team.pk}


def test_canned_responses_are_the_shared_ones_and_ones_own(api_as, agent, other_agent):
    shared = CannedResponse.objects.create(title="Thanks", body="Thank you, {{ customer.first_name }}!")
    mine = CannedResponse.objects.create(title="Mine", body="My own.", owner=agent)
    theirs = CannedResponse.objects.create(title="Theirs", body="Not yours.", owner=other_agent)
    response = api_as("agent").get(reverse("api:canned-response-list"))
    assert response.json()["results"] == [
        {"id": mine.pk, "title": "Mine", "body": "My own.", "shared": False},
        {"id": shared.pk, "title": "Thanks", "body": "Thank you, {{ customer.first_name }}!", "shared": True},
    ]
    assert _ids(api_as("other_agent").get(reverse("api:canned-response-list"))) == {shared.pk, theirs.pk}


def test_every_agent_reads_the_sla_policies(api_as, db):
    urgent = SLAPolicy.objects.create(name="Urgent", position=1, priorities=["urgent"], first_response_minutes=30,
                                      resolution_minutes=240)  # fmt: skip
    default = SLAPolicy.objects.create(name="Default", position=2, first_response_minutes=480, active=False)
    response = api_as("other_agent").get(reverse("api:sla-policy-list"))
    assert response.json()["results"] == [
        {"id": urgent.pk, "name": "Urgent", "position": 1, "active": True, "priorities": ["urgent"],
         "first_response_minutes": 30, "next_response_minutes": None, "resolution_minutes": 240,
         "business_hours": True, "warn_minutes": 15},
        {"id": default.pk, "name": "Default", "position": 2, "active": False, "priorities": [],
         "first_response_minutes": 480, "next_response_minutes": None, "resolution_minutes": None,
         "business_hours": True, "warn_minutes": 15},
    ]  # fmt: skip


def test_articles_are_those_of_the_agents_articles_page(api_as, make_article, section):
    published = make_article("Where is my order?", excerpt="Tracking.", pinned=True)
    internal = make_article("Refund rules", visibility=Article.Visibility.INTERNAL)
    draft = make_article("A draft", state=Article.State.DRAFT)
    response = api_as("other_agent").get(reverse("api:article-list"))
    results = response.json()["results"]
    assert [row["id"] for row in results] == [published.pk, draft.pk, internal.pk]  # pinned first, then title
    assert {k: results[0][k] for k in ("title", "slug", "excerpt", "state", "visibility", "pinned", "section_id",
                                      "section", "category")} == {
        "title": "Where is my order?", "slug": "where-is-my-order", "excerpt": "Tracking.", "state": "published",
        "visibility": "public", "pinned": True, "section_id": section.pk, "section": "Delivery",
        "category": "Orders and delivery"}  # fmt: skip
    url = reverse("api:article-list")
    assert _ids(api_as("agent").get(url, {"state": "draft"})) == {draft.pk}
    assert _ids(api_as("agent").get(url, {"visibility": "internal"})) == {internal.pk}
    assert api_as("agent").get(url, {"state": "gone"}).json()["error"]["code"] == "invalid"


def test_article_categories_have_their_sections(api_as, section):
    response = api_as("agent").get(reverse("api:article-category-list"))
    assert response.json()["results"] == [
        {"id": section.category_id, "name": "Orders and delivery", "slug": "orders",
         "description": "Where is my order?", "position": 0,
         "sections": [{"id": section.pk, "name": "Delivery", "position": 0}]},
    ]  # fmt: skip


def _answer(ticket, kind=Survey.Kind.CSAT, score=5, **fields):
    return Survey.objects.create(ticket=ticket, customer=ticket.customer, kind=kind, score=score,
                                 answered_at=timezone.now(), **fields)  # fmt: skip


def test_survey_answers_of_the_tickets_the_agent_can_see(api_as, make_ticket, other_queue):
    ticket = make_ticket()
    answer = _answer(ticket, comment="Quick and kind.")
    Survey.objects.create(ticket=ticket, customer=ticket.customer, kind=Survey.Kind.NPS)  # sent, not answered
    hidden = _answer(make_ticket(queue=other_queue), kind=Survey.Kind.CES, score=2)
    response = api_as("agent").get(reverse("api:survey-answer-list"))
    row = response.json()["results"]
    assert [r["id"] for r in row] == [answer.pk]
    assert {k: row[0][k] for k in ("ticket", "customer", "kind", "score", "comment")} == {
        "ticket": ticket.pk, "customer": ticket.customer_id, "kind": "csat", "score": 5,
        "comment": "Quick and kind."}  # fmt: skip
    assert _ids(api_as("other_agent").get(reverse("api:survey-answer-list"))) == {hidden.pk}
    assert _ids(api_as("admin_user").get(reverse("api:survey-answer-list"))) == {answer.pk, hidden.pk}


def _make_teams(count, agent, **_fixtures):
    for n in range(count - 1):
        TeamFactory(name=f"Team {n:02}").members.add(agent)


def _make_canned(count, agent, **_fixtures):
    for n in range(count):
        CannedResponse.objects.create(title=f"Response {n:02}", body="Text.", owner=agent if n % 2 else None)


def _make_policies(count, **_fixtures):
    for n in range(count):
        SLAPolicy.objects.create(name=f"Policy {n:02}", position=n, first_response_minutes=60)


def _make_articles(count, make_article, **_fixtures):
    for n in range(count):
        make_article(f"Article {n:02}")


def _make_categories(count, **_fixtures):
    for n in range(count - 1):  # and the category of the ``section`` fixture (through make_article)
        category = Category.objects.create(name=f"Category {n:02}", slug=f"category-{n}")
        Section.objects.create(category=category, name="One")
        Section.objects.create(category=category, name="Two")


def _make_answers(count, make_ticket, **_fixtures):
    for _n in range(count):
        _answer(make_ticket())


@pytest.mark.parametrize(
    ("name", "make", "queries"),
    [
        ("api:team-list", _make_teams, 3),  # session, user, teams
        ("api:canned-response-list", _make_canned, 3),  # session, user, responses
        ("api:sla-policy-list", _make_policies, 3),  # session, user, policies
        ("api:article-list", _make_articles, 3),  # session, user, articles with sections and categories
        ("api:article-category-list", _make_categories, 4),  # session, user, categories, their sections
        ("api:survey-answer-list", _make_answers, 3),  # session, user, answers (visible tickets: a subquery)
    ],
)
@pytest.mark.parametrize("count", [1, 20])
def test_resource_list_queries_do_not_grow(client, agent, make_article, make_ticket, name, make, queries, count,
                                           django_assert_num_queries):  # fmt: skip
    make(count, agent=agent, make_article=make_article, make_ticket=make_ticket)
    client.force_login(agent)
    with django_assert_num_queries(queries):
        assert len(client.get(reverse(name)).json()["results"]) == count


# --- single items ------------------------------------------------------------------------------------


def test_each_resource_has_its_items_with_the_lists_permissions(api_as, agent, other_agent, team, other_team,
                                                                make_article, make_ticket, other_queue):  # fmt: skip
    mine = CannedResponse.objects.create(title="Mine", body="My own.", owner=agent)
    shared = CannedResponse.objects.create(title="Thanks", body="Thank you!")
    policy = SLAPolicy.objects.create(name="Urgent", position=1, priorities=["urgent"], first_response_minutes=30)
    article = make_article("Refund rules", visibility=Article.Visibility.INTERNAL, state=Article.State.DRAFT)
    answer, hidden = _answer(make_ticket()), _answer(make_ticket(queue=other_queue))
    client, other = api_as("agent"), api_as("other_agent")

    def get(client, name, pk):
        return client.get(reverse(f"api:{name}-detail", args=[pk]))

    assert get(client, "team", team.pk).json() == {"id": team.pk, "name": "Support", "assignment": "manual",
                                                   "lead": None}  # fmt: skip
    assert get(client, "team", other_team.pk).status_code == 404
    assert get(client, "canned-response", mine.pk).json() == {"id": mine.pk, "title": "Mine", "body": "My own.",
                                                              "shared": False}  # fmt: skip
    assert get(other, "canned-response", mine.pk).status_code == 404
    assert get(other, "canned-response", shared.pk).json()["shared"] is True
    assert get(other, "sla-policy", policy.pk).json()["priorities"] == ["urgent"]
    row = get(other, "article", article.pk).json()
    assert (row["title"], row["state"], row["visibility"]) == ("Refund rules", "draft", "internal")
    category = get(client, "article-category", article.section.category_id).json()
    assert category["sections"] == [{"id": article.section_id, "name": "Delivery", "position": 0}]
    assert get(client, "survey-answer", answer.pk).json()["score"] == 5
    assert get(client, "survey-answer", hidden.pk).status_code == 404
    assert get(api_as("admin_user"), "survey-answer", hidden.pk).status_code == 200
    for name in ("team", "canned-response", "sla-policy", "article", "article-category", "survey-answer"):
        response = get(client, name, 999_999)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        assert api_as("anonymous").get(reverse(f"api:{name}-detail", args=[1])).status_code == 401


def test_an_article_is_found_whatever_the_lists_filters(api_as, make_article):
    article = make_article("Where is my order?")
    url = reverse("api:article-detail", args=[article.pk])
    assert api_as("agent").get(url, {"state": "draft"}).json()["id"] == article.pk
