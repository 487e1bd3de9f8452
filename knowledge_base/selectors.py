"""Reading the knowledge base: what the portal shows, search, and suggestions for agents."""

import re

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, TrigramWordSimilarity
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.html import escape

from .models import Article, Category, Deflection, Section

SEARCH_RESULTS = 20
# ts_headline marks the matches with these; the text is escaped, then they become <mark> (never raw HTML).
_START, _STOP = "\x02", "\x03"


def portal_articles() -> QuerySet[Article]:
    """Articles customers may read: published and public."""
    return Article.objects.filter(state=Article.State.PUBLISHED, visibility=Article.Visibility.PUBLIC)


def portal_categories() -> list[Category]:
    """Categories with at least one article on the portal, each with its article count."""
    on_portal = Q(sections__articles__state=Article.State.PUBLISHED,
                  sections__articles__visibility=Article.Visibility.PUBLIC)  # fmt: skip
    return list(Category.objects.annotate(article_count=Count("sections__articles", filter=on_portal))
                .filter(article_count__gt=0).order_by("position", "name"))  # fmt: skip


def portal_faq(limit: int = 8) -> list[Article]:
    """Pinned articles first, then the most read."""
    return list(portal_articles().order_by("-pinned", "-view_count", "title").only("title", "slug", "excerpt")[:limit])


def category_sections(category: Category) -> list[Section]:
    articles = Prefetch("articles", queryset=portal_articles().only("title", "slug", "excerpt", "section_id"),
                        to_attr="portal_articles")  # fmt: skip
    return [section for section in category.sections.prefetch_related(articles) if section.portal_articles]


def article_search(
    *, query: str, limit: int = SEARCH_RESULTS, articles: QuerySet[Article] | None = None, typos: bool = True
) -> list[Article]:
    """Articles matching ``query``, best first, each with a ``snippet`` (HTML: the text escaped, the matches
    in <mark>). Full-text search (stemmed, accent-insensitive, websearch syntax) ranked by relevance; when it
    finds fewer than ``limit``, titles that look like the query fill in (typos: pg_trgm), unless ``typos`` is
    off. ``articles``: where to search (default: what the portal shows)."""
    query = " ".join((query or "").split())[:200]
    if not query:
        return []
    articles = portal_articles() if articles is None else articles
    ts_query = SearchQuery(query, search_type="websearch", config="helpdesk")
    found = list(
        articles.filter(search_vector=ts_query)
        .annotate(rank=SearchRank(F("search_vector"), ts_query),
                  headline=SearchHeadline("body_text", ts_query, config="helpdesk", start_sel=_START, stop_sel=_STOP,
                                          max_words=28, min_words=12, max_fragments=2))
        .order_by("-rank", "-view_count", "pk")[:limit]
    )  # fmt: skip
    if typos and len(found) < limit:
        found += _similar_titles(articles.exclude(pk__in=[a.pk for a in found]), query, limit - len(found))
    for article in found:
        headline = getattr(article, "headline", "") or article.excerpt
        article.snippet = escape(" ".join(headline.split())).replace(_START, "<mark>").replace(_STOP, "</mark>")
    return found


def _similar_titles(articles: QuerySet[Article], query: str, limit: int) -> list[Article]:
    """Titles with a word like the query's (pg_trgm word similarity ≥ settings.TRIGRAM_WORD_SIMILARITY:
    "retrun" finds "Returning an item"). The ``%>`` operator uses the title's trigram index; its threshold is
    a setting of every connection (helpdesk/settings.py, DATABASES' options)."""
    return list(
        articles.filter(title__trigram_word_similar=query)
        .annotate(similarity=TrigramWordSimilarity(query, "title"))
        .order_by("-similarity", "pk")[:limit]
    )


SUGGESTION_WORDS = 12


def agent_articles() -> QuerySet[Article]:
    """Articles agents may use: published, public or internal."""
    return Article.objects.filter(state=Article.State.PUBLISHED)


def suggested_articles(*, text: str, limit: int = 3) -> list[Article]:
    """Articles that share words with ``text`` (a ticket's subject and first message), best first: any of its
    longer words may match, where a search box would need all of them."""
    words = list(dict.fromkeys(word for word in re.findall(r"[^\W\d_]{4,}", text.lower())))[:SUGGESTION_WORDS]
    if not words:
        return []
    return article_search(query=" or ".join(words), limit=limit, articles=agent_articles(), typos=False)


def deflections(*, since=None) -> int:
    """Visitors answered by an article the request form suggested: they opened it and sent no request in
    the following ``DEFLECTION_WINDOW`` (only windows that have closed count)."""
    from .services import DEFLECTION_WINDOW

    closed = Deflection.objects.filter(asked_anyway=False, opened_at__lt=timezone.now() - DEFLECTION_WINDOW)
    if since is not None:
        closed = closed.filter(opened_at__gte=since)
    return closed.values("visitor").distinct().count()


def request_form_suggestions(*, subject: str, limit: int = 5) -> list[Article]:
    """Portal articles for what the customer is typing as the subject of a request."""
    words = list(dict.fromkeys(re.findall(r"[^\W\d_]{3,}", subject.lower())))[:SUGGESTION_WORDS]
    if not words:
        return []
    return article_search(query=" or ".join(words), limit=limit)


# --- for agents ----------------------------------------------------------------------------------

AGENT_PAGE = 50


def agent_articles_filtered(*, state: str = "", visibility: str = "") -> QuerySet[Article]:
    """Every article agents may read (any state, public or internal), in one state (all when empty) and
    visibility (all when empty), each with its section and category; pinned first, then by title."""
    articles = Article.objects.select_related("section__category")
    if state:
        articles = articles.filter(state=state)
    if visibility:
        articles = articles.filter(visibility=visibility)
    return articles.order_by("-pinned", "title", "pk")


def agent_article_list(*, query: str = "", state: str = Article.State.PUBLISHED, visibility: str = "") -> list[Article]:
    """Articles for the agents' Articles page: searched (best first) or by title, in one state (all when
    empty) and visibility (all when empty), each with its section and category."""
    articles = agent_articles_filtered(state=state, visibility=visibility)
    if query.strip():
        return article_search(query=query, limit=AGENT_PAGE, articles=articles)
    return list(articles[:AGENT_PAGE])


def with_deflection_counts(articles: QuerySet[Article]) -> QuerySet[Article]:
    """Each article's ``deflection_count``: the times it answered a visitor of the request form (as
    ``deflections`` counts them, windows that have closed)."""
    from .services import DEFLECTION_WINDOW

    answered = Q(deflections__asked_anyway=False, deflections__opened_at__lt=timezone.now() - DEFLECTION_WINDOW)
    return articles.annotate(deflection_count=Count("deflections", filter=answered))


def agent_article(article_id: int) -> Article | None:
    """One article in any state, for agents (internal and draft ones too), with its counters."""
    articles = Article.objects.select_related("section__category", "author")
    return with_deflection_counts(articles).filter(pk=article_id).first()


def article_feedback(article: Article, limit: int = 20) -> list:
    """The newest "Was this helpful?" answers that came with a comment."""
    return list(article.votes.exclude(comment="").order_by("-created_at", "-pk")[:limit])
