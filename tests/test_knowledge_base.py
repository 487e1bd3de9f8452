"""The help center: what customers can read, search, vote; old links keep working."""

import re

from knowledge_base.models import Article, ArticleVote
from knowledge_base.selectors import article_search
from knowledge_base.services import article_save


def test_only_published_public_articles_are_on_the_portal(client, make_article):
    shown = make_article("Tracking your parcel", body="Use the **tracking code** from your email.")
    draft = make_article("Draft about refunds", state=Article.State.DRAFT)
    internal = make_article("Courier contacts", visibility=Article.Visibility.INTERNAL)
    archived = make_article("Old shipping rates", state=Article.State.ARCHIVED)

    home = client.get("/help/").content.decode()
    assert "Orders and delivery" in home and "1 article" in home and shown.title in home
    page = client.get("/help/articles/tracking-your-parcel/")
    assert page.status_code == 200 and "<strong>tracking code</strong>" in page.content.decode()
    for hidden in (draft, internal, archived):
        assert client.get(hidden.get_absolute_url()).status_code == 404
        assert hidden.title not in client.get("/help/categories/orders/").content.decode()
    Article.objects.filter(pk=shown.pk).update(view_count=0)
    client.get(shown.get_absolute_url())
    assert Article.objects.get(pk=shown.pk).view_count == 1


def test_markdown_is_sanitized(client, make_article):
    article = make_article("Danger", body="Hi <script>alert(1)</script> [x](javascript:alert(1))")
    assert "<script" not in article.body_html and 'href="javascript' not in article.body_html


def test_a_renamed_article_keeps_its_old_links(client, make_article):
    article = make_article("Returns", slug="returns")
    article.slug = "returning-an-item"
    article_save(article=article)
    response = client.get("/help/articles/returns/")
    assert response.status_code == 301 and response["Location"] == "/help/articles/returning-an-item/"
    article.slug = "returns"  # back to the first name: no redirect loop
    article_save(article=article)
    assert client.get("/help/articles/returns/").status_code == 200
    assert client.get("/help/articles/returning-an-item/")["Location"] == "/help/articles/returns/"


def test_search_ranks_stems_ignores_accents_and_forgives_typos(make_article):
    make_article("Refund policy", body="You get your money back within 14 days.", excerpt="Refunds explained")
    make_article("Café opening hours", body="We open at eight; refunds are handled in the shop.")
    make_article("Delivery times", body="Parcels arrive in two days.")

    assert [a.title for a in article_search(query="refunds")] == ["Refund policy", "Café opening hours"]
    assert [a.title for a in article_search(query="cafe")] == ["Café opening hours"]
    assert [a.title for a in article_search(query="delivry times")] == ["Delivery times"]  # typo: by title
    assert article_search(query="") == [] and article_search(query="zeppelin") == []


def test_snippets_mark_the_words_and_escape_the_rest(make_article):
    make_article("Broken kettle", body="If the kettle leaks & drips, send a photo of the <b>kettle</b>.")
    snippet = article_search(query="kettle")[0].snippet
    assert "<mark>kettle</mark>" in snippet and "leaks &amp; drips" in snippet and "<b>" not in snippet


def test_search_page(client, make_article):
    make_article("Refund policy", body="Money back within 14 days.")
    html = client.get("/help/search/", {"q": "refund"}).content.decode()
    assert "1 answer for “refund”" in html and "Refund policy" in html
    empty = client.get("/help/search/", {"q": "zeppelin"}).content.decode()
    assert "Nothing found" in empty and 'href="/help/requests/new/"' in empty


def test_votes_with_a_comment_once_per_reader(client, make_article):
    article = make_article("Refund policy")
    response = client.post(f"/help/articles/{article.slug}/vote/", {"helpful": "no", "comment": "Which address?"})
    assert (
        response.status_code == 302
        and "Thank you for your feedback" in client.get(response["Location"]).content.decode()
    )
    client.post(f"/help/articles/{article.slug}/vote/", {"helpful": "no"})  # again: not counted twice
    article.refresh_from_db()
    assert (article.helpful_yes, article.helpful_no) == (0, 1)
    assert ArticleVote.objects.get().comment == "Which address?"
    assert client.post(f"/help/articles/{article.slug}/vote/", {"helpful": "maybe"}).status_code == 302
    assert ArticleVote.objects.count() == 1


