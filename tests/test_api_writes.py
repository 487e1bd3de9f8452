"""Writing canned responses and the knowledge base through the API, with the same services and the same rules
as the screens: canned responses by any agent (their own; shared ones by owners and admins, as on the Canned
responses page), articles and categories by owners and admins (as in the admin). Who gets what for every role
and route is also in tests/test_api_routes_authz.py."""

import pytest
from django.urls import reverse

from knowledge_base.models import Article, ArticleSlug, Category
from tickets.models import CannedResponse

ROLES = ["anonymous", "read_token", "other_agent", "agent", "admin_user"]


def _client(api_as, role):
    return api_as("agent", scope="read") if role == "read_token" else api_as(role)


def _error(response, status, code="invalid"):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code
    return body["error"]


# --- canned responses ------------------------------------------------------------------------------


def test_an_agent_adds_their_own_canned_response(api_as, agent):
    response = api_as("agent").post(reverse("api:canned-response-list"), {"title": "  Thanks ", "body": "Thank you!"},
                                    format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    row = CannedResponse.objects.get()
    assert response.json() == {"id": row.pk, "title": "Thanks", "body": "Thank you!", "shared": False}
    assert response["Location"].endswith(reverse("api:canned-response-detail", args=[row.pk]))
    assert row.owner == agent


def test_only_admins_share_a_canned_response(api_as, admin_user):
    url = reverse("api:canned-response-list")
    data = {"title": "Hi", "body": "Hello.", "shared": True}
    error = _error(api_as("agent").post(url, data, format="json"), 400)
    assert "owners and admins" in error["message"]
    assert not CannedResponse.objects.exists()
    response = api_as("admin_user").post(url, data, format="json")
    assert response.status_code == 201 and response.json()["shared"] is True
    assert CannedResponse.objects.get().owner is None


@pytest.mark.parametrize(("data", "field"), [({"body": "x"}, "title"), ({"title": "T", "body": "  "}, "body"),
                                             ({"title": "T" * 101, "body": "x"}, "title"),
                                             ({"title": "T", "body": "x", "shared": "maybe"}, "shared")])  # fmt: skip
def test_a_canned_response_that_is_not_valid_is_a_400(api_as, agent, data, field):
    error = _error(api_as("agent").post(reverse("api:canned-response-list"), data, format="json"), 400)
    assert field in error["fields"]
    assert not CannedResponse.objects.exists()


def test_adding_a_canned_response_is_idempotent(api_as, agent):
    client = api_as("agent")
    url, data = reverse("api:canned-response-list"), {"title": "Thanks", "body": "Thank you!"}
    first = client.post(url, data, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(url, data, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert CannedResponse.objects.count() == 1
    assert client.post(url, {**data, "title": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1").status_code == 422


@pytest.mark.parametrize("role", ROLES)
def test_who_changes_and_deletes_an_agents_own_canned_response(api_as, agent, other_agent, admin_user, role):
    mine = CannedResponse.objects.create(title="Mine", body="My own.", owner=agent)
    url = reverse("api:canned-response-detail", args=[mine.pk])
    client = _client(api_as, role)
    expected = {"anonymous": 401, "read_token": 403, "other_agent": 404, "agent": 200, "admin_user": 404}[role]
    response = client.patch(url, {"body": "Changed."}, format="json")
    assert response.status_code == expected, response.content
    mine.refresh_from_db()
    assert mine.body == ("Changed." if expected == 200 else "My own.")
    response = client.delete(url)
    assert response.status_code == (204 if expected == 200 else expected)
    assert CannedResponse.objects.filter(pk=mine.pk).exists() is (expected != 200)


@pytest.mark.parametrize("role", ROLES)
def test_who_changes_and_deletes_a_shared_canned_response(api_as, agent, other_agent, admin_user, role):
    shared = CannedResponse.objects.create(title="Shared", body="For all.")
    url = reverse("api:canned-response-detail", args=[shared.pk])
    client = _client(api_as, role)
    expected = {"anonymous": 401, "read_token": 403, "other_agent": 403, "agent": 403, "admin_user": 200}[role]
    response = client.patch(url, {"title": "Shared by all"}, format="json")
    assert response.status_code == expected, response.content
    shared.refresh_from_db()
    assert shared.title == ("Shared by all" if expected == 200 else "Shared")
    assert client.delete(url).status_code == (204 if expected == 200 else expected)
    assert CannedResponse.objects.filter(pk=shared.pk).exists() is (expected != 200)


@pytest.mark.parametrize("role", ROLES)
def test_who_adds_a_canned_response(api_as, agent, other_agent, admin_user, role):
    response = _client(api_as, role).post(reverse("api:canned-response-list"), {"title": "T", "body": "b"},
                                          format="json")  # fmt: skip
    expected = {"anonymous": 401, "read_token": 403}.get(role, 201)
    assert response.status_code == expected, response.content
    assert CannedResponse.objects.count() == (1 if expected == 201 else 0)


def test_sharing_and_unsharing_a_canned_response(api_as, agent, admin_user):
    mine = CannedResponse.objects.create(title="Mine", body="My own.", owner=agent)
    url = reverse("api:canned-response-detail", args=[mine.pk])
    _error(api_as("agent").patch(url, {"shared": True}, format="json"), 400)
    _error(api_as("agent").patch(url, {"title": " "}, format="json"), 400)
    mine.refresh_from_db()
    assert (mine.owner, mine.title) == (agent, "Mine")
    shared = CannedResponse.objects.create(title="Shared", body="For all.")
    url = reverse("api:canned-response-detail", args=[shared.pk])
    assert api_as("admin_user").patch(url, {"shared": False}, format="json").json()["shared"] is False
    shared.refresh_from_db()
    assert shared.owner == admin_user  # unshared: the admin's own now
    assert api_as("agent").get(url).status_code == 404


# --- articles -------------------------------------------------------------------------------------


def _article_data(section_, **fields):
    return {"section": section_.pk, "title": "Where is my order?", "body": "See **tracking**.", **fields}


def test_an_admin_writes_an_article(api_as, admin_user, section):
    response = api_as("admin_user").post(reverse("api:article-list"), _article_data(section, tags=["Orders", "x"]),
                                         format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    article = Article.objects.get()
    row = response.json()
    assert (row["id"], row["slug"], row["state"], row["visibility"], row["body"], row["tags"]) == (
        article.pk, "where-is-my-order", "draft", "public", "See **tracking**.", ["orders", "x"])  # fmt: skip
    assert response["Location"].endswith(reverse("api:article-detail", args=[article.pk]))
    assert response["ETag"]
    assert article.author == admin_user and "<strong>tracking</strong>" in article.body_html
    assert article.published_at is None and article.search_vector is not None


@pytest.mark.parametrize("role", [*ROLES, "owner"])
def test_who_writes_an_article(api_as, agent, other_agent, admin_user, owner, section, role):
    response = _client(api_as, role).post(reverse("api:article-list"), _article_data(section), format="json")
    expected = {"anonymous": 401, "read_token": 403, "other_agent": 403, "agent": 403}.get(role, 201)
    assert response.status_code == expected, response.content
    assert Article.objects.count() == (1 if expected == 201 else 0)


@pytest.mark.parametrize(("fields", "field"), [
    ({"section": 999_999}, "section"), ({"state": "gone"}, "state"), ({"title": "?!"}, "slug"),
    ({"slug": "not a slug"}, "slug"), ({"body": ""}, "body"), ({"title": ""}, "title"),
    ({"tags": ["x" * 51]}, "tags.0"), ({"excerpt": "x" * 301}, "excerpt"), ({"section": "one"}, "section"),
])  # fmt: skip
def test_an_article_that_is_not_valid_is_a_400(api_as, admin_user, section, fields, field):
    response = api_as("admin_user").post(reverse("api:article-list"), _article_data(section, **fields), format="json")
    assert field in _error(response, 400)["fields"]
    assert not Article.objects.exists()


def test_a_taken_slug_is_a_400(api_as, admin_user, section, make_article):
    make_article("Where is my order?")
    response = api_as("admin_user").post(reverse("api:article-list"), _article_data(section), format="json")
    assert "slug" in _error(response, 400)["fields"]
    assert Article.objects.count() == 1


def test_writing_an_article_is_idempotent(api_as, admin_user, section):
    client, url = api_as("admin_user"), reverse("api:article-list")
    first = client.post(url, _article_data(section), format="json", HTTP_IDEMPOTENCY_KEY="a-1")
    again = client.post(url, _article_data(section), format="json", HTTP_IDEMPOTENCY_KEY="a-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again["ETag"] == first["ETag"]
    assert Article.objects.count() == 1


def test_an_admin_publishes_renames_and_archives_an_article(api_as, admin_user, make_article):
    article = make_article("Refunds", state=Article.State.DRAFT)
    client, url = api_as("admin_user"), reverse("api:article-detail", args=[article.pk])
    etag = client.get(url)["ETag"]
    response = client.patch(url, {"state": "published", "slug": "refund-rules"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["slug"]) == ("published", "refund-rules")
    article.refresh_from_db()
    assert article.published_at is not None
    assert ArticleSlug.objects.get(slug="refunds").article == article  # the old links redirect
    _error(client.patch(url, {"state": "archived"}, format="json", HTTP_IF_MATCH=etag), 412, "precondition_failed")
    response = client.patch(url, {"state": "archived"}, format="json", HTTP_IF_MATCH=response["ETag"])
    assert response.json()["state"] == "archived"


def test_changing_an_article_validates_like_writing_one(api_as, admin_user, make_article):
    make_article("Taken")
    article = make_article("Refunds")
    url = reverse("api:article-detail", args=[article.pk])
    assert "slug" in _error(api_as("admin_user").patch(url, {"slug": "taken"}, format="json"), 400)["fields"]
    assert "visibility" in _error(api_as("admin_user").patch(url, {"visibility": "x"}, format="json"), 400)["fields"]
    article.refresh_from_db()
    assert article.slug == "refunds"
    missing = reverse("api:article-detail", args=[999_999])
    _error(api_as("admin_user").patch(missing, {"pinned": True}, format="json"), 404, "not_found")


@pytest.mark.parametrize("role", ROLES)
def test_who_changes_and_deletes_an_article(api_as, agent, other_agent, admin_user, make_article, role):
    article = make_article("Refunds")
    url = reverse("api:article-detail", args=[article.pk])
    client = _client(api_as, role)
    expected = {"anonymous": 401, "read_token": 403, "other_agent": 403, "agent": 403}.get(role, 200)
    assert client.patch(url, {"pinned": True}, format="json").status_code == expected
    article.refresh_from_db()
    assert article.pinned is (expected == 200)
    assert client.delete(url).status_code == (204 if expected == 200 else expected)
    assert Article.objects.filter(pk=article.pk).exists() is (expected != 200)


# --- categories -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_who_adds_and_changes_a_category(api_as, agent, other_agent, admin_user, role):
    client = _client(api_as, role)
    response = client.post(reverse("api:article-category-list"), {"name": "Billing", "slug": "billing"},
                           format="json")  # fmt: skip
    expected = {"anonymous": 401, "read_token": 403, "other_agent": 403, "agent": 403}.get(role, 201)
    assert response.status_code == expected, response.content
    assert Category.objects.filter(slug="billing").exists() is (expected == 201)
    category = Category.objects.create(name="Orders", slug="orders")
    response = client.patch(reverse("api:article-category-detail", args=[category.pk]), {"position": 3},
                            format="json")  # fmt: skip
    assert response.status_code == (200 if expected == 201 else expected)
    category.refresh_from_db()
    assert category.position == (3 if expected == 201 else 0)


def test_an_admin_adds_and_changes_a_category(api_as, admin_user):
    client = api_as("admin_user")
    response = client.post(reverse("api:article-category-list"), {"name": " Billing ", "slug": "billing",
                           "description": "Invoices."}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")  # fmt: skip
    assert response.status_code == 201, response.content
    category = Category.objects.get()
    assert response.json() == {"id": category.pk, "name": "Billing", "slug": "billing", "description": "Invoices.",
                               "position": 0, "sections": []}  # fmt: skip
    url = reverse("api:article-category-detail", args=[category.pk])
    assert response["Location"].endswith(url)
    assert "slug" in _error(client.post(reverse("api:article-category-list"), {"name": "B", "slug": "billing"},
                                        format="json"), 400)["fields"]  # fmt: skip
    assert "position" in _error(client.patch(url, {"position": -1}, format="json"), 400)["fields"]
    _error(client.patch(url, {"name": "Bills"}, format="json", HTTP_IF_MATCH='"0-0"'), 412, "precondition_failed")
    response = client.patch(url, {"name": "Bills"}, format="json", HTTP_IF_MATCH=client.get(url)["ETag"])
    assert response.status_code == 200 and response.json()["name"] == "Bills"
