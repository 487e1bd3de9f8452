"""The knowledge base for agents: the Articles page, one article with its feedback, and finding an article
to insert from the ticket page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from knowledge_base.models import Article, ArticleVote, Deflection

ROLES = ["anonymous", "other_agent", "agent", "admin_user", "owner"]


@pytest.fixture
def articles(make_article):
    return {
        "public": make_article("Tracking your parcel", body="Use the **tracking code** from your email."),
        "internal": make_article(
            "Courier phone numbers", body="DPD parcel desk: 0123", visibility=Article.Visibility.INTERNAL
        ),
        "draft": make_article("Refunds for parcels", body="Not ready yet.", state=Article.State.DRAFT),
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ["list", "detail"])
def test_every_agent_reads_every_article_and_nobody_else(as_role, articles, role, route):
    """The knowledge base is the whole desk's: any agent of any team, internal articles included."""
    url = reverse("articles:list") if route == "list" else reverse("articles:detail", args=[articles["internal"].pk])
    response = as_role(role).get(url)
    if role == "anonymous":
        assert response.status_code == 302 and response["Location"] == f"{reverse('login')}?next={url}"
        return
    assert response.status_code == 200
    assert "Courier phone numbers" in response.content.decode()


@pytest.mark.parametrize("route", ["list", "detail"])
def test_articles_pages_refuse_post(client, agent, articles, route):
    client.force_login(agent)
    url = reverse("articles:list") if route == "list" else reverse("articles:detail", args=[articles["public"].pk])
    assert client.post(url).status_code == 405


def test_the_list_shows_published_articles_and_filters_by_state_and_readers(client, agent, articles):
    client.force_login(agent)
    html = client.get(reverse("articles:list")).content.decode()
    assert "Tracking your parcel" in html and "Courier phone numbers" in html and "Refunds for parcels" not in html
    assert html.count(">Internal</span>") == 1

    drafts = client.get(reverse("articles:list"), {"state": "draft"}).content.decode()
    assert "Refunds for parcels" in drafts and "Tracking your parcel" not in drafts
    internal = client.get(reverse("articles:list"), {"visibility": "internal"}).content.decode()
    assert "Courier phone numbers" in internal and "Tracking your parcel" not in internal
    odd = client.get(reverse("articles:list"), {"state": "nonsense", "visibility": "<x>"})
    assert odd.status_code == 200 and "Tracking your parcel" in odd.content.decode()  # unknown filters: defaults


def test_search_finds_internal_articles_with_highlighted_snippets(client, agent, articles):
    client.force_login(agent)
    html = client.get(reverse("articles:list"), {"q": "parcel desk"}).content.decode()
    assert "Courier phone numbers" in html and "<mark>parcel</mark>" in html
    assert html.index("Courier phone numbers") < html.index("Tracking your parcel")  # full match first, then titles
    empty = client.get(reverse("articles:list"), {"q": "zebra"}).content.decode()
    assert "No article matches “zebra”" in empty


def test_htmx_search_gets_only_the_results(client, agent, articles):
    client.force_login(agent)
    response = client.get(reverse("articles:list"), {"q": "tracking"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "Tracking your parcel" in html and "<html" not in html and 'id="article-search"' not in html
    assert "HX-Request" in response["Vary"]


def test_the_list_takes_the_same_queries_for_3_or_30_articles(client, agent, make_article):
    client.force_login(agent)
    for n in range(3):
        make_article(f"Article {n}")
    client.get(reverse("articles:list"))  # session, caches
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("articles:list"))
    for n in range(3, 30):
        make_article(f"Article {n}")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("articles:list"))
    assert len(few) == len(many) == 3, [q["sql"] for q in many]


def test_an_article_shows_its_counters_and_readers_comments(client, agent, admin_user, articles):
    public = articles["public"]
    ArticleVote.objects.create(article=public, helpful=False, comment="The code was not in my email")
    ArticleVote.objects.create(article=public, helpful=True, comment="")
    Article.objects.filter(pk=public.pk).update(view_count=41, helpful_yes=3, helpful_no=1)
    Deflection.objects.create(article=public, visitor="v1", opened_at="2020-01-01T10:00Z")
    client.force_login(agent)

    html = client.get(reverse("articles:detail", args=[public.pk])).content.decode()
    assert "<strong>tracking code</strong>" in html
    assert ">41<" in html and "3 yes · 1 no" in html
    assert "Not helpful: The code was not in my email" in html and html.count("Helpful:") == 0
    assert 'href="/help/articles/tracking-your-parcel/"' in html  # on the help center
    assert "/admin/" not in html.split('id="feedback-title"')[0].split("About this article")[1]  # no Edit for agents
    internal = client.get(reverse("articles:detail", args=[articles["internal"].pk])).content.decode()
    assert "Not on the help center" in internal

    client.force_login(admin_user)
    html = client.get(reverse("articles:detail", args=[public.pk])).content.decode()
    assert reverse("admin:knowledge_base_article_change", args=[public.pk]) in html


def test_an_unknown_article_is_the_designed_404(client, agent):
    client.force_login(agent)
    response = client.get(reverse("articles:detail", args=[999_999]))
    assert response.status_code == 404 and "We can’t find that page" in response.content.decode()


def test_agents_find_any_published_article_to_insert_from_the_ticket_page(client, agent, make_ticket, articles):
    ticket = make_ticket(subject="Hello", body="Nothing about couriers here.")
    client.force_login(agent)
    url = reverse("tickets:suggested_articles", args=[ticket.pk])

    html = client.get(url, {"q": "courier"}).content.decode()
    assert "Courier phone numbers" in html and f"?article={articles['internal'].pk}&amp;insert=text" in html
    assert "Insert link" not in html  # internal: its text only
    assert "Refunds" not in client.get(url, {"q": "refunds"}).content.decode()  # drafts are not for replies
    assert "No article matches “zebra”." in client.get(url, {"q": "zebra"}).content.decode()
    page = client.get(reverse("tickets:detail", args=[ticket.pk])).content.decode()
    assert 'id="article-find"' in page