def test_faq_puts_pinned_then_most_read_first(client, make_article):
    make_article("Popular", view_count=50)
    make_article("Pinned", pinned=True)
    make_article("Quiet")
    html = client.get("/help/").content.decode()
    assert html.index("Pinned") < html.index("Popular") < html.index("Quiet")


def test_agents_edit_articles_in_the_admin(admin_client, section):
    response = admin_client.post("/admin/knowledge_base/article/add/", {
        "section": section.pk, "title": "Gift cards", "slug": "gift-cards", "body": "Gift cards **never** expire.",
        "excerpt": "", "tags": "Gifts,Cards", "state": "published", "visibility": "public",
        "reviewed_at": "2026-11-23", "votes-TOTAL_FORMS": "0", "votes-INITIAL_FORMS": "0",
        "files-TOTAL_FORMS": "0", "files-INITIAL_FORMS": "0",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get()
    assert article.body_html == "<p>Gift cards <strong>never</strong> expire.</p>\n" and article.tags == [
        "cards",
        "gifts",
    ]
    assert [a.title for a in article_search(query="gift")] == ["Gift cards"]


def test_the_search_benchmark_reports_every_query(db, settings):
    import io

    from django.core.management import call_command

    from knowledge_base.management.commands.bench_kb import QUERIES

    settings.DEBUG = True
    out = io.StringIO()
    call_command("bench_kb", articles=40, runs=2, stdout=out)
    rows = [line for line in out.getvalue().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == QUERIES
    assert "40 published public articles" in out.getvalue()
    assert all(re.fullmatch(r"\| `[^`]+` \| \d+ \|( [\d.]+ \|){4}", row) for row in rows)


# --- on the agents' ticket page ----------------------------------------------------------------


def test_agents_get_suggested_articles_and_insert_a_link_or_the_text(client, agent, make_ticket, make_article):
    make_article("Where is my parcel?", body="Use the **tracking** link.", slug="where-is-my-parcel")
    make_article("Courier phone numbers", body="DPD: 0123", visibility=Article.Visibility.INTERNAL)
    make_article("Opening hours", body="Monday to Friday.")
    ticket = make_ticket(subject="Parcel not arrived", body="My parcel has not arrived; which courier do you use?")
    client.force_login(agent)

    html = client.get(f"/tickets/{ticket.pk}/articles/").content.decode()
    assert "Where is my parcel?" in html and "Courier phone numbers" in html and "Opening hours" not in html
    assert html.count("Insert link") == 1  # internal articles are never linked for the customer

    parcel = Article.objects.get(slug="where-is-my-parcel")
    page = client.get(f"/tickets/{ticket.pk}/", {"article": parcel.pk, "insert": "link"}).content.decode()
    assert "[Where is my parcel?](http://127.0.0.1:8000/help/articles/where-is-my-parcel/)</textarea>" in page
    page = client.get(f"/tickets/{ticket.pk}/", {"article": parcel.pk, "insert": "text"}).content.decode()
    assert "Use the **tracking** link.</textarea>" in page
    draft = make_article("Draft", body="secret draft", state=Article.State.DRAFT)
    assert "secret draft" not in client.get(f"/tickets/{ticket.pk}/", {"article": draft.pk}).content.decode()


def test_suggestions_follow_ticket_permissions(client, other_agent, make_ticket, make_article):
    ticket = make_ticket(subject="Parcel not arrived")
    client.force_login(other_agent)  # another team's agent
    assert client.get(f"/tickets/{ticket.pk}/articles/").status_code == 404


# --- deflection on the request form ------------------------------------------------------------


def test_the_request_form_suggests_articles_and_counts_deflections(client, queue, make_article, admin_client):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from knowledge_base.selectors import deflections
    from knowledge_base.services import DEFLECTION_WINDOW

    article = make_article("Returning an item", body="Unopened items within 30 days.", slug="returning-an-item")
    make_article("Opening hours", body="Monday to Friday.")
    html = client.get("/help/suggest/", {"subject": "how do I return my mug"}).content.decode()
    assert 'href="/help/articles/returning-an-item/?from=request"' in html and "Opening hours" not in html
    assert client.get("/help/suggest/", {"subject": "zz"}).content.decode().strip() == ""

    client.get("/help/articles/returning-an-item/?from=request")  # opened from the suggestions, then left
    other = type(client)()
    other.get("/help/articles/returning-an-item/?from=request")  # opened, then asked anyway
    other.post("/help/requests/new/", {"email": "bob@example.com", "subject": "Return my mug", "body": "How?"})
    client.get("/help/articles/returning-an-item/")  # not from the form: not a candidate

    assert deflections() == 0  # the window is still open
    with time_machine.travel(timezone.now() + DEFLECTION_WINDOW + timedelta(minutes=1)):
        assert deflections() == 1
        page = admin_client.get("/admin/knowledge_base/article/").content.decode()
        assert "Deflections so far: 1 visitor" in page
    assert article.deflections.count() == 2 and article.deflections.filter(asked_anyway=True).count() == 1


def test_the_request_form_asks_for_suggestions_while_typing(client, queue):
    html = client.get("/help/requests/new/").content.decode()
    assert 'hx-get="/help/suggest/"' in html and 'id="kb-suggestions"' in html


# --- images and files of articles ---------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_an_article_shows_an_image_uploaded_in_the_admin(admin_client, client, agent, make_article):
    from django.core.files.uploadedfile import SimpleUploadedFile

    article = make_article("Descaling the kettle", body="Before.")
    change = f"/admin/knowledge_base/article/{article.pk}/change/"
    data = {"section": article.section_id, "title": article.title, "slug": article.slug, "body": article.body,
            "excerpt": "", "tags": "", "state": "published", "visibility": "public", "reviewed_at": "2026-11-23",
            "votes-TOTAL_FORMS": "0", "votes-INITIAL_FORMS": "0", "files-TOTAL_FORMS": "1",
            "files-INITIAL_FORMS": "0", "files-0-file": SimpleUploadedFile("steps.png", PNG, "image/png")}  # fmt: skip
    assert admin_client.post(change, data).status_code == 302
    item = article.files.get()
    assert item.markdown == f"![steps.png](/help/files/{item.pk}/steps.png)"
    assert item.markdown in admin_client.get(change).content.decode()

    article.body = f"Like this:\n\n{item.markdown}"
    article_save(article=article)
    assert (
        f'<img src="/help/files/{item.pk}/steps.png" alt="steps.png"'
        in client.get(article.get_absolute_url()).content.decode()
    )
    image = client.get(item.get_absolute_url())
    assert image["Content-Type"] == "image/png" and "attachment" not in image.get("Content-Disposition", "")

    Article.objects.filter(pk=article.pk).update(visibility=Article.Visibility.INTERNAL)
    assert client.get(item.get_absolute_url()).status_code == 404  # internal: agents only
    client.force_login(agent)
    assert client.get(item.get_absolute_url()).status_code == 200


def test_dangerous_files_are_refused_in_the_admin(admin_client, make_article):
    from django.core.files.uploadedfile import SimpleUploadedFile

    article = make_article("Setup", body="x")
    data = {"section": article.section_id, "title": article.title, "slug": article.slug, "body": "x",
            "excerpt": "", "tags": "", "state": "published", "visibility": "public", "reviewed_at": "2026-11-23",
            "votes-TOTAL_FORMS": "0", "votes-INITIAL_FORMS": "0", "files-TOTAL_FORMS": "1",
            "files-INITIAL_FORMS": "0", "files-0-file": SimpleUploadedFile("setup.exe", b"MZ", "application/octet-stream")}  # fmt: skip
    response = admin_client.post(f"/admin/knowledge_base/article/{article.pk}/change/", data)
    assert response.status_code == 200 and "setup.exe" in response.content.decode() and not article.files.exists()
