"""``manage.py bench_kb``: how fast the help center's search is on a large knowledge base.

Adds generated articles (in a category "Benchmark") until there are ``--articles`` published ones, then
times, for a set of queries (common words, several words, a rare word, a typo, no match), the search
selector alone and the whole search page (``GET /help/search/?q=…`` through Django's test client, in this
process), ``--runs`` times each, and prints median and p95 in milliseconds.
"""

import random
import statistics
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import override_settings

from knowledge_base.models import Article, Category, Section
from knowledge_base.selectors import article_search, portal_articles
from knowledge_base.services import article_save
from tickets.seeding_text import CAKES, ITEMS, TOPICS

QUERIES = ["delivery", "refund parcel", "order has not arrived", "cafe", "kombucha", "retrun policy", "zeppelin"]
FILL = {"order": "1042", "item": "espresso cups", "day": "Monday", "ref": "TR-88", "cake": "carrot cake",
        "date": "Friday", "people": "12", "code": "BEANS20", "time": "10:00", "lost": "umbrella"}  # fmt: skip


def _fill(text: str) -> str:
    try:
        return text.format(**FILL)
    except (KeyError, IndexError):
        return text


class Command(BaseCommand):
    help = "Time the help center's search on a generated knowledge base (p50/p95)."

    def add_arguments(self, parser):
        parser.add_argument("--articles", type=int, default=10_000)
        parser.add_argument("--runs", type=int, default=50)
        parser.add_argument("--force", action="store_true", help="run even when DEBUG is off (it adds articles)")

    def handle(self, *args, articles, runs, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to add benchmark articles while DEBUG is off; use --force if you mean it.")
        self._fill_to(articles)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE knowledge_base_article")
        total = portal_articles().count()
        self.stdout.write(f"{total:,} published public articles")
        client = Client()
        self.stdout.write("| query | results | selector p50 | selector p95 | page p50 | page p95 |")
        self.stdout.write("|---|---:|---:|---:|---:|---:|")
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
            for query in QUERIES:
                found = len(article_search(query=query))
                selector = self._times(lambda q=query: article_search(query=q), runs)
                page = self._times(lambda q=query: client.get("/help/search/", {"q": q}), runs)
                self.stdout.write(f"| `{query}` | {found} | {statistics.median(selector):.1f} | {_p95(selector):.1f} "
                                  f"| {statistics.median(page):.1f} | {_p95(page):.1f} |")  # fmt: skip

    def _times(self, call, runs: int) -> list[float]:
        call()  # warm
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        return times

    def _fill_to(self, wanted: int) -> None:
        have = portal_articles().count()
        if have >= wanted:
            return
        category, _created = Category.objects.get_or_create(slug="benchmark", defaults={"name": "Benchmark"})
        sections = [Section.objects.get_or_create(category=category, name=f"Section {n}")[0] for n in range(20)]
        rng = random.Random(7)
        words = [*CAKES, *(item for item in ITEMS if "kombucha" not in item)]  # kombucha stays rare
        started = time.perf_counter()
        for number in range(have, wanted):
            topic = rng.choice(TOPICS)
            title = f"{_fill(rng.choice(rng.choice(topic.subjects)))}: {rng.choice(words)} ({number})"
            paragraphs = [_fill(rng.choice(topic.openings)), _fill(rng.choice(topic.answers)),
                          " ".join(rng.choice(words) for _ in range(30))]  # fmt: skip
            if number % 2000 == 0:
                paragraphs.append("We also serve kombucha on tap on Fridays.")
            article_save(article=Article(section=rng.choice(sections), title=title[:200], slug=f"bench-{number}",
                                         excerpt=paragraphs[0][:300], body="\n\n".join(paragraphs),
                                         state=Article.State.PUBLISHED, view_count=rng.randrange(1000)))  # fmt: skip
        self.stdout.write(f"added {wanted - have:,} articles in {time.perf_counter() - started:.0f} s")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
