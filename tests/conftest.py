import os

import pytest

from knowledge_base.models import Article, Category, Section
from knowledge_base.services import article_save
from tickets.models import Ticket
from tickets.services import ticket_create

from .factories import CustomerFactory, QueueFactory, TeamFactory, UserFactory

pytest_plugins = ["tests.live_services", "tests.api_fixtures", "tests.db_diagnostics"]


@pytest.fixture(autouse=True)
def _fresh_mail_lists():
    """The block list and mailbox addresses are cached per process; each test starts without them."""
    from tickets.mail.models import forget_cached

    forget_cached()


@pytest.fixture(autouse=True)
def _fresh_cached_tables(_test_settings):
    """The portal's topics and branding are kept in Redis (helpdesk.cached); a test's rolled-back rows must not
    outlive it there."""
    from helpdesk.cached import forget_all

    forget_all()


@pytest.fixture(autouse=True)
def _fresh_rate_limits(_test_settings):
    """Rate limits count in Redis across requests, so across tests too: each test starts with none."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=cache.make_key("ratelimit:") + "*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Parallel test processes share Redis: each keeps its cache keys (presence, rate limits) apart.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{worker}"}}
    # Hashing with the production hasher costs ~0.3 s per user; tests do not need its strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests run with DEBUG off, where the manifest storage would want a collectstatic run first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def team(db):
    return TeamFactory(name="Support")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Billing")


@pytest.fixture
def queue(team):
    return QueueFactory(name="General", slug="general", team=team)


@pytest.fixture
def other_queue(other_team):
    return QueueFactory(name="Invoices", slug="invoices", team=other_team)


@pytest.fixture
def agent(team):
    return UserFactory(email="agent@staff.example", teams=[team])


@pytest.fixture
def other_agent(other_team):
    """An agent of another team: must not see tickets of ``queue``."""
    return UserFactory(email="other@staff.example", teams=[other_team])


@pytest.fixture
def admin_user(db):
    return UserFactory(email="admin@staff.example", role="admin")


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@staff.example", role="owner")


@pytest.fixture
def customer(db):
    return CustomerFactory(email="ann@customer.example", name="Ann Smith")


@pytest.fixture
def other_customer(db):
    return CustomerFactory(email="bob@customer.example", name="Bob Jones")


@pytest.fixture
def make_ticket(queue, customer, django_capture_on_commit_callbacks):
    """Build a ticket through the one real path, ``ticket_create``; on-commit work is not run."""

    def make(**kwargs) -> Ticket:
        kwargs.setdefault("customer", customer)
        kwargs.setdefault("queue", queue)
        kwargs.setdefault("subject", "Order 1042 has not arrived")
        kwargs.setdefault("body", "Hello, my order has not arrived yet. Can you help?")
        kwargs.setdefault("channel", Ticket.Channel.PORTAL)
        with django_capture_on_commit_callbacks(execute=False):
            return ticket_create(**kwargs)

    return make


@pytest.fixture
def ticket(make_ticket):
    return make_ticket()


@pytest.fixture
def section(db):
    category = Category.objects.create(name="Orders and delivery", slug="orders", description="Where is my order?")
    return Section.objects.create(category=category, name="Delivery")


@pytest.fixture
def make_article(section):
    """A knowledge-base article, published unless ``state`` says otherwise."""

    def make(title, body="Some text.", **fields):
        fields.setdefault("slug", title.lower().replace(" ", "-").replace("?", ""))
        fields.setdefault("state", Article.State.PUBLISHED)
        return article_save(article=Article(section=section, title=title, body=body, **fields))

    return make


@pytest.fixture
def as_role(client, request):
    """Sign the test client in as a role's fixture ("agent", "owner", ...), or not at all ("anonymous")."""

    def sign_in(role):
        if role != "anonymous":
            client.force_login(request.getfixturevalue(role))
        return client

    return sign_in


# --- webhooks ---------------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    from .webhook_receiver import running_receiver

    with running_receiver() as running:
        yield running


@pytest.fixture
def forget_the_active_flag(settings):
    """The "a webhook is active" flag lives in Redis across tests: none leaves it on for the next. And the
    tests' receivers listen on 127.0.0.1, which webhooks may not reach in production (webhooks.addresses):
    the tests of that refusal set WEBHOOK_ALLOWED_NETWORKS back to []."""
    from webhooks import services

    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    yield
    services._active_flag_set(False)
