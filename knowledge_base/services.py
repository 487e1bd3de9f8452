"""Every write to the knowledge base."""

import hashlib
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.html import html_to_text, markdown_to_html

from .models import Article, ArticleSlug, ArticleVote, Deflection


@transaction.atomic
def article_save(*, article: Article) -> Article:
    """Save an article (new or changed): render its Markdown (sanitized), remember a replaced slug so its old
    links redirect, note when it was first published, and index its words (title A, excerpt and tags B,
    text C)."""
    article.body_html = markdown_to_html(article.body)
    article.body_text = html_to_text(article.body_html)
    article.tags = sorted({tag.strip().lower() for tag in article.tags if tag.strip()})
    if article.state == Article.State.PUBLISHED and article.published_at is None:
        article.published_at = timezone.now()
    if article.pk is not None:
        old_slug = Article.objects.filter(pk=article.pk).values_list("slug", flat=True).first()
        if old_slug and old_slug != article.slug:
            ArticleSlug.objects.update_or_create(slug=old_slug, defaults={"article": article})
    ArticleSlug.objects.filter(slug=article.slug).delete()  # the slug is current again
    article.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE knowledge_base_article SET search_vector ="
            " setweight(to_tsvector('helpdesk', title), 'A')"
            " || setweight(to_tsvector('helpdesk', excerpt || ' ' || array_to_string(tags, ' ')), 'B')"
            " || setweight(to_tsvector('helpdesk', left(body_text, 100000)), 'C') WHERE id = %s",
            [article.pk],
        )
    return article


def article_viewed(*, article_id: int) -> None:
    Article.objects.filter(pk=article_id).update(view_count=F("view_count") + 1)


@transaction.atomic
def article_vote(*, article: Article, helpful: bool, comment: str = "") -> ArticleVote:
    vote = ArticleVote.objects.create(article=article, helpful=helpful, comment=(comment or "").strip()[:2000])
    counter = "helpful_yes" if helpful else "helpful_no"
    Article.objects.filter(pk=article.pk).update(**{counter: F(counter) + 1})
    return vote


DEFLECTION_WINDOW = timedelta(hours=1)


def _visitor(request) -> str:
    """A stable, anonymous id of this browser session (the session is created if there is none)."""
    if request.session.session_key is None:
        request.session.save()
    return hashlib.sha256(request.session.session_key.encode()).hexdigest()[:32]


def deflection_opened(*, request, article: Article) -> None:
    """The visitor opened an article the request form suggested."""
    Deflection.objects.get_or_create(visitor=_visitor(request), article=article)


def deflection_asked_anyway(*, request) -> int:
    """The visitor sent a request after all: the articles they opened lately did not answer them."""
    if request.session.session_key is None:
        return 0
    since = timezone.now() - DEFLECTION_WINDOW
    return Deflection.objects.filter(visitor=_visitor(request), opened_at__gte=since).update(asked_anyway=True)
