"""The knowledge base for agents: every article (internal and drafts too), searched or listed, and one
article with its readers' feedback. Writing articles happens in the admin (editors are staff)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from helpdesk.htmx import vary_on_htmx, wants_partial

from . import selectors
from .models import Article

STATES = {"": _("All states"), **dict(Article.State.choices)}
VISIBILITIES = {"": _("Public and internal"), **dict(Article.Visibility.choices)}


@login_required
@require_GET
def article_list_view(request):
    query = " ".join(request.GET.get("q", "").split())[:200]
    state = request.GET.get("state", Article.State.PUBLISHED)
    state = state if state in STATES else Article.State.PUBLISHED
    visibility = request.GET.get("visibility", "")
    visibility = visibility if visibility in VISIBILITIES else ""
    articles = selectors.agent_article_list(query=query, state=state, visibility=visibility)
    context = {"articles": articles, "query": query, "state": state, "visibility": visibility,
               "states": STATES, "visibilities": VISIBILITIES, "limit": selectors.AGENT_PAGE}  # fmt: skip
    template = "kb/agent/list.html#results" if wants_partial(request) else "kb/agent/list.html"
    return vary_on_htmx(render(request, template, context))


@login_required
@require_GET
def article_detail_view(request, article_id):
    article = selectors.agent_article(article_id)
    if article is None:
        raise Http404(_("No such article."))
    context = {"article": article, "feedback": selectors.article_feedback(article),
               "related": list(article.related.order_by("title")[:10])}  # fmt: skip
    return render(request, "kb/agent/detail.html", context)
