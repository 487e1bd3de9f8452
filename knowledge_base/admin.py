import os

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from tickets.attachments import attachment_validate

from . import selectors
from .models import Article, ArticleFile, ArticleVote, Category, Section
from .services import article_save


class SectionInline(admin.TabularInline):
    model = Section
    extra = 1


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [SectionInline]


class VoteInline(admin.TabularInline):
    """Readers' feedback on the article, newest first."""

    model = ArticleVote
    extra = 0
    fields = ["created_at", "helpful", "comment"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = _("feedback from readers")

    def has_add_permission(self, request, obj=None):
        return False


class FileForm(forms.ModelForm):
    class Meta:
        model = ArticleFile
        fields = ["file"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload and not getattr(upload, "_committed", False):  # a new upload: the help desk's file rules
            attachment_validate(upload)
        return upload

    def save(self, commit=True):
        item = super().save(commit=False)
        upload = self.cleaned_data["file"]
        if upload and not getattr(upload, "_committed", False):
            item.filename = os.path.basename(upload.name)[:255]
            item.content_type = (getattr(upload, "content_type", "") or "application/octet-stream")[:150]
            item.size = upload.size
        if commit:
            item.save()
        return item


class FileInline(admin.TabularInline):
    """Images and files of the article; paste the "In the text" value where it belongs."""

    model = ArticleFile
    form = FileForm
    extra = 1
    fields = ["file", "size", "in_the_text"]
    readonly_fields = ["size", "in_the_text"]

    @admin.display(description=_("in the text"))
    def in_the_text(self, item):
        return item.markdown if item.pk else "—"


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "section", "state", "visibility", "pinned", "view_count", "helpful_yes", "helpful_no",
                    "deflection_count", "reviewed_at"]  # fmt: skip
    list_filter = ["state", "visibility", "pinned", "section__category"]
    search_fields = ["title", "body"]
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["related"]
    readonly_fields = ["view_count", "helpful_yes", "helpful_no", "published_at"]
    list_select_related = ["section__category"]
    inlines = [FileInline, VoteInline]

    def get_queryset(self, request):
        return selectors.with_deflection_counts(super().get_queryset(request))

    @admin.display(description=_("deflections"), ordering="deflection_count")
    def deflection_count(self, article):
        """Visitors of the request form who opened it from the suggestions and then sent no request."""
        return article.deflection_count

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "deflections": selectors.deflections()}
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        if obj.author_id is None:
            obj.author = request.user
        article_save(article=obj)
