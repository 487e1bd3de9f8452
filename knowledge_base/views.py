"""The help center on the portal: home, categories, articles with "Was this helpful?", and search."""

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from helpdesk.client_ip import client_ip
from helpdesk.ratelimit import allow

from . import selectors, services
from .models import Article, ArticleFile, ArticleSlug, Category

VOTES_PER_DAY_PER_ARTICLE = 1  # per client address


@require_GET
def home_view(request):
    context = {"categories": selectors.portal_categories(), "faq": selectors.portal_faq()}
    return render(request, "kb/home.html", context)


@require_GET
def category_view(request, slug):
    category = get_object_or_404(Category, slug=slug)
    sections = selectors.category_sections(category)
    if not sections:
        raise Http404(_("No such category."))
    return render(request, "kb/category.html", {"category": category, "sections": sections})


def _portal_article(slug: str) -> Article | None:
    return selectors.portal_articles().select_related("section__category").filter(slug=slug).first()


@require_GET
def article_view(request, slug):
    article = _portal_article(slug)
    if article is None:
        old = ArticleSlug.objects.select_related("article").filter(slug=slug).first()
        if old is not None and old.article.on_portal:
            return redirect(old.article, permanent=True)
        raise Http404(_("No such article."))
    services.article_viewed(article_id=article.pk)
    if request.GET.get("from") == "request":  # opened from the request form's suggestions
        services.deflection_opened(request=request, article=article)
    related = [other for other in article.related.all() if other.on_portal][:5]
    return render(request, "kb/article.html", {"article": article, "related": related,
                                                "voted": request.GET.get("voted") == "1"})  # fmt: skip


@require_POST
def article_vote_view(request, slug):
    article = _portal_article(slug)
    if article is None:
        raise Http404(_("No such article."))
    helpful = request.POST.get("helpful")
    if helpful not in ("yes", "no"):
        messages.error(request, _("Choose “Yes” or “No”."))
        return redirect(article)
    if allow(f"kb-vote:{article.pk}:{client_ip(request)}", limit=VOTES_PER_DAY_PER_ARTICLE, seconds=86_400):
        services.article_vote(article=article, helpful=helpful == "yes", comment=request.POST.get("comment", ""))
    return redirect(f"{article.get_absolute_url()}?voted=1")


@require_GET
def suggest_view(request):
    """The request form asks while the customer types the subject: articles that may answer it already."""
    articles = selectors.request_form_suggestions(subject=request.GET.get("subject", "")[:255])
    return render(request, "kb/suggestions.html", {"articles": articles})


@require_GET
def search_view(request):
    query = request.GET.get("q", "").strip()
    results = selectors.article_search(query=query) if query else []
    return render(request, "kb/search.html", {"query": query, "results": results})


@require_GET
def file_view(request, file_id, name):
    """An article's image or file: for anyone when the article is on the portal, else for agents only."""
    item = ArticleFile.objects.select_related("article").filter(pk=file_id, filename=name).first()
    if item is None or not (item.article.on_portal or (request.user.is_authenticated and request.user.is_active)):
        raise Http404(_("No such file."))
    inline = item.content_type in ArticleFile.INLINE_TYPES
    response = FileResponse(item.file.open("rb"), as_attachment=not inline, filename=item.filename,
                            content_type=item.content_type)  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=3600" if item.article.on_portal else "private, no-store"
    return response
