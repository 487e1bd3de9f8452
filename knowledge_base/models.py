"""The knowledge base: articles in sections in categories, published to the portal or kept for agents."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helpdesk.models import TimeStampedModel
from helpdesk.uploads import random_upload_name


class Category(TimeStampedModel):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=120, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self):
        return self.name


class Section(TimeStampedModel):
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="sections",
                                 verbose_name=_("category"))  # fmt: skip
    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("section")
        verbose_name_plural = _("sections")

    def __str__(self):
        return f"{self.category} › {self.name}"


class Article(TimeStampedModel):
    """One answer. Written in Markdown; ``body_html`` and ``search_vector`` are kept by
    ``knowledge_base.services.article_save``, which also remembers old slugs so old links redirect."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Public (portal)")
        INTERNAL = "internal", _("Internal (agents only)")

    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="articles", verbose_name=_("section"))
    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=200, unique=True)
    excerpt = models.CharField(_("excerpt"), max_length=300, blank=True,
                               help_text=_("One or two sentences shown in lists and search results."))  # fmt: skip
    body = models.TextField(_("text (Markdown)"))
    body_html = models.TextField(editable=False, default="")
    body_text = models.TextField(editable=False, default="")  # for search and its snippets
    tags = ArrayField(models.CharField(max_length=50), blank=True, default=list, verbose_name=_("tags"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    visibility = models.CharField(_("visibility"), max_length=10, choices=Visibility.choices,
                                  default=Visibility.PUBLIC)  # fmt: skip
    pinned = models.BooleanField(_("pinned in the FAQ"), default=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+", verbose_name=_("author"))  # fmt: skip
    reviewed_at = models.DateField(_("last reviewed"), default=timezone.localdate)
    published_at = models.DateTimeField(_("published"), null=True, blank=True, editable=False)
    related = models.ManyToManyField("self", blank=True, symmetrical=True, verbose_name=_("related articles"))
    view_count = models.PositiveIntegerField(default=0, editable=False)
    helpful_yes = models.PositiveIntegerField(default=0, editable=False)
    helpful_no = models.PositiveIntegerField(default=0, editable=False)
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["title"]
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        indexes = [
            GinIndex(fields=["search_vector"], name="article_search"),
            GinIndex(OpClass("title", name="gin_trgm_ops"), name="article_title_trgm"),
            models.Index(fields=["state", "visibility", "section"], name="article_listing"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("kb:article", args=[self.slug])

    @property
    def on_portal(self) -> bool:
        return self.state == self.State.PUBLISHED and self.visibility == self.Visibility.PUBLIC


class ArticleSlug(models.Model):
    """A slug an article had before: its old links redirect to the article."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="old_slugs")
    slug = models.SlugField(max_length=200, unique=True)

    def __str__(self):
        return self.slug


class ArticleVote(models.Model):
    """A reader's "Was this helpful?", with an optional comment that agents read."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="votes")
    helpful = models.BooleanField()
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["article", "-created_at"], name="vote_article_created")]

    def __str__(self):
        return f"{'👍' if self.helpful else '👎'} {self.comment[:60]}"


class Deflection(models.Model):
    """A visitor of the request form opened an article it suggested. Unless the same visitor sends a request
    within ``DEFLECTION_WINDOW`` (``asked_anyway``), the article answered them: a deflection."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="deflections")
    visitor = models.CharField(max_length=64)  # a hash of the session key: nobody's identity
    opened_at = models.DateTimeField(default=timezone.now)
    asked_anyway = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["visitor", "article"], name="deflection_once_per_visitor")]
        indexes = [models.Index(fields=["visitor", "opened_at"], name="deflection_visitor")]

    def __str__(self):
        return f"{self.article_id} {'asked anyway' if self.asked_anyway else 'answered'}"


def article_file_upload_to(instance, filename):
    """A random stored name: the name the file was uploaded with is kept in ``filename`` only."""
    return random_upload_name("kb", filename)


class ArticleFile(models.Model):
    """An image or file of an article, put in its text as ``![description](url)`` or ``[name](url)``."""

    INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}  # shown in the page; others download

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="files")
    file = models.FileField(upload_to=article_file_upload_to)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=150)
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("file")
        verbose_name_plural = _("images and files")

    def __str__(self):
        return self.filename

    def get_absolute_url(self):
        return reverse("kb:file", args=[self.pk, self.filename])

    @property
    def markdown(self) -> str:
        """What to paste into the article's text."""
        prefix = "!" if self.content_type in self.INLINE_TYPES else ""
        return f"{prefix}[{self.filename}]({self.get_absolute_url()})"
