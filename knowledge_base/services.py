"""Every write to the knowledge base."""

import hashlib
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.errors import ValidationError
from helpdesk.html import html_to_text, markdown_to_html

from .models import Article, ArticleSlug, ArticleVote, Category, Deflection

ARTICLE_FIELDS = ["section", "title", "slug", "excerpt", "body", "tags", "state", "visibility", "pinned"]
CATEGORY_FIELDS = ["name", "slug", "description", "position"]


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


def _not_editable(model) -> list[str]:
    """The fields the admin's form leaves out (kept by the services), so ``full_clean`` skips them too."""
    return [field.name for field in model._meta.fields if not field.editable]


def _article_checked_save(article: Article) -> Article:
    """Check ``article`` as the admin's form does (``full_clean``: the unique slug, the choices, the lengths),
    then ``article_save`` it; a slug taken by someone else since the check is a ValidationError too."""
    article.title = " ".join(article.title.split())
    article.full_clean(exclude=[*_not_editable(Article), "author", "related"])
    try:
        with transaction.atomic():
            return article_save(article=article)
    except IntegrityError:
        raise ValidationError({"slug": _("An article with this slug exists already.")}) from None


@transaction.atomic
def article_create(*, author, section, title: str, body: str, slug: str, excerpt: str = "", tags=(),
                   state: str = Article.State.DRAFT, visibility: str = Article.Visibility.PUBLIC,
                   pinned: bool = False) -> Article:  # fmt: skip
    """A new article (as "Add article" in the admin): checked, rendered and indexed by ``article_save``."""
    article = Article(author=author, section=section, title=title, body=body, slug=slug, excerpt=excerpt,
                      tags=list(tags), state=state, visibility=visibility, pinned=pinned)  # fmt: skip
    return _article_checked_save(article)


@transaction.atomic
def article_update(*, article: Article, check=None, **changes) -> Article:
    """Change any of ``ARTICLE_FIELDS`` under the row lock (publishing and archiving are a change of
    ``state``); ``check(locked)`` runs first (the API's ``If-Match``)."""
    locked = Article.objects.select_for_update(of=("self",)).get(pk=article.pk)
    if check is not None:
        check(locked)
    for field in ARTICLE_FIELDS:
        if field in changes:
            setattr(locked, field, list(changes[field]) if field == "tags" else changes[field])
    return _article_checked_save(locked)


@transaction.atomic
def article_delete(*, article: Article) -> None:
    """Delete an article with its readers' feedback, files and old slugs (as the admin does)."""
    article.delete()


def _category_checked_save(category: Category) -> Category:
    category.name = " ".join(category.name.split())
    category.full_clean(exclude=_not_editable(Category))
    try:
        with transaction.atomic():
            category.save()
    except IntegrityError:
        raise ValidationError({"slug": _("A category with this slug exists already.")}) from None
    return category


@transaction.atomic
def category_create(*, name: str, slug: str, description: str = "", position: int = 0) -> Category:
    """A new knowledge-base category, checked as the admin's form does."""
    return _category_checked_save(Category(name=name, slug=slug, description=description, position=position))


@transaction.atomic
def category_update(*, category: Category, check=None, **changes) -> Category:
    """Change any of ``CATEGORY_FIELDS`` under the row lock; ``check(locked)`` runs first (``If-Match``)."""
    locked = Category.objects.select_for_update().get(pk=category.pk)
    if check is not None:
        check(locked)
    for field in CATEGORY_FIELDS:
        if field in changes:
            setattr(locked, field, changes[field])
    return _category_checked_save(locked)


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
